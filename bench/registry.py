"""A typed registry of named plugins (methods, split protocols).

Targets are objects or lazy `"module:attr"` strings, resolved on first use. Names come
from three places: built-ins (given at construction), Python entry points of an installed
package (group `cxr_bench.<kind>s`), and plugin files loaded with `load_file`.
Rules: built-in names win over plugins (the plugin is skipped with a warning naming it);
two non-built-in registrations of one name fail with both origins named; unknown names
get a "did you mean".
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.metadata
import importlib.util
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Generic, TypeVar

from bench.errors import BenchError, DuplicateNameError, UnknownNameError

T = TypeVar("T")

BUILTIN = "built-in"


@dataclass(frozen=True)
class Entry:
    name: str
    target: object  # the object itself, or a "module:attr" string
    origin: str  # "built-in", "entry point <dist> (<value>)", "file <path>"

    @property
    def builtin(self) -> bool:
        return self.origin == BUILTIN


def import_target(target: str) -> object:
    """Resolve `"package.module:attr.sub"` to the object it names."""
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        raise BenchError(f"bad plugin target {target!r}", hint="write it as 'package.module:attribute'")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise BenchError(f"cannot import {module_name!r} for plugin target {target!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise BenchError(f"plugin target {target!r}: {module_name} has no attribute {attr_path!r}") from exc
    return obj


class Registry(Generic[T]):
    """Names to plugins of one kind (`item_type`), with lazy loading and entry points."""

    def __init__(
        self,
        kind: str,
        item_type: type[T],
        *,
        builtins: dict[str, str] | None = None,
        entry_point_group: str | None = None,
        name_of: Callable[[T], str] | None = None,
    ):
        self.kind = kind
        self.item_type = item_type
        self.entry_point_group = entry_point_group
        self._name_of = name_of
        self._entries: dict[str, Entry] = {}
        self._resolved: dict[str, T] = {}
        self._entry_points_loaded = entry_point_group is None
        self._loading_origin: str | None = None
        self._files: dict[Path, list[str]] = {}  # plugin files loaded, and what each registered
        for name, target in (builtins or {}).items():
            self.register(name, target, origin=BUILTIN)

    # -- registration -------------------------------------------------------------------
    def register(self, name: str, target: object, *, origin: str | None = None) -> None:
        """Add `name`. `origin` defaults to the plugin file being loaded, else the caller."""
        origin = origin or self._loading_origin or _caller_origin()
        existing = self._entries.get(name)
        if existing is not None:
            if existing.builtin and origin != BUILTIN:
                warnings.warn(
                    f"{self.kind} {name!r} from {origin} ignored: the name is built-in",
                    stacklevel=2,
                )
                return
            raise DuplicateNameError(
                f"{self.kind} {name!r} is registered twice: by {existing.origin} and by {origin}",
                hint="rename one of them",
            )
        self._entries[name] = Entry(name, target, origin)

    def add(self, item: T) -> T:
        """Register an already-built item under its own name; returns it (decorator-friendly)."""
        if self._name_of is None:
            raise TypeError(f"the {self.kind} registry needs explicit names")
        self.register(self._name_of(item), item)
        return item

    def load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        if self.entry_point_group is None:  # a registry without a group is marked loaded at creation
            return
        for ep in importlib.metadata.entry_points(group=self.entry_point_group):
            dist = getattr(ep, "dist", None)
            where = f"{dist.name} {dist.version}" if dist is not None else "an installed package"
            self.register(ep.name, ep.value, origin=f"entry point of {where} ({ep.value})")

    def load_file(self, path: str | Path) -> list[str]:
        """Import a plugin file; whatever it registers is attributed to it. Returns new names.
        A file already loaded is not imported again (a run and its `bench cam` in one process)."""
        path = Path(path)
        if not path.is_file():
            raise BenchError(f"plugin file not found: {path}", hint="give the path of a .py file")
        if path.resolve() in self._files:
            return self._files[path.resolve()]
        before = set(self._entries)
        module_name = f"cxr_bench_plugin_{abs(hash(path.resolve()))}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise BenchError(f"cannot import plugin file {path}", hint="it must be a Python source file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        with self._origin(f"file {path}"):
            try:
                spec.loader.exec_module(module)
            except BenchError:
                raise
            except Exception as exc:  # a plugin's bug is the user's input here: report it in one line
                raise BenchError(f"plugin file {path} failed to import: {type(exc).__name__}: {exc}") from exc
        self._files[path.resolve()] = sorted(set(self._entries) - before)
        return self._files[path.resolve()]

    @contextlib.contextmanager
    def _origin(self, origin: str) -> Iterator[None]:
        previous, self._loading_origin = self._loading_origin, origin
        try:
            yield
        finally:
            self._loading_origin = previous

    # -- lookup ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        self.load_entry_points()
        return sorted(self._entries)

    def entry(self, name: str) -> Entry:
        self.load_entry_points()
        try:
            return self._entries[name]
        except KeyError:
            raise self._unknown(name) from None

    def __contains__(self, name: object) -> bool:
        self.load_entry_points()
        return name in self._entries

    def get(self, name: str) -> T:
        entry = self.entry(name)
        if name not in self._resolved:
            obj = import_target(entry.target) if isinstance(entry.target, str) else entry.target
            if not isinstance(obj, self.item_type) and callable(obj):
                obj = obj()
            if not isinstance(obj, self.item_type):
                raise BenchError(
                    f"{self.kind} {name!r} from {entry.origin} is a {type(obj).__name__}, "
                    f"not a {self.item_type.__name__}"
                )
            self._resolved[name] = obj
        return self._resolved[name]

    def _unknown(self, name: str) -> UnknownNameError:
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None
        listing = f"see `bench {self.kind}s list`" if hint is None else hint
        return UnknownNameError(f"unknown {self.kind} {name!r}", hint=listing)


_HELPER_CODE: set[object] = set()


def registration_helper(func: Callable[..., object]) -> Callable[..., object]:
    """Mark `func` as a wrapper around register()/add(): origins then name its caller."""
    _HELPER_CODE.add(func.__code__)
    return func


def _caller_origin() -> str:
    # Two frames up is the code that called register() (or add()).
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and (frame.f_globals.get("__name__") == __name__ or frame.f_code in _HELPER_CODE):
        frame = frame.f_back
    return f"module {frame.f_globals.get('__name__', '?')}" if frame is not None else "unknown"
