"""What the evaluations share: typed estimates, input checks and bootstrap summaries.

Results are frozen dataclasses that bench.schema encodes and decodes unchanged: an undefined
value is None (JSON null), never NaN, so a record never holds a number nobody could compute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.metrics import check_level, check_scores, percentile_interval

LEVEL = 0.95
N_RESAMPLES = 1000


@dataclass(frozen=True)
class Estimate:
    """A value and its percentile-bootstrap interval; None where undefined (or not bootstrapped)."""

    value: float | None
    lo: float | None = None
    hi: float | None = None


@dataclass(frozen=True)
class Mean:
    """A mean over classes that says how many it covers: `n_classes` of `n_total`."""

    value: float | None
    lo: float | None
    hi: float | None
    n_classes: int
    n_total: int

    def __str__(self) -> str:
        text = "undefined" if self.value is None else f"{self.value:.4f}"
        return text if self.n_classes == self.n_total else f"{text} ({self.n_classes}/{self.n_total})"


def opt(value) -> float | None:
    """A finite number as a float, anything else (NaN, inf, None) as None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def check_inputs(labels, scores, patient_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels int8 (n, C), scores float64 (n, C), patient ids (n,)); ValueError on a mismatch."""
    y, s = check_scores(labels, scores)
    groups = np.asarray(patient_ids)
    if groups.shape != (y.shape[0],):
        raise ValueError(f"patient ids must give one id per image, shape ({y.shape[0]},), got {groups.shape}")
    return y, s, groups


def check_resampling(n_resamples: int, level: float) -> None:
    check_level(level)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")


def estimates(point: np.ndarray, samples: np.ndarray, level: float, names: Sequence[str]) -> dict[str, Estimate]:
    """Per column, keyed by its name: the point value with the percentile interval of its (R, C)
    resamples; the interval is left out (None) where the point is undefined."""
    lo, hi, _ = percentile_interval(samples, level)
    out = {}
    for name, p, a, b in zip(names, point, lo, hi):
        value = opt(p)
        out[name] = Estimate(value, opt(a), opt(b)) if value is not None else Estimate(None)
    return out


def by_class(names: Sequence[str], values) -> dict:
    """`values` keyed by the class names, in their order (the records' per-class form)."""
    return dict(zip(names, values))


def mean_samples(point: np.ndarray, samples: np.ndarray, covered: np.ndarray) -> tuple[float, np.ndarray]:
    """The mean over the `covered` columns, and per resample the same mean (NaN where a resample
    leaves one of them undefined, so it drops out of the interval)."""
    if not covered.any():
        return math.nan, np.full(samples.shape[0], math.nan)
    return float(point[covered].mean()), samples[:, covered].mean(axis=1)


def mean_estimate(point: np.ndarray, samples: np.ndarray, covered: np.ndarray, level: float) -> Mean:
    value, resampled = mean_samples(point, samples, covered)
    est = estimates(np.array([value]), resampled[:, None], level, ["mean"])["mean"]
    return Mean(est.value, est.lo, est.hi, int(covered.sum()), int(covered.size))


def plain_mean(values: np.ndarray) -> Mean:
    """The mean over the defined (finite) values, without an interval."""
    values = np.asarray(values, dtype=np.float64)
    covered = np.isfinite(values)
    value = opt(values[covered].mean()) if covered.any() else None
    return Mean(value, None, None, int(covered.sum()), int(values.size))
