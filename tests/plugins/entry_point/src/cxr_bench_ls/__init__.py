"""An installed method package: label-smoothed BCE, announced in the entry-point group
`cxr_bench.methods` (see the package's pyproject.toml). The loss's parameters are declared in
`LossSpec.params`, so `--set loss.params.smoothing=0.2` is checked against them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec, StageSpec


class SmoothedBCE(nn.Module):
    """BCE against targets pulled towards 1/2: y' = y (1 - s) + s / 2."""

    def __init__(self, smoothing: float = 0.1):
        super().__init__()
        self.smoothing = smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        soft = targets.float() * (1 - self.smoothing) + self.smoothing / 2
        return F.binary_cross_entropy_with_logits(logits.float(), soft)


class SmoothedMethod(Method):
    def build_loss(self, pos_counts, n_train):
        return SmoothedBCE(**self.spec.loss.params)


# The entry point names this object; a package does not call register_method.
METHOD = SmoothedMethod(
    MethodSpec(
        name="ls-bce",
        description="ResNet-18 with label-smoothed BCE (smoothing 0.1) and Adam",
        backbone="resnet18",
        pretrained="imagenet:tv_in1k",
        loss=LossSpec(name="ls-bce", params={"smoothing": 0.1}),
        optimizer=OptimizerSpec("adam", lr=1e-3),
        presets={
            "paper": (StageSpec(224, 32, 25),),
            "demo": (StageSpec(64, 32, 5),),
            "smoke": (StageSpec(32, 8, 1),),
        },
    )
)
