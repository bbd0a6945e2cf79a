"""The one codec between typed, frozen dataclasses and JSON (and command-line text).

Every typed JSON that cxr-bench reads or writes goes through here: run records, method specs,
run options, `--set` overrides, localization scores. The schemas stay plain frozen dataclasses,
so methods, plugins and the engine build them directly; this module holds the one set of rules:

- an unknown key is refused, with a did-you-mean;
- `true` is not an integer, and only a number is a float;
- a missing key without a default is refused;
- every message names the source and the field path (`record.json: field 'split.fingerprint'
  is missing`);
- `Annotated[T, Check(...)]` fields are checked when a dataclass is built in code as well as
  when it is decoded (`checked` in `__post_init__`).

A hand-written codec rather than pydantic: the dataclasses keep no base class of a library
(plugins construct `MethodSpec`s), errors come out in the project's one-line form, and lists
decode to tuples the same way whether they come from JSON or from Python.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Union, cast

from bench.errors import BenchError

_INT = re.compile(r"^[+-]?\d+$")
_TRUE, _FALSE, NONE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0"), ("none", "null")


class SchemaError(BenchError):
    """A value that does not fit its schema; the message names where and why."""


@dataclasses.dataclass(frozen=True)
class Check:
    """A constraint beyond the type: `test(value)` returns None when it holds, else what is wrong."""

    test: Callable[[Any], str | None]


def field_path(where: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{where}[{name}]"
    return f"{where}.{name}" if where else name


def _at(where: str) -> str:
    return f"field '{where}'" if where else "the top level"


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    """A dataclass's resolved field types (Annotated kept)."""
    return typing.get_type_hints(cls, include_extras=True)


def fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def has_default(f: dataclasses.Field) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def strip(tp: Any) -> tuple[Any, tuple[Check, ...]]:
    """(the type inside `Annotated`, its checks)."""
    if typing.get_origin(tp) is Annotated:
        inner, *meta = typing.get_args(tp)
        return inner, tuple(m for m in meta if isinstance(m, Check))
    return tp, ()


def is_optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType) and type(None) in typing.get_args(tp)


def unoptional(tp: Any) -> Any:
    """`X` from `X | None` (one non-None member); other types unchanged."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return tp


def describe(tp: Any) -> str:
    tp, _ = strip(tp)
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp) or origin is dict or tp is dict:
        return "an object"
    if origin is tuple:
        return "a list"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}
    return names.get(tp, str(tp))


def _got(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r:.60}"


def _did_you_mean(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"


# -- decoding ------------------------------------------------------------------------------------
def decode(tp: Any, value: Any, *, source: str, where: str = "", error: type[SchemaError] = SchemaError) -> Any:
    """`value` (parsed JSON) as type `tp`; `error` (a SchemaError class) names `source` and the field."""

    def fail(message: str, hint: str | None = None) -> SchemaError:
        return error(f"{source}: {message}", hint=hint)

    tp, checks = strip(tp)
    out = _decode(tp, value, where, fail, source, error)
    for check in checks:
        problem = check.test(out)
        if problem:
            raise fail(f"{_at(where)} {problem}")
    return out


def _decode(
    tp: Any, value: Any, where: str, fail: Callable[..., SchemaError], source: str, error: type[SchemaError]
) -> Any:
    def sub(item_tp: Any, item: Any, at: str) -> Any:
        return decode(item_tp, item, source=source, where=at, error=error)

    def wrong() -> SchemaError:
        return fail(f"{_at(where)} should be {describe(tp)}, got {_got(value)}")

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return sub(members[0], value, where)
        for member in members:
            try:
                return sub(member, value, where)
            except SchemaError:
                continue
        raise wrong()
    if origin is Literal:
        if value not in args or type(value) not in {type(a) for a in args}:
            raise wrong()
        return value
    if dataclasses.is_dataclass(tp):
        # cast: is_dataclass narrows to "instance or class"; an annotation here is always the class.
        cls: type = cast(type, tp)
        if not isinstance(value, dict):
            raise wrong()
        known = fields(cls)
        for key in value:
            if key not in known:
                raise fail(f"unknown {_at(field_path(where, str(key)))}", hint=_did_you_mean(str(key), list(known)))
        for name, f in known.items():
            if name not in value and not has_default(f):
                raise fail(f"{_at(field_path(where, name))} is missing")
        types_ = hints(cls)
        kwargs = {key: sub(types_[key], item, field_path(where, key)) for key, item in value.items()}
        try:
            return cls(**kwargs)
        except BenchError as exc:  # the dataclass's own validation, which knows no source
            raise fail(f"{_at(where)}: {exc.message}", hint=exc.hint) from None
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise wrong()
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(sub(args[0], v, field_path(where, i)) for i, v in enumerate(value))
        if len(value) != len(args):
            raise fail(f"{_at(where)} should be a list of {len(args)}, got {len(value)} item(s)")
        return tuple(sub(a, v, field_path(where, i)) for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise wrong()
        return {k: sub(args[1], v, field_path(where, k)) for k, v in value.items()}
    if tp is float:
        if type(value) not in (int, float):
            raise wrong()
        return float(value)
    if tp in (int, str, bool):
        if type(value) is not tp:
            raise wrong()
        return value
    raise TypeError(f"schema: no decoder for {tp!r}")  # a schema bug, not user input


def checked(obj: Any) -> None:
    """Run the `Annotated` checks of a dataclass instance's fields (call from `__post_init__`)."""
    cls: type = type(obj)
    for name, tp in hints(cls).items():
        _, checks = strip(tp)
        for check in checks:
            problem = check.test(getattr(obj, name))
            if problem:
                raise SchemaError(f"{type(obj).__name__}.{name} {problem}")


