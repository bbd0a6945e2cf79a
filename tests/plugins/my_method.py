"""A third-party method in one file: DenseNet-121 with the asymmetric loss (ASL).

Run it with `bench run --plugin my_method.py --method asl-densenet121`. The spec says
everything `bench` records about the method; the `build_loss` hook supplies a loss that
cxr-bench does not ship. Every other hook (model, optimizer, schedule, training step)
is the built-in one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec, StageSpec, register_method


class AsymmetricLoss(nn.Module):
    """Ridnik et al. (2021): L = -y (1-p)^g+ log p - (1-y) p_m^g- log(1 - p_m), p_m = max(p - m, 0).

    Mean over batch and classes; computed from logits with log-sigmoid.
    """

    def __init__(self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, margin: float = 0.05):
        super().__init__()
        self.gamma_pos, self.gamma_neg, self.margin = gamma_pos, gamma_neg, margin

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x, y = logits.float(), targets.float()
        p = torch.sigmoid(x)
        # Shifted negative probability p_m; log(1 - p_m) = log(min(1 - p + m, 1)) stays finite.
        p_m = (p - self.margin).clamp(min=0)
        log_1m_pm = torch.log((torch.sigmoid(-x) + self.margin).clamp(max=1)) if self.margin > 0 else F.logsigmoid(-x)
        pos = (1 - p) ** self.gamma_pos * F.logsigmoid(x)
        neg = p_m**self.gamma_neg * log_1m_pm
        return -(y * pos + (1 - y) * neg).mean()


class AslMethod(Method):
    def build_loss(self, pos_counts, n_train):
        return AsymmetricLoss(**self.spec.loss.params)  # ASL needs no class counts


SPEC = MethodSpec(
    name="asl-densenet121",
    description="DenseNet-121 with the asymmetric loss (gamma+ 0, gamma- 4, margin 0.05) and Adam",
    citation="Ridnik, T. et al. Asymmetric loss for multi-label classification. ICCV 2021.",
    backbone="densenet121",
    pretrained="imagenet:tv_in1k",
    loss=LossSpec(name="asl", params={"gamma_pos": 0.0, "gamma_neg": 4.0, "margin": 0.05}),
    optimizer=OptimizerSpec("adam", lr=1e-3, params={"betas": (0.9, 0.999)}),
    presets={
        "paper": (StageSpec(image_size=224, batch_size=16, epochs=25),),
        "demo": (StageSpec(image_size=64, batch_size=32, epochs=5),),
        "smoke": (StageSpec(image_size=32, batch_size=8, epochs=1),),
    },
)

register_method(AslMethod(SPEC))
