"""Per-class AUROC / AUPRC, patient-bootstrap confidence intervals and the DeLong test.

Inputs are `y_true` (n, C) of 0/1 and `scores` (n, C) of finite numbers, columns in LABELS order.
A class with no positives or no negatives has an undefined AUROC: NaN, never a guess.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from bench.labels import LABELS, NUM_CLASSES

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# Resamples processed together in the bootstrap: keeps the (cut points x resamples) blocks in cache.
_CHUNK = 128


class UndefinedClassWarning(UserWarning):
    """A class metric is undefined (no positives or no negatives) and left out of a mean."""


# Nothing prints an UndefinedClassWarning to the console: the count travels in the MeanValue
# (`n_defined`, `undefined`) and a caller that wants to say so prints one line
# (`undefined_notice`). The warning is still raised, so `pytest.warns` and `warnings.catch_warnings(
# record=True)` see it, and a `-W error::UserWarning` (inserted before this filter) still wins.
warnings.filterwarnings("ignore", category=UndefinedClassWarning, append=True)


@dataclass(frozen=True)
class MeanValue:
    """A mean over classes that remembers how many classes were defined."""

    value: float
    n_defined: int
    n_total: int
    undefined: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = "nan" if math.isnan(self.value) else f"{self.value:.4f}"
        return text if self.n_defined == self.n_total else f"{text} ({self.n_defined}/{self.n_total})"


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Percentile bootstrap intervals per class and for the mean over the defined classes.

    `n_valid[k]` counts the resamples in which class k was defined (had both positives and
    negatives); only those enter its interval. `mean_n_valid` counts the resamples in which every
    class defined in the full data stayed defined; only those enter the mean's interval.
    """

    point: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    mean: float
    mean_lo: float
    mean_hi: float
    n_valid: np.ndarray
    mean_n_valid: int
    level: float
    n_resamples: int


def class_names(n_classes: int, names: Sequence[str] | None = None) -> tuple[str, ...]:
    """`names` checked against the class count; by default LABELS for 14 classes, else "class k"."""
    if names is None:
        return LABELS if n_classes == NUM_CLASSES else tuple(f"class {k}" for k in range(n_classes))
    if len(names) != n_classes:
        raise ValueError(f"{len(names)} names given for {n_classes} classes")
    return tuple(names)


def check_scores(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """(labels as int8, scores as float64), both (n, C); ValueError naming what is wrong."""
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 2 or s.shape != y.shape:
        raise ValueError(f"y_true and scores must both have shape (n, C), got {y.shape} and {s.shape}")
    if y.shape[0] == 0:
        raise ValueError("no images to score")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must contain only 0 and 1")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite (no NaN or inf)")
    return y.astype(np.int8), s


def _defined(y: np.ndarray) -> np.ndarray:
    """Per class: both positives and negatives present."""
    n_pos = y.sum(axis=0)
    return (n_pos > 0) & (n_pos < y.shape[0])


def _per_class(metric, y_true, scores) -> np.ndarray:
    y, s = check_scores(y_true, scores)
    defined = _defined(y)
    return np.array([metric(y[:, k], s[:, k]) if defined[k] else np.nan for k in range(y.shape[1])], dtype=np.float64)


def per_class_auroc(y_true, scores) -> np.ndarray:
    """AUROC per class (scikit-learn's roc_auc_score); NaN for a class without positives or negatives."""
    return _per_class(roc_auc_score, y_true, scores)


def per_class_auprc(y_true, scores) -> np.ndarray:
    """AUPRC per class (scikit-learn's average_precision_score); NaN where undefined, as for AUROC."""
    return _per_class(average_precision_score, y_true, scores)


def mean_defined(values, names: Sequence[str] | None = None) -> MeanValue:
    """Mean over the defined (non-NaN) values; warns naming the undefined classes.

    `names` defaults to LABELS for 14 values, else "class k".
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    names = class_names(values.size, names)
    undefined = tuple(name for name, v in zip(names, values) if math.isnan(v))
    n_defined = values.size - len(undefined)
    if undefined:
        warnings.warn(
            f"undefined for {', '.join(undefined)} (no positives or no negatives); "
            f"mean over the other {n_defined} of {values.size} classes",
            UndefinedClassWarning,
            stacklevel=2,
        )
    value = float(np.nanmean(values)) if n_defined else math.nan
    return MeanValue(value, n_defined, values.size, undefined)


# The name CONTRACTS.md uses.
mean_auroc = mean_defined


def undefined_notice(mean: MeanValue, what: str = "the test list") -> str | None:
    """One line for the console when `mean` left classes out (None when every class was defined):
    "AUROC undefined for Hernia in the test list (no positives or no negatives): mean over 13 of
    14 classes"."""
    if not mean.undefined:
        return None
    return (
        f"AUROC undefined for {', '.join(mean.undefined)} in {what} (no positives or no negatives): "
        f"mean over {mean.n_defined} of {mean.n_total} classes"
    )


