"""A typed registry of named plugins (methods, split protocols).

Targets are objects or lazy `"module:attr"` strings, resolved on first use. Names come
from three places: built-ins (given at construction), Python entry points of an installed
package (group `cxr_bench.<kind>s`), and plugin files loaded with `load_file`.
Rules: a plugin may not take a built-in name, and two registrations of one name fail, each
with both origins named (an installed package's conflict surfaces when its name is looked up,
so one broken package does not stop every command); a plugin file that registers nothing is
an error; unknown names get a "did you mean" that also says how plugins are loaded. Every entry
keeps where it came from (`Origin`): a file with its SHA-256, a package with its version.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Generic, TypeVar

from bench.errors import BenchError, DuplicateNameError, UnknownNameError

T = TypeVar("T")

BUILTIN = "built-in"
ORIGIN_KINDS = ("built-in", "file", "entry point", "module")


@dataclass(frozen=True)
class Origin:
    """Where a registered plugin came from."""

    kind: str  # one of ORIGIN_KINDS
    text: str  # as shown: "built-in", "file PATH", "entry point of DIST VERSION (VALUE)", "module NAME"
    path: str | None = None  # file: its resolved path
    sha256: str | None = None  # file: of its bytes when loaded
    package: str | None = None  # entry point: the distribution
    version: str | None = None
    module: str | None = None  # module: its name


BUILTIN_ORIGIN = Origin(BUILTIN, BUILTIN)


@dataclass(frozen=True)
class Entry:
    name: str
    target: object  # the object itself, or a "module:attr" string
    source: Origin

    @property
    def origin(self) -> str:
        return self.source.text

    @property
    def builtin(self) -> bool:
        return self.source.kind == BUILTIN


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
        plugin_hint: str | None = None,
    ):
        self.kind = kind
        self.item_type = item_type
        self.entry_point_group = entry_point_group
        self._name_of = name_of
        self._plugin_hint = plugin_hint  # how plugins of this kind load, for unknown names
        self._entries: dict[str, Entry] = {}
        self._resolved: dict[str, T] = {}
        self._entry_points_loaded = entry_point_group is None
        self._loading_origin: Origin | None = None
        self._files: dict[Path, list[str]] = {}  # plugin files loaded, and what each registered
        self._conflicts: dict[str, DuplicateNameError] = {}  # entry points whose name is taken
        self._registered_by_import: dict[str, object] = {}
        for name, target in (builtins or {}).items():
            self.register(name, target, origin=BUILTIN_ORIGIN)

    # -- registration -------------------------------------------------------------------
    def register(self, name: str, target: object, *, origin: Origin | None = None) -> None:
        """Add `name`. `origin` defaults to the plugin file being loaded, else the caller."""
        source = origin or self._loading_origin or _caller_origin()
        existing = self._entries.get(name)
        if existing is not None and self._claims(existing, source, target):
            return
        if existing is not None:
            why = "the name is built-in" if existing.builtin else f"it is registered by {existing.origin} already"
            raise DuplicateNameError(
                f"{self.kind} {name!r} from {source.text} cannot be registered: {why}", hint="rename it"
            )
        self._entries[name] = Entry(name, target, source)

    def _claims(self, existing: Entry, source: Origin, target: object) -> bool:
        """A package's module registering the entry point that names it (while being imported
        for it): the same method, kept under the entry point's origin."""
        if existing.source.kind != "entry point" or not isinstance(existing.target, str):
            return False
        if source.text != f"module {existing.target.partition(':')[0]}":
            return False
        self._registered_by_import[existing.name] = target
        return True

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
            origin = Origin(
                "entry point",
                f"entry point of {where} ({ep.value})",
                package=dist.name if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
            try:
                self.register(ep.name, ep.value, origin=origin)
            except DuplicateNameError as exc:  # reported when the name is looked up
                self._conflicts[ep.name] = exc

    def load_file(self, path: str | Path) -> list[str]:
        """Import a plugin file; whatever it registers is attributed to it. Returns new names.
        A file already loaded is not imported again (a run and its `bench cam` in one process)."""
        path = Path(path)
        if not path.is_file():
            raise BenchError(f"plugin file not found: {path}", hint="give the path of a .py file")
        if path.resolve() in self._files:
            return self._files[path.resolve()]
        self.load_entry_points()  # a file taking an installed package's name conflicts now, not later
        before = set(self._entries)
        module_name = f"cxr_bench_plugin_{abs(hash(path.resolve()))}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise BenchError(f"cannot import plugin file {path}", hint="it must be a Python source file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        with self._origin(Origin("file", f"file {path}", path=str(path.resolve()), sha256=digest)):
            try:
                spec.loader.exec_module(module)
            except BenchError:
                raise
            except Exception as exc:  # a plugin's bug is the user's input here: report it in one line
                raise BenchError(
                    f"plugin file {path} failed to import ({_line_in(exc, path)}): {type(exc).__name__}: {exc}",
                    hint="run `bench --debug ...` for the traceback",
                ) from exc
        added = sorted(set(self._entries) - before)
        if not added:
            raise BenchError(
                f"plugin file {path} registered no {self.kind}",
                hint="end it with a registration, e.g. register_method(...) (see docs/plugins.md)",
            )
        self._files[path.resolve()] = added
        return added

    @contextlib.contextmanager
    def _origin(self, origin: Origin) -> Iterator[None]:
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
        if name in self._conflicts:
            raise self._conflicts[name]
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
            obj = self._registered_by_import.get(name, obj)
            # An entry point may name a class (a Method subclass with a class-level spec): one instance.
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
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else f"see `bench {self.kind}s list`"
        if not self._files and self._plugin_hint:
            hint += f"; {self._plugin_hint}"
        return UnknownNameError(f"unknown {self.kind} {name!r}", hint=hint)


def _line_in(exc: BaseException, path: Path) -> str:
    """ "line N": the deepest line of `exc`'s traceback in the file `path`."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path.resolve()]
    return f"line {lines[-1]}" if lines else "while importing"


_HELPER_CODE: set[object] = set()


def registration_helper(func: Callable[..., object]) -> Callable[..., object]:
    """Mark `func` as a wrapper around register()/add(): origins then name its caller."""
    _HELPER_CODE.add(func.__code__)
    return func


def _caller_origin() -> Origin:
    # Two frames up is the code that called register() (or add()).
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and (frame.f_globals.get("__name__") == __name__ or frame.f_code in _HELPER_CODE):
        frame = frame.f_back
    module = frame.f_globals.get("__name__", "?") if frame is not None else "?"
    return Origin("module", f"module {module}", module=module)
