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


@dataclass(frozen=True, eq=False)
class SubgroupColumn:
    label: str
    aurocs: np.ndarray  # (subgroups, 14): per class, the mean over folds where defined; NaN undefined


@dataclass(frozen=True, eq=False)
class SubgroupTable:
    title: str  # the split table's
    attribute: str
    subgroups: tuple[str, ...]
    columns: tuple[SubgroupColumn, ...]
    notes: tuple[str, ...] = ()


def _mean(values: np.ndarray, covered: np.ndarray) -> str:
    """The mean over the covered classes, with their count when some are missing."""
    if not covered.any():
        return "-"
    count = "" if covered.all() else f" ({int(covered.sum())}/{covered.size})"
    return f"{values[covered].mean():.4f}{count}"


def _column(col: Column, attribute: str, cache: PredictionCache, indexes: dict) -> SubgroupColumn:
    wanted = STANDARD_ORDER[attribute]
    folds = []
    for r in col.runs:
        preds = cache.get(r)
        if preds is None:
            raise BenchError(f"run {r.run_id} has no readable predictions")
        attrs = index_attributes(_index(r, indexes), preds.image_ids)
        folds.append(subgroup_aurocs(preds.y_true, preds.scores, attrs[attribute], wanted))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a class undefined in every fold stays NaN
        return SubgroupColumn(col.label, np.nanmean(np.stack(folds), axis=0))


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
    return SubgroupTable(t.title, attribute, STANDARD_ORDER[attribute], columns, tuple(notes))


def _gap(aurocs: np.ndarray) -> str:
    common = np.isfinite(aurocs).all(axis=0)
    if not common.any() or aurocs.shape[0] < 2:
        return "-"
    means = aurocs[:, common].mean(axis=1)
    count = "" if common.all() else f" ({int(common.sum())}/{common.size})"
    return f"{means.max() - means.min():+.4f}{count}"


def to_ui(table: SubgroupTable) -> ui.Table:
    """Subgroups down, one column per method: mean test AUROC; then the gap."""
    body = [
        ui.row(name, *(_mean(c.aurocs[g], np.isfinite(c.aurocs[g])) for c in table.columns))
        for g, name in enumerate(table.subgroups)
    ]
    body[-1] = ui.Row(body[-1].cells, end_section=True)
    body.append(ui.row("gap", *(_gap(c.aurocs) for c in table.columns)))
    return ui.Table(
        (ui.Column(table.attribute, key=True), *(ui.Column(c.label, "right") for c in table.columns)),
        tuple(body),
        title=f"{table.title}: mean test AUROC by {table.attribute}",
        footnotes=table.notes,
    )