# -- encoding ------------------------------------------------------------------------------------
def encode(value: Any) -> Any:
    """Plain JSON types: dataclasses to objects (field order), tuples to lists, paths to strings,
    NaN and infinities to null, numpy scalars to Python numbers."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return encode(value.item())
    raise TypeError(f"schema: cannot encode {type(value).__name__}")


def freeze(value: Any) -> Any:
    """JSON values with lists as tuples, so a decoded spec equals one written in Python."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: freeze(v) for k, v in value.items()}
    return value


# -- command-line text ---------------------------------------------------------------------------
def parse_text(text: str, tp: Any, *, what: str, current: Any = None, error: type[SchemaError] = SchemaError) -> Any:
    """`text` from the command line as type `tp` (`what` names the option in errors).

    For an untyped (`Any`) field the text is read as a literal, and a float field stays a float.
    """

    def wrong(expected: str) -> SchemaError:
        return error(f"{what}: expected {expected}, got {text!r}")

    tp, _ = strip(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if type(None) in args and text.lower() in NONE_WORDS:
            return None
        return parse_text(text, unoptional(tp), what=what, current=current, error=error)
    if origin is Literal:
        for option in args:
            if str(option) == text:
                return option
        raise wrong(describe(tp))
    if tp is Any:
        value = literal(text)
        return float(value) if isinstance(current, float) and type(value) is int else value
    if origin is tuple:
        items = [t.strip() for t in text.split(",")] if text else []
        item_tp = args[0] if args else Any
        return tuple(parse_text(t, item_tp, what=what, error=error) for t in items)
    if tp is bool:
        if text.lower() not in _TRUE + _FALSE:
            raise wrong("true or false")
        return text.lower() in _TRUE
    if tp is int:
        if not _INT.match(text):
            raise wrong("an integer")
        return int(text)
    if tp is float:
        try:
            value = float(text)
        except ValueError:
            raise wrong("a number") from None
        if not math.isfinite(value):
            raise wrong("a finite number")
        return value
    if tp is str:
        if not text:
            raise wrong("a non-empty string")
        return text
    raise TypeError(f"schema: no text parser for {tp!r}")  # a schema bug, not user input


def literal(text: str) -> Any:
    """An int, float, bool, None, a comma-separated tuple of those, else the string itself."""
    if "," in text:
        return tuple(literal(t.strip()) for t in text.split(","))
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in NONE_WORDS:
        return None
    if _INT.match(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text
