"""Statistics the leaderboard recomputes from stored predictions (via bench.metrics)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from bench.predictions import Predictions

LEVEL = 0.95
N_RESAMPLES = 1000


def auroc_interval(preds: Predictions, *, n_resamples: int = N_RESAMPLES, seed: int = 0):
    """(lo, hi) of shape (15,): patient-bootstrap 95% interval per class, then of the mean."""
    from bench.metrics import bootstrap_ci

    res = bootstrap_ci(preds.y_true, preds.scores, preds.patient_ids, n_resamples=n_resamples, level=LEVEL, seed=seed)
    return np.append(res.lo, res.mean_lo), np.append(res.hi, res.mean_hi)


def paired(ref: Predictions, other: Predictions) -> tuple[Predictions, Predictions]:
    """Both prediction sets on the same images in the same order; ValueError if they differ."""
    if set(ref.image_ids) != set(other.image_ids):
        raise ValueError("the two runs were scored on different test images")
    other = other.reindex(ref.image_ids)
    if not np.array_equal(ref.y_true, other.y_true):
        raise ValueError("the two runs' predictions disagree on the true labels")
    return ref, other


def delong_pvalues(ref: Predictions, other: Predictions) -> np.ndarray:
    """(14,) two-sided DeLong p-values, AUROC(other) vs AUROC(ref), per class; NaN where undefined."""
    from bench.metrics import delong_test

    ref, other = paired(ref, other)
    _, _, p = delong_test(ref.y_true, other.scores, ref.scores)
    return np.asarray(p, dtype=float)


def paired_runs(refs: list[Predictions], others: list[Predictions]) -> tuple[list[Predictions], list[Predictions]]:
    """Every run (seed) of both columns on the first reference run's images, in its order."""
    first = refs[0]
    return [paired(first, r)[1] for r in refs], [paired(first, o)[1] for o in others]


def _seed_diff(refs: list[Predictions], others: list[Predictions], *, n_resamples: int, seed: int):
    """bench.evaluation.seeds' paired bootstrap of `others`' mean AUROC minus `refs'`, on the
    first reference run's images."""
    from bench.evaluation.seeds import seed_bootstrap_diff

    refs, others = paired_runs(refs, others)
    return seed_bootstrap_diff(
        refs[0].y_true,
        [o.scores for o in others],
        [r.scores for r in refs],
        refs[0].patient_ids,
        n_resamples=n_resamples,
        seed=seed,
    )


def seed_pvalues(
    refs: list[Predictions], others: list[Predictions], *, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> np.ndarray:
    """(14,) two-sided p-values of the paired bootstrap over patients and seeds
    (bench.evaluation.seeds): mean AUROC over `others`' seeds vs over `refs`'; NaN where undefined."""
    res = _seed_diff(refs, others, n_resamples=n_resamples, seed=seed)
    return np.array([np.nan if p is None else p for p in res.p.values()])


def cv_diff_interval(
    fold_runs: list[tuple[list[Predictions], list[Predictions]]], *, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of shape (15,), in AUROC points x100: interval of the mean over folds of
    AUROC(other) - AUROC(ref), per class and for the Average; per fold, (the reference's runs,
    the other's runs), one run per training seed, a fold's AUROC being the mean over its seeds.

    Each fold gets a paired bootstrap over patients and seeds (bench.evaluation.seeds; with one
    seed each, the paired patient bootstrap); folds have disjoint patients, so their estimates are
    independent and combine as a normal approximation: se = sqrt(sum se_f^2) / k, with se_f read
    from the fold's percentile interval width.
    """

    def row(estimates, mean) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in (*estimates, mean)], dtype=float)

    z = NormalDist().inv_cdf((1 + LEVEL) / 2)
    points, ses = [], []
    for fold, (refs, others) in enumerate(fold_runs):
        res = _seed_diff(refs, others, n_resamples=n_resamples, seed=seed + fold)
        points.append(row((d.value for d in res.diff.values()), res.mean.value))
        lo = row((d.lo for d in res.diff.values()), res.mean.lo)
        hi = row((d.hi for d in res.diff.values()), res.mean.hi)
        ses.append((hi - lo) / (2 * z))
    k = len(fold_runs)
    mean = np.mean(points, axis=0)  # NaN where any fold leaves the class undefined
    se = np.sqrt(np.sum(np.square(ses), axis=0)) / k
    return 100 * (mean - z * se), 100 * (mean + z * se)


def significant_p(p: float) -> bool:
    return not math.isnan(p) and p < 0.05