# --- Weighted AUROC for many resamples at once --------------------------------------------------
#
# With integer weights (a resample's multiplicity of each image), AUROC is the Mann-Whitney
# statistic over the repeated rows: sum over positives i and negatives j of w_i * w_j * psi(s_i, s_j)
# / (W_pos * W_neg), psi = 1 if s_i > s_j, 1/2 if tied. Sorting once per class, each positive needs
# the weight of the negatives ranked below it (strictly, and with ties). Those counts take few
# distinct values, the cut points; a sparse (cut points x groups) matrix of how many negatives of
# each group lie between consecutive cut points turns every resample's weights into the weights
# between cut points in one sparse product, whose running sum is the weight below each cut point.
# A resample costs O(n) in compiled code after one O(n log n) sort.


@dataclass(frozen=True)
class _RankedClass:
    pos_group: np.ndarray  # group (patient) of each positive
    between: csr_matrix  # row j, per group: negatives between cut points j - 1 and j (the last row: after the last)
    lo: np.ndarray  # per positive: index of the cut point "negatives scoring strictly lower"
    hi: np.ndarray  # per positive: index of the cut point "negatives scoring lower or equal"
    ties: bool


def _rank_class(y: np.ndarray, s: np.ndarray, group: np.ndarray, n_groups: int) -> _RankedClass:
    from scipy import sparse

    pos = y == 1
    neg_order = np.argsort(s[~pos], kind="stable")
    neg_scores = s[~pos][neg_order]
    pos_scores = s[pos]
    lo = np.searchsorted(neg_scores, pos_scores, side="left")
    hi = np.searchsorted(neg_scores, pos_scores, side="right")
    cuts = np.unique(np.concatenate([lo, hi]))
    # The negative of rank m lies before cut point j when m < cuts[j]: it is counted from that j on.
    segment = np.searchsorted(cuts, np.arange(neg_scores.size), side="right")
    between = sparse.csr_matrix(
        (np.ones(neg_scores.size), (segment, group[~pos][neg_order])), shape=(cuts.size + 1, n_groups)
    )
    lo_at, hi_at = np.searchsorted(cuts, lo), np.searchsorted(cuts, hi)
    return _RankedClass(group[pos], between, lo_at, hi_at, not np.array_equal(lo, hi))


def _ranked_auroc(ranked: _RankedClass, weights_t: np.ndarray) -> np.ndarray:
    """AUROC per column of `weights_t` (groups x resamples, float64): the weight of each group's images."""
    segments = ranked.between @ weights_t
    below = np.cumsum(segments[:-1], axis=0)  # row j: weight of the negatives before cut point j
    pos_w = weights_t[ranked.pos_group]
    # Twice the Mann-Whitney numerator: ties count 1/2, i.e. (below[lo] + below[hi]) / 2.
    paired = below[ranked.lo] + below[ranked.hi] if ranked.ties else 2 * below[ranked.lo]
    twice_u = (pos_w * paired).sum(axis=0)
    w_pos = pos_w.sum(axis=0)
    w_neg = segments.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = twice_u / (2.0 * w_pos * w_neg)
    auc[(w_pos == 0) | (w_neg == 0)] = np.nan
    return auc


def weighted_auroc(y_true, scores, weights) -> np.ndarray:
    """AUROC of one class under each row of integer `weights` (R, n) or (n,): the AUROC of the
    data with row i repeated weights[.., i] times. NaN where a weighting leaves no positive or no
    negative."""
    y, s = check_scores(np.asarray(y_true).reshape(-1, 1), np.asarray(scores).reshape(-1, 1))
    w = np.asarray(weights)
    single = w.ndim == 1
    w = np.atleast_2d(w)
    if w.shape[1] != y.shape[0] or not np.issubdtype(w.dtype, np.integer) or (w < 0).any():
        raise ValueError(f"weights must be non-negative integers of shape (R, {y.shape[0]}), got {w.dtype} {w.shape}")
    ranked = _rank_class(y[:, 0], s[:, 0], np.arange(y.shape[0]), y.shape[0])
    auc = _ranked_auroc(ranked, np.ascontiguousarray(w.T, dtype=np.float64))
    return auc[0] if single else auc


