"""AUROC/AUPRC, undefined classes, the weighted-AUROC bootstrap kernel, patient bootstrap, DeLong."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bench.metrics import (
    MeanValue,
    UndefinedClassWarning,
    bootstrap_ci,
    delong_test,
    mean_defined,
    paired_bootstrap_diff,
    per_class_auprc,
    per_class_auroc,
    weighted_auroc,
)


def _scored(n_patients, images_per_patient=1, classes=14, seed=0, signal=1.0, tie_decimals=None):
    """Labels, scores that carry signal, and a patient id per image."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_patients), images_per_patient)
    n = groups.size
    y = (rng.random((n, classes)) < 0.3).astype(np.int8)
    scores = rng.normal(size=(n, classes)) + signal * y
    if tie_decimals is not None:
        scores = np.round(scores, tie_decimals)
    return y, scores, groups


def test_auroc_and_auprc_by_hand():
    # positives score 0.8, 0.4; negatives 0.6, 0.2 -> pairs (0.8>0.6, 0.8>0.2, 0.4<0.6, 0.4>0.2): 3/4
    # ranking 0.8(+) 0.6(-) 0.4(+) 0.2(-): precision 1 at recall 1/2, 2/3 at recall 1 -> AP = (1 + 2/3)/2
    y = np.array([[1], [0], [1], [0]])
    s = np.array([[0.8], [0.6], [0.4], [0.2]])
    assert per_class_auroc(y, s) == pytest.approx([0.75])
    assert per_class_auprc(y, s) == pytest.approx([5 / 6])


def test_class_without_positives_is_nan_and_named():
    y, scores, _ = _scored(50)
    y[:, 13] = 0  # no Hernia positives
    auroc = per_class_auroc(y, scores)
    assert np.isnan(auroc[13]) and not np.isnan(auroc[:13]).any()
    assert np.isnan(per_class_auprc(y, scores)[13])
    with pytest.warns(UndefinedClassWarning, match=r"undefined for Hernia .*13 of 14"):
        mean = mean_defined(auroc)
    assert mean.n_defined == 13 and mean.n_total == 14 and mean.undefined == ("Hernia",)
    assert mean.value == pytest.approx(np.mean(auroc[:13]))
    assert str(mean) == f"{mean.value:.4f} (13/14)"
    assert str(MeanValue(0.83124, 13, 14)) == "0.8312 (13/14)"


def test_mean_of_all_defined_classes_is_plain_and_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean = mean_defined(np.full(14, 0.83124))
    assert str(mean) == "0.8312" and mean.undefined == ()
    with pytest.warns(UndefinedClassWarning, match="class 1"):
        assert str(mean_defined([0.5, math.nan, 0.7])) == "0.6000 (2/3)"


