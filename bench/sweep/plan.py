"""A sweep's plan: every cell with the `bench run` options it runs with, its key, and whether
the results already hold a complete run of it (then it is skipped)."""

from __future__ import annotations

import dataclasses
import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bench.method.overrides import display_name
from bench.records import RunRecord, RunStore
from bench.sweep.matrix import Cell, expand
from bench.sweep.skip import CellKey, complete_runs
from bench.train.options import RunOptions, default_preset

# RunOptions fields whose flag is not the field's name.
_FLAGS = {"plugins": "--plugin", "overrides": "--set"}
_AXES = ("method", "split", "fold", "seed")


@dataclass(frozen=True)
class SweepOptions:
    """The matrix axes and the `bench run` options every cell shares."""

    methods: tuple[str, ...]
    splits: tuple[str, ...] = ("official",)
    folds: Optional[tuple[int, ...]] = (0,)  # None: every fold of each split
    seeds: tuple[int, ...] = (0,)
    grid: tuple[tuple[str, ...], ...] = ()  # axes of "KEY=VALUE" items
    overrides: tuple[str, ...] = ()  # --set items for every cell
    data: Optional[str] = None  # None: the built-in demo dataset
    results: str = "results"
    preset: Optional[str] = None
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    image_size: Optional[int] = None
    lr: Optional[float] = None
    limit: Optional[int] = None
    device: str = "auto"
    pretrained: Optional[bool] = None
    plugins: tuple[str, ...] = ()

    def run_options(self, cell: Cell, preset: str) -> RunOptions:
        return RunOptions(
            method=cell.method, split=cell.split, fold=cell.fold, seed=cell.seed, data=self.data,
            results=self.results, preset=preset, epochs=self.epochs, batch_size=self.batch_size,
            image_size=self.image_size, lr=self.lr, limit=self.limit, device=self.device,
            pretrained=self.pretrained, plugins=self.plugins, overrides=cell.overrides, quiet=True,
        )


@dataclass(frozen=True)
class PlannedCell:
    cell: Cell
    options: RunOptions
    key: CellKey
    done: Optional[RunRecord]  # a complete run of this cell: skip it

    @property
    def argv(self) -> list[str]:
        return run_argv(self.options)


def plan_sweep(options: SweepOptions) -> list[PlannedCell]:
    """The cells in matrix order; unknown methods, splits, folds or --set keys are BenchErrors
    here, before anything runs. Cells that are the same experiment as an earlier one are dropped."""
    from bench.data.dataset import open_dataset
    from bench.method import get_method
    from bench.train.engine import limit_fold, resolve_method
    from splits import get_folds, pick

    index = open_dataset(Path(options.data) if options.data else None, check_images=False, quiet=True)
    preset = default_preset(options.preset, index.kind)

    @functools.cache
    def folds(split: str):
        return get_folds(split, index)

    cells = expand(
        options.methods, options.splits, options.folds, options.seeds, options.grid, options.overrides,
        n_folds=lambda split: len(folds(split)),
    )
    done = complete_runs(RunStore(options.results))
    planned: dict[CellKey, PlannedCell] = {}
    for cell in cells:
        run = options.run_options(cell, preset)
        method, overrides = resolve_method(get_method(cell.method, plugins=options.plugins), run, preset)
        fold = pick(folds(cell.split), cell.fold, cell.split)
        if options.limit is not None:
            fold = limit_fold(fold, options.limit)  # as the run will: --limit changes the fingerprint
        key = CellKey(display_name(method.name, overrides), fold.fingerprint, cell.seed, preset, index.fingerprint)
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
