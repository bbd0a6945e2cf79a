"""Split protocols: official, patient-wise k-fold, weng and custom lists.

`get_folds("kfold5", index)` gives every fold of a protocol, `get_fold(name, index, fold=k)`
one of them (0-based). Names are registry names (`bench splits list`) or `custom:PATH`.
A plugin protocol is a `SplitProtocol` subclass implementing `build`, registered under the
entry point group `cxr_bench.splits` (or with `SPLITS.register(name, protocol)`).
"""

from __future__ import annotations

from bench.data.index import DatasetIndex
from bench.errors import BenchError
from splits.base import Fold, SplitProtocol
from splits.registry import SPLITS, resolve

__all__ = ["SPLITS", "Fold", "SplitProtocol", "get_fold", "get_folds", "pick", "resolve", "validate_lists"]


def get_folds(name: str, index: DatasetIndex, *, seed: int = 0, val_fraction: float = 0.1) -> list[Fold]:
    return resolve(name).folds(index, seed=seed, val_fraction=val_fraction)


def get_fold(name: str, index: DatasetIndex, fold: int = 0, *, seed: int = 0, val_fraction: float = 0.1) -> Fold:
    return pick(get_folds(name, index, seed=seed, val_fraction=val_fraction), fold, name)


def pick(folds: list[Fold], fold: int, name: str) -> Fold:
    """Fold number `fold` of `folds` (from split `name`), or a BenchError naming the valid range."""
    if not 0 <= fold < len(folds):
        span = "only fold 0" if len(folds) == 1 else f"folds 0..{len(folds) - 1}"
        raise BenchError(f"no fold {fold} in split {name!r}", hint=f"it has {span}")
    return folds[fold]


def validate_lists(fold: Fold, index: DatasetIndex) -> None:
    """BenchError for the first fault of `fold`'s lists: a repeated line, or a name not in `index`
    (see splits.listcheck.validate_lists; imported here on first use, it reads bench.data.check)."""
    from splits.listcheck import validate_lists as validate

    validate(fold, index)
