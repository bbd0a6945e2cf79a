"""Runs that differ only in their training seed: the mean, standard deviation and count over
seeds, and a bootstrap over patients and seeds for the difference between two methods' means.

The comparison resamples patients (the same draw for both methods, so the difference is paired
on the images) and, independently per method, the seeds with replacement; each resample's
difference is the mean AUROC over the drawn seeds of A minus that of B. The intervals are the
resamples' percentiles; the two-sided p-value is the normal approximation (`normal_p`):
z = the observed difference / the resamples' standard deviation (its bootstrap standard error),
p = 2 (1 - Phi(|z|)). Unlike a count of resamples beyond 0, which can never fall below
2 / (R + 1), it is not floored by the number of resamples, so it can survive a correction over
many tests.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.evaluation.common import (
    LEVEL,
    N_RESAMPLES,
    Estimate,
    Mean,
    by_class,
    check_inputs,
    check_resampling,
    estimates,
    mean_estimate,
    mean_samples,
    opt,
)
from bench.metrics import PatientResamples, check_scores, class_names, per_class_auroc


@dataclass(frozen=True)
class SeedSummary:
    """Per class over the seeds where it is defined: mean, sample standard deviation (None for one
    seed) and count; `average` is the per-seed mean over the `average_classes` classes defined in
    every seed, summarised the same way."""

    n_seeds: int
    mean: dict[str, float | None]
    std: dict[str, float | None]
    count: dict[str, int]
    average: float | None
    average_std: float | None
    average_classes: int


@dataclass(frozen=True)
class SeedComparison:
    """Mean AUROC over A's seeds minus mean over B's, per class and for the mean over the classes
    defined on the test list, with bootstrap intervals and two-sided p-values."""

    n_seeds_a: int
    n_seeds_b: int
    diff: dict[str, Estimate]
    p: dict[str, float | None]
    mean: Mean
    mean_p: float | None
    level: float
    n_resamples: int
    seed: int


def _spread(values: np.ndarray) -> tuple[float | None, float | None, int]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None, None, 0
    std = float(np.std(finite, ddof=1)) if finite.size > 1 else None
    return float(finite.mean()), std, int(finite.size)


def summarize_seeds(values, names: Sequence[str] | None = None) -> SeedSummary:
    """`values` (seeds, C): one metric per seed and class, NaN where undefined."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] == 0:
        raise ValueError(f"values must have shape (seeds, classes) with at least one seed, got {v.shape}")
    per_class = [_spread(v[:, k]) for k in range(v.shape[1])]
    common = np.isfinite(v).all(axis=0)
    average, average_std, _ = _spread(v[:, common].mean(axis=1)) if common.any() else (None, None, 0)
    names = class_names(v.shape[1], names)
    return SeedSummary(
        int(v.shape[0]),
        by_class(names, (p[0] for p in per_class)),
        by_class(names, (p[1] for p in per_class)),
        by_class(names, (p[2] for p in per_class)),
        average,
        average_std,
        int(common.sum()),
    )


def normal_p(point, samples) -> np.ndarray:
    """Per column of (R, C) resampled differences, the two-sided p-value of "the difference is 0"
    by the normal approximation: z = point / the sample std (ddof=1) of the column's valid (not
    NaN) resamples, p = erfc(|z| / sqrt 2). NaN where the point is undefined or fewer than two
    resamples are valid; resamples that do not vary give 1 for a zero difference, 0 otherwise."""
    from scipy.special import erfc

    point = np.asarray(point, dtype=np.float64)
    samples = np.asarray(samples, dtype=np.float64)
    valid = (~np.isnan(samples)).sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns with fewer than two valid resamples
        se = np.nanstd(samples, axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(point) / se
    p = np.where(point == 0, 1.0, erfc(z / np.sqrt(2)))
    return np.where(np.isfinite(point) & (valid > 1), p, np.nan)


def _seed_weights(rng: np.random.Generator, n_resamples: int, n_seeds: int) -> np.ndarray:
    """(R, seeds) how often each seed is drawn, drawing as many seeds as there are."""
    draws = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    return np.stack([np.bincount(row, minlength=n_seeds) for row in draws]).astype(np.float64)


def _resampled_mean(resamples: PatientResamples, y, runs: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """(R, C) per resample: the seed-weighted mean AUROC of the runs."""
    aurocs = np.stack([resamples.aurocs(y, s) for s in runs])  # (seeds, R, C)
    return np.einsum("rs,src->rc", weights, aurocs) / len(runs)


def seed_bootstrap_diff(
    labels,
    scores_a: Sequence,
    scores_b: Sequence,
    patient_ids,
    *,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> SeedComparison:
    """`scores_a` and `scores_b`: each method's runs (one (n, C) array per seed), every run on the
    images of `labels` in the same order."""
    check_resampling(n_resamples, level)
    if not scores_a or not scores_b:
        raise ValueError("each method needs at least one run")
    y, _, groups = check_inputs(labels, scores_a[0], patient_ids)
    runs_a = [check_scores(y, s)[1] for s in scores_a]
    runs_b = [check_scores(y, s)[1] for s in scores_b]
    resamples = PatientResamples.draw(groups, n_resamples, seed=seed)
    rng = np.random.default_rng((seed, 1))  # a stream of its own: the patient draws stay bootstrap_ci's
    samples = _resampled_mean(resamples, y, runs_a, _seed_weights(rng, n_resamples, len(runs_a))) - _resampled_mean(
        resamples, y, runs_b, _seed_weights(rng, n_resamples, len(runs_b))
    )
    point = np.mean([per_class_auroc(y, s) for s in runs_a], axis=0) - np.mean(
        [per_class_auroc(y, s) for s in runs_b], axis=0
    )
    defined = np.isfinite(point)
    samples[:, ~defined] = np.nan
    mean_point, mean_resampled = mean_samples(point, samples, defined)
    mean_p = normal_p([mean_point], mean_resampled[:, None])[0]
    names = class_names(y.shape[1])
    return SeedComparison(
        len(runs_a),
        len(runs_b),
        estimates(point, samples, level, names),
        by_class(names, (opt(p) for p in normal_p(point, samples))),
        mean_estimate(point, samples, defined, level),
        opt(mean_p),
        level,
        n_resamples,
        seed,
    )
