"""CPU depthwise weight gradients as one grouped convolution: the formula against hand-computed
numbers and torch's own gradient, which calls are routed and which are left alone, a whole
EfficientNet's gradients, and the option's way into runs, records and `bench perf`."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from bench.train.depthwise import cpu_depthwise, onednn_is_fast, weight_grad

CPU = torch.device("cpu")


def torch_weight_grad(grad_out, x, weight, stride, padding):
    return torch.ops.aten.convolution_backward(
        grad_out, x, weight, None, list(stride), list(padding), [1, 1], False, [0, 0], x.shape[1],
        [False, True, False],
    )[1]  # fmt: skip


def test_weight_grad_by_hand():
    # One image, one channel, 3x3 kernel with padding 1 on a 2x2 map: an output gradient of 1 at
    # the top-left position makes the weight gradient the padded input's top-left 3x3 window.
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    grad_out = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    expected = torch.tensor([[[[0.0, 0.0, 0.0], [0.0, 1.0, 2.0], [0.0, 3.0, 4.0]]]])
    assert torch.equal(weight_grad(grad_out, x, (3, 3), (1, 1), (1, 1)), expected)
    # A 5x5 kernel with padding 2 on the same map: its outer ring only ever meets padding.
    grad_out = torch.ones(1, 1, 2, 2)
    got = weight_grad(grad_out, x, (5, 5), (1, 1), (2, 2))
    assert torch.equal(got[0, 0, 0], torch.zeros(5)) and torch.equal(got[0, 0, :, 4], torch.zeros(5))
    # The centre tap sees every pixel once: 1 + 2 + 3 + 4.
    assert got[0, 0, 2, 2].item() == 10.0


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "padding"),
    [
        ((4, 6, 8, 8), 3, 1, 1),
        ((4, 6, 8, 8), 5, 1, 2),
        ((3, 5, 9, 9), 3, 2, 0),  # timm's "same" stride-2 layers pad first, then convolve unpadded
        ((3, 5, 11, 11), 5, 2, 0),
        ((2, 7, 7, 5), 5, 2, 1),  # not square, the last row and column left over
        ((5, 4, 2, 2), 5, 1, 2),  # padding wider than the output gradient's reach
        ((5, 4, 2, 2), 3, 1, 1),
        ((5, 4, 1, 1), 5, 1, 2),
        ((2, 3, 4, 4), (3, 5), 1, (1, 2)),
    ],
)
def test_weight_grad_is_torchs_gradient(shape, kernel, stride, padding):
    gen = torch.Generator().manual_seed(0)
    kernel, stride, padding = (
        (v, v) if isinstance(v, int) else v for v in (kernel, stride, padding)
    )  # fmt: skip
    x = torch.randn(*shape, generator=gen, dtype=torch.float64)
    weight = torch.randn(shape[1], 1, *kernel, generator=gen, dtype=torch.float64)
    grad_out = torch.randn_like(F.conv2d(x, weight, None, stride, padding, 1, shape[1]))
    got = weight_grad(grad_out, x, kernel, stride, padding)
    assert got.shape == weight.shape
    torch.testing.assert_close(got, torch_weight_grad(grad_out, x, weight, stride, padding), rtol=1e-12, atol=1e-12)


def test_onednn_keeps_the_cases_its_kernel_is_fast_at():
    assert onednn_is_fast((3, 3), (4, 4)) and onednn_is_fast((3, 3), (16, 8))
    assert not onednn_is_fast((5, 5), (8, 8))
    assert not onednn_is_fast((3, 3), (2, 2))
    assert not onednn_is_fast((3, 3), (4, 2))


def grads(module, x, *, enabled):
    module = copy.deepcopy(module)
    x = x.detach().clone().requires_grad_(x.requires_grad)
    with cpu_depthwise(CPU, enabled=enabled):
        out = module(x)
        out.pow(2).sum().backward()
    return out, x.grad, {name: p.grad for name, p in module.named_parameters()}


@pytest.mark.parametrize(("kernel", "size"), [(3, 2), (5, 6), (3, 6)])
def test_a_routed_convolution_has_the_plain_forward_and_gradients(kernel, size):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 6, kernel, padding=kernel // 2, groups=6, bias=True).double()
    x = torch.randn(3, 6, size, size, dtype=torch.float64, requires_grad=True)
    out, grad_x, params = grads(conv, x, enabled=True)
    plain_out, plain_x, plain_params = grads(conv, x, enabled=False)
    assert type(out.grad_fn).__name__ == "_DepthwiseConvBackward"
    assert type(plain_out.grad_fn).__name__ == "ConvolutionBackward0"
    torch.testing.assert_close(out, plain_out, rtol=0, atol=0)
    torch.testing.assert_close(grad_x, plain_x, rtol=0, atol=0)  # the input gradient is torch's own
    for name in ("weight", "bias"):
        torch.testing.assert_close(params[name], plain_params[name], rtol=1e-12, atol=1e-12)


def test_channels_last_tensors_get_the_same_gradients():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 6, 5, padding=2, groups=6).double().to(memory_format=torch.channels_last)
    x = torch.randn(3, 6, 4, 4, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    out, grad_x, params = grads(conv, x.requires_grad_(), enabled=True)
    plain_out, plain_x, plain_params = grads(conv, x, enabled=False)
    assert type(out.grad_fn).__name__ == "_DepthwiseConvBackward"
    torch.testing.assert_close(out, plain_out, rtol=0, atol=0)
    torch.testing.assert_close(grad_x, plain_x, rtol=0, atol=0)
    for name in ("weight", "bias"):
        torch.testing.assert_close(params[name], plain_params[name], rtol=1e-12, atol=1e-12)


def test_timm_same_padding_stride_2():
    from timm.layers import Conv2dSame

    torch.manual_seed(0)
    conv = Conv2dSame(8, 8, 5, stride=2, groups=8, bias=False).double()
    x = torch.randn(2, 8, 9, 9, dtype=torch.float64, requires_grad=True)
    out, grad_x, params = grads(conv, x, enabled=True)
    _, plain_x, plain_params = grads(conv, x, enabled=False)
    assert type(out.grad_fn).__name__ == "_DepthwiseConvBackward"
    torch.testing.assert_close(grad_x, plain_x, rtol=0, atol=0)
    torch.testing.assert_close(params["weight"], plain_params["weight"], rtol=1e-12, atol=1e-12)


def test_a_frozen_weight_or_an_input_without_gradient():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 4, 5, padding=2, groups=4).double()
    conv.weight.requires_grad_(False)
    x = torch.randn(2, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    _, grad_x, params = grads(conv, x, enabled=True)
    _, plain_x, plain_params = grads(conv, x, enabled=False)
    assert params["weight"] is None and plain_params["weight"] is None
    torch.testing.assert_close(grad_x, plain_x, rtol=0, atol=0)
    torch.testing.assert_close(params["bias"], plain_params["bias"], rtol=1e-12, atol=1e-12)
    conv.weight.requires_grad_(True)
    _, grad_x, params = grads(conv, x.detach(), enabled=True)
    _, _, plain_params = grads(conv, x.detach(), enabled=False)
    assert grad_x is None
    torch.testing.assert_close(params["weight"], plain_params["weight"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "conv",
    [
        torch.nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=4),  # dilated
        torch.nn.Conv2d(4, 4, 3, padding=1, groups=2),  # grouped, not depthwise
        torch.nn.Conv2d(4, 8, 3, padding=1, groups=4),  # a channel multiplier of 2
        torch.nn.Conv2d(4, 4, 3, padding="same", groups=4),
        torch.nn.Conv2d(4, 4, 3, padding=1),
    ],
    ids=["dilated", "grouped", "multiplier", "padding-same", "dense"],
)
def test_other_convolutions_are_left_to_torch(conv):
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    with cpu_depthwise(CPU):
        assert type(conv(x).grad_fn).__name__ == "ConvolutionBackward0"


def test_evaluation_and_other_devices_are_left_to_torch():
    conv = torch.nn.Conv2d(4, 4, 5, padding=2, groups=4)
    x = torch.randn(2, 4, 6, 6)
    with cpu_depthwise(CPU), torch.no_grad():
        assert conv(x).grad_fn is None
    with cpu_depthwise(torch.device("cuda")):  # no CUDA needed: nothing is routed off the CPU
        assert type(conv(x).grad_fn).__name__ == "ConvolutionBackward0"
    assert type(conv(x).grad_fn).__name__ == "ConvolutionBackward0"  # nothing left behind


def test_an_efficientnet_trains_on_the_same_gradients():
    import timm

    torch.manual_seed(0)
    model = timm.create_model("tf_efficientnet_b0", pretrained=False, num_classes=14).train()
    x = torch.randn(4, 3, 64, 64)
    routed = copy.deepcopy(model)
    seen = []
    for module in routed.modules():
        if isinstance(module, torch.nn.Conv2d) and module.groups > 1:
            module.register_forward_hook(lambda _m, _i, out: seen.append(type(out.grad_fn).__name__))
    F.binary_cross_entropy_with_logits(model(x), torch.zeros(4, 14)).backward()
    with cpu_depthwise(CPU):
        F.binary_cross_entropy_with_logits(routed(x), torch.zeros(4, 14)).backward()
    assert seen == ["_DepthwiseConvBackward"] * 16  # EfficientNet-B0's depthwise layers, every one routed
    pairs = zip(model.named_parameters(), routed.named_parameters(), strict=True)
    for (name, p), (_, q) in pairs:
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("onednn", [False, True])
def test_a_run_routes_its_training_steps_unless_told_not_to(onednn, demo_root, tmp_path, monkeypatch):
    from bench.records import RunStore
    from bench.train import depthwise, engine
    from bench.train.options import RunOptions

    calls = []
    apply = depthwise._DepthwiseConv.apply
    monkeypatch.setattr(depthwise._DepthwiseConv, "apply", lambda *a: calls.append(1) or apply(*a))
    options = RunOptions(
        method="wfocal-effb0", data=str(demo_root), results=str(tmp_path), preset="smoke", limit=240,
        onednn_depthwise=onednn, quiet=True,
    )  # fmt: skip
    record = engine.run(options)
    assert record.status == "complete"
    assert RunStore(tmp_path).load(record.run_id).invocation["onednn_depthwise"] is onednn
    # Two stages of one epoch on 240 training images (the limit): every training step routes
    # EfficientNet-B0's 16 depthwise layers, and nothing else does.
    steps = sum(-(-(240 - stage.train_dropped) // stage.batch_size) for stage in record.stages)
    assert len(calls) == (0 if onednn else 16 * steps)


def test_cpu_bf16_trains_under_bf16_on_onednns_kernels_and_warns_off_the_cpu(capsys):
    from bench.train.device import training_step, warn_cpu_bf16_off_cpu

    model = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 5, padding=2, groups=4), torch.nn.Conv2d(4, 2, 1))
    x = torch.randn(2, 4, 8, 8)
    with training_step(CPU, cpu_bf16=True):
        out = model(x)
        assert torch.is_autocast_enabled("cpu")
        # 5x5 on 8x8 is routed in float32; under bf16 oneDNN keeps it (the grouped path is float32 only).
        assert type(model[0](x).grad_fn).__name__ == "ConvolutionBackward0"
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert model[0].weight.grad.dtype == torch.float32  # autocast keeps the weights and their gradients float32
    with training_step(CPU):
        assert not torch.is_autocast_enabled("cpu")
        assert model(x).dtype == torch.float32
        assert type(model[0](x).grad_fn).__name__ == "_DepthwiseConvBackward"
    with training_step(CPU, cpu_bf16=True, amp=False):  # --no-amp wins: float32
        assert model(x).dtype == torch.float32
    assert not torch.is_autocast_enabled("cpu")
    warn_cpu_bf16_off_cpu(CPU)
    assert capsys.readouterr().err == ""
    warn_cpu_bf16_off_cpu(torch.device("cuda"))  # no CUDA needed: only the device's type is read
    assert "--cpu-bf16 applies on the CPU" in capsys.readouterr().err
