"""Methods: specs, the `Method` hooks, and the `METHODS` registry.

Built-ins live in `methods/` (one module per family). Plugins come from the entry-point
group `cxr_bench.methods` (an installed package names a `Method`) and from plugin files
(`bench run --plugin file.py`) that call `register_method(...)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from bench.method.base import Method, class_weights
from bench.method.spec import (
    LossSpec,
    MethodSpec,
    Normalisation,
    OptimizerSpec,
    Param,
    ScheduleSpec,
    SpecError,
    StageSpec,
    register_augmentation,
)
from bench.registry import Registry, registration_helper

__all__ = [
    "METHODS",
    "LossSpec",
    "Method",
    "MethodSpec",
    "Normalisation",
    "OptimizerSpec",
    "Param",
    "ScheduleSpec",
    "SpecError",
    "StageSpec",
    "class_weights",
    "get_method",
    "make_registry",
    "register_augmentation",
    "register_method",
]

ENTRY_POINT_GROUP = "cxr_bench.methods"
BUILTINS: dict[str, str] = {
    "wang-wbce": "methods.wang:WANG_WBCE",
    "chexnet": "methods.chexnet:CHEXNET",
    "cb-bce": "methods.chexnet:CB_BCE",
    "focal-densenet121": "methods.focal:FOCAL_DENSENET121",
    "wfocal-densenet121": "methods.focal:WFOCAL_DENSENET121",
    "wfocal-effb0": "methods.focal:WFOCAL_EFFB0",
    "wfocal-effb3": "methods.focal:WFOCAL_EFFB3",
}


def make_registry() -> Registry[Method]:
    """A fresh method registry holding the built-ins (METHODS is one; tests make their own)."""
    return Registry(
        "method",
        Method,
        builtins=BUILTINS,
        entry_point_group=ENTRY_POINT_GROUP,
        name_of=lambda m: m.name,
        plugin_hint=f"a plugin's method needs --plugin FILE, or its package installed (entry-point group {ENTRY_POINT_GROUP})",
    )


METHODS: Registry[Method] = make_registry()

M = TypeVar("M", Method, MethodSpec, type)


@registration_helper
def register_method(item: M) -> M:
    """Register a Method, a MethodSpec (wrapped in a plain Method) or a Method subclass with a
    class-level `spec` (usable as a class decorator). Returns what it was given."""
    method: Method
    if isinstance(item, Method):
        method = item
    elif isinstance(item, MethodSpec):
        method = Method(item)
    elif isinstance(item, type) and issubclass(item, Method):
        method = item()
    else:
        raise SpecError(f"register_method takes a Method, a MethodSpec or a Method subclass, not {type(item).__name__}")
    METHODS.add(method)
    return item


def get_method(name: str, *, plugins: Iterable[str | Path] = ()) -> Method:
    """The method registered as `name`, after loading plugin files; unknown names get a "did you mean"."""
    for path in plugins:
        METHODS.load_file(path)
    method = METHODS.get(name)
    if method.name != name:
        raise SpecError(
            f"method {name!r} from {METHODS.entry(name).origin} has a spec named {method.name!r}",
            hint="register it under its spec's name",
        )
    return method
