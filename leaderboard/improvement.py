"""Improvement tables (the paper's Table 9): AUROC minus a reference, in percentage points.

Between two runs the difference is tested on their stored predictions: a two-sided DeLong
p-value per class on a single split, a paired patient-bootstrap 95% interval on k-fold
splits. A column of several training seeds is compared by its mean over seeds, with the
paired bootstrap over patients and seeds (bench.evaluation.seeds) in place of either. Published columns get differences only (their predictions are not public). The
p-values are corrected for their number, every defined one of the table (classes x columns),
by Holm's method unless told otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from bench.evaluation.multiple import Correction, adjust_pvalues
from bench.labels import NUM_CLASSES
from bench.predictions import Predictions
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


SEED_TEST = (
    "a paired bootstrap over patients and training seeds of the difference between the means over seeds"
    f" ({stats.N_RESAMPLES} resamples)"
)


def _seed_test_note(table: Table, ref: Column, seeded: list[str]) -> str:
    """Which columns the seed bootstrap tested, and how."""
    which = f"every column (the reference has {ref.n_seeds} seeds)" if ref.n_seeds > 1 else ", ".join(seeded)
    if table.cross_validation:
        return f"intervals of {which}: per fold, {SEED_TEST}, combined over folds"
    return f"p-values of {which}: two-sided, {SEED_TEST}, in place of DeLong's test; corrected with the others"


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
        col_test = ""
        if col.runs and ref.runs:
            try:
                p, lo, hi = _tested(table, col, ref, cache)
                col_test = "seed-bootstrap" if max(col.n_seeds, ref.n_seeds) > 1 else test
            except ValueError as exc:
                notes.append(f"{col.label}: no test against {ref.label} ({exc})")
        columns.append(ImprovementColumn(col.key, col.label, diff, p, lo, hi, col_test))
    seeded = [c.label for c in columns if c.test == "seed-bootstrap"]
    if seeded:
        notes.append(_seed_test_note(table, ref, seeded))
    tested = [c for c in columns if c.p is not None]
    if not tested:
        return Improvement(ref, tuple(columns), test, tuple(notes))
    raw = np.stack([c.p for c in tested])  # type: ignore[misc]
    adjusted = iter(adjust_pvalues(raw, correction))
    columns = [replace(c, p=next(adjusted)) if c.p is not None else c for c in columns]
    n_tests = int(np.isfinite(raw).sum())
    return Improvement(ref, tuple(columns), test, tuple(notes), correction, n_tests)


def _tested(table: Table, col: Column, ref: Column, cache: PredictionCache):
    """(p, lo, hi) of `col` against `ref`: DeLong p-values between two single runs, the bootstrap
    over patients and seeds when either column has several seeds, intervals on k-fold tables."""
    ref_preds, col_preds = _predictions(ref, cache), _predictions(col, cache)
    if table.cross_validation:
        folds = [([s[f] for s in ref_preds], [s[f] for s in col_preds]) for f in range(len(ref.runs))]
        lo, hi = stats.cv_diff_interval(folds)
        return None, lo, hi
    if ref.n_seeds == col.n_seeds == 1:
        p = stats.delong_pvalues(ref_preds[0][0], col_preds[0][0])
    else:
        p = stats.seed_pvalues([s[0] for s in ref_preds], [s[0] for s in col_preds])
    return np.append(p, np.nan), None, None


def _predictions(col: Column, cache: PredictionCache) -> list[list[Predictions]]:
    """(seeds, folds) the column's stored predictions; ValueError naming a run without them."""
    out = []
    for runs in col.seed_runs:
        row = []
        for r in runs:
            preds = cache.get(r)
            if preds is None:
                raise ValueError(f"predictions missing for run {r.run_id}")
            row.append(preds)
        out.append(row)
    return out
