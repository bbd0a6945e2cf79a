"""Method specs: typed, frozen, validated, and JSON round-trippable (run records store them).

A `MethodSpec` says everything a run needs to know about a method: backbone, loss and class
weighting, optimizer, schedule, augmentation, normalisation and the training stages of each
preset ("paper", "demo", "smoke"). `stages` holds the stages that actually run; `resolve`
picks a preset and applies `--epochs/--batch-size/--image-size` style overrides.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from bench.models import RESIDUAL_INITS, check_image_size
from bench.schema import SchemaError, decode, encode, freeze

LOSS_NAMES = ("bce", "focal")
WEIGHTINGS = ("none", "wang", "class_balanced", "cb_both")
# Keyword arguments each built-in optimizer accepts besides lr, and their types (see bench.method.optim).
# `foreach` and `fused` choose torch's kernels (unset: torch's choice, multi-tensor on CUDA): the
# same update up to rounding, at another speed.
_KERNELS: dict[str, Any] = {"foreach": bool, "fused": bool}
_ADAM_PARAMS: dict[str, Any] = {"betas": tuple[float, float], "eps": float, "weight_decay": float}
OPTIMIZER_PARAMS: dict[str, dict[str, Any]] = {
    "adam": {**_ADAM_PARAMS, **_KERNELS},
    "adamw": {**_ADAM_PARAMS, **_KERNELS},
    "sgd": {"momentum": float, "dampening": float, "weight_decay": float, "nesterov": bool, **_KERNELS},
    "ranger": {**_ADAM_PARAMS, "k": int, "alpha": float, "foreach": bool},  # torch's RAdam has no fused kernel
}
# The types a method-level `Param` may declare.
PARAM_TYPES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}
SCHEDULES = ("plateau", "cosine", "step", "onecycle", "constant")
# Augmentation names a spec may list: the engine applies "hflip"; a plugin registers the names
# its own hooks apply (`register_augmentation`), so a run records them.
AUGMENTATIONS: dict[str, str] = {"hflip": "random horizontal flip of training images (p 0.5), by the engine"}
PRESETS = ("paper", "demo", "smoke")
# Images per list a preset trains and tests on unless --limit says otherwise: "smoke" is for a
# first run of a plugin (seconds) and for tests; 200 keeps every demo class defined in each list.
PRESET_LIMITS: dict[str, int] = {"smoke": 200}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_PARAM_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_PRETRAINED = re.compile(r"^(imagenet(:[A-Za-z0-9_.-]+)?|file:.+|run:.+)$")


class SpecError(SchemaError):
    """A method spec that is malformed or inconsistent."""


def register_augmentation(name: str, description: str) -> str:
    """Declare an augmentation a plugin's hooks apply (e.g. mixup in `train_step`), so a spec
    may list it; returns the name. The engine itself applies only "hflip"."""
    _require(isinstance(name, str) and bool(_NAME.match(name)), f"augmentation name {name!r} is not valid")
    _require(
        AUGMENTATIONS.get(name, description) == description,
        f"augmentation {name!r} is registered twice with different descriptions",
        hint="register it once",
    )
    AUGMENTATIONS[name] = description
    return name


def _require(ok: bool, message: str, hint: str | None = None) -> None:
    if not ok:
        raise SpecError(message, hint=hint)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # normalising fields of a frozen dataclass


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class LossSpec:
    """The loss and its class weighting.

    Built-in names: "bce" | "focal"; weightings: "none", "wang" (Eq. 1), "class_balanced"
    (Eq. 4-6: w_pos = scale * Cui weights, w_neg = 1 - w_pos), "cb_both" (Eq. 3: Cui's
    weights on both terms). A plugin that overrides `Method.build_loss` may use its own
    names and keep its settings in `params`.
    """

    name: str = "bce"
    weighting: str = "none"
    beta: float = 0.9998
    scale: float = 0.1
    alpha: float = 0.5
    gamma: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(0.0 < self.beta < 1.0, f"loss.beta must be in (0, 1), got {self.beta}")
        _require(self.scale > 0.0, f"loss.scale must be positive, got {self.scale}")
        _require(0.0 <= self.alpha <= 1.0, f"loss.alpha must be in [0, 1], got {self.alpha}")
        _require(self.gamma >= 0.0, f"loss.gamma must be >= 0, got {self.gamma}")
        _set(self, "params", freeze(dict(self.params)))

    def summary(self) -> str:
        if self.name == "focal":
            text = f"focal (alpha {_fmt(self.alpha)}, gamma {_fmt(self.gamma)})"
        elif self.name == "bce":
            text = "BCE"
        else:
            text = self.name + "".join(f", {k} {v}" for k, v in self.params.items())
        weights = {
            "none": "unweighted",
            "wang": "Wang weights (Eq. 1)",
            "class_balanced": f"class-balanced, beta {self.beta}, scale {_fmt(self.scale)} (Eq. 4-6)",
            "cb_both": f"Cui weights on both terms, beta {self.beta} (Eq. 3)",
        }.get(self.weighting, self.weighting)
        return f"{text}, {weights}"


@dataclass(frozen=True)
class OptimizerSpec:
    """Optimizer name ("adam", "adamw", "sgd", "ranger" built in), base learning rate, keyword
    params (for a built-in name: those it takes, checked against their types)."""

    name: str
    lr: float
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(self.lr > 0.0, f"optimizer.lr must be positive, got {self.lr}")
        _set(self, "params", freeze(dict(self.params)))
        allowed = OPTIMIZER_PARAMS.get(self.name)
        if allowed is None:  # a plugin's optimizer: its hook reads what it declares
            return
        unknown = sorted(set(self.params) - set(allowed))
        _require(
            not unknown,
            f"optimizer {self.name!r} takes no parameter {', '.join(map(repr, unknown))}",
            hint=f"it takes {', '.join(allowed)}",
        )
        typed = {
            key: decode(allowed[key], value, source=f"optimizer {self.name!r}", where=f"params.{key}", error=SpecError)
            for key, value in self.params.items()
        }
        _require(
            not (typed.get("foreach") and typed.get("fused")),
            f"optimizer {self.name!r}: params.foreach and params.fused cannot both be true",
            hint="set only one of them to true",
        )
        _set(self, "params", typed)

    def summary(self) -> str:
        shown = {"ranger": "Ranger (RAdam + Lookahead)", "adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}.get(
            self.name, self.name
        )
        params = "".join(f", {k} {v}" for k, v in self.params.items())
        return f"{shown}, lr {_fmt(self.lr)}{params}"


@dataclass(frozen=True)
class ScheduleSpec:
    """How the learning rate moves within a stage. The engine steps the scheduler once per
    epoch, after validation: `plateau` with the validation loss, every other one without.

    Built-in names: "plateau" (ReduceLROnPlateau on the validation loss), "cosine" (linear
    warm-up, then cosine decay to `min_lr` at the stage's last epoch), "step" (x `factor`
    every `step_epochs`), "onecycle" (rise to the stage lr, then anneal; per epoch),
    "constant". A plugin that overrides `Method.build_scheduler` may use its own name and keep
    its settings in `params`.
    """

    name: str = "plateau"
    factor: float = 0.1
    patience: int = 1
    step_epochs: int = 1
    warmup_epochs: int = 0
    min_lr: float = 0.0
    pct_start: float = 0.3
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(
            isinstance(self.name, str) and bool(_NAME.match(self.name)),
            f"schedule.name {self.name!r} is not valid",
            hint=f"built in: {', '.join(SCHEDULES)}",
        )
        _require(0.0 < self.factor < 1.0, f"schedule.factor must be in (0, 1), got {self.factor}")
        _require(self.patience >= 0, f"schedule.patience must be >= 0, got {self.patience}")
        _require(self.step_epochs >= 1, f"schedule.step_epochs must be >= 1, got {self.step_epochs}")
        _require(self.warmup_epochs >= 0, f"schedule.warmup_epochs must be >= 0, got {self.warmup_epochs}")
        _require(self.min_lr >= 0.0, f"schedule.min_lr must be >= 0, got {self.min_lr}")
        _require(0.0 < self.pct_start < 1.0, f"schedule.pct_start must be in (0, 1), got {self.pct_start}")
        _set(self, "params", freeze(dict(self.params)))

    def summary(self) -> str:
        if self.name == "plateau":
            return f"lr x {_fmt(self.factor)} when validation loss has not improved for {self.patience} epoch(s)"
        if self.name == "cosine":
            warmup = f"{self.warmup_epochs} epoch(s) of linear warm-up, then " if self.warmup_epochs else ""
            return f"{warmup}cosine decay to {_fmt(self.min_lr)} at each stage's last epoch"
        if self.name == "step":
            return f"lr x {_fmt(self.factor)} every {self.step_epochs} epoch(s)"
        if self.name == "onecycle":
            return f"one cycle per stage: up to the stage lr over {self.pct_start:.0%} of its epochs, then down"
        if self.name == "constant":
            return "the stage lr throughout"
        return self.name + "".join(f", {k} {v}" for k, v in self.params.items())


@dataclass(frozen=True)
class Normalisation:
    """Per-channel mean/std applied after the grey image is scaled to [0, 1] and replicated to 3 channels."""

    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        _set(self, "mean", tuple(self.mean))
        _set(self, "std", tuple(self.std))
        _require(
            len(self.mean) == len(self.std) == 3,
            "normalisation needs 3 means and 3 stds (RGB replicas of the grey image)",
        )
        _require(all(s > 0 for s in self.std), f"normalisation.std must be positive, got {self.std}")


@dataclass(frozen=True)
class StageSpec:
    """One training stage. lr None means the optimizer's lr (so an lr override reaches it)."""

    image_size: int
    batch_size: int
    epochs: int
    lr: float | None = None

    def __post_init__(self) -> None:
        for what in ("image_size", "batch_size", "epochs"):
            value = getattr(self, what)
            _require(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"stage {what} must be a positive integer, got {value!r}",
            )
        _require(self.lr is None or self.lr > 0.0, f"stage lr must be positive, got {self.lr}")

    def summary(self) -> str:
        lr = "" if self.lr is None else f", lr {_fmt(self.lr)}"
        return f"{self.image_size} px, batch {self.batch_size}, {self.epochs} epoch(s){lr}"


