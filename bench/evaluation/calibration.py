"""Calibration of probability scores: expected calibration error over equal-mass bins, the Brier
score, and the reliability-diagram data behind both.

Bins: a class's scores sorted ascending are cut at the scores of ranks floor(b * n / B),
b = 1 .. B-1; an image goes to the bin after the last cut at or below its score, so tied scores
share a bin. ECE = sum over bins of |sum(y - s)| / n, the count-weighted gap between the observed
positive rate and the mean score. The patient bootstrap keeps the test list's cuts and re-weights
the images in them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.evaluation.common import (
    LEVEL,
    N_RESAMPLES,
    Estimate,
    Mean,
    check_inputs,
    check_resampling,
    estimates,
    mean_estimate,
)
from bench.metrics import PatientResamples, check_scores, class_names

N_BINS = 15


class NotProbabilities(ValueError):
    """Scores outside [0, 1] (logits, ranks): calibration is not defined for them."""


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability diagram: its images' score range, mean score and positive rate."""

    n: int
    lo: float
    hi: float
    mean_score: float
    observed: float


@dataclass(frozen=True)
class ClassCalibration:
    ece: Estimate
    brier: Estimate
    bins: tuple[ReliabilityBin, ...]


@dataclass(frozen=True)
class CalibrationReport:
    per_class: dict[str, ClassCalibration]
    mean_ece: Mean
    mean_brier: Mean
    n_bins: int
    level: float
    n_resamples: int
    seed: int


def probability_problem(scores) -> str | None:
    """None when every score is a probability (finite, within [0, 1]); else one line saying why not."""
    s = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(s)
    if not finite.all():
        return f"scores are not probabilities: {int((~finite).sum()):,} of {s.size:,} are not finite numbers"
    outside = (s < 0) | (s > 1)
    if outside.any():
        return (
            f"scores are not probabilities: {int(outside.sum()):,} of {s.size:,} lie outside [0, 1] "
            f"(from {s.min():.4g} to {s.max():.4g})"
        )
    return None


def equal_mass_bins(scores, n_bins: int = N_BINS) -> np.ndarray:
    """Each score's bin, 0 .. n_bins-1 (see the module's docstring); ties share a bin."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    cuts = np.sort(s)[(np.arange(1, n_bins) * s.size) // n_bins]
    return np.searchsorted(cuts, s, side="right")


def _binned(s: np.ndarray, n_bins: int) -> np.ndarray:
    """(n, C) column index k * n_bins + bin of each image and class."""
    bins = np.column_stack([equal_mass_bins(s[:, k], n_bins) for k in range(s.shape[1])])
    return bins + np.arange(s.shape[1]) * n_bins


def expected_calibration_error(labels, scores, n_bins: int = N_BINS) -> np.ndarray:
    """(C,) ECE per class over `n_bins` equal-mass bins."""
    y, s = check_scores(labels, scores)
    cols = _binned(s, n_bins)
    per_bin = np.bincount(cols.ravel(), weights=(y - s).ravel(), minlength=s.shape[1] * n_bins)
    return np.abs(per_bin.reshape(s.shape[1], n_bins)).sum(axis=1) / s.shape[0]


def brier_score(labels, scores) -> np.ndarray:
    """(C,) mean squared difference between score and label per class."""
    y, s = check_scores(labels, scores)
    return np.mean(np.square(s - y), axis=0)


def calibration(
    labels,
    scores,
    patient_ids,
    *,
    n_bins: int = N_BINS,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> CalibrationReport:
    """Per class and averaged over all classes: ECE and Brier score with patient-bootstrap
    intervals, and the reliability bins. NotProbabilities for scores outside [0, 1]."""
    from scipy import sparse

    check_resampling(n_resamples, level)
    y, s, groups = check_inputs(labels, scores, patient_ids)
    problem = probability_problem(s)
    if problem:
        raise NotProbabilities(problem)
    n, n_classes = s.shape
    cols = _binned(s, n_bins)
    diff = (y - s).ravel()
    one_hot = sparse.csr_matrix(
        (diff, (np.repeat(np.arange(n), n_classes), cols.ravel())), shape=(n, n_classes * n_bins)
    )
    resamples = PatientResamples.draw(groups, n_resamples, seed=seed)
    bin_sums = resamples.sums(one_hot)
    squared = resamples.sums(np.hstack([np.square(s - y), np.ones((n, 1))]))
    weight = squared[:, -1:]
    ece_samples = np.abs(bin_sums.reshape(-1, n_classes, n_bins)).sum(axis=2) / weight
    brier_samples = squared[:, :-1] / weight
    ece, brier = expected_calibration_error(y, s, n_bins), brier_score(y, s)
    names = class_names(n_classes)
    ece_est, brier_est = estimates(ece, ece_samples, level, names), estimates(brier, brier_samples, level, names)
    per_class = {
        name: ClassCalibration(
            ece_est[name], brier_est[name], _reliability(y[:, k], s[:, k], cols[:, k] - k * n_bins, n_bins)
        )
        for k, name in enumerate(names)
    }
    every = np.ones(n_classes, dtype=bool)
    return CalibrationReport(
        per_class,
        mean_estimate(ece, ece_samples, every, level),
        mean_estimate(brier, brier_samples, every, level),
        n_bins,
        level,
        n_resamples,
        seed,
    )


def _reliability(y: np.ndarray, s: np.ndarray, bins: np.ndarray, n_bins: int) -> tuple[ReliabilityBin, ...]:
    out = []
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            scores = s[inside]
            out.append(
                ReliabilityBin(
                    int(inside.sum()),
                    float(scores.min()),
                    float(scores.max()),
                    float(scores.mean()),
                    float(y[inside].mean()),
                )
            )
    return tuple(out)
