"""`--set KEY=VALUE`: override one field of a resolved method spec.

Keys are dotted paths into the spec: `loss.beta`, `optimizer.lr`, `optimizer.params.weight_decay`,
`stages.0.epochs`. A value is coerced to the field's declared type and the spec is rebuilt with
`dataclasses.replace`, so the spec's own validation checks it. Fields that describe the method
rather than how it trains (name, description, presets, ...) cannot be set.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError
from bench.method.spec import MethodSpec
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


def apply_overrides(spec: MethodSpec, items: Sequence[str]) -> tuple[MethodSpec, tuple[Override, ...]]:
    """`spec` with every "KEY=VALUE" of `items` applied in order, and the overrides sorted by key."""
    seen: set[str] = set()
    done = []
    for item in items:
        key, text = split_override(item)
        if key in seen:
            raise OverrideError(f"--set {key} given twice", hint="give each key once")
        seen.add(key)
        parts = key.split(".")
        tp, current = _locate(spec, parts, key)
        value = parse_text(text, tp, what=f"--set {key}={text}", current=current, error=OverrideError)
        try:
            spec = _replace(spec, parts, value)
            if key == "backbone" or key.endswith(".image_size"):
                _check_sizes(spec)
        except BenchError as exc:  # the spec's own validation, or a size the backbone cannot take
            raise OverrideError(f"--set {key}={text}: {exc.message}", hint=exc.hint) from None
        done.append(Override(key, value, _show(value)))
    return spec, tuple(sorted(done, key=lambda o: o.key))


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
    """Every key `--set` accepts for `spec` (dict params as `<path>.NAME`)."""
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
    obj, tp = spec, MethodSpec
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the spec"
        if dataclasses.is_dataclass(obj):
            fields = _fields(obj, top=depth == 0)
            if part not in fields:
                fixed = depth == 0 and part in FIXED
                raise _unknown(spec, key, f"--set: {part!r} describes the method and cannot be set" if fixed else None)
            obj, tp = getattr(obj, part), fields[part]
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
            obj, tp = obj.get(part), typing.get_args(tp)[1]
        else:
            raise _unknown(spec, key)
    if (
        dataclasses.is_dataclass(obj)
        or typing.get_origin(tp) is dict
        or (typing.get_origin(tp) is tuple and not _is_scalar_tuple(tp))
    ):
        raise _unknown(spec, key, f"--set: {key!r} is a group of settings, not one value")
    return tp, obj


def _replace(obj: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{head: _replace(getattr(obj, head), rest, value)})
    if isinstance(obj, tuple):
        i = int(head)
        return obj[:i] + (_replace(obj[i], rest, value),) + obj[i + 1 :]
    return {**obj, head: _replace(obj.get(head), rest, value)}


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
            keys += [f"{path}.{k}" for k in value] + [f"{path}.NAME"]
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
