"""`--set KEY=VALUE`: override one field of a resolved method spec.

Keys are dotted paths into the spec: `loss.beta`, `optimizer.lr`, `optimizer.params.weight_decay`,
`stages.0.epochs`, `params.NAME`. A value is coerced to the field's declared type (a method's
`Param`: its declared type; a plugin loss's parameter: the type of the value its spec declares)
and the spec is rebuilt with `dataclasses.replace`, so the spec's own validation checks it.
Fields that describe the method rather than how it trains (name, description, presets, ...)
cannot be set, and neither can parameters nobody declared.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from bench.errors import BenchError
from bench.method.spec import OPTIMIZER_PARAMS, MethodSpec, OptimizerSpec, Param
from bench.models import check_image_size
from bench.schema import SchemaError, hints, parse_text, strip

# MethodSpec fields that name or document the method, or pick the stages `resolve` already chose.
FIXED = ("name", "description", "citation", "equations", "notes", "preset", "presets")


class OverrideError(SchemaError):
    """A `--set` that is malformed, names no settable field, or has a value of the wrong type."""


@dataclass(frozen=True)
class Override:
    key: str  # dotted path, e.g. "loss.beta"
    value: Any  # coerced to the field's type
    text: str  # the value normalised for display: "3e-4" and "0.0003" both show as 0.0003


def split_override(item: str, option: str = "--set") -> tuple[str, str]:
    """("loss.beta", "0.99998") from "loss.beta=0.99998"; OverrideError naming `option` if there is no key."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        example = "loss.beta=0.999,0.9999" if option == "--grid" else "loss.beta=0.99998"
        raise OverrideError(f"{option} {item!r} is not KEY=VALUE", hint=f"e.g. {option} {example}")
    return key, value.strip()


class Applied(NamedTuple):
    spec: MethodSpec  # with the overrides that change it
    overrides: tuple[Override, ...]  # those, sorted by key
    inert: tuple[str, ...]  # one line per --set that changes nothing (left out of the spec and the name)


def apply_overrides(spec: MethodSpec, items: Sequence[str], *, hooks: Sequence[str] = ()) -> Applied:
    """`spec` with every "KEY=VALUE" of `items` applied in order. An item that sets a field to the
    value it has, or one the built-in hooks do not read for this spec (`loss.gamma` of a BCE loss),
    is left out and reported; `hooks` names the hooks the method overrides (they may read any field)."""
    parsed = _parse(spec, items)
    final = spec
    for key, value, text in parsed:
        final = _applied(final, key, value, text)
    kept, inert = [], []
    for key, value, text in parsed:
        current = _locate(spec, key.split("."), key)[1]
        reason = _ignored(final, key, hooks)
        if _same(value, current):
            inert.append(f"--set {key}={text} changes nothing: {spec.name} has {key}={_show(current)}")
        elif reason:
            inert.append(f"--set {key}={text} changes nothing: {reason}")
        else:
            kept.append((key, value, text))
    for key, value, text in kept:
        spec = _applied(spec, key, value, text)
    done = sorted((Override(key, value, _show(value)) for key, value, _ in kept), key=lambda o: o.key)
    return Applied(spec, tuple(done), tuple(inert))


def _parse(spec: MethodSpec, items: Sequence[str]) -> list[tuple[str, Any, str]]:
    """(key, value coerced to the field's type, text) per item; each key once."""
    seen: set[str] = set()
    parsed = []
    for item in items:
        key, text = split_override(item)
        if key in seen:
            raise OverrideError(f"--set {key} given twice", hint="give each key once")
        seen.add(key)
        tp, current = _locate(spec, key.split("."), key)
        parsed.append(
            (key, parse_text(text, tp, what=f"--set {key}={text}", current=current, error=OverrideError), text)
        )
    return parsed


def _applied(spec: MethodSpec, key: str, value: Any, text: str) -> MethodSpec:
    try:
        spec = _replace(spec, key.split("."), value)
        if key == "backbone" or key.endswith(".image_size"):
            _check_sizes(spec)
    except BenchError as exc:  # the spec's own validation, or a size the backbone cannot take
        raise OverrideError(f"--set {key}={text}: {exc.message}", hint=exc.hint) from None
    return spec