def test_inputs_are_validated():
    with pytest.raises(ValueError, match="shape"):
        per_class_auroc(np.zeros((4, 14)), np.zeros((4, 13)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        per_class_auroc(np.full((4, 1), 2), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="finite"):
        per_class_auroc(np.array([[0], [1]]), np.array([[0.1], [np.nan]]))
    with pytest.raises(ValueError, match="patient id per image"):
        bootstrap_ci(np.array([[0], [1]]), np.array([[0.1], [0.2]]), groups=[1])


def test_weighted_auroc_equals_sklearn_on_repeated_rows_with_ties():
    rng = np.random.default_rng(1)
    n = 60
    y = (rng.random(n) < 0.4).astype(int)
    s = np.round(rng.normal(size=n) + y, 1)  # one decimal: many ties, within and across classes
    assert np.unique(s).size < n
    weights = rng.integers(0, 4, size=(5, n))
    got = weighted_auroc(y, s, weights)
    for row, w in zip(got, weights):
        expected = roc_auc_score(np.repeat(y, w), np.repeat(s, w))
        assert row == pytest.approx(expected, abs=1e-12)
        assert row == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
    assert weighted_auroc(y, s, np.ones(n, dtype=int)) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_weighted_auroc_is_nan_when_a_weighting_drops_a_class():
    y = np.array([1, 0, 1, 0])
    s = np.array([0.8, 0.6, 0.4, 0.2])
    assert np.isnan(weighted_auroc(y, s, np.array([0, 1, 0, 1])))  # no positive left
    with pytest.raises(ValueError, match="non-negative integers"):
        weighted_auroc(y, s, np.array([0.5, 1, 1, 1]))


def test_bootstrap_contains_the_point_and_shrinks_with_more_patients():
    small = bootstrap_ci(*_scored(100), n_resamples=300, seed=3)
    large = bootstrap_ci(*_scored(2000), n_resamples=300, seed=3)
    for result in (small, large):
        assert np.all(result.lo <= result.point) and np.all(result.point <= result.hi)
        assert result.mean_lo <= result.mean <= result.mean_hi
        assert np.all(result.n_valid == 300) and result.mean_n_valid == 300
    np.testing.assert_allclose(small.point, per_class_auroc(*_scored(100)[:2]))
    # Interval width ~ 1/sqrt(n): 20x the patients, about 4.5x narrower.
    assert np.all(large.hi - large.lo < 0.5 * (small.hi - small.lo))
    assert large.mean_hi - large.mean_lo < 0.5 * (small.mean_hi - small.mean_lo)


def test_bootstrap_is_seeded():
    data = _scored(80, tie_decimals=1)
    a, b = bootstrap_ci(*data, n_resamples=50, seed=7), bootstrap_ci(*data, n_resamples=50, seed=7)
    np.testing.assert_array_equal(a.lo, b.lo)
    assert not np.array_equal(a.lo, bootstrap_ci(*data, n_resamples=50, seed=8).lo)


def test_bootstrap_resamples_patients_not_images():
    # Copying every image 5 times inside its patient changes nothing for a patient bootstrap
    # (each resample's weights are scaled by 5), while an image bootstrap wrongly gets narrower.
    y, s, groups = _scored(150, classes=3, seed=2)
    copies = 5
    y5, s5, groups5 = np.repeat(y, copies, axis=0), np.repeat(s, copies, axis=0), np.repeat(groups, copies)
    once = bootstrap_ci(y, s, groups, n_resamples=200, seed=0)
    by_patient = bootstrap_ci(y5, s5, groups5, n_resamples=200, seed=0)
    by_image = bootstrap_ci(y5, s5, np.arange(groups5.size), n_resamples=200, seed=0)
    np.testing.assert_allclose(by_patient.lo, once.lo, atol=1e-12)
    np.testing.assert_allclose(by_patient.hi, once.hi, atol=1e-12)
    assert np.all(by_image.hi - by_image.lo < 0.7 * (once.hi - once.lo))


def test_bootstrap_with_a_rare_class_counts_valid_resamples():
    y, s, groups = _scored(60, classes=2)
    y[:, 1] = 0
    y[0, 1] = 1  # one positive: resamples that miss patient 0 leave class 1 undefined
    result = bootstrap_ci(y, s, groups, n_resamples=200, level=0.9)
    assert 0 < result.n_valid[1] < 200 and result.n_valid[0] == 200
    assert result.mean_n_valid == result.n_valid[1]
    assert np.all(np.isfinite(result.lo))


def _brute_force_delong(y, a, b):
    """DeLong by explicit pairwise comparison: psi = 1 if x > y, 0.5 if tied, else 0."""
    pos, neg = y == 1, y == 0
    comps = []
    for s in (a, b):
        diff = s[pos][:, None] - s[neg][None, :]
        psi = (diff > 0) + 0.5 * (diff == 0)
        comps.append((psi.mean(axis=1), psi.mean(axis=0)))  # V10 (per positive), V01 (per negative)
    aucs = [v10.mean() for v10, _ in comps]
    s10 = np.cov(np.stack([comps[0][0], comps[1][0]]))
    s01 = np.cov(np.stack([comps[0][1], comps[1][1]]))
    cov = s10 / pos.sum() + s01 / neg.sum()
    z = (aucs[0] - aucs[1]) / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return aucs[0], aucs[1], math.erfc(abs(z) / math.sqrt(2))


@pytest.mark.parametrize("seed, decimals", [(0, None), (1, 1), (2, 0)])
def test_delong_matches_brute_force_including_ties(seed, decimals):
    rng = np.random.default_rng(seed)
    n = 300
    y = (rng.random(n) < 0.3).astype(int)
    a = rng.normal(size=n) + 1.2 * y
    b = a + rng.normal(scale=1.0, size=n)
    if decimals is not None:
        a, b = np.round(a, decimals), np.round(b, decimals)
    auc_a, auc_b, p = delong_test(y, a, b)
    expected = _brute_force_delong(y, a, b)
    assert (auc_a, auc_b, p) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert auc_a == pytest.approx(roc_auc_score(y, a)) and auc_b == pytest.approx(roc_auc_score(y, b))
    assert 0 < p < 1


def test_delong_per_class_and_degenerate_cases():
    y, s, _ = _scored(200, classes=3, seed=4)
    other = s + np.random.default_rng(5).normal(size=s.shape)
    y[:, 2] = 0
    auc_a, auc_b, p = delong_test(y, s, other)
    assert auc_a.shape == (3,)
    assert auc_a[0] == pytest.approx(delong_test(y[:, 0], s[:, 0], other[:, 0])[0])
    assert np.isnan(auc_a[2]) and np.isnan(p[2])
    # Identical scores: zero variance, equal AUROCs -> p = 1.
    assert delong_test(y[:, 0], s[:, 0], s[:, 0])[2] == 1.0
    # A monotone transform ranks every pair alike: also p = 1.
    assert delong_test(y[:, 0], s[:, 0], np.exp(s[:, 0]))[2] == 1.0
    # A perfect model against a constant one: zero variance, different AUROCs -> p = 0.
    perfect = y[:, 0].astype(float)
    assert delong_test(y[:, 0], perfect, np.zeros(len(perfect))) == (1.0, 0.5, 0.0)


def test_paired_bootstrap_difference():
    y, s, groups = _scored(400, images_per_patient=2, classes=3, seed=6)
    noisy = s + np.random.default_rng(7).normal(scale=2.0, size=s.shape)
    result = paired_bootstrap_diff(y, s, noisy, groups, n_resamples=300)
    np.testing.assert_allclose(result.point, per_class_auroc(y, s) - per_class_auroc(y, noisy))
    assert np.all(result.lo > 0)  # the noisy copy is clearly worse on every class
    assert np.all(result.lo <= result.point) and np.all(result.point <= result.hi)
    same = paired_bootstrap_diff(y, s, s, groups, n_resamples=50)
    np.testing.assert_array_equal(same.lo, 0.0)
    np.testing.assert_array_equal(same.hi, 0.0)
    assert same.mean == 0.0


def test_patient_resamples_weight_each_image_by_its_patients_draws():
    from bench.metrics import _patient_resamples, _resampled_aurocs

    y, s, _ = _scored(40, classes=2, seed=8, tie_decimals=1)
    groups = np.random.default_rng(9).integers(100, 130, size=len(y))  # uneven patients, unsorted ids
    group_index, counts_t = _patient_resamples(groups, len(y), 70, seed=1)  # 70 > one chunk of 64
    assert np.all(counts_t.sum(axis=0) == np.unique(groups).size)  # as many draws as patients
    samples = _resampled_aurocs(y.astype(np.int8), s, group_index, counts_t)
    for r in (0, 63, 64, 69):
        weights = counts_t[group_index, r]
        for k in range(2):
            assert samples[r, k] == pytest.approx(roc_auc_score(y[:, k], s[:, k], sample_weight=weights), abs=1e-12)
