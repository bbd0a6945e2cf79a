"""Improvement tables (the paper's Table 9): AUROC minus a reference, in percentage points.

Between two runs the difference is tested on their stored predictions: a two-sided DeLong
p-value per class on a single split, a paired patient-bootstrap 95% interval on k-fold
splits. Published columns get differences only (their predictions are not public). The
p-values are corrected for their number, every defined one of the table (classes x columns),
by Holm's method unless told otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from bench.evaluation.multiple import Correction, adjust_pvalues
from bench.labels import NUM_CLASSES
from leaderboard import stats
from leaderboard.tables import Column, Improvement, ImprovementColumn, PredictionCache, Table


def rates(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(15,) differences in points: per class, then their mean over the classes defined in both."""
    diff = (np.asarray(values[:NUM_CLASSES], dtype=float) - np.asarray(reference[:NUM_CLASSES], dtype=float)) * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.append(diff, np.nanmean(diff))


def resolve(table: Table, reference: str) -> Column | None:
    """The table's column named by `reference`: its key, or the registry name or display name
    (an external model's --name) of exactly one column's runs."""
    for col in table.columns:
        if col.key == reference:
            return col
    named = [c for c in table.columns if c.runs and reference in (c.method, c.runs[0].method.display_name)]
    return named[0] if len(named) == 1 else None


def improvement(
    table: Table, ref: Column, cache: PredictionCache, warn, correction: Correction = "holm"
) -> Improvement:
    test = "none"
    if ref.runs:
        test = "bootstrap" if table.cross_validation else "delong"
    columns, notes = [], []
    for col in table.columns:
        if col is ref:
            continue
        diff = rates(col.values, ref.values)
        p = lo = hi = None
        if col.runs and ref.runs:
            try:
                p, lo, hi = _tested(table, col, ref, cache)
            except ValueError as exc:
                notes.append(f"{col.label}: no test against {ref.label} ({exc})")
        columns.append(ImprovementColumn(col.key, col.label, diff, p, lo, hi))
    tested = [c for c in columns if c.p is not None]
    if not tested:
        return Improvement(ref, tuple(columns), test, tuple(notes))
    raw = np.stack([c.p for c in tested])  # type: ignore[misc]
    adjusted = iter(adjust_pvalues(raw, correction))
    columns = [replace(c, p=next(adjusted)) if c.p is not None else c for c in columns]
    n_tests = int(np.isfinite(raw).sum())
    return Improvement(ref, tuple(columns), test, tuple(notes), correction, n_tests)


def _tested(table: Table, col: Column, ref: Column, cache: PredictionCache):
    pairs = []
    for a, b in zip(ref.runs, col.runs):
        pa, pb = cache.get(a), cache.get(b)
        if pa is None or pb is None:
            raise ValueError(f"predictions missing for run {(a if pa is None else b).run_id}")
        pairs.append((pa, pb))
    if table.cross_validation:
        lo, hi = stats.cv_diff_interval(pairs)
        return None, lo, hi
    p = stats.delong_pvalues(*pairs[0])
    return np.append(p, np.nan), None, None
