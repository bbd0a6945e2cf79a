"""What a run will train, decided before anything is built: the resolved method, the fold, its
image lists and each process's batch.

Torch-free at import, so `bench sweep` keys its cells by the same decisions `bench run` takes
without loading torch for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.errors import BenchError
from bench.labels import LABELS
from bench.method.check import resolution_problems
from bench.method.overrides import Override, apply_overrides
from bench.method.spec import PRESET_LIMITS, SpecError
from bench.method.weights import checkpoint_source, pin, pinned_file
from bench.train.options import RunOptions, default_preset
from bench.train.seeding import derive_seed
from bench.ui.console import notice

if TYPE_CHECKING:
    from bench.data.index import DatasetIndex
    from bench.method import Method, MethodSpec
    from bench.records.schema import MethodOrigin
    from splits import Fold

# Epochs without a better mean validation AUROC before a stage stops early.
DEFAULT_PATIENCE = 5
LIST_NAMES = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class ImageList:
    """One list of the fold, in the fold's order."""

    ids: list[str]
    paths: list[str]
    labels: np.ndarray  # (n, 14) uint8, LABELS order
    patients: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, eq=False)
class RunPlan:
    options: RunOptions
    index: DatasetIndex
    fold: Fold
    preset: str
    method: Method  # resolved: preset, size and lr flags, --set overrides
    overrides: tuple[Override, ...]  # the --set items as applied
    pretrained: bool
    patience: int
    batch_sizes: tuple[int, ...]  # per stage, each process's share
    lists: dict[str, ImageList]
    origin: MethodOrigin | None = None  # where the method came from (the registry's entry)

    @property
    def spec(self) -> MethodSpec:
        return self.method.spec

    @property
    def world_size(self) -> int:
        return self.options.world_size


def plan_run(options: RunOptions) -> RunPlan:
    """The plan of a run with `options` (its world size included); BenchError for anything the
    run would refuse: unknown names, a leaking split, sizes the backbone cannot take, a batch
    that does not split across the processes, missing images."""
    from bench.data.dataset import open_dataset
    from bench.method import get_method

    method = get_method(options.method, plugins=options.plugins)
    index = open_dataset(Path(options.data) if options.data else None, quiet=options.quiet)
    fold = checked_fold(options, index)
    preset = default_preset(options.preset, index.kind)
    resolved = resolve_method(method, options, preset)
    method, overrides = resolved.method, resolved.overrides
    if not options.quiet:
        for line in resolved.inert:
            notice(line)
    batch_sizes = tuple(
        rank_batch(s.batch_size, options.world_size, per_rank=options.per_rank_batch) for s in method.spec.stages
    )
    limit = options.limit if options.limit is not None else PRESET_LIMITS.get(preset)
    if limit is not None:
        fold = limit_fold(fold, limit)
    if options.static_batches:
        refuse_no_full_batch(len(fold.train), batch_sizes, options.world_size)
    return RunPlan(
        options=options,
        index=index,
        fold=fold,
        preset=preset,
        method=method,
        overrides=overrides,
        # A start checkpoint is what the method asks for: on by default on the demo as well.
        pretrained=options.pretrained
        if options.pretrained is not None
        else index.kind == "nih" or checkpoint_source(method.spec.pretrained) is not None,
        patience=options.patience if options.patience is not None else DEFAULT_PATIENCE,
        batch_sizes=batch_sizes,
        lists={name: image_list(index, getattr(fold, name)) for name in LIST_NAMES},
        origin=method_origin(options.method),
    )


def method_origin(name: str) -> MethodOrigin:
    """The registry's origin of method `name`, as a run record stores it."""
    from bench.method import METHODS
    from bench.records.schema import MethodOrigin

    source = METHODS.entry(name).source
    return MethodOrigin(
        kind=source.kind,
        path=source.path,
        sha256=source.sha256,
        package=source.package,
        version=source.version,
        module=source.module,
    )


@dataclass(frozen=True, eq=False)
class ResolvedMethod:
    method: Method  # preset, size and lr flags, --set overrides applied
    overrides: tuple[Override, ...]  # the --set items that change the spec
    inert: tuple[str, ...]  # one line per --set item that changes nothing


def resolve_method(method: Method, options: RunOptions, preset: str) -> ResolvedMethod:
    """`preset`'s stages after --epochs/--batch-size/--image-size and --lr, then the `--set`
    overrides (those that change nothing are left out and reported)."""
    method = method.resolve(preset, epochs=options.epochs, batch_size=options.batch_size, image_size=options.image_size)
    if options.lr is not None:
        stages = tuple(dataclasses.replace(s, lr=options.lr) for s in method.spec.stages)
        method = method.with_spec(dataclasses.replace(method.spec, stages=stages))
    applied = apply_overrides(method.spec, options.overrides, hooks=method.overridden())
    method = _pin_start_weights(method.with_spec(applied.spec), options)
    problems = resolution_problems(method, presets=False)
    if problems:
        raise SpecError(
            f"method {method.name!r}: " + "; ".join(problems),
            hint=f"`bench methods check {method.name}` checks a method without training it",
        )
    return ResolvedMethod(method, applied.overrides, applied.inert)


