"""What an external model is scored on: a split fold's test list, its labels and patients from
the dataset index, exactly as a trained run reads them (so both share a leaderboard table), and
what the lists it declares it was trained on share with it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.data.index import DatasetIndex
    from bench.records import Overlap
    from splits import Fold

UNKNOWN = "unknown"


@dataclass(frozen=True, eq=False)
class Target:
    """The test list of one fold: ids in the fold's order, their labels and patients."""

    index: DatasetIndex
    fold: Fold  # its test list is what is scored (a partial submission's covered images)
    split: str  # as given, e.g. "official" or "custom:lists/"

    @property
    def ids(self) -> tuple[str, ...]:
        return self.fold.test

    @property
    def labels(self) -> np.ndarray:
        return self.index.labels(self.ids)

    @property
    def patients(self) -> np.ndarray:
        return self.index.patients(self.ids)

    def covering(self, ids: Sequence[str]) -> Target:
        """The target narrowed to `ids` (a partial submission): another split fingerprint, so
        the run gets a leaderboard table of its own."""
        return dataclasses.replace(self, fold=dataclasses.replace(self.fold, test=tuple(ids)))


def open_target(
    split: str,
    *,
    fold: int = 0,
    data: Path | None = None,
    split_seed: int = 0,
    val_fraction: float = 0.1,
    limit: int | None = None,
    check_images: bool = False,
    quiet: bool = False,
) -> Target:
    """The test list of `split` fold `fold` on the dataset at `data` (None: the demo); without
    `check_images` a labels-only root (a Data_Entry file and the split's lists) is enough.
    `limit` takes the subset `bench run --limit` takes, so such runs share a table."""
    from bench.data.dataset import open_dataset
    from splits import get_fold, validate_lists

    index = open_dataset(data, check_images=check_images, quiet=quiet)
    chosen = get_fold(split, index, fold=fold, seed=split_seed, val_fraction=val_fraction)
    validate_lists(chosen, index)
    if limit is not None:
        from bench.train.plan import limit_fold

        chosen = limit_fold(chosen, limit)
    if not chosen.test:
        raise BenchError(f"split {split} fold {fold} has an empty test list", hint="score on a split with test images")
    return Target(index, chosen, split)


def declared_fold(trained_on: str, index: DatasetIndex, *, scored: Target | None = None) -> Fold | None:
    """The fold `trained_on` names (None for "unknown"): a protocol, `NAME:K` for fold K of a
    multi-fold one (split seed 0, as `bench run` defaults to), or `custom:PATH`. The fold of
    `scored` when it names that one (the usual case: trained and scored on one split)."""
    from splits import get_fold, get_folds

    trained_on = trained_on.strip()
    if trained_on == UNKNOWN:
        return None
    base, sep, argument = trained_on.partition(":")
    numbered = bool(sep and argument.isdigit() and base != "custom")
    if scored is not None and (base if numbered else trained_on) == scored.split:
        fold = scored.fold
        same = int(argument) == fold.fold if numbered else fold.n_folds == 1
        if same and fold.seed in (None, 0) and "limit" not in fold.params:
            return fold
    if numbered:
        return get_fold(base, index, fold=int(argument))
    folds = get_folds(trained_on, index)
    if len(folds) > 1:
        raise BenchError(
            f"--trained-on {trained_on} has {len(folds)} folds: say which one the model was trained on",
            hint=f"write it as {trained_on}:K with K from 0 to {len(folds) - 1}",
        )
    return folds[0]


def overlap(declared: Fold | None, target: Target) -> Overlap | None:
    """How many test images, and test patients, the declared training and validation lists
    share with the target's test list; None when nothing was declared."""
    from bench.records import Overlap
    from splits.base import patients_of

    if declared is None:
        return None
    seen = sorted(set(declared.train) | set(declared.val))
    images = len(set(target.ids).intersection(seen))
    patients = np.intersect1d(np.unique(target.patients), patients_of(target.index, seen))
    return Overlap(images=images, patients=int(len(patients)))