def _same(value: Any, current: Any) -> bool:
    return type(value) is type(current) and value == current


# Fields the built-in hooks read only for some specs: (hook, field) -> (spec attribute, values that use it).
_USED_WHEN: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "loss.beta": ("build_loss", "loss.weighting", ("class_balanced", "cb_both")),
    "loss.scale": ("build_loss", "loss.weighting", ("class_balanced",)),
    "loss.alpha": ("build_loss", "loss.name", ("focal",)),
    "loss.gamma": ("build_loss", "loss.name", ("focal",)),
    "schedule.factor": ("build_scheduler", "schedule.name", ("plateau", "step")),
    "schedule.patience": ("build_scheduler", "schedule.name", ("plateau",)),
    "schedule.step_epochs": ("build_scheduler", "schedule.name", ("step",)),
    "schedule.warmup_epochs": ("build_scheduler", "schedule.name", ("cosine",)),
    "schedule.min_lr": ("build_scheduler", "schedule.name", ("cosine",)),
    "schedule.pct_start": ("build_scheduler", "schedule.name", ("onecycle",)),
}


def _ignored(spec: MethodSpec, key: str, hooks: Sequence[str]) -> str | None:
    """Why the built-in hooks do not read `key` for `spec`, or None."""
    if key not in _USED_WHEN:
        return None
    hook, selector, using = _USED_WHEN[key]
    if hook in hooks:
        return None
    value = _locate(spec, selector.split("."), selector)[1]
    if value in using:
        return None
    return f"{spec.name} has {selector}={value}, which does not use {key} (it is read for {', '.join(using)})"


def display_name(name: str, overrides: Sequence[Override]) -> str:
    """`name[key=value,...]` (keys sorted), or `name` without overrides."""
    if not overrides:
        return name
    shown = ",".join(f"{o.key}={o.text}" for o in sorted(overrides, key=lambda o: o.key))
    return f"{name}[{shown}]"


def overrides_json(overrides: Sequence[Override]) -> dict[str, Any]:
    """{key: value} in JSON types, as a run record stores them."""
    return {o.key: list(o.value) if isinstance(o.value, tuple) else o.value for o in overrides}


def settable_keys(spec: MethodSpec) -> list[str]:
    """Every key `--set` accepts for `spec`."""
    return _keys(spec, "", top=True)


def _check_sizes(spec: MethodSpec) -> None:
    for stage in spec.stages:
        check_image_size(spec.backbone, stage.image_size)


# -- walking the spec ----------------------------------------------------------------------------
def _unknown(spec: MethodSpec, key: str, why: str | None = None) -> OverrideError:
    keys = settable_keys(spec)
    below = [k for k in keys if k.startswith(f"{key}.")]  # `key` is a group: name what is in it
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.7)
    if below:
        hint = f"keys: {', '.join(below)}"
    else:
        hint = f"did you mean {close[0]!r}?" if close else f"keys: {', '.join(keys)}"
    return OverrideError(why or f"--set: method {spec.name!r} has no key {key!r}", hint=hint)


def _fields(obj: Any, top: bool) -> dict[str, Any]:
    cls: type = type(obj)
    types_ = hints(cls)
    return {f.name: strip(types_[f.name])[0] for f in dataclasses.fields(obj) if not (top and f.name in FIXED)}


def _locate(spec: MethodSpec, parts: list[str], key: str) -> tuple[Any, Any]:
    """The declared type and current value of the field at `parts`."""
    obj: Any = spec
    tp: Any = MethodSpec
    owner: Any = spec  # the dataclass holding `obj`
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the spec"
        if dataclasses.is_dataclass(obj):
            fields = _fields(obj, top=depth == 0)
            if part not in fields:
                fixed = depth == 0 and part in FIXED
                raise _unknown(spec, key, f"--set: {part!r} describes the method and cannot be set" if fixed else None)
            owner, obj, tp = obj, getattr(obj, part), fields[part]
        elif typing.get_origin(tp) is tuple and not _is_scalar_tuple(tp):
            if not part.isdigit():
                raise _unknown(spec, key, f"--set {key}: {where} is a list; expected an index, got {part!r}")
            if int(part) >= len(obj):
                raise OverrideError(
                    f"--set {key}: {where} has {len(obj)} item(s), no index {part}",
                    hint=f"indices 0..{len(obj) - 1}" if obj else None,
                )
            obj, tp = obj[int(part)], typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict and depth == len(parts) - 1:
            return _entry(spec, owner, where, obj, part, key)
        else:
            raise _unknown(spec, key)
    if (
        dataclasses.is_dataclass(obj)
        or typing.get_origin(tp) is dict
        or (typing.get_origin(tp) is tuple and not _is_scalar_tuple(tp))
    ):
        raise _unknown(spec, key, f"--set: {key!r} is a group of settings, not one value")
    return tp, obj


