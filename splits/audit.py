"""The split audit: unknown and duplicate ids, image and patient leakage, test-fold partition,
and classes whose AUROC would be undefined. Works on labels only, never on pixels."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from bench.data.index import DatasetIndex
from bench.labels import LABELS
from splits.base import LIST_NAMES, Fold

EXAMPLES = 5
PAIRS: tuple[tuple[str, str], ...] = tuple(combinations(LIST_NAMES, 2))  # train/val, train/test, val/test


@dataclass(frozen=True)
class Overlap:
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class ListStats:
    images: int  # entries in the list, duplicates and unknown ids included
    patients: int  # distinct patients among the known images
    unknown: Overlap  # ids not in the dataset
    duplicates: Overlap  # ids listed more than once
    positives: dict[str, int]  # per class, among the known images (distinct)
    undefined_auroc: tuple[str, ...]  # classes with no positives or no negatives here


@dataclass(frozen=True)
class FoldAudit:
    fold: int
    fingerprint: str
    lists: dict[str, ListStats]
    shared_images: dict[str, Overlap]  # "train/test" -> overlap
    shared_patients: dict[str, Overlap]
    unassigned: int  # dataset images in none of the three lists (not a fault)


@dataclass(frozen=True)
class AuditReport:
    split: str  # the name asked for, e.g. "kfold5" or "custom:/path"
    key: str  # protocol@version
    seed: int | None
    dataset: str  # index root and kind
    labels_version: str
    folds: tuple[FoldAudit, ...]
    tested_twice: Overlap | None  # multi-fold only
    never_tested: Overlap | None
    identical_tests: tuple[tuple[int, ...], ...]
    faults: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.faults

    def to_json(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def _overlap(items) -> Overlap:
    items = sorted(items)
    return Overlap(len(items), tuple(str(i) for i in items[:EXAMPLES]))


def _examples(overlap: Overlap) -> str:
    more = ", ..." if overlap.count > len(overlap.examples) else ""
    return f"e.g. {', '.join(overlap.examples)}{more}"


class _Lookup:
    """Row positions, labels and patients of the index, computed once per audit."""

    def __init__(self, index: DatasetIndex):
        self.ids = index.frame.index
        self.labels = index.labels()
        self.patient = index.frame["patient_id"].to_numpy()

    def positions(self, ids) -> tuple[np.ndarray, list[str]]:
        """Positions of the distinct known ids, and the unknown ids."""
        unique = pd.unique(np.asarray(ids, dtype=object))
        pos = self.ids.get_indexer(pd.Index(unique))
        return pos[pos >= 0], [str(i) for i in unique[pos < 0]]


def _shared(fold: Fold, lookup: _Lookup) -> tuple[dict[str, Overlap], dict[str, Overlap]]:
    images = {name: set(ids) for name, ids in fold.lists().items()}
    patients = {name: set(lookup.patient[lookup.positions(ids)[0]].tolist()) for name, ids in fold.lists().items()}
    shared_images = {f"{a}/{b}": _overlap(images[a] & images[b]) for a, b in PAIRS}
    shared_patients = {f"{a}/{b}": _overlap(patients[a] & patients[b]) for a, b in PAIRS}
    return shared_images, shared_patients


def _leak_messages(where: str, shared_images: dict[str, Overlap], shared_patients: dict[str, Overlap]) -> list[str]:
    messages = []
    for pair in shared_images:
        a, b = pair.split("/")
        for what, overlap in (("image", shared_images[pair]), ("patient", shared_patients[pair])):
            if overlap.count:
                plural = "s" if overlap.count != 1 else ""
                messages.append(f"{where}{a} and {b} share {overlap.count:,} {what}{plural} ({_examples(overlap)})")
    return messages


def leakage(fold: Fold, index: DatasetIndex) -> list[str]:
    """One message per pair of lists sharing images or patients; empty when the fold is clean."""
    return _leak_messages("", *_shared(fold, _Lookup(index)))


def _list_stats(ids: tuple[str, ...], lookup: _Lookup) -> ListStats:
    pos, unknown = lookup.positions(ids)
    dupes = pd.Index(ids)[pd.Index(ids).duplicated()].unique()
    positives = lookup.labels[pos].sum(axis=0).astype(int)
    n = len(pos)
    undefined = tuple(label for label, p in zip(LABELS, positives) if n and (p == 0 or p == n))
    return ListStats(
        images=len(ids),
        patients=len(np.unique(lookup.patient[pos])),
        unknown=_overlap(unknown),
        duplicates=_overlap(dupes),
        positives={label: int(p) for label, p in zip(LABELS, positives)},
        undefined_auroc=undefined,
    )


def audit(folds: list[Fold], index: DatasetIndex, *, split: str | None = None) -> AuditReport:
    """Check every fold and, for several folds, that the test lists partition the dataset."""
    lookup = _Lookup(index)
    faults: list[str] = []
    warnings: list[str] = []
    audited = []
    for fold in folds:
        where = f"fold {fold.fold}: " if len(folds) > 1 else ""
        stats = {name: _list_stats(ids, lookup) for name, ids in fold.lists().items()}
        for name, s in stats.items():
            if s.unknown.count:
                faults.append(
                    f"{where}{name}: {s.unknown.count:,} image ids not in the dataset ({_examples(s.unknown)})"
                )
            if s.duplicates.count:
                faults.append(
                    f"{where}{name}: {s.duplicates.count:,} image ids listed more than once ({_examples(s.duplicates)})"
                )
            if s.undefined_auroc and name != "train":
                message = (
                    f"{where}{name}: AUROC undefined (no positives or no negatives) for {', '.join(s.undefined_auroc)}"
                )
                (faults if name == "test" else warnings).append(message)
        shared_images, shared_patients = _shared(fold, lookup)
        faults.extend(_leak_messages(where, shared_images, shared_patients))
        listed = np.unique(np.concatenate([lookup.positions(ids)[0] for ids in fold.lists().values()]))
        audited.append(
            FoldAudit(fold.fold, fold.fingerprint, stats, shared_images, shared_patients, len(lookup.ids) - len(listed))
        )

    tested_twice = never_tested = None
    identical: list[tuple[int, ...]] = []
    if len(folds) > 1:
        counts = pd.Series(np.concatenate([pd.unique(np.asarray(f.test, dtype=object)) for f in folds])).value_counts()
        tested_twice = _overlap(counts.index[counts > 1])
        never_tested = _overlap(lookup.ids.difference(counts.index))
        if tested_twice.count:
            faults.append(f"{tested_twice.count:,} images are tested in more than one fold ({_examples(tested_twice)})")
        if never_tested.count:
            faults.append(f"{never_tested.count:,} images are in no test list ({_examples(never_tested)})")
        by_test: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for f in folds:
            by_test[f.test].append(f.fold)
        identical = [tuple(ks) for ks in by_test.values() if len(ks) > 1]
        faults.extend(f"test lists of folds {', '.join(map(str, ks))} are identical" for ks in identical)

    first = folds[0]
    return AuditReport(
        split=split or first.protocol,
        key=first.key,
        seed=first.seed,
        dataset=f"{index.root} ({index.kind})",
        labels_version=index.labels_version,
        folds=tuple(audited),
        tested_twice=tested_twice,
        never_tested=never_tested,
        identical_tests=tuple(identical),
        faults=tuple(faults),
        warnings=tuple(warnings),
    )
