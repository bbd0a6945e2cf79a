"""`Method`: a spec plus the hooks the training engine calls; a plugin overrides what it needs."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from bench.labels import NUM_CLASSES
from bench.method.guard import guarded
from bench.method.spec import WEIGHTINGS, LossSpec, MethodSpec, SpecError, StageSpec

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.optim.lr_scheduler import LRScheduler


# The hooks the engine calls, in the order it first calls them in a stage.
HOOKS = (
    "build_model",
    "on_stage_start",
    "build_loss",
    "build_optimizer",
    "build_scheduler",
    "on_epoch_start",
    "train_step",
    "predict",
)


class Method:
    """A training recipe. Subclasses may set `spec` as a class attribute and override hooks
    (HOOKS; docs/plugins.md says when each is called and with what). An exception inside a
    subclass's hook is reported in one line naming the hook, the file and the line.
    """

    spec: MethodSpec

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for hook in HOOKS:
            if hook in cls.__dict__:
                setattr(cls, hook, guarded(hook, cls.__dict__[hook]))

    def __init__(self, spec: MethodSpec | None = None):
        spec = spec if spec is not None else getattr(type(self), "spec", None)
        if not isinstance(spec, MethodSpec):
            raise SpecError(f"{type(self).__name__} needs a MethodSpec (pass one, or set the class attribute `spec`)")
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def params(self) -> dict[str, Any]:
        """The values of the spec's method-level params, by name."""
        return {name: param.value for name, param in self.spec.params.items()}

    def overridden(self) -> tuple[str, ...]:
        """The hooks this method's class overrides, in HOOKS order."""
        return tuple(h for h in HOOKS if getattr(type(self), h) is not getattr(Method, h))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r}, preset={self.spec.preset!r})"

    def with_spec(self, spec: MethodSpec) -> Method:
        """A copy with another spec (same class, so a plugin's hooks stay)."""
        new = copy.copy(self)
        new.spec = spec
        return new

    def resolve(self, preset: str, **overrides: Any) -> Method:
        """`with_spec(spec.resolve(preset, **overrides))`: what `bench run` trains."""
        return self.with_spec(self.spec.resolve(preset, **overrides))

    # -- hooks ---------------------------------------------------------------------------------
    def build_model(self, stage_index: int = 0, pretrained: bool = True) -> nn.Module:
        """The backbone with a 14-logit head. Start weights (ImageNet's, or a checkpoint's for a
        "file:" source) only for stage 0: later stages start from the previous stage's best
        checkpoint, which the engine loads."""
        from bench.method.weights import checkpoint_source, load_start_weights
        from bench.models import build_model

        from_file = checkpoint_source(self.spec.pretrained) is not None
        model = build_model(
            self.spec.backbone,
            pretrained=pretrained and stage_index == 0 and not from_file,
            source="imagenet" if from_file else self.spec.pretrained,
            residual_init=self.spec.residual_init,
        )
        if from_file and pretrained and stage_index == 0:
            load_start_weights(model, self.spec.pretrained)
        return model

    def build_loss(self, pos_counts: Sequence[int], n_train: int) -> nn.Module:
        """The spec's loss with class weights from the training list's positive counts (LABELS order)."""
        from bench.losses import WeightedBinaryLoss

        loss = self.spec.loss
        if loss.name not in ("bce", "focal"):
            raise SpecError(
                f"method {self.name!r}: loss {loss.name!r} is not built in (bce, focal)",
                hint="a plugin with another loss overrides Method.build_loss",
            )
        w_pos, w_neg = class_weights(loss, pos_counts, n_train, method=self.name)
        extra = {"alpha": loss.alpha, "gamma": loss.gamma} if loss.name == "focal" else {}
        return WeightedBinaryLoss(w_pos, w_neg, kind=loss.name, **extra)

    def build_optimizer(self, model: nn.Module | Iterable[Any], stage: StageSpec) -> torch.optim.Optimizer:
        """The spec's optimizer over `model`'s parameters (or an iterable of parameters or
        parameter groups) at the stage's lr."""
        from torch import nn

        from bench.method.optim import build_optimizer

        params = model.parameters() if isinstance(model, nn.Module) else model
        return build_optimizer(self.spec.optimizer, params, lr=self.spec.stage_lr(stage))

    def build_scheduler(self, optimizer: torch.optim.Optimizer, stage: StageSpec) -> LRScheduler:
        """The spec's schedule over `stage`'s epochs; the engine steps it once per epoch."""
        from bench.method.optim import build_scheduler

        return build_scheduler(optimizer, self.spec.schedule, epochs=stage.epochs)

    def on_stage_start(self, model: nn.Module, stage_index: int) -> None:
        """Called once per stage after the model is built (and, from stage 2 on, loaded from
        the previous stage's best checkpoint), before the optimizer is built: freeze or
        unfreeze parameters here. Does nothing by default."""

    def on_epoch_start(self, model: nn.Module, stage_index: int, epoch: int) -> None:
        """Called at every training epoch's start, right after the engine's `model.train()`:
        set modules' modes here (e.g. a frozen backbone's BatchNorm back to `eval()`). Does
        nothing by default."""

    def train_step(
        self, model: nn.Module, batch: Sequence[Any], loss_fn: nn.Module, optimizer: torch.optim.Optimizer
    ) -> torch.Tensor | float:
        """One optimisation step on `batch` = (images (B,3,H,W), targets (B,14), ...); returns the
        batch's mean loss, best as a 0-dim tensor left on the device (the engine reads it lazily)."""
        images, targets = batch[0], batch[1]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), targets)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The (B, 14) logits of a normalised (B, 3, H, W) batch, for every scoring of a list
        (validation, test, `bench eval`); `model` is in eval mode, under no_grad and autocast."""
        return model(x)


def class_weights(loss: LossSpec, pos_counts: Sequence[int], n_train: int, *, method: str = "") -> tuple[Any, Any]:
    """(w_pos, w_neg) for the spec's weighting, None for unweighted; bad counts or weights -> BenchError."""
    from bench import losses

    counts = [int(c) for c in pos_counts]
    where = f"method {method!r}: " if method else ""
    if len(counts) != NUM_CLASSES:
        raise SpecError(f"{where}need {NUM_CLASSES} positive counts (LABELS order), got {len(counts)}")
    if loss.weighting not in WEIGHTINGS:
        raise SpecError(
            f"{where}weighting {loss.weighting!r} is not built in ({', '.join(WEIGHTINGS)})",
            hint="a plugin with another weighting overrides Method.build_loss",
        )
    try:
        if loss.weighting == "wang":
            return losses.wang_weights(counts, n_train)
        if loss.weighting == "class_balanced":
            return losses.class_balanced_weights(counts, loss.beta, loss.scale)
        if loss.weighting == "cb_both":
            w = losses.effective_number_weights(counts, loss.beta)
            return w, w
    except ValueError as exc:  # e.g. a class without training positives, or weights outside (0, 1)
        raise SpecError(f"{where}{exc}") from exc
    return None, None
