"""Depthwise-convolution weight gradients on the CPU, computed as one grouped convolution.

PyTorch hands oneDNN plain tensor layouts, and for a depthwise convolution's weight gradient
oneDNN then uses its fast depthwise kernel only for 3x3 kernels on maps of at least 4x4;
every other case (5x5 kernels, the 2x2 maps of an EfficientNet's last blocks) falls back to a
GEMM per channel and image, 13-34 ms a call where the arithmetic takes well under one. On a
2-core CPU that fallback was over a third of EfficientNet-B3's training step at 64 px.
`cpu_depthwise` routes those cases through the identity

    dL/dW[c, i, j] = sum over n of (x[n, c] correlated with dL/dy[n, c])[i, j]

that is, a depthwise convolution of the input (images moved into channels) with the output
gradient as kernel, which oneDNN runs with its fast forward kernel. The result is the same
gradient up to float rounding; the input gradient and the forward are oneDNN's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_DEFAULTS: dict[str, Any] = {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}


def _pair(value: int | tuple[int, ...] | list[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = value if len(value) == 2 else (value[0], value[0])
    return int(first), int(second)


def onednn_is_fast(kernel: tuple[int, int], out_size: tuple[int, int]) -> bool:
    """Whether oneDNN's own depthwise weight-gradient kernel handles this case (measured on
    x86 with torch's bundled oneDNN: 3x3 kernels on output maps of at least 4x4)."""
    return kernel == (3, 3) and min(out_size) >= 4


def weight_grad(
    grad_out: torch.Tensor, x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> torch.Tensor:
    """The weight gradient (C, 1, kh, kw) of a depthwise convolution (dilation 1) of `x` (N, C, H, W)
    whose output gradient is `grad_out` (N, C, Ho, Wo)."""
    n, c, h, w = x.shape
    ho, wo = grad_out.shape[2:]
    images = x.transpose(0, 1).reshape(1, c * n, h, w)
    kernels = grad_out.transpose(0, 1).reshape(c * n, 1, ho, wo)
    # Kernel taps that only ever meet padding have zero gradient: padding wider than the output
    # gradient's reach is cut (oneDNN's fast kernel refuses padding as wide as the kernel) and
    # those taps are left at zero.
    reach = ((ho - 1) * stride[0], (wo - 1) * stride[1])
    pad = (min(padding[0], reach[0]), min(padding[1], reach[1]))
    skip = (padding[0] - pad[0], padding[1] - pad[1])
    # Output position i of this correlation is tap i + skip; the stride becomes the dilation.
    taps = F.conv2d(images, kernels, None, 1, pad, stride, c * n)
    rows, cols = min(kernel[0] - skip[0], taps.shape[2]), min(kernel[1] - skip[1], taps.shape[3])
    summed = taps[:, :, :rows, :cols].reshape(c, n, rows, cols).sum(1)
    if skip == (0, 0) and (rows, cols) == kernel:
        return summed.unsqueeze(1)
    grad = summed.new_zeros(c, 1, *kernel)
    grad[:, 0, skip[0] : skip[0] + rows, skip[1] : skip[1] + cols] = summed
    return grad


class _DepthwiseConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, groups):
        ctx.save_for_backward(x, weight)
        ctx.geometry = (stride, padding, groups, bias is not None)
        return F.conv2d(x, weight, bias, stride, padding, 1, groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        stride, padding, groups, has_bias = ctx.geometry
        kernel = (weight.shape[2], weight.shape[3])
        onednn_weight = ctx.needs_input_grad[1] and onednn_is_fast(kernel, (grad_out.shape[2], grad_out.shape[3]))
        grad_x, grad_w, grad_b = None, None, None
        if ctx.needs_input_grad[0] or onednn_weight:
            grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, list(stride), list(padding), [1, 1], False, [0, 0], groups,
                [ctx.needs_input_grad[0], onednn_weight, False],
            )  # fmt: skip
        if ctx.needs_input_grad[1] and not onednn_weight:
            grad_w = weight_grad(grad_out, x, kernel, stride, padding)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None


def _depthwise_call(args: tuple, kwargs: dict) -> dict[str, Any] | None:
    """conv2d's arguments by name when the call is a CPU depthwise convolution this module
    handles (multiplier 1, dilation 1, numeric padding, gradients wanted), else None."""
    if len(args) > len(_CONV_ARGS) or not torch.is_grad_enabled():
        return None
    call = {**_CONV_DEFAULTS, **dict(zip(_CONV_ARGS, args, strict=False)), **kwargs}
    x, weight, groups = call["input"], call["weight"], call["groups"]
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.device.type != "cpu" or isinstance(call["padding"], str):
        return None
    if not (groups > 1 and x.shape[1] == groups == weight.shape[0]) or _pair(call["dilation"]) != (1, 1):
        return None
    if not (x.requires_grad or weight.requires_grad):
        return None
    return call


class _Intercept(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.conv2d:
            call = _depthwise_call(args, kwargs)
            if call is not None:
                return _DepthwiseConv.apply(
                    call["input"], call["weight"], call["bias"], _pair(call["stride"]), _pair(call["padding"]),
                    call["groups"],
                )  # fmt: skip
        return func(*args, **kwargs)


@contextlib.contextmanager
def cpu_depthwise(device: torch.device, *, enabled: bool = True) -> Iterator[None]:
    """Within it, training-mode depthwise convolutions on the CPU take their weight gradient
    from `weight_grad` wherever oneDNN's own kernel is slow; elsewhere (CUDA, `enabled` off)
    nothing changes."""
    if not enabled or device.type != "cpu":
        yield
        return
    with _Intercept():
        yield
