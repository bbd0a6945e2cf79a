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


def cv_diff_interval(
    fold_pairs: list[tuple[Predictions, Predictions]], *, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of shape (15,), in AUROC points x100: interval of the mean over folds of
    AUROC(other) - AUROC(ref), per class and for the Average.

    Each fold gets a paired patient bootstrap; folds have disjoint patients, so their
    estimates are independent and combine as a normal approximation: se = sqrt(sum se_f^2) / k,
    with se_f read from the fold's percentile interval width.
    """
    from bench.metrics import paired_bootstrap_diff

    z = NormalDist().inv_cdf((1 + LEVEL) / 2)
    points, ses = [], []
    for fold, (ref, other) in enumerate(fold_pairs):
        ref, other = paired(ref, other)
        res = paired_bootstrap_diff(
            ref.y_true,
            other.scores,
            ref.scores,
            ref.patient_ids,
            n_resamples=n_resamples,
            level=LEVEL,
            seed=seed + fold,
        )
        points.append(np.append(res.point, res.mean))
        ses.append((np.append(res.hi, res.mean_hi) - np.append(res.lo, res.mean_lo)) / (2 * z))
    k = len(fold_pairs)
    mean = np.mean(points, axis=0)  # NaN where any fold leaves the class undefined
    se = np.sqrt(np.sum(np.square(ses), axis=0)) / k
    return 100 * (mean - z * se), 100 * (mean + z * se)


def significant_p(p: float) -> bool:
    return not math.isnan(p) and p < 0.05