def _entry(spec: MethodSpec, owner: Any, where: str, mapping: dict[str, Any], name: str, key: str) -> tuple[Any, Any]:
    """The type and value of `name` in the params dict at `where`: a declared `Param`, a built-in
    optimizer's keyword, or (for a plugin's loss, optimizer or schedule) the type of the value
    the spec declares. Names nobody declared are refused: a typo would reach a hook's keywords."""
    if owner is spec:
        if name not in mapping:
            raise _no_entry(f"method {spec.name!r} has no param {name!r}", name, where, list(mapping), "its params")
        param = mapping[name]
        return param.python_type, param.value
    typed = OPTIMIZER_PARAMS.get(owner.name) if isinstance(owner, OptimizerSpec) else None
    if typed is not None:
        if name not in typed:
            raise _no_entry(
                f"optimizer {owner.name!r} takes no parameter {name!r}", name, where, list(typed), "it takes"
            )
        return typed[name], mapping.get(name)
    if name not in mapping:
        group = where.split(".")[0]
        raise _no_entry(
            f"{group} {owner.name!r} has no parameter {name!r}",
            name,
            where,
            list(mapping),
            "its parameters",
            f"a plugin declares its {group}'s parameters with their defaults in {group}.params",
        )
    return _type_of(mapping[name]), mapping[name]


def _no_entry(
    why: str, name: str, where: str, names: list[str], listing: str, without: str | None = None
) -> OverrideError:
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean '{where}.{close[0]}'?"
    elif names:
        hint = f"{listing}: {', '.join(names)}"
    else:
        hint = f"{listing}: none" + (f"; {without}" if without else "")
    return OverrideError(f"--set: {why}", hint=hint)


def _type_of(value: Any) -> Any:
    """The type a declared value gives its parameter (a tuple: of its first item's type)."""
    if isinstance(value, tuple):
        return types.GenericAlias(tuple, (_type_of(value[0]) if value else Any, ...))
    return type(value) if type(value) in (bool, int, float, str) else Any


def _replace(obj: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{head: _replace(getattr(obj, head), rest, value)})
    if isinstance(obj, tuple):
        i = int(head)
        return obj[:i] + (_replace(obj[i], rest, value),) + obj[i + 1 :]
    old = obj.get(head)
    return {**obj, head: dataclasses.replace(old, value=value) if isinstance(old, Param) else value}


def _is_scalar_tuple(tp: Any) -> bool:
    args = typing.get_args(tp)
    return bool(args) and not dataclasses.is_dataclass(args[0])


def _keys(obj: Any, prefix: str, top: bool = False) -> list[str]:
    keys = []
    for name, tp in _fields(obj, top).items():
        value, path = getattr(obj, name), f"{prefix}{name}"
        if dataclasses.is_dataclass(value):
            keys += _keys(value, f"{path}.")
        elif typing.get_origin(tp) is dict:
            typed = OPTIMIZER_PARAMS.get(obj.name) if isinstance(obj, OptimizerSpec) else None
            keys += [f"{path}.{k}" for k in (typed or value)]
        elif typing.get_origin(tp) is tuple and not _is_scalar_tuple(tp):
            keys += [k for i, item in enumerate(value) for k in _keys(item, f"{path}.{i}.")]
        else:
            keys.append(path)
    return keys


# -- values --------------------------------------------------------------------------------------
def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "none"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, tuple):
        return "(" + ",".join(_show(v) for v in value) + ")"
    return str(value)
