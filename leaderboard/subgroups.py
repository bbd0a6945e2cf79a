"""The per-split tables by subgroup (`bench leaderboard --by view|sex|age`): each column's mean test
AUROC in each subgroup of one attribute, read from the runs' stored predictions and the dataset index."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError
from bench.evaluation.runs import index_attributes, run_index
from bench.evaluation.subgroups import MIN_CASES, STANDARD_ORDER, subgroup_aurocs
from bench.labels import NUM_CLASSES
from bench.records import RunRecord
from bench.ui import tables as ui
from leaderboard.tables import Column, Leaderboard, PredictionCache, Table

ATTRIBUTES: tuple[str, ...] = tuple(STANDARD_ORDER)


@dataclass(frozen=True)
class Mean:
    """A mean over classes and how many it covers (value None: no class covered)."""

    value: float | None
    n_classes: int

    def text(self, fmt: str = ".4f") -> str:
        if self.value is None:
            return "-"
        count = "" if self.n_classes == NUM_CLASSES else f" ({self.n_classes}/{NUM_CLASSES})"
        return f"{self.value:{fmt}}{count}"


@dataclass(frozen=True, eq=False)
class SubgroupColumn:
    key: str
    label: str
    aurocs: np.ndarray  # (subgroups, 14): per class, the mean over its runs where defined; NaN undefined

    def mean(self, g: int) -> Mean:
        """Subgroup g's mean over the classes defined in it."""
        covered = np.isfinite(self.aurocs[g])
        return Mean(float(self.aurocs[g][covered].mean()) if covered.any() else None, int(covered.sum()))

    def gap(self) -> Mean:
        """The best subgroup's mean minus the worst's, over the classes defined in every subgroup."""
        common = np.isfinite(self.aurocs).all(axis=0)
        if not common.any() or self.aurocs.shape[0] < 2:
            return Mean(None, int(common.sum()))
        means = self.aurocs[:, common].mean(axis=1)
        return Mean(float(means.max() - means.min()), int(common.sum()))


@dataclass(frozen=True, eq=False)
class SubgroupTable:
    table: Table  # the split table it belongs to
    attribute: str
    subgroups: tuple[str, ...]
    columns: tuple[SubgroupColumn, ...]
    notes: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.table.title


def _column(col: Column, attribute: str, cache: PredictionCache, indexes: dict) -> SubgroupColumn:
    """Every run of the column (each fold of each training seed) in the subgroups; per class the
    mean over the runs that define it there."""
    wanted = STANDARD_ORDER[attribute]
    per_run = []
    for r in (r for runs in col.seed_runs for r in runs):
        preds = cache.get(r)
        if preds is None:
            raise BenchError(f"run {r.run_id} has no readable predictions")
        attrs = index_attributes(_index(r, indexes), preds.image_ids)
        per_run.append(subgroup_aurocs(preds.y_true, preds.scores, attrs[attribute], wanted))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a class undefined in every run stays NaN
        return SubgroupColumn(col.key, col.label, np.nanmean(np.stack(per_run), axis=0))


def _index(record: RunRecord, indexes: dict):
    key = (record.dataset.root, record.dataset.fingerprint)
    if key not in indexes:
        indexes[key] = run_index(record)
    return indexes[key]


def subgroup_tables(board: Leaderboard, attribute: str, cache: PredictionCache, warn) -> list[SubgroupTable]:
    """One table per split table with runs; a column whose predictions or dataset index cannot be
    read is left out with a warning."""
    if attribute not in ATTRIBUTES:
        raise BenchError(f"unknown subgroup attribute {attribute!r}", hint=f"choose one of {', '.join(ATTRIBUTES)}")
    indexes: dict = {}
    out = []
    for t in board.tables:
        columns = []
        for col in (c for c in t.columns if c.runs):
            try:
                columns.append(_column(col, attribute, cache, indexes))
            except BenchError as exc:
                warn(f"{t.title}, {col.label}: no subgroups ({exc.one_line()})")
        if columns:
            out.append(_table(t, attribute, tuple(columns)))
    return out


def _table(t: Table, attribute: str, columns: tuple[SubgroupColumn, ...]) -> SubgroupTable:
    notes = [
        f"a subgroup's mean is over the classes with at least {MIN_CASES} positives and {MIN_CASES} negatives "
        f"in it; (n/{NUM_CLASSES}) counts them when some are missing",
        "gap: the best subgroup's mean minus the worst's, over the classes defined in every subgroup",
    ]
    if t.cross_validation:
        notes.append(f"per class, the mean over the {t.n_folds} folds where the class is defined in the subgroup")
    if any(c.n_seeds > 1 for c in t.columns):
        notes.append("a column of several training seeds: per class, the mean over its seeds' runs")
    return SubgroupTable(t, attribute, STANDARD_ORDER[attribute], columns, tuple(notes))


def to_ui(table: SubgroupTable) -> ui.Table:
    """Subgroups down, one column per method: mean test AUROC; then the gap."""
    body = [ui.row(name, *(c.mean(g).text() for c in table.columns)) for g, name in enumerate(table.subgroups)]
    body[-1] = ui.Row(body[-1].cells, end_section=True)
    body.append(ui.row("gap", *(c.gap().text("+.4f") for c in table.columns)))
    return ui.Table(
        (ui.Column(table.attribute, key=True), *(ui.Column(c.label, "right") for c in table.columns)),
        tuple(body),
        title=f"{table.title}: mean test AUROC by {table.attribute}",
        footnotes=table.notes,
    )