@dataclass(frozen=True)
class Param:
    """A method-level setting with a declared type: hooks read `self.params[NAME]` (the value),
    `--set params.NAME=VALUE` changes it (checked against the type and the choices)."""

    value: bool | int | float | str
    kind: str = ""  # its type: "bool" | "int" | "float" | "str"; empty: the value's type
    help: str = ""
    choices: tuple[str, ...] = ()  # for kind "str": the allowed values (empty: any)

    def __post_init__(self) -> None:
        kind = self.kind or next((k for k, t in PARAM_TYPES.items() if type(self.value) is t), "")
        _require(
            kind in PARAM_TYPES,
            f"param kind must be one of {', '.join(PARAM_TYPES)}, got {self.kind or type(self.value).__name__!r}",
        )
        value = decode(PARAM_TYPES[kind], self.value, source="param", error=SpecError)
        _set(self, "kind", kind)
        _set(self, "value", value)
        _set(self, "choices", tuple(self.choices))
        _require(not self.choices or kind == "str", f"param choices are for kind str, not {kind}")
        _require(
            not self.choices or value in self.choices,
            f"param value {value!r} is not one of its choices",
            hint=f"choices: {', '.join(self.choices)}",
        )

    @property
    def python_type(self) -> type:
        return PARAM_TYPES[self.kind]


