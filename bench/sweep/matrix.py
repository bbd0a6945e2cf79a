"""The sweep matrix: one cell per (method, split, fold, seed, grid values) of `bench sweep`."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.errors import BenchError
from bench.method.overrides import split_override


@dataclass(frozen=True)
class Cell:
    method: str
    split: str
    fold: int
    seed: int
    overrides: tuple[str, ...] = ()  # "KEY=VALUE": the sweep's --set items, then one value per --grid axis

    @property
    def label(self) -> str:
        """e.g. "chexnet kfold5/0 s0 loss.beta=0.99"."""
        return " ".join((self.method, f"{self.split}/{self.fold}", f"s{self.seed}", *self.overrides))


def names(text: str, what: str) -> tuple[str, ...]:
    """The comma-separated items of `text`, in order, each once; none is a BenchError."""
    items = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not items:
        raise BenchError(f"no {what} given", hint=f"pass a comma-separated list of {what}")
    return items


def integers(text: str, what: str) -> tuple[int, ...]:
    items = names(text, what)
    bad = [t for t in items if not t.isdigit()]
    if bad:
        raise BenchError(f"{what} must be non-negative integers, got {bad[0]!r}", hint=f"e.g. --{what} 0,1,2")
    return tuple(int(t) for t in items)


def parse_folds(text: str) -> tuple[int, ...] | None:
    """Fold indices, or None for "all" (every fold of each split)."""
    return None if text.strip() == "all" else integers(text, "folds")


def parse_grid(items: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Each "KEY=v1,v2" as an axis ("KEY=v1", "KEY=v2"), and "METHOD:KEY=v1,v2" as an axis of
    that method's cells only ("METHOD:KEY=v1", ...); a key on two axes of one scope is a BenchError."""
    axes, keys = [], set()
    for item in items:
        key, values = split_override(item, "--grid")
        if key in keys:
            raise BenchError(f"--grid {key} given twice", hint="give each key one --grid with all its values")
        keys.add(key)
        axes.append(tuple(f"{key}={v}" for v in names(values, f"values for --grid {key}")))
    return tuple(axes)


def axis_scope(axis: Sequence[str]) -> tuple[str | None, str]:
    """(the method an axis is scoped to or None, its key) of a parsed --grid axis."""
    key = split_override(axis[0], "--grid")[0]
    method, sep, rest = key.partition(":")
    return (method, rest) if sep else (None, key)


def _unscoped(item: str) -> str:
    key, value = split_override(item, "--grid")
    return f"{key.partition(':')[2] or key}={value}"


def expand(
    methods: Sequence[str],
    splits: Sequence[str],
    folds: Sequence[int] | None,
    seeds: Sequence[int],
    grid: Sequence[Sequence[str]] = (),
    fixed: Sequence[str] = (),
    *,
    n_folds: Callable[[str], int],
) -> list[Cell]:
    """Every cell, method-major; `folds` None means every fold (`n_folds(split)` of them).

    An explicit fold a split does not have is a BenchError, so a typo never silently drops cells.
    """
    fixed_keys = {split_override(item)[0] for item in fixed}
    clash = sorted(fixed_keys & {axis_scope(axis)[1] for axis in grid})
    if clash:
        raise BenchError(f"{clash[0]} is both a --set and a --grid key", hint="give it once")
    for axis in grid:
        scope, key = axis_scope(axis)
        if scope is not None and scope not in methods:
            raise BenchError(
                f"--grid {scope}:{key}: {scope!r} is not one of --methods", hint=f"methods: {', '.join(methods)}"
            )
    split_folds = {}
    for split in splits:
        count = n_folds(split)
        missing = [f for f in folds or () if f >= count]
        if missing:
            span = "only fold 0" if count == 1 else f"folds 0..{count - 1}"
            raise BenchError(
                f"split {split!r} has no fold {missing[0]} ({span})",
                hint="--folds all runs every fold of each split; sweep splits with fewer folds separately",
            )
        split_folds[split] = tuple(folds) if folds is not None else tuple(range(count))
    cells = []
    for method in methods:
        # This method's axes: the unscoped ones and those scoped to it (a method's key overrides
        # an unscoped axis of the same key for its cells).
        scoped = {axis_scope(a)[1] for a in grid if axis_scope(a)[0] == method}
        own = [
            tuple(_unscoped(item) for item in axis)
            for axis in grid
            if axis_scope(axis)[0] == method or (axis_scope(axis)[0] is None and axis_scope(axis)[1] not in scoped)
        ]
        cells += [
            Cell(method, split, fold, seed, (*fixed, *values))
            for split in splits
            for fold in split_folds[split]
            for seed in seeds
            for values in itertools.product(*own)
        ]
    return cells
