"""Backbones: 14-logit heads, image-size checks, pretrained sources, one-line weight errors."""

from __future__ import annotations

import pytest
import timm
import torch

from bench.errors import BenchError
from bench.models import build_model, check_image_size, min_image_size, timm_name

BACKBONES = ("resnet50", "densenet121", "tf_efficientnet_b0", "tf_efficientnet_b3")


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
