"""The plugin contract as data: every field of the spec dataclasses (type, allowed values,
default, meaning, whether `--set` reaches it) and every hook (signature, when the engine calls
it, what it returns). `bench methods show --fields` prints it; docs/plugins.md holds the same
tables, and a test keeps the two equal, so the page cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from bench.method.base import HOOKS, Method
from bench.method.overrides import FIXED
from bench.method.spec import (
    LOSS_NAMES,
    OPTIMIZER_PARAMS,
    PARAM_TYPES,
    PRESET_LIMITS,
    PRESETS,
    SCHEDULES,
    WEIGHTINGS,
    LossSpec,
    MethodSpec,
    Normalisation,
    OptimizerSpec,
    Param,
    ScheduleSpec,
    StageSpec,
)
from bench.models import RESIDUAL_INITS
from bench.schema import hints, strip


def _names(values: typing.Iterable[str]) -> str:
    return ", ".join(f"`{v}`" for v in values)


_OPTIMIZER_KEYS = "; ".join(f"{name}: {', '.join(keys)}" for name, keys in OPTIMIZER_PARAMS.items())

# (class, field) -> (allowed values, meaning). A field missing here fails the contract test.
FIELDS: dict[str, tuple[str, str]] = {
    "MethodSpec.name": ("lower-case letters, digits, `-`, `_`, `.`", "the registry name; runs and tables use it"),
    "MethodSpec.description": ("one non-empty line", "what `bench methods list` and `show` print"),
    "MethodSpec.backbone": ("a timm model name", "the network; the built-in build_model gives it a 14-logit head"),
    "MethodSpec.loss": ("a LossSpec", "the loss and its class weighting (below)"),
    "MethodSpec.optimizer": ("an OptimizerSpec", "the optimizer and its base learning rate (below)"),
    "MethodSpec.presets": (
        f"{_names(PRESETS)}, each a list of StageSpec, all of one length",
        "the stages each `--preset` trains",
    ),
    "MethodSpec.citation": ("text", "the method's source, for `methods show`"),
    "MethodSpec.equations": ("text", "the paper's equation numbers"),
    "MethodSpec.pretrained": (
        "`imagenet`, `imagenet:TAG` (a timm weights tag), `file:PATH`, `run:RUN_ID`",
        "stage 1's start weights when pretrained weights are on (a checkpoint source: on by default); "
        "a run records a checkpoint as its absolute path and SHA-256",
    ),
    "MethodSpec.residual_init": (
        f"{_names(RESIDUAL_INITS)} or none",
        "from scratch: each residual branch's last BatchNorm weight 0 (identity) or 1 (random); none: as timm",
    ),
    "MethodSpec.schedule": ("a ScheduleSpec", "the learning-rate schedule of each stage (below)"),
    "MethodSpec.augmentation": (
        "`hflip`, or names a plugin registers (`register_augmentation`)",
        "training-only augmentations: the engine applies `hflip`; a plugin's hooks apply the names it registers",
    ),
    "MethodSpec.normalisation": ("a Normalisation", "how grey pixels become the network's input (below)"),
    "MethodSpec.params": (
        "names of lower-case letters, digits and `_`, each a Param",
        "method-level settings its hooks read as `self.params[NAME]`; `--set params.NAME=VALUE`",
    ),
    "MethodSpec.notes": ("lines of text", "where values come from, for `methods show`"),
    "MethodSpec.preset": (_names(PRESETS), "the preset `stages` was resolved from (set by the run)"),
    "MethodSpec.stages": ("a list of StageSpec", "the stages that run (set by the run from the preset and options)"),
    "LossSpec.name": (
        f"{_names(LOSS_NAMES)}, or a plugin's own name with build_loss",
        "the loss: BCE or focal, computed from logits in float32",
    ),
    "LossSpec.weighting": (
        f"{_names(WEIGHTINGS)}, or a plugin's own with build_loss",
        "class weights from the training list's positive counts (see Methods)",
    ),
    "LossSpec.beta": ("(0, 1)", "`class_balanced` and `cb_both`: the effective-number beta"),
    "LossSpec.scale": ("> 0", "`class_balanced`: w_pos = scale x the normalised Cui weights"),
    "LossSpec.alpha": ("[0, 1]", "`focal`: the positive term's weight alpha"),
    "LossSpec.gamma": (">= 0", "`focal`: the focusing exponent gamma"),
    "LossSpec.params": (
        "names and values a plugin declares; the built-in losses take none",
        "a plugin loss's settings; `--set loss.params.NAME` only for declared names, typed by the declared value",
    ),
    "OptimizerSpec.name": (
        f"{_names(OPTIMIZER_PARAMS)}, or a plugin's own with build_optimizer",
        "the optimizer; ranger is timm's Lookahead over RAdam",
    ),
    "OptimizerSpec.lr": ("> 0", "the learning rate of every stage without its own"),
    "OptimizerSpec.params": (
        f"built in: {_OPTIMIZER_KEYS}",
        "keyword arguments of the optimizer, checked against their types",
    ),
    "ScheduleSpec.name": (
        f"{_names(SCHEDULES)}, or a plugin's own with build_scheduler",
        "stepped once per epoch after validation: plateau with the validation loss, the others without",
    ),
    "ScheduleSpec.factor": ("(0, 1)", "`plateau` and `step`: the lr is multiplied by it"),
    "ScheduleSpec.patience": (">= 0", "`plateau`: epochs without a lower validation loss before a cut"),
    "ScheduleSpec.step_epochs": (">= 1", "`step`: epochs between cuts"),
    "ScheduleSpec.warmup_epochs": (
        ">= 0",
        "`cosine`: epochs of linear warm-up, epoch e at (e + 1) / (W + 1) of the lr",
    ),
    "ScheduleSpec.min_lr": (">= 0", "`cosine`: the lr at the stage's last epoch"),
    "ScheduleSpec.pct_start": ("(0, 1)", "`onecycle`: the share of the stage's epochs spent rising to the lr"),
    "ScheduleSpec.params": ("names and values a plugin declares", "a plugin schedule's settings"),
    "Normalisation.mean": ("3 numbers", "per-channel mean subtracted after scaling to [0, 1]"),
    "Normalisation.std": ("3 numbers > 0", "per-channel standard deviation divided by"),
    "StageSpec.image_size": ("an integer >= the backbone's total stride", "square input size in pixels"),
    "StageSpec.batch_size": ("an integer >= 1", "the global batch (split across processes)"),
    "StageSpec.epochs": ("an integer >= 1", "at most this many epochs (early stopping may end sooner)"),
    "StageSpec.lr": ("> 0 or none", "this stage's learning rate; none: the optimizer's"),
    "Param.value": ("of the param's kind", "what the hooks read; `--set params.NAME=VALUE` replaces it"),
    "Param.kind": (f"{_names(PARAM_TYPES)}, or empty", "its type; empty: the value's type"),
    "Param.help": ("text", "what it does, for `methods show`"),
    "Param.choices": ("strings", "for kind `str`: the values allowed (empty: any)"),
}
CLASSES: tuple[type, ...] = (MethodSpec, LossSpec, OptimizerSpec, ScheduleSpec, StageSpec, Normalisation, Param)
# How `--set` reaches each class's fields.
_PREFIX = {
    MethodSpec: "",
    LossSpec: "loss.",
    OptimizerSpec: "optimizer.",
    ScheduleSpec: "schedule.",
    StageSpec: "stages.N.",
    Normalisation: "normalisation.",
}


@dataclass(frozen=True)
class FieldRow:
    name: str
    type: str
    default: str
    allowed: str
    meaning: str
    set_key: str  # the `--set` key, or "" if it cannot be set


def type_text(tp: Any) -> str:
    tp, _ = strip(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return " or ".join("none" if a is type(None) else type_text(a) for a in args)
    if origin is tuple:
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict:
        return "dict" if args[1] is Any else f"dict of {type_text(args[1])}"
    return getattr(tp, "__name__", str(tp))


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if dataclasses.is_dataclass(value):
        return f"{type(value).__name__}()"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value) if value != {} else "{}"


def _set_key(cls: type, name: str, tp: Any) -> str:
    if cls is Param:
        return "params.NAME" if name == "value" else ""
    if cls is MethodSpec and name in (*FIXED, "stages"):
        return ""
    tp, _ = strip(tp)
    groups = (LossSpec, OptimizerSpec, ScheduleSpec, Normalisation)
    if cls is MethodSpec and (tp in groups or name == "params"):
        return ""  # a group: its fields are set one by one
    if typing.get_origin(tp) is dict:
        return f"{_PREFIX[cls]}{name}.NAME"
    return f"{_PREFIX[cls]}{name}"


def field_rows(cls: type) -> list[FieldRow]:
    types_ = hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        allowed, meaning = FIELDS[f"{cls.__name__}.{f.name}"]
        rows.append(
            FieldRow(
                f.name, type_text(types_[f.name]), _default(f), allowed, meaning, _set_key(cls, f.name, types_[f.name])
            )
        )
    return rows


# -- hooks -------------------------------------------------------------------------------------------
HOOK_DOCS: dict[str, tuple[str, str, str]] = {
    "build_model": (
        "at each stage's start (and to load a checkpoint for testing, `bench cam`, rescoring), with "
        "`pretrained` false from stage 2 on: the engine then loads the previous stage's best weights strictly",
        "an `nn.Module` mapping a (B, 3, H, W) float batch to (B, 14) logits, LABELS order",
        "the timm `backbone` with a 14-logit head; start weights per `pretrained`",
    ),
    "on_stage_start": (
        "once per stage, after the model is built or loaded, before the loss and optimizer: freeze or unfreeze here",
        "nothing",
        "nothing",
    ),
    "build_loss": (
        "once per stage, with the training list's positive counts per class (LABELS order) and its length; the "
        "validation loss uses the same module",
        "an `nn.Module` called as `loss_fn(logits, targets)`, targets (B, 14) float32",
        "`loss.name` with `loss.weighting`'s class weights",
    ),
    "build_optimizer": (
        "once per stage, with the model (its `named_parameters()` for per-layer rates) and the stage",
        "a torch optimizer (its state is checkpointed)",
        "`optimizer` over every parameter at the stage's lr (`decay_groups(model, wd)` spares norms and biases)",
    ),
    "build_scheduler": (
        "once per stage, after build_optimizer; stepped once per epoch after validation: a ReduceLROnPlateau "
        "with the validation loss, any other scheduler without an argument",
        "a torch LR scheduler (its state is checkpointed)",
        "`schedule` over the stage's epochs",
    ),
    "on_epoch_start": (
        "at each training epoch's start, right after the engine's `model.train()`: module modes (BatchNorm) here",
        "nothing",
        "nothing",
    ),
    "train_step": (
        "for every training batch, inside autocast on a GPU: x (B, 3, H, W) float, normalised, flipped where "
        "`hflip` applies, on the device; targets (B, 14) float32",
        "the batch's mean loss: a 0-dim tensor (read lazily) or a float",
        "zero_grad, forward, loss, backward, step",
    ),
    "predict": (
        "for every batch the engine scores: validation each epoch (its loss too), the test phase, `bench eval`; "
        "`model` in eval mode, under no_grad and autocast on a GPU, x (B, 3, H, W) float, normalised, on the "
        "device; `--tta` calls it once per view. Not `bench cam`, which draws the model's forward",
        "(B, 14) logits, LABELS order (the engine applies the sigmoid)",
        "`model(x)`",
    ),
}


@dataclass(frozen=True)
class HookRow:
    name: str
    signature: str
    called: str
    returns: str
    default: str


def hook_rows() -> list[HookRow]:
    rows = []
    for hook in HOOKS:
        called, returns, default = HOOK_DOCS[hook]
        signature = inspect.signature(getattr(Method, hook))
        params = ", ".join(p for p in signature.parameters if p != "self")
        rows.append(HookRow(hook, f"{hook}({params})", called, returns, default))
    return rows


# -- markdown ------------------------------------------------------------------------------------
def contract_markdown() -> str:
    """The tables docs/plugins.md carries between its `contract` markers."""
    blocks = []
    for cls in CLASSES:
        lines = [
            f"**{cls.__name__}**",
            "",
            "| field | type | default | allowed | `--set` | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for r in field_rows(cls):
            lines.append(
                f"| `{r.name}` | {r.type} | `{r.default}` | {r.allowed} | "
                f"{f'`{r.set_key}`' if r.set_key else 'no'} | {r.meaning} |"
            )
        blocks.append("\n".join(lines))
    hooks = ["**Hooks** (methods of `Method`)", "", "| hook | called | returns | default |", "|---|---|---|---|"]
    hooks += [f"| `{h.signature}` | {h.called} | {h.returns} | {h.default} |" for h in hook_rows()]
    blocks.append("\n".join(hooks))
    limits = ", ".join(f"`{p}`: at most {n} images per list" for p, n in PRESET_LIMITS.items())
    blocks.append(f"Preset limits without `--limit`: {limits}.")
    return "\n\n".join(blocks) + "\n"


if __name__ == "__main__":  # the block docs/plugins.md carries between its contract markers
    print(contract_markdown(), end="")
