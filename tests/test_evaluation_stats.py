"""Seeds, multiple-comparison corrections and rankings: hand-computed values and the libraries'."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench.evaluation.multiple import CORRECTIONS, adjust_pvalues
from bench.evaluation.ranking import critical_difference, rank_methods
from bench.evaluation.seeds import SeedComparison, SeedSummary, normal_p, seed_bootstrap_diff, summarize_seeds
from bench.metrics import paired_bootstrap_diff
from bench.schema import decode, encode


def test_seed_summary_by_hand():
    values = [[0.8, math.nan], [0.9, 0.7], [0.7, 0.6]]
    summary = summarize_seeds(values, names=["a", "b"])
    assert summary.n_seeds == 3 and summary.count == {"a": 3, "b": 2}
    assert summary.mean == pytest.approx({"a": 0.8, "b": 0.65})
    assert summary.std == pytest.approx({"a": 0.1, "b": math.sqrt(0.005)})
    # Only class a is defined in every seed: the average is its mean over seeds.
    assert (summary.average, summary.average_std, summary.average_classes) == pytest.approx((0.8, 0.1, 1))
    assert decode(SeedSummary, json.loads(json.dumps(encode(summary))), source="seeds") == summary
    one = summarize_seeds([[0.8, 0.6]])
    assert (
        one.std == {"class 0": None, "class 1": None} and one.average == pytest.approx(0.7) and one.average_std is None
    )


def _runs(seed=0, n=240, classes=3):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 90, n)
    y = (rng.random((n, classes)) < 0.3).astype(np.int8)
    good = [rng.normal(size=(n, classes)) + 1.5 * y for _ in range(3)]
    weak = [rng.normal(size=(n, classes)) + 0.3 * y for _ in range(2)]
    return y, groups, good, weak


def test_one_seed_each_is_the_paired_patient_bootstrap():
    y, groups, good, weak = _runs()
    got = seed_bootstrap_diff(y, good[:1], weak[:1], groups, n_resamples=60, seed=2)
    expected = paired_bootstrap_diff(y, good[0], weak[0], groups, n_resamples=60, seed=2)
    assert [d.value for d in got.diff.values()] == pytest.approx(expected.point.tolist())
    assert [d.lo for d in got.diff.values()] == pytest.approx(expected.lo.tolist())
    assert [d.hi for d in got.diff.values()] == pytest.approx(expected.hi.tolist())
    assert (got.mean.lo, got.mean.hi) == pytest.approx((expected.mean_lo, expected.mean_hi))


def test_seed_bootstrap_difference_p_values():
    y, groups, good, weak = _runs(seed=1)
    result = seed_bootstrap_diff(y, good, weak, groups, n_resamples=200)
    assert (result.n_seeds_a, result.n_seeds_b) == (3, 2)
    from bench.metrics import per_class_auroc

    point = np.mean([per_class_auroc(y, s) for s in good], 0) - np.mean([per_class_auroc(y, s) for s in weak], 0)
    assert [d.value for d in result.diff.values()] == pytest.approx(point.tolist())
    assert all(d.lo > 0 for d in result.diff.values())  # clearly better on every class
    # No resample lies at or below 0; the normal approximation goes below a count's floor, 2/201.
    assert all(p < 1e-3 for p in result.p.values()) and result.mean_p < 1e-10
    # So they pass Holm's correction over a table's 28 tests (a count's floor x 28 would be 0.279).
    assert adjust_pvalues(np.resize(list(result.p.values()), 28), "holm").max() < 0.05
    assert decode(SeedComparison, json.loads(json.dumps(encode(result))), source="comparison") == result
    same = seed_bootstrap_diff(y, good, good, groups, n_resamples=50)
    assert same.mean_p == 1.0 and set(same.p.values()) == {1.0}  # a difference of exactly 0
    with pytest.raises(ValueError, match="at least one run"):
        seed_bootstrap_diff(y, [], weak, groups)


def test_normal_approximation_p_value_by_hand():
    # Resamples -1, 0, 1: sample sd (ddof=1) 1, so z is the point itself: p = 2 (1 - Phi(|z|)).
    samples = np.array([[-1.0, -1.0, -1.0, 0.0, 5.0], [0.0, 0.0, 0.0, 0.0, 5.0], [1.0, 1.0, 1.0, 0.0, math.nan]])
    p = normal_p([2.0, -1.0, 0.0, 0.5, math.nan], samples)
    # Phi(2) = 0.97724987, Phi(1) = 0.84134475; no spread: 0 for a difference, 1 for none; undefined point.
    np.testing.assert_allclose(p[:4], [2 * (1 - 0.97724987), 2 * (1 - 0.84134475), 1.0, 0.0], atol=1e-6)
    assert math.isnan(p[4])
    # z = 4 / sd(2, 4, 6) = 4 / 2 = 2 again, whatever the bootstrap's own mean; a NaN resample drops out.
    assert normal_p([4.0], np.array([[2.0], [math.nan], [4.0], [6.0]]))[0] == pytest.approx(
        2 * (1 - 0.97724987), abs=1e-7
    )
    assert math.isnan(normal_p([1.0], np.array([[1.0], [math.nan]]))[0])  # one valid resample: no spread


def test_holm_and_benjamini_hochberg_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005 0.01 0.03 0.04 times 4 3 2 1 = 0.02 0.03 0.06 0.04, then running max.
    assert adjust_pvalues(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: p(i) * 4 / i = 0.02 0.02 0.04 0.04, then running min from the largest.
    assert adjust_pvalues(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_pvalues(p, "none") == pytest.approx(p)
    assert adjust_pvalues([0.5, 0.9], "holm") == pytest.approx([1.0, 1.0])  # capped at 1


def test_corrections_keep_the_shape_and_skip_undefined_tests():
    table = np.array([[0.01, math.nan], [0.04, 0.03], [0.005, math.nan]])  # classes x columns
    holm = adjust_pvalues(table, "holm")
    assert holm.shape == (3, 2) and np.isnan(holm[0, 1]) and np.isnan(holm[2, 1])
    assert holm[~np.isnan(holm)] == pytest.approx([0.03, 0.06, 0.06, 0.02])  # a family of 4, not 6
    assert np.isnan(adjust_pvalues([math.nan], "bh")).all()
    with pytest.raises(ValueError, match="unknown correction 'bonferroni'; choose one of holm, bh, none"):
        adjust_pvalues([0.1], "bonferroni")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        adjust_pvalues([1.5], "holm")
    assert CORRECTIONS == ("holm", "bh", "none")


def test_friedman_by_hand():
    # Four blocks that all rank A > B > C: chi2 = 12 N / (k (k + 1)) * sum(R^2) - 3 N (k + 1)
    # = 12 * 4 / 12 * (1 + 4 + 9) - 48 = 8, two degrees of freedom: p = exp(-8 / 2).
    values = [[0.9, 0.8, 0.7], [0.8, 0.7, 0.6], [0.95, 0.9, 0.5], [0.7, 0.6, 0.55]]
    ranking = rank_methods(values, ["A", "B", "C"])
    assert [(m.name, m.mean_rank) for m in ranking.methods] == [("A", 1.0), ("B", 2.0), ("C", 3.0)]
    assert ranking.friedman_statistic == pytest.approx(8.0) and ranking.friedman_p == pytest.approx(math.exp(-4))
    lower = rank_methods(values, ["A", "B", "C"], higher_is_better=False)
    assert [m.name for m in lower.methods] == ["C", "B", "A"]


def test_critical_difference_is_demsars():
    # Demsar (2006), section 3.2.2: four classifiers over 14 data sets, q_0.05 = 2.569, CD = 1.25.
    assert critical_difference(4, 14, 0.05) == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 14)), abs=1e-3)
    assert critical_difference(4, 14, 0.10) == pytest.approx(2.291 * math.sqrt(4 * 5 / (6 * 14)), abs=1e-3)


def test_the_cd_table_against_scikit_posthocs():
    import scikit_posthocs

    rng = np.random.default_rng(0)
    names = ["w", "x", "y", "z", "v"]
    values = rng.random((14, 5)) + np.array([0.0, 0.5, 0.1, 0.9, 0.45])
    values[3, 2] = np.nan  # an undefined block is left out
    ranking = rank_methods(values, names)
    assert (ranking.n_blocks, ranking.dropped_blocks) == (13, 1)
    complete = values[~np.isnan(values).any(axis=1)]
    library = scikit_posthocs.posthoc_nemenyi_friedman(complete).to_numpy()
    order = [names.index(m.name) for m in ranking.methods]
    np.testing.assert_allclose(np.array(ranking.nemenyi_p), library[np.ix_(order, order)], rtol=1e-12)
    # The library's p-values and the critical difference separate exactly the same pairs.
    for a in ranking.methods:
        for b in ranking.methods:
            if a is not b:
                assert ranking.differs(a.name, b.name) == (abs(a.mean_rank - b.mean_rank) > ranking.critical_difference)
    # Groups: runs of neighbours within CD, none inside another, every pair in one not separated.
    for group in ranking.groups:
        assert len(group) >= 2
        assert all(not ranking.differs(a, b) for a in group for b in group if a != b)
    ranks = [m.mean_rank for m in ranking.methods]
    assert ranks == sorted(ranks) and ranking.methods[0].name == "z"


def test_ranking_input_is_checked():
    with pytest.raises(ValueError, match="at least 3 methods"):
        rank_methods([[0.1, 0.2], [0.3, 0.4]], ["a", "b"])
    with pytest.raises(ValueError, match="at least 2 blocks"):
        rank_methods([[0.1, 0.2, math.nan], [0.3, 0.4, 0.5]], ["a", "b", "c"])
    with pytest.raises(ValueError, match="distinct"):
        rank_methods([[0.1, 0.2, 0.3]] * 2, ["a", "a", "c"])
    ties = rank_methods([[0.5, 0.5, 0.5]] * 3, ["a", "b", "c"])
    assert ties.friedman_p is None and all(m.mean_rank == 2.0 for m in ties.methods)
