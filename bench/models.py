"""Backbones: timm models with a 14-logit head, image-size checks, one-line weight errors."""

from __future__ import annotations

import difflib
import functools
from typing import TYPE_CHECKING

from bench.errors import BenchError
from bench.labels import NUM_CLASSES

if TYPE_CHECKING:  # torch loads only when a model is built: specs and run plans stay torch-free
    from torch import nn

# From scratch only: residual branches' last BatchNorm weight 0 (each block starts as the
# identity) or 1 (PyTorch's default); None leaves the model as timm builds it.
RESIDUAL_INITS = ("identity", "random")


def timm_name(backbone: str, pretrained: str = "imagenet") -> str:
    """The timm model name for a backbone and a spec's pretrained source.

    "imagenet" is timm's default ImageNet weights; "imagenet:<tag>" a given timm tag
    (e.g. "imagenet:tv_in1k" gives "densenet121.tv_in1k").
    """
    source, _, tag = pretrained.partition(":")
    if source != "imagenet":
        raise BenchError(f"unknown pretrained source {pretrained!r}", hint="use 'imagenet' or 'imagenet:<timm tag>'")
    name = f"{backbone}.{tag}" if tag else backbone
    if name in KNOWN_WEIGHTS:
        return name
    _check_backbone(backbone)
    if not tag:
        return backbone
    import timm

    if not timm.is_model_pretrained(name):
        tags = [n.partition(".")[2] for n in timm.list_pretrained(f"{backbone}.*")]
        raise BenchError(
            f"timm has no weights {name!r}",
            hint=f"tags for {backbone}: {', '.join(tags)}" if tags else f"timm has no weights for {backbone}",
        )
    return name


def build_model(
    backbone: str,
    *,
    pretrained: bool = False,
    source: str = "imagenet",
    num_classes: int = NUM_CLASSES,
    residual_init: str | None = None,
) -> nn.Module:
    """A timm `backbone` with a fresh `num_classes`-logit head; ImageNet weights if `pretrained`,
    else timm's initialisation with the residual branches set by `residual_init` (see
    `init_residual_branches`)."""
    import timm

    name = timm_name(backbone, source)
    if not pretrained:
        model = timm.create_model(name, pretrained=False, num_classes=num_classes)
        return init_residual_branches(model, residual_init) if residual_init else model
    try:
        return timm.create_model(name, pretrained=True, num_classes=num_classes)
    except Exception as exc:  # offline, proxy, broken cache: all end the same way for the user
        raise weights_error(name, exc) from exc


def init_residual_branches(model: nn.Module, how: str) -> nn.Module:
    """Set the last BatchNorm weight of every residual branch (ResNet and EfficientNet blocks
    with a skip connection) to 0, "identity", or 1, "random". Returns `model`.

    Which one trains faster from scratch depends on the optimizer. timm zeroes them for ResNets
    (Goyal et al. 2017), not for EfficientNets. On the demo, EfficientNet-B3 under Ranger barely
    learns with random branches (mean AUROC ~0.6 after 5 epochs at 64 px; 0.84 as identity),
    while ResNet-50 under SGD is the other way round: plain SGD's small steps leave zeroed
    weights near zero, so the network stays shallow (mean test AUROC 0.61 after 5 epochs; 0.70 random)."""
    from timm.models._efficientnet_blocks import DepthwiseSeparableConv, EdgeResidual, InvertedResidual
    from timm.models.resnet import BasicBlock, Bottleneck
    from torch import nn

    if how not in RESIDUAL_INITS:
        raise ValueError(f"residual init must be one of {RESIDUAL_INITS}, got {how!r}")
    value = 0.0 if how == "identity" else 1.0
    last_norm = (
        (InvertedResidual, "bn3"),
        (DepthwiseSeparableConv, "bn2"),
        (EdgeResidual, "bn2"),
        (Bottleneck, "bn3"),
        (BasicBlock, "bn2"),
    )
    for module in model.modules():
        for block, attr in last_norm:
            # A ResNet block always adds its branch (to a projection when the shape changes).
            if isinstance(module, block) and getattr(module, "has_skip", True):
                nn.init.constant_(getattr(module, attr).weight, value)
    return model


def weights_error(name: str, exc: BaseException) -> BenchError:
    """The one-line error for weights that could not be loaded: which file, where cached, what to do."""
    import timm
    import torch.hub

    cfg = timm.get_pretrained_cfg(name)
    sources = []
    if cfg is not None and cfg.hf_hub_id:
        sources.append(f"Hugging Face repo {cfg.hf_hub_id} (model.safetensors or pytorch_model.bin)")
    if cfg is not None and isinstance(cfg.url, str) and cfg.url:  # timm also allows a (url, name) pair
        sources.append(cfg.url.rsplit("/", 1)[-1])
    where = f"{torch.hub.get_dir()}/checkpoints and {_hf_cache()}"
    reason = " ".join(str(exc).split())[:160]
    return BenchError(
        f"cannot load pretrained weights for {name}: {type(exc).__name__}: {reason}",
        hint=f"weights: {' or '.join(sources) or name}; caches: {where}; "
        "put the weights there on a machine with internet access, or run with --no-pretrained",
    )


def _hf_cache() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:
        return "the Hugging Face cache (~/.cache/huggingface/hub)"
    return str(HF_HUB_CACHE)


# Total strides of the built-in methods' backbones, so specs and run plans check image sizes without
# importing torch; tests/test_models.py keeps this table equal to what timm reports.
KNOWN_REDUCTIONS = {"resnet50": 32, "densenet121": 32, "tf_efficientnet_b0": 32, "tf_efficientnet_b3": 32}
# The same for the timm names of the built-in methods' weights (each backbone, and each tag they use).
KNOWN_WEIGHTS = frozenset(
    [
        *KNOWN_REDUCTIONS,
        "resnet50.tv_in1k",
        "densenet121.tv_in1k",
        "tf_efficientnet_b0.aa_in1k",
        "tf_efficientnet_b3.aa_in1k",
    ]
)


def min_image_size(backbone: str) -> int:
    """The smallest input that leaves the backbone's last feature map at least 1x1 (its total stride)."""
    return KNOWN_REDUCTIONS.get(backbone) or _reduction(backbone)


@functools.cache
def _reduction(backbone: str) -> int:
    import timm
    import torch

    _check_backbone(backbone)
    with torch.device("meta"):  # architecture only: no memory, no initialisation cost
        model = timm.create_model(backbone, pretrained=False, num_classes=NUM_CLASSES)
    info = getattr(model, "feature_info", None)
    if not info:
        return 32  # the usual total stride of ImageNet CNNs
    last = info[-1] if isinstance(info, list) else info.get_dicts()[-1]
    return int(last["reduction"])


def check_image_size(backbone: str, size: int) -> int:
    """`size` if the backbone can take square images of that size, else a BenchError."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise BenchError(f"image size must be a positive integer, got {size!r}")
    smallest = min_image_size(backbone)
    if size < smallest:
        raise BenchError(
            f"image size {size} is too small for {backbone}: it downsamples by {smallest}",
            hint=f"use an image size of at least {smallest}",
        )
    return size


def _check_backbone(backbone: str) -> None:
    import timm

    if not timm.is_model(backbone):
        close = difflib.get_close_matches(backbone, timm.list_models(), n=3)
        raise BenchError(
            f"unknown backbone {backbone!r} (not a timm model)",
            hint=f"did you mean {' or '.join(map(repr, close))}?" if close else "see timm.list_models()",
        )
