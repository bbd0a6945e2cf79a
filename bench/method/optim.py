"""Optimizers and the learning-rate schedule built from a method's spec."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR, ReduceLROnPlateau, StepLR

from bench.errors import BenchError
from bench.method.spec import OPTIMIZER_PARAMS, SCHEDULES, OptimizerSpec, ScheduleSpec

# What each name means when the spec leaves a parameter out.
DEFAULTS: dict[str, dict[str, object]] = {
    "adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
    "sgd": {"momentum": 0.9, "weight_decay": 0.0},
    "ranger": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "k": 5, "alpha": 0.5},
}


def build_optimizer(
    spec: OptimizerSpec, params: Iterable[torch.nn.Parameter] | Iterable[dict], *, lr: float | None = None
) -> torch.optim.Optimizer:
    """ "adam", "adamw" (decoupled weight decay, 0.01 unless given), "sgd" (momentum 0.9 unless
    given; `nesterov` true for Nesterov momentum) or "ranger" (Lookahead over RAdam: timm's
    Lookahead with a multi-tensor slow update, `lookahead.ForeachLookahead`)."""
    if spec.name not in OPTIMIZER_PARAMS:
        raise BenchError(
            f"optimizer {spec.name!r} is not built in ({', '.join(OPTIMIZER_PARAMS)})",
            hint="a plugin with another optimizer overrides Method.build_optimizer",
        )
    kwargs = {**DEFAULTS[spec.name], **spec.params}
    lr = spec.lr if lr is None else lr
    if spec.name == "adam":
        return torch.optim.Adam(params, lr=lr, **kwargs)
    if spec.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, **kwargs)
    if spec.name == "sgd":
        return torch.optim.SGD(params, lr=lr, **kwargs)
    from bench.method.lookahead import ForeachLookahead  # imports timm: only when asked for

    k, alpha = kwargs.pop("k"), kwargs.pop("alpha")
    return ForeachLookahead(torch.optim.RAdam(params, lr=lr, **kwargs), alpha=alpha, k=k)


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """`model`'s trainable parameters as two optimizer groups: weights with `weight_decay`, and
    biases and normalisation parameters (every parameter of fewer than 2 dimensions) without."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_scheduler(optimizer: torch.optim.Optimizer, spec: ScheduleSpec, *, epochs: int) -> LRScheduler:
    """The built-in schedule `spec.name` over a stage of `epochs` epochs, stepped once per epoch
    by `step_scheduler`; the optimizer's lr is the stage's (the peak, for cosine and onecycle)."""
    if spec.name == "plateau":
        return ReduceLROnPlateau(optimizer, mode="min", factor=spec.factor, patience=spec.patience)
    if spec.name == "step":
        return StepLR(optimizer, step_size=spec.step_epochs, gamma=spec.factor)
    if spec.name == "onecycle":
        peak = [group["lr"] for group in optimizer.param_groups]
        # Per epoch: the cycle ends at the stage's last epoch. Momentum stays as the optimizer has it.
        return OneCycleLR(optimizer, max_lr=peak, total_steps=epochs, pct_start=spec.pct_start, cycle_momentum=False)
    if spec.name == "cosine":
        return LambdaLR(optimizer, _cosine_factors(optimizer, spec, epochs))
    if spec.name == "constant":
        return LambdaLR(optimizer, lambda epoch: 1.0)
    raise BenchError(
        f"schedule {spec.name!r} is not built in ({', '.join(SCHEDULES)})",
        hint="a plugin with another schedule overrides Method.build_scheduler",
    )


def _cosine_factors(optimizer: torch.optim.Optimizer, spec: ScheduleSpec, epochs: int) -> list:
    """Per parameter group, epoch -> lr factor: (e + 1) / (W + 1) during the W warm-up epochs,
    then a cosine from 1 at epoch W to min_lr / lr at the last epoch."""
    warmup, decay = spec.warmup_epochs, max(1, epochs - spec.warmup_epochs - 1)

    def factors(floor: float):
        def factor(epoch: int) -> float:
            if epoch < warmup:
                return (epoch + 1) / (warmup + 1)
            t = min(1.0, (epoch - warmup) / decay)
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

        return factor

    return [factors(min(1.0, spec.min_lr / group["lr"])) for group in optimizer.param_groups]


def step_scheduler(scheduler: LRScheduler, val_loss: float) -> None:
    """One epoch's step: ReduceLROnPlateau reads the validation loss; every other scheduler steps
    without an argument (PyTorch reads one as an epoch number and jumps the schedule there)."""
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(val_loss)
    else:
        scheduler.step()
