"""Ranking methods over blocks (folds, seeds, or the classes): the Friedman test, the Nemenyi
post-hoc test and the critical difference, after Demsar (2006).

Within each block the methods are ranked, 1 for the best (ties share their mean rank). The
Friedman test (scipy) asks whether the mean ranks differ at all; the Nemenyi test
(scikit-posthocs) gives a p-value per pair. Two methods differ at level alpha exactly when their
mean ranks are further apart than the critical difference CD = q_alpha * sqrt(k (k + 1) / (6 N)),
q_alpha the studentized range quantile for k groups divided by sqrt(2). Blocks with an undefined
value for any method are left out, and counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.evaluation.common import opt


@dataclass(frozen=True)
class RankedMethod:
    name: str
    mean_rank: float


@dataclass(frozen=True)
class Ranking:
    """The critical-difference table: methods from the best mean rank down, the pairwise Nemenyi
    p-values in that order, and the groups of methods no test tells apart (each a run of
    neighbours whose mean ranks lie within CD, two or more methods, none inside another)."""

    methods: tuple[RankedMethod, ...]
    n_blocks: int
    dropped_blocks: int
    friedman_statistic: float | None  # None when every block ties every method
    friedman_p: float | None
    nemenyi_p: tuple[tuple[float, ...], ...]
    critical_difference: float
    alpha: float
    groups: tuple[tuple[str, ...], ...]

    def differs(self, a: str, b: str) -> bool:
        """Whether the Nemenyi test separates methods a and b at level alpha."""
        names = [m.name for m in self.methods]
        return self.nemenyi_p[names.index(a)][names.index(b)] < self.alpha


def critical_difference(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """The Nemenyi critical difference of mean ranks for k methods over n_blocks blocks."""
    from scipy.stats import studentized_range

    q = studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6 * n_blocks)))


def _groups(names: list[str], ranks: np.ndarray, cd: float) -> tuple[tuple[str, ...], ...]:
    """Maximal runs of neighbours (ranks ascending) spanning at most `cd`, of two or more."""
    out: list[tuple[int, int]] = []
    for i in range(len(names)):
        j = i
        while j + 1 < len(names) and ranks[j + 1] - ranks[i] <= cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in out):
            out.append((i, j))
    return tuple(tuple(names[i : j + 1]) for i, j in out)


def rank_methods(values, names: Sequence[str], *, alpha: float = 0.05, higher_is_better: bool = True) -> Ranking:
    """`values` (blocks, k methods): one score per block and method (NaN where undefined)."""
    import scikit_posthocs
    from scipy.stats import friedmanchisquare, rankdata

    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != len(names):
        raise ValueError(f"values must have shape (blocks, {len(names)}) for {len(names)} methods, got {v.shape}")
    if len(set(names)) != len(names):
        raise ValueError("method names must be distinct")
    if v.shape[1] < 3:
        raise ValueError(f"the Friedman test ranks at least 3 methods, got {v.shape[1]}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    complete = np.isfinite(v).all(axis=1)
    v = v[complete]
    if v.shape[0] < 2:
        raise ValueError(f"the Friedman test needs at least 2 blocks with every method defined, got {v.shape[0]}")
    ranks = rankdata(-v if higher_is_better else v, axis=1, method="average").mean(axis=0)
    order = np.argsort(ranks, kind="stable")
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic, p = friedmanchisquare(*v.T)
    nemenyi = scikit_posthocs.posthoc_nemenyi_friedman(v).to_numpy()[np.ix_(order, order)]
    cd = critical_difference(v.shape[1], v.shape[0], alpha)
    ordered = [names[i] for i in order]
    return Ranking(
        tuple(RankedMethod(names[i], float(ranks[i])) for i in order),
        int(v.shape[0]),
        int((~complete).sum()),
        opt(statistic),
        opt(p),
        tuple(tuple(float(x) for x in row) for row in nemenyi),
        cd,
        alpha,
        _groups(ordered, ranks[order], cd),
    )
