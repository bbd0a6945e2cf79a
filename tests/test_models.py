"""Backbones: 14-logit heads, image-size checks, pretrained sources, one-line weight errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import timm
import torch

from bench.errors import BenchError
from bench.models import (
    KNOWN_REDUCTIONS,
    KNOWN_WEIGHTS,
    _reduction,
    build_model,
    check_image_size,
    min_image_size,
    timm_name,
)

BACKBONES = ("resnet50", "densenet121", "tf_efficientnet_b0", "tf_efficientnet_b3")
METHODS = ("wang-wbce", "chexnet", "cb-bce", "focal-densenet121", "wfocal-densenet121", "wfocal-effb0", "wfocal-effb3")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_backbone_gives_14_logits_at_its_smallest_size(backbone):
    torch.manual_seed(0)
    model = build_model(backbone, pretrained=False).eval()
    size = min_image_size(backbone)
    assert size == 32
    with torch.no_grad():
        logits = model(torch.randn(2, 3, size, size))
    assert logits.shape == (2, 14)
    assert torch.isfinite(logits).all()


def test_known_strides_are_what_timm_reports():
    assert set(KNOWN_REDUCTIONS) == set(BACKBONES)
    assert {b: _reduction(b) for b in BACKBONES} == KNOWN_REDUCTIONS
    assert all(timm.is_model(n) if "." not in n else timm.is_model_pretrained(n) for n in KNOWN_WEIGHTS)
    from bench.method import get_method

    used = {timm_name(get_method(m).spec.backbone, get_method(m).spec.pretrained) for m in METHODS}
    assert used <= KNOWN_WEIGHTS


def test_planning_a_sweep_of_built_in_methods_imports_no_torch(demo_root):
    code = (
        "import sys; from bench.sweep.plan import SweepOptions, plan_sweep; from bench.train.options import RunOptions; "
        f"base = RunOptions(method='chexnet', data={str(demo_root)!r}, preset='smoke', results=sys.argv[1]); "
        "cells = plan_sweep(SweepOptions(methods=('chexnet', 'wfocal-effb3', 'wang-wbce'), base=base)); "
        "assert len(cells) == 3, cells; assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(demo_root.parent / "results")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("size", [0, -3, 16, 31, 2.5, True])
def test_invalid_image_size_is_a_bench_error(size):
    with pytest.raises(BenchError, match="image size"):
        check_image_size("tf_efficientnet_b0", size)


def test_valid_image_sizes_pass_through():
    assert check_image_size("tf_efficientnet_b3", 32) == 32
    assert check_image_size("tf_efficientnet_b3", 300) == 300


def test_too_small_names_backbone_and_minimum():
    with pytest.raises(BenchError) as info:
        check_image_size("tf_efficientnet_b0", 16)
    assert "tf_efficientnet_b0" in str(info.value) and "at least 32" in str(info.value)


def test_pretrained_sources_map_to_timm_tags():
    assert timm_name("densenet121") == "densenet121"
    assert timm_name("densenet121", "imagenet:tv_in1k") == "densenet121.tv_in1k"
    assert timm_name("tf_efficientnet_b3", "imagenet:aa_in1k") == "tf_efficientnet_b3.aa_in1k"
    with pytest.raises(BenchError, match="tv_in1k"):  # the hint lists the tags that exist
        timm_name("densenet121", "imagenet:nope_in1k")
    with pytest.raises(BenchError, match="pretrained source"):
        timm_name("densenet121", "radimagenet")


def test_unknown_backbone_gets_did_you_mean():
    with pytest.raises(BenchError, match="did you mean 'densenet121'"):
        build_model("densenet12l")


def test_unavailable_weights_are_one_line_naming_file_caches_and_flag(monkeypatch):
    def offline(name, pretrained=False, **kwargs):
        if pretrained:
            raise OSError("We couldn't connect to 'https://huggingface.co'\nto load this file")
        raise AssertionError("not reached")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(BenchError) as info:
        build_model("tf_efficientnet_b3", pretrained=True, source="imagenet:aa_in1k")
    line = info.value.one_line()
    assert "\n" not in line
    assert "tf_efficientnet_b3.aa_in1k" in line
    assert "tf_efficientnet_b3_aa-84b4657e.pth" in line  # the weight file
    assert torch.hub.get_dir() in line and "huggingface" in line  # both caches
    assert "--no-pretrained" in line


@pytest.mark.parametrize("backbone", ["tf_efficientnet_b0", "tf_efficientnet_b3"])
def test_identity_residual_init_makes_efficientnet_blocks_start_as_the_identity(backbone):
    from timm.models._efficientnet_blocks import InvertedResidual

    torch.manual_seed(0)
    model = build_model(backbone, pretrained=False, residual_init="identity").eval()
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    with_skip = [b for b in blocks if b.has_skip]
    assert len(with_skip) == {"tf_efficientnet_b0": 9, "tf_efficientnet_b3": 18}[backbone]
    assert all(torch.count_nonzero(b.bn3.weight).item() == 0 for b in with_skip)
    # Blocks that change shape have no skip to fall back on and keep their random branch.
    assert all(torch.count_nonzero(b.bn3.weight).item() == b.bn3.num_features for b in blocks if not b.has_skip)
    x = torch.randn(2, with_skip[0].conv_pw.in_channels, 8, 8)
    with torch.no_grad():
        assert torch.equal(with_skip[0](x), x)
    # Without the option the model is timm's, whose EfficientNet branches start random.
    torch.manual_seed(0)
    plain = build_model(backbone, pretrained=False)
    assert all(
        torch.count_nonzero(b.bn3.weight).item() == b.bn3.num_features
        for b in plain.modules()
        if isinstance(b, InvertedResidual)
    )


def test_random_residual_init_undoes_timms_zeroed_resnet_branches():
    from timm.models.resnet import Bottleneck

    torch.manual_seed(0)
    timms = build_model("resnet50", pretrained=False)
    torch.manual_seed(0)
    ours = build_model("resnet50", pretrained=False, residual_init="random")
    blocks = [(a, b) for a, b in zip(timms.modules(), ours.modules()) if isinstance(a, Bottleneck)]
    assert len(blocks) == 16
    assert all(torch.count_nonzero(a.bn3.weight).item() == 0 for a, _ in blocks)
    assert all(torch.equal(b.bn3.weight, torch.ones_like(b.bn3.weight)) for _, b in blocks)
    # Everything else is the same draw: only the branches' last norms differ.
    differ = [k for k, v in timms.state_dict().items() if not torch.equal(v, ours.state_dict()[k])]
    assert differ and all(k.endswith("bn3.weight") for k in differ)


def test_residual_init_is_validated_in_the_spec_and_the_builder():
    import dataclasses

    from bench.method import get_method
    from bench.method.spec import SpecError
    from bench.models import init_residual_branches

    spec = get_method("wfocal-effb3").spec
    assert spec.residual_init == "identity" and get_method("wang-wbce").spec.residual_init == "random"
    assert get_method("chexnet").spec.residual_init is None
    with pytest.raises(SpecError, match="residual_init must be one of"):
        dataclasses.replace(spec, residual_init="zeros")
    with pytest.raises(ValueError, match="must be one of"):
        init_residual_branches(torch.nn.Linear(2, 2), "zeros")