def _patient_resamples(groups, n: int, n_resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(group index per image, (groups x resamples) multiplicities from drawing groups with replacement)."""
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups must give one patient id per image, shape ({n},), got {groups.shape}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    _, group_index = np.unique(groups, return_inverse=True)
    n_groups = int(group_index.max()) + 1
    draws = np.random.default_rng(seed).integers(0, n_groups, size=(n_resamples, n_groups))
    offsets = (np.arange(n_resamples) * n_groups)[:, None]
    counts = np.bincount((draws + offsets).ravel(), minlength=n_resamples * n_groups)
    return group_index, counts.reshape(n_resamples, n_groups).T


def _resampled_aurocs(y: np.ndarray, s: np.ndarray, group_index: np.ndarray, counts_t: np.ndarray) -> np.ndarray:
    """(resamples, C) AUROCs; images weighted by their group's multiplicity in each resample."""
    n_groups, n_resamples = counts_t.shape
    ranked = [_rank_class(y[:, k], s[:, k], group_index, n_groups) for k in range(y.shape[1])]
    out = np.empty((n_resamples, y.shape[1]))
    for start in range(0, n_resamples, _CHUNK):
        # float64 is exact here: every sum of products stays far below 2**53.
        block = np.ascontiguousarray(counts_t[:, start : start + _CHUNK], dtype=np.float64)
        for k, one in enumerate(ranked):
            out[start : start + _CHUNK, k] = _ranked_auroc(one, block)
    return out


@dataclass(frozen=True, eq=False)
class PatientResamples:
    """One draw of patient-bootstrap resamples, shared by every statistic computed from it, so that
    differences and gaps between statistics pair up resample by resample.

    `counts_t[p, r]` is how often patient p was drawn in resample r; every image of a drawn patient
    counts that often. `rows` (a boolean mask or indices of images) restricts a statistic to a
    subset of the images, such as a subgroup, under the same draws.
    """

    group_index: np.ndarray  # (n,) each image's patient, 0..P-1
    counts_t: np.ndarray  # (P, R)

    @classmethod
    def draw(cls, groups, n_resamples: int, *, seed: int = 0) -> PatientResamples:
        groups = np.asarray(groups)
        if groups.ndim != 1:
            raise ValueError(f"groups must give one patient id per image, a 1-D array, got shape {groups.shape}")
        group_index, counts_t = _patient_resamples(groups, groups.size, n_resamples, seed)
        return cls(group_index, counts_t)

    @property
    def n_resamples(self) -> int:
        return int(self.counts_t.shape[1])

    def _index(self, rows, n: int) -> np.ndarray:
        index = self.group_index if rows is None else self.group_index[rows]
        if index.shape[0] != n:
            raise ValueError(f"groups must give one patient id per image, shape ({n},), got ({index.shape[0]},)")
        return index

    def aurocs(self, y: np.ndarray, s: np.ndarray, rows=None) -> np.ndarray:
        """(R, C) AUROC of each class in each resample (NaN where a resample leaves a class undefined)."""
        return _resampled_aurocs(y, s, self._index(rows, y.shape[0]), self.counts_t)

    def sums(self, values, rows=None) -> np.ndarray:
        """(R, m): per resample, the sum over images of `values` (n_rows, m), dense or a scipy
        sparse matrix, each image counted as often as its patient was drawn."""
        from scipy import sparse

        if not sparse.issparse(values):
            values = np.asarray(values, dtype=np.float64)
            values = values.reshape(values.shape[0], -1 if values.size else int(np.prod(values.shape[1:])))
        index = self._index(rows, values.shape[0])
        n_groups = self.counts_t.shape[0]
        by_patient = sparse.csr_matrix(
            (np.ones(index.size), (index, np.arange(index.size))), shape=(n_groups, index.size)
        )
        per_patient = by_patient @ values
        if sparse.issparse(per_patient):
            per_patient = per_patient.toarray()
        return self._counts_float @ per_patient

    @functools.cached_property
    def _counts_float(self) -> np.ndarray:
        return np.ascontiguousarray(self.counts_t.T, dtype=np.float64)


def percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, n_valid): percentile interval along axis 0, ignoring NaN resamples; NaN where none is valid."""
    n_valid = np.sum(~np.isnan(samples), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as wanted
        lo, hi = np.nanquantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return lo, hi, n_valid


def _bootstrap(point, defined, samples, level, n_resamples) -> BootstrapResult:
    lo, hi, n_valid = percentile_interval(samples, level)
    mean_samples = samples[:, defined].mean(axis=1) if defined.any() else np.full(n_resamples, np.nan)
    mean_lo, mean_hi, mean_n_valid = percentile_interval(mean_samples, level)
    mean = float(point[defined].mean()) if defined.any() else math.nan
    return BootstrapResult(
        point, lo, hi, mean, float(mean_lo), float(mean_hi), n_valid, int(mean_n_valid), level, n_resamples
    )


def check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")


def bootstrap_ci(
    y_true, scores, groups, *, n_resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> BootstrapResult:
    """Patient-bootstrap percentile intervals of per-class AUROC and of their mean.

    Each resample draws as many patients (`groups`, one id per image) as there are, with
    replacement, and keeps all images of each drawn patient.
    """
    check_level(level)
    y, s = check_scores(y_true, scores)
    samples = PatientResamples.draw(groups, n_resamples, seed=seed).aurocs(y, s)
    return _bootstrap(per_class_auroc(y, s), _defined(y), samples, level, n_resamples)


def paired_bootstrap_diff(
    y_true, scores_a, scores_b, groups, *, n_resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> BootstrapResult:
    """Patient-bootstrap intervals of AUROC_a - AUROC_b per class (and of the mean's difference),
    both models scored on the same resamples. `point` holds the observed differences."""
    check_level(level)
    y, s_a = check_scores(y_true, scores_a)
    _, s_b = check_scores(y_true, scores_b)
    resamples = PatientResamples.draw(groups, n_resamples, seed=seed)
    samples = resamples.aurocs(y, s_a) - resamples.aurocs(y, s_b)
    point = per_class_auroc(y, s_a) - per_class_auroc(y, s_b)
    return _bootstrap(point, _defined(y), samples, level, n_resamples)


# --- DeLong ---------------------------------------------------------------------------------------


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given the average of the ranks they span."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], x.size]
    ranks = np.empty(x.size)
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    return ranks


def _delong_components(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components by Sun & Xu's midrank formulas.

    V10_i = mean_j psi(pos_i, neg_j), V01_j = mean_i psi(pos_i, neg_j); AUROC = mean(V10).
    """
    m, n = pos.size, neg.size
    combined = _midranks(np.concatenate([pos, neg]))
    v10 = (combined[:m] - _midranks(pos)) / n
    v01 = 1.0 - (combined[m:] - _midranks(neg)) / m
    return v10, v01


def _delong_one(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    if m == 0 or n == 0:
        return math.nan, math.nan, math.nan
    v10_a, v01_a = _delong_components(a[pos], a[~pos])
    v10_b, v01_b = _delong_components(b[pos], b[~pos])
    auc_a, auc_b = float(v10_a.mean()), float(v10_b.mean())
    if m < 2 or n < 2:
        return auc_a, auc_b, math.nan
    # Var(auc_a - auc_b) = S10/m + S01/n with S the covariances of the components; the variance of
    # the component differences is the same quantity and exactly 0 for equally ranked scores.
    var = float(np.var(v10_a - v10_b, ddof=1) / m + np.var(v01_a - v01_b, ddof=1) / n)
    diff = auc_a - auc_b
    if not var > 0:
        return auc_a, auc_b, 1.0 if abs(diff) < 1e-12 else 0.0
    return auc_a, auc_b, math.erfc(abs(diff) / math.sqrt(2.0 * var))


def delong_test(y_true, scores_a, scores_b):
    """Two-sided DeLong test of AUROC_a == AUROC_b on the same images (Sun & Xu 2014, O(n log n)).

    1-D inputs give floats (auc_a, auc_b, p); (n, C) inputs give three arrays of shape (C,).
    NaN where a class has no positives or negatives (p also NaN with fewer than 2 of either).
    Zero variance (e.g. identical scores, or scores that rank every pair alike) gives p = 1.0
    when the AUROCs are equal and p = 0.0 otherwise.
    """
    one_d = np.ndim(y_true) == 1
    if one_d:
        y_true, scores_a, scores_b = (np.reshape(v, (-1, 1)) for v in (y_true, scores_a, scores_b))
    y, a = check_scores(y_true, scores_a)
    _, b = check_scores(y_true, scores_b)
    results = np.array([_delong_one(y[:, k], a[:, k], b[:, k]) for k in range(y.shape[1])])
    if one_d:
        return tuple(float(v) for v in results[0])
    return results[:, 0], results[:, 1], results[:, 2]
