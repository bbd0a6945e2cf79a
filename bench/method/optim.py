"""Optimizers and the learning-rate schedule built from a method's spec."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from bench.errors import BenchError
from bench.method.spec import OPTIMIZER_PARAMS, OptimizerSpec, ScheduleSpec

# What each name means when the spec leaves a parameter out.
DEFAULTS: dict[str, dict[str, object]] = {
    "adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
    "sgd": {"momentum": 0.9, "weight_decay": 0.0},
    "ranger": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "k": 5, "alpha": 0.5},
}


def build_optimizer(
    spec: OptimizerSpec, params: Iterable[torch.nn.Parameter] | Iterable[dict], *, lr: float | None = None
) -> torch.optim.Optimizer:
    """ "adam", "sgd" (momentum 0.9 unless given) or "ranger" (timm's Lookahead over RAdam)."""
    if spec.name not in OPTIMIZER_PARAMS:
        raise BenchError(
            f"optimizer {spec.name!r} is not built in ({', '.join(OPTIMIZER_PARAMS)})",
            hint="a plugin with another optimizer overrides Method.build_optimizer",
        )
    kwargs = {**DEFAULTS[spec.name], **spec.params}
    lr = spec.lr if lr is None else lr
    if spec.name == "adam":
        return torch.optim.Adam(params, lr=lr, **kwargs)
    if spec.name == "sgd":
        return torch.optim.SGD(params, lr=lr, **kwargs)
    from timm.optim import Lookahead, RAdam

    k, alpha = kwargs.pop("k"), kwargs.pop("alpha")
    return Lookahead(RAdam(params, lr=lr, **kwargs), alpha=alpha, k=k)


def build_scheduler(optimizer: torch.optim.Optimizer, spec: ScheduleSpec) -> ReduceLROnPlateau:
    """ReduceLROnPlateau on the validation loss (call `.step(val_loss)` once per epoch)."""
    return ReduceLROnPlateau(optimizer, mode="min", factor=spec.factor, patience=spec.patience)
