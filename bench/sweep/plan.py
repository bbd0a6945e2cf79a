"""A sweep's plan: every cell with the `bench run` options it runs with, its key, and whether
the results already hold a complete run of it (then it is skipped)."""

from __future__ import annotations

import dataclasses
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.method.overrides import display_name
from bench.method.spec import PRESET_LIMITS
from bench.records import RunRecord, RunStore
from bench.sweep.matrix import Cell, expand
from bench.sweep.skip import CellKey, complete_runs
from bench.train.options import RunOptions, default_preset

# RunOptions fields whose flag is not the field's name.
_FLAGS = {"plugins": "--plugin", "overrides": "--set"}
_AXES = ("method", "split", "fold", "seed")


@dataclass(frozen=True)
class SweepOptions:
    """The matrix axes and the `bench run` options every cell shares (`base`: its method, split,
    fold and seed are each cell's; its `overrides` are the --set items of every cell)."""

    methods: tuple[str, ...]
    base: RunOptions
    splits: tuple[str, ...] = ("official",)
    folds: tuple[int, ...] | None = (0,)  # None: every fold of each split
    seeds: tuple[int, ...] = (0,)
    grid: tuple[tuple[str, ...], ...] = ()  # axes of "KEY=VALUE" items

    def run_options(self, cell: Cell, preset: str) -> RunOptions:
        return dataclasses.replace(
            self.base,
            method=cell.method,
            split=cell.split,
            fold=cell.fold,
            seed=cell.seed,
            preset=preset,
            overrides=cell.overrides,
            quiet=True,
        )


@dataclass(frozen=True)
class PlannedCell:
    cell: Cell
    options: RunOptions
    key: CellKey
    done: RunRecord | None  # a complete run of this cell: skip it

    @property
    def argv(self) -> list[str]:
        return run_argv(self.options)


def plan_sweep(options: SweepOptions) -> list[PlannedCell]:
    """The cells in matrix order; unknown methods, splits, folds or --set keys are BenchErrors
    here, before anything runs. Cells that are the same experiment as an earlier one are dropped."""
    from bench.data.dataset import open_dataset
    from bench.method import get_method
    from bench.train.plan import limit_fold, resolve_method
    from splits import get_folds, pick

    index = open_dataset(Path(options.base.data) if options.base.data else None, check_images=False, quiet=True)
    preset = default_preset(options.base.preset, index.kind)

    @functools.cache
    def folds(split: str):
        return get_folds(split, index)

    cells = expand(
        options.methods,
        options.splits,
        options.folds,
        options.seeds,
        options.grid,
        options.base.overrides,
        n_folds=lambda split: len(folds(split)),
    )
    done = complete_runs(RunStore(options.base.results))
    planned: dict[CellKey, PlannedCell] = {}
    for cell in cells:
        run = options.run_options(cell, preset)
        resolved = resolve_method(get_method(cell.method, plugins=options.base.plugins), run, preset)
        fold = pick(folds(cell.split), cell.fold, cell.split)
        limit = options.base.limit if options.base.limit is not None else PRESET_LIMITS.get(preset)
        if limit is not None:
            fold = limit_fold(fold, limit)  # as the run will: --limit changes the fingerprint
        key = CellKey(
            display_name(resolved.method.name, resolved.overrides),
            fold.fingerprint,
            cell.seed,
            preset,
            index.fingerprint,
        )
        planned.setdefault(key, PlannedCell(cell, run, key, done.get(key)))
    return list(planned.values())


def run_argv(options: RunOptions) -> list[str]:
    """The `python -m bench run ...` command for `options` (options at their default are left out)."""
    # The cell's own axes always appear, so every command reads as what it runs.
    argv = [sys.executable, "-m", "bench", "run", "--method", options.method, "--split", options.split]
    argv += ["--fold", str(options.fold), "--seed", str(options.seed)]
    defaults = RunOptions(method=options.method)
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if f.name in _AXES or value == getattr(defaults, f.name):
            continue
        flag = _FLAGS.get(f.name, "--" + f.name.replace("_", "-"))
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            argv += [part for item in value for part in (flag, str(item))]
        else:
            argv += [flag, str(value)]
    return argv


def resume_argv(run_id: str, results: str) -> list[str]:
    return [sys.executable, "-m", "bench", "run", "--resume", run_id, "--results", results, "--quiet"]