def _pin_start_weights(method: Method, options: RunOptions) -> Method:
    """A "run:RUN_ID" or "file:PATH" start checkpoint as the file's absolute path and SHA-256, so
    the record says exactly which weights the run started from."""
    source = checkpoint_source(method.spec.pretrained)
    if source is None:
        return method
    kind, value = source
    if kind == "run":
        from bench.records import RunStore

        store = RunStore(options.results)
        record = store.load(value)
        if record.status != "complete" or record.artifacts.checkpoint is None:
            raise BenchError(
                f"pretrained run {record.run_id} has no best checkpoint (status {record.status})",
                hint="start from a complete run",
            )
        path = store.run_dir(record.run_id) / record.artifacts.checkpoint
    else:
        path, digest = pinned_file(method.spec.pretrained)
        if digest is not None:  # pinned already: the spec of a run being resumed
            return method
    return method.with_spec(dataclasses.replace(method.spec, pretrained=pin(path)))


def checked_fold(options: RunOptions, index: DatasetIndex) -> Fold:
    """The split's fold; BenchError for repeated or unknown names in its lists (before anything
    trains on them, whatever --limit), and if its lists leak, unless --allow-leakage."""
    from splits import get_fold, validate_lists
    from splits.audit import leakage

    fold = get_fold(options.split, index, fold=options.fold, seed=options.split_seed, val_fraction=options.val_fraction)
    validate_lists(fold, index)
    faults = leakage(fold, index)
    if faults and not options.allow_leakage:
        raise BenchError(
            f"split {options.split} fold {options.fold} leaks: {faults[0]}",
            hint="fix the split (see `bench splits audit`) or pass --allow-leakage to run anyway",
        )
    return fold


def limit_fold(fold: Fold, limit: int) -> Fold:
    """The fold with at most `limit` images per list: a new fingerprint, so such runs get
    their own leaderboard table. A seeded sample, not the first ids (a few patients only)."""
    if limit < 1:
        raise BenchError(f"--limit must be at least 1, got {limit}")
    # Seed 0, not the training seed: runs with different seeds keep one subset (one fingerprint).
    rng = np.random.default_rng(derive_seed(0, "order"))
    lists = {
        name: tuple(rng.choice(ids, size=min(limit, len(ids)), replace=False).tolist()) if ids else ()
        for name, ids in fold.lists().items()
    }
    return dataclasses.replace(
        fold, train=lists["train"], val=lists["val"], test=lists["test"], params={**fold.params, "limit": limit}
    )


def rank_batch(batch: int, world_size: int, *, per_rank: bool = False) -> int:
    """Each process's batch: the method's (global) batch split evenly across the processes, or
    all of it in every process with `per_rank` (a global batch `world_size` times larger)."""
    if per_rank or world_size == 1:
        return batch
    if batch % world_size:
        raise BenchError(
            f"batch size {batch} does not split evenly across {world_size} processes",
            hint=f"pass --batch-size a multiple of {world_size}, or --per-rank-batch to give each process the whole batch",
        )
    return batch // world_size


def refuse_no_full_batch(n_train: int, batch_sizes: Sequence[int], world_size: int) -> None:
    """BenchError for a stage whose training list holds fewer images per process than one batch:
    with only full batches it would train on nothing."""
    shard = -(-n_train // world_size)
    for stage, batch in enumerate(batch_sizes):
        if shard < batch:
            per_process = " per process" if world_size > 1 else ""
            raise BenchError(
                f"stage {stage + 1}'s training list holds {shard} image(s){per_process}, less than one batch of "
                f"{batch}: with full batches only (--static-shapes, --cuda-graphs) it would train on nothing",
                hint="pass a smaller --batch-size or train on more images (a larger --limit)",
            )


def image_list(index: DatasetIndex, ids: Sequence[str]) -> ImageList:
    """The paths, labels and patients of `ids`; BenchError if any image is missing."""
    frame = index.frame.loc[list(ids)]
    missing = frame.index[frame["path"].isna()]
    if len(missing):
        raise BenchError(
            f"{len(missing)} image(s) of the split are missing from {index.root}, e.g. {missing[0]}",
            hint="run `bench data check` and restore the images",
        )
    return ImageList(
        ids=list(ids),
        paths=frame["path"].tolist(),
        labels=frame[list(LABELS)].to_numpy(np.uint8),
        patients=frame["patient_id"].to_numpy(),
    )
