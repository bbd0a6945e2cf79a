"""Improvement tables (the paper's Table 9): AUROC minus a reference, in percentage points.

Between two runs the difference is tested on their stored predictions: a two-sided DeLong
p-value per class on a single split, a paired patient-bootstrap 95% interval on k-fold
splits. A column of several training seeds is compared by its mean over seeds, with the
paired bootstrap over patients and seeds (bench.evaluation.seeds) in place of either: its
p-value is the normal approximation, z = difference / bootstrap standard error. Published
columns get differences only (their predictions are not public). The
p-values are corrected for their number, every defined one of the table (classes x columns),
by Holm's method unless told otherwise.
"""

from __future__ import annotations

import re
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
    """The table's column named by `reference`: its key (a display name with its overrides spelled
    in any way `--set` accepts, `chexnet[optimizer.lr=3e-4]` for `chexnet[optimizer.lr=0.0003]`), or
    the registry name or display name (an external model's --name) of exactly one column's runs."""
    for col in table.columns:
        if col.key == reference or (col.runs and _same_overrides(col, reference)):
            return col
    named = [c for c in table.columns if c.runs and reference in (c.method, c.runs[0].method.display_name)]
    return named[0] if len(named) == 1 else None


# "name[key=value,...]" and what follows (" [tta hflip]", " (external)"); a value may hold commas.
_OVERRIDDEN = re.compile(r"(?P<name>[^\s\[\]]+)\[(?P<items>[^\]]*=[^\]]*)\](?P<rest>.*)")
_ITEM_START = re.compile(r",(?=\s*[A-Za-z_][\w.]*\s*=)")
# Hooks that may read any field: an item passed with them is left out only for the value the spec has.
_ALL_HOOKS = ("build_loss", "build_scheduler")


def _same_overrides(col: Column, reference: str) -> bool:
    """Whether `reference`, "name[items]", names the column's method with the overrides its runs
    were trained with: the same keys, each value read by `--set`'s parser as the one the run has."""
    from bench.errors import BenchError
    from bench.method.overrides import apply_overrides, split_override
    from bench.method.spec import MethodSpec

    match = _OVERRIDDEN.fullmatch(reference.strip())
    run = col.runs[0]
    if match is None or match["name"] != run.method.name or col.key != run.method.display_name + match["rest"]:
        return False
    items = [_unwrapped(item.strip()) for item in _ITEM_START.split(match["items"])]
    try:
        recorded = [item for item in items if split_override(item)[0] in run.method.overrides]
        if {split_override(item)[0] for item in recorded} != set(run.method.overrides):
            return False
        spec = MethodSpec.from_dict(run.method.spec)  # holds the run's overrides already
        # Its own overrides must set the values it has (whatever hook reads them); any other item
        # must change nothing, as `--set` would have left it out of the run.
        return (
            not apply_overrides(spec, recorded, hooks=_ALL_HOOKS).overrides
            and not apply_overrides(spec, [item for item in items if item not in recorded]).overrides
        )
    except BenchError:  # not a --set this spec accepts (or a record whose spec no longer reads)
        return False


def _unwrapped(item: str) -> str:
    """A list value as `--set` takes it, "1,2", from the display name's "(1,2)"."""
    key, sep, value = item.partition("=")
    value = value.strip()
    return f"{key}={value[1:-1]}" if sep and value.startswith("(") and value.endswith(")") else item


SEED_TEST = "a paired bootstrap over patients and training seeds of the difference between the means over seeds"
SEED_P = "the normal approximation (z = difference / bootstrap standard error)"


def _seed_test_note(table: Table, ref: Column, seeded: list[str], n_resamples: int) -> str:
    """Which columns the seed bootstrap tested, and how."""
    test = f"{SEED_TEST} ({n_resamples} resamples)"
    which = f"every column (the reference has {ref.n_seeds} seeds)" if ref.n_seeds > 1 else ", ".join(seeded)
    if table.cross_validation:
        return f"intervals of {which}: per fold, {test}, combined over folds"
    return (
        f"p-values of {which}: two-sided, by {SEED_P} to {test}, in place of DeLong's test; corrected with the others"
    )


def improvement(
    table: Table,
    ref: Column,
    cache: PredictionCache,
    warn,
    correction: Correction = "holm",
    n_resamples: int = stats.N_RESAMPLES,
) -> Improvement:
    """`table`'s columns against `ref`; `n_resamples` sets the bootstraps behind the k-fold
    intervals and the seed comparisons."""
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
                p, lo, hi = _tested(table, col, ref, cache, n_resamples)
                col_test = "seed-bootstrap" if max(col.n_seeds, ref.n_seeds) > 1 else test
            except ValueError as exc:
                notes.append(f"{col.label}: no test against {ref.label} ({exc})")
        columns.append(ImprovementColumn(col.key, col.label, diff, p, lo, hi, col_test))
    seeded = [c.label for c in columns if c.test == "seed-bootstrap"]
    if seeded:
        notes.append(_seed_test_note(table, ref, seeded, n_resamples))
    tested = [c for c in columns if c.p is not None]
    if not tested:
        return Improvement(ref, tuple(columns), test, tuple(notes))
    raw = np.stack([c.p for c in tested])  # type: ignore[misc]
    adjusted = iter(adjust_pvalues(raw, correction))
    columns = [replace(c, p=next(adjusted)) if c.p is not None else c for c in columns]
    return Improvement(ref, tuple(columns), test, tuple(notes), correction, int(np.isfinite(raw).sum()))


def _tested(table: Table, col: Column, ref: Column, cache: PredictionCache, n_resamples: int):
    """(p, lo, hi) of `col` against `ref`: DeLong p-values between two single runs, the bootstrap
    over patients and seeds when either column has several seeds, intervals on k-fold tables."""
    ref_preds, col_preds = _predictions(ref, cache), _predictions(col, cache)
    if table.cross_validation:
        folds = [([s[f] for s in ref_preds], [s[f] for s in col_preds]) for f in range(len(ref.runs))]
        lo, hi = stats.cv_diff_interval(folds, n_resamples=n_resamples)
        return None, lo, hi
    if ref.n_seeds == col.n_seeds == 1:
        p = stats.delong_pvalues(ref_preds[0][0], col_preds[0][0])
    else:
        p = stats.seed_pvalues([s[0] for s in ref_preds], [s[0] for s in col_preds], n_resamples=n_resamples)
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