@dataclass(frozen=True)
class MethodSpec:
    """Everything that defines a method (see the module docstring)."""

    name: str
    description: str
    backbone: str  # a timm model name, e.g. "tf_efficientnet_b3"
    loss: LossSpec
    optimizer: OptimizerSpec
    presets: dict[str, tuple[StageSpec, ...]]
    citation: str = ""
    equations: str = ""  # the paper's equation numbers, e.g. "Eq. 3-6, 8"
    pretrained: str = "imagenet"  # timm's ImageNet weights ("imagenet[:<timm tag>]"), "file:PATH" or "run:RUN_ID"
    residual_init: str | None = None  # without pretrained weights: one of RESIDUAL_INITS, None as timm
    schedule: ScheduleSpec = ScheduleSpec()
    augmentation: tuple[str, ...] = ("hflip",)  # training only
    normalisation: Normalisation = Normalisation()
    params: dict[str, Param] = field(default_factory=dict)  # method-level settings its hooks read
    notes: tuple[str, ...] = ()  # where values come from
    preset: str = "paper"  # the preset `stages` was resolved from
    stages: tuple[StageSpec, ...] = ()  # the stages that run; empty means presets[preset]

    def __post_init__(self) -> None:
        _require(
            isinstance(self.name, str) and bool(_NAME.match(self.name)),
            f"method name {self.name!r} is not valid",
            hint="use lower-case letters, digits, '-', '_' and '.'",
        )
        where = f"method {self.name!r}"
        _require(
            "\n" not in self.description and self.description.strip() != "",
            f"{where}: description must be one non-empty line",
        )
        _require(bool(self.backbone), f"{where}: backbone is empty")
        _require(
            bool(_PRETRAINED.match(self.pretrained)),
            f"{where}: pretrained must be 'imagenet', 'imagenet:<timm tag>', 'file:PATH' or 'run:RUN_ID', "
            f"got {self.pretrained!r}",
        )
        _require(
            self.residual_init is None or self.residual_init in RESIDUAL_INITS,
            f"{where}: residual_init must be one of {RESIDUAL_INITS} or None, got {self.residual_init!r}",
        )
        for item in self.augmentation:
            # Known names are checked when a run resolves the method: a record names its
            # plugins' augmentations whether or not the plugin is loaded.
            _require(
                isinstance(item, str) and bool(_NAME.match(item)),
                f"{where}: augmentation name {item!r} is not valid",
                hint="use lower-case letters, digits, '-', '_' and '.'",
            )
        _set(self, "augmentation", tuple(self.augmentation))
        _set(self, "notes", tuple(self.notes))
        for key, param in self.params.items():
            _require(
                isinstance(key, str) and bool(_PARAM_NAME.match(key)),
                f"{where}: param name {key!r} is not valid",
                hint="use lower-case letters, digits and '_'",
            )
            _require(isinstance(param, Param), f"{where}: params[{key!r}] must be a Param, got {type(param).__name__}")
        _set(self, "params", dict(self.params))

        missing = [p for p in PRESETS if p not in self.presets]
        hint = f"every method defines {', '.join(PRESETS)}"
        _require(not missing, f"{where}: presets {', '.join(missing)} missing", hint=hint)
        presets = {name: tuple(stages) for name, stages in self.presets.items()}
        counts = {name: len(stages) for name, stages in presets.items()}
        _require(0 not in counts.values(), f"{where}: a preset has no stages ({counts})")
        _require(
            len(set(counts.values())) == 1,
            f"{where}: presets disagree on the number of stages ({counts})",
            hint="a two-stage method keeps two stages in every preset",
        )
        _require(self.preset in presets, f"{where}: preset {self.preset!r} is not one of its presets {sorted(presets)}")
        stages = tuple(self.stages) or presets[self.preset]
        _require(
            len(stages) == next(iter(counts.values())),
            f"{where}: {len(stages)} stage(s) given, its presets have {next(iter(counts.values()))}",
        )
        _set(self, "presets", presets)
        _set(self, "stages", stages)

    def stage_lr(self, stage: StageSpec) -> float:
        return self.optimizer.lr if stage.lr is None else stage.lr

    def resolve(
        self,
        preset: str,
        *,
        epochs: int | None = None,
        batch_size: int | None = None,
        image_size: int | None = None,
    ) -> MethodSpec:
        """This spec with `stages` from `preset`, after overrides, image sizes checked for the backbone.

        `epochs` applies to every stage; `batch_size` and `image_size` set stage 1's and later
        stages keep their ratio to stage 1 (the paper's stage 2: double size, half batch).
        """
        if preset not in self.presets:
            close = difflib.get_close_matches(preset, list(self.presets), n=1)
            raise SpecError(
                f"method {self.name!r} has no preset {preset!r}",
                hint=f"did you mean {close[0]!r}?" if close else f"presets: {', '.join(self.presets)}",
            )
        for what, value in (("epochs", epochs), ("batch size", batch_size), ("image size", image_size)):
            _require(value is None or value >= 1, f"{what} must be a positive integer, got {value}")
        stages = self.presets[preset]
        first = stages[0]
        stages = tuple(
            dataclasses.replace(
                s,
                epochs=epochs or s.epochs,
                batch_size=max(1, round(s.batch_size * batch_size / first.batch_size)) if batch_size else s.batch_size,
                image_size=max(1, round(s.image_size * image_size / first.image_size)) if image_size else s.image_size,
            )
            for s in stages
        )
        for stage in stages:
            check_image_size(self.backbone, stage.image_size)
        return dataclasses.replace(self, preset=preset, stages=stages)

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (tuples become lists); `from_dict` reads it back to an equal spec."""
        return encode(self)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "method spec") -> MethodSpec:
        """Validate and build from `to_dict` output (e.g. a run record's method spec)."""
        return decode(cls, data, source=source, error=SpecError)
