"""Calibration: ECE over equal-mass bins, the Brier score, reliability bins and their bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from bench.evaluation.calibration import (
    NotProbabilities,
    brier_score,
    calibration,
    equal_mass_bins,
    expected_calibration_error,
    probability_problem,
)
from bench.metrics import PatientResamples

# Ten points, given out of order: sorted scores 0.1 .. 0.95 with labels 0 0 1 0 1 0 1 1 1 1.
SCORES = np.array([0.7, 0.1, 0.95, 0.4, 0.5, 0.2, 0.9, 0.3, 0.8, 0.6])
LABELS = np.array([1, 0, 1, 0, 1, 0, 1, 1, 1, 0])


def test_ece_by_hand_on_ten_points():
    # Five bins of two (sorted pairs): |sum(y - s)| = |0 - 0.3|, |1 - 0.7|, |1 - 1.1|, |2 - 1.5|,
    # |2 - 1.85| = 0.3 + 0.3 + 0.1 + 0.5 + 0.15 = 1.35 over 10 images.
    ece5 = expected_calibration_error(LABELS[:, None], SCORES[:, None], n_bins=5)
    assert ece5 == pytest.approx([0.135], abs=1e-12)
    # Fifteen bins for ten points: every point alone, so ECE = mean |y - s| = 3.15 / 10.
    ece15 = expected_calibration_error(LABELS[:, None], SCORES[:, None])
    assert ece15 == pytest.approx([0.315], abs=1e-12)
    # One bin: |sum(y) - sum(s)| / n = |6 - 5.45| / 10.
    assert expected_calibration_error(LABELS[:, None], SCORES[:, None], n_bins=1) == pytest.approx([0.055])


def test_brier_by_hand():
    # (s - y)^2: 0.09 0.01 0.0025 0.16 0.25 0.04 0.01 0.49 0.04 0.36, sum 1.4525.
    assert brier_score(LABELS[:, None], SCORES[:, None]) == pytest.approx([0.14525], abs=1e-12)


def test_equal_mass_bins_split_ranks_evenly_and_keep_ties_together():
    assert equal_mass_bins(SCORES, 5).tolist() == [3, 0, 4, 1, 2, 0, 4, 1, 3, 2]
    tied = np.array([0.2, 0.2, 0.2, 0.2, 0.9, 0.9])
    bins = equal_mass_bins(tied, 3)  # cuts at ranks 2 and 4: the scores 0.2 and 0.9
    assert bins.tolist() == [1, 1, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="n_bins"):
        equal_mass_bins(SCORES, 0)


def test_ece_is_near_zero_for_calibrated_draws_and_not_for_distorted_ones():
    rng = np.random.default_rng(0)
    s = rng.random((20_000, 2))
    y = (rng.random(s.shape) < s).astype(np.int8)  # y ~ Bernoulli(s): calibrated by construction
    ece = expected_calibration_error(y, s)
    assert np.all(ece < 0.02)
    assert np.all(expected_calibration_error(y, s**3) > 0.15)  # the same ranking, overconfident low


def test_calibration_report_bins_intervals_and_means():
    rng = np.random.default_rng(1)
    n = 300
    groups = rng.integers(0, 120, n)
    s = rng.random((n, 3))
    y = (rng.random(s.shape) < s**2).astype(np.int8)
    report = calibration(y, s, groups, n_bins=5, n_resamples=40, seed=3)
    assert list(report.per_class) == ["class 0", "class 1", "class 2"]
    ece, brier = expected_calibration_error(y, s, 5), brier_score(y, s)
    for k, result in enumerate(report.per_class.values()):
        assert result.ece.value == pytest.approx(ece[k]) and result.brier.value == pytest.approx(brier[k])
        assert result.ece.lo <= result.ece.value <= result.ece.hi
        assert [b.n for b in result.bins] == [60] * 5
        first = np.argsort(s[:, k])[:60]
        assert result.bins[0].mean_score == pytest.approx(s[first, k].mean())
        assert result.bins[0].observed == pytest.approx(y[first, k].mean())
        assert result.bins[0].hi <= result.bins[1].lo
    assert report.mean_ece.value == pytest.approx(ece.mean()) and report.mean_ece.n_classes == 3
    assert report.mean_brier.value == pytest.approx(brier.mean())


def test_bootstrap_ece_is_the_weighted_ece_of_each_resample():
    """The vectorised resamples equal ECE recomputed with each image repeated as often as its
    patient was drawn (the test list's bin cuts kept)."""
    rng = np.random.default_rng(2)
    n = 80
    groups = rng.integers(0, 25, n)
    s = rng.random((n, 1))
    y = (rng.random(s.shape) < s).astype(np.int8)
    report = calibration(y, s, groups, n_bins=4, n_resamples=30, seed=5)
    counts_t = PatientResamples.draw(groups, 30, seed=5)
    weights = counts_t.counts_t[counts_t.group_index]  # (n, R)
    bins = equal_mass_bins(s[:, 0], 4)
    expected = []
    for r in range(30):
        w = weights[:, r]
        per_bin = np.bincount(bins, weights=w * (y[:, 0] - s[:, 0]), minlength=4)
        expected.append(np.abs(per_bin).sum() / w.sum())
    lo, hi = np.quantile(expected, [0.025, 0.975])
    result = report.per_class["class 0"].ece
    assert result.lo == pytest.approx(lo) and result.hi == pytest.approx(hi)


def test_scores_that_are_not_probabilities_are_refused_in_one_line():
    assert probability_problem(SCORES) is None
    problem = probability_problem(np.array([[-1.5, 0.2], [0.3, 2.0]]))
    assert problem == "scores are not probabilities: 2 of 4 lie outside [0, 1] (from -1.5 to 2)"
    assert "not finite" in probability_problem(np.array([np.nan, 0.5]))
    with pytest.raises(NotProbabilities, match="outside"):
        calibration(np.array([[0], [1]]), np.array([[0.5], [3.0]]), [1, 2], n_resamples=5)
