"""Subgroup AUROC and TPR: equal to the subset alone, undefined below 10 cases, gaps and bands."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bench.evaluation.subgroups import age_band, standard_attributes, subgroups
from bench.metrics import PatientResamples


def _data(n=400, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 150, n)
    y = (rng.random((n, classes)) < 0.3).astype(np.int8)
    s = rng.normal(size=(n, classes)) + y
    view = np.where(rng.random(n) < 0.6, "PA", "AP").astype(object)
    return y, s, groups, view


def test_subgroup_auroc_equals_the_auroc_of_the_subset_alone():
    y, s, groups, view = _data()
    report = subgroups(y, s, groups, {"view": view}, n_resamples=20)
    (attr,) = report.attributes
    assert attr.attribute == "view" and [g.name for g in attr.subgroups] == ["PA", "AP"]
    for g in attr.subgroups:
        rows = view == g.name
        assert g.n_images == rows.sum() and g.n_patients == np.unique(groups[rows]).size
        assert list(g.positives.values()) == y[rows].sum(axis=0).tolist()
        for k, name in enumerate(["class 0", "class 1", "class 2"]):
            assert g.auroc[name].value == pytest.approx(roc_auc_score(y[rows, k], s[rows, k]), abs=1e-12)
            assert g.auroc[name].lo <= g.auroc[name].value <= g.auroc[name].hi
        assert g.mean.value == pytest.approx(np.mean([e.value for e in g.auroc.values()]))
        assert (g.mean.n_classes, g.mean.n_total) == (3, 3)
    assert attr.unassigned == 0


def test_subgroup_intervals_come_from_the_shared_patient_draws():
    y, s, groups, view = _data(seed=1)
    report = subgroups(y, s, groups, {"view": view}, n_resamples=25, seed=4)
    draws = PatientResamples.draw(groups, 25, seed=4)
    weights = draws.counts_t[draws.group_index]  # (n, R): each image's multiplicity
    pa, ap = report.attributes[0].subgroups
    rows = view == "PA"
    resampled = [roc_auc_score(y[rows, 0], s[rows, 0], sample_weight=weights[rows, r]) for r in range(25)]
    first = pa.auroc["class 0"]
    assert (first.lo, first.hi) == pytest.approx(tuple(np.quantile(resampled, [0.025, 0.975])))
    gap = report.attributes[0].auroc_gap["class 0"]
    best, worst = (pa, ap) if pa.auroc["class 0"].value > ap.auroc["class 0"].value else (ap, pa)
    assert (gap.best, gap.worst) == (best.name, worst.name)
    assert gap.value == pytest.approx(best.auroc["class 0"].value - worst.auroc["class 0"].value)
    other = view == worst.name
    diffs = [
        roc_auc_score(y[view == best.name, 0], s[view == best.name, 0], sample_weight=weights[view == best.name, r])
        - roc_auc_score(y[other, 0], s[other, 0], sample_weight=weights[other, r])
        for r in range(25)
    ]
    assert (gap.lo, gap.hi) == pytest.approx(tuple(np.quantile(diffs, [0.025, 0.975])))


def test_nine_positives_are_undefined_and_left_out_of_the_mean():
    rng = np.random.default_rng(2)
    n = 200
    groups = np.arange(n)
    sex = np.array(["M"] * 100 + ["F"] * 100, dtype=object)
    y = np.zeros((n, 2), dtype=np.int8)
    y[:40, 0] = 1  # class 0: 40 positives among M, none among F
    y[:10, 1] = 1  # class 1: 10 positives among M ...
    y[100:109, 1] = 1  # ... and 9 among F
    s = rng.normal(size=(n, 2)) + y
    report = subgroups(y, s, groups, {"sex": sex}, n_resamples=10)
    m, f = report.attributes[0].subgroups
    m0, m1 = m.auroc.values()
    assert m1.value is not None and m1.value == pytest.approx(roc_auc_score(y[:100, 1], s[:100, 1]))
    f0, f1 = f.auroc.values()
    assert f1.value is None and f1.lo is None and f0.value is None
    assert f.positives == {"class 0": 0, "class 1": 9}
    assert f.mean.value is None and (f.mean.n_classes, f.mean.n_total) == (0, 2)
    assert (m.mean.n_classes, str(m.mean)) == (2, f"{np.mean([m0.value, m1.value]):.4f}")
    gap = report.attributes[0].auroc_gap["class 1"]
    assert gap.value is None and gap.best is None  # one defined subgroup: no gap
    assert report.attributes[0].mean_gap.value is None and report.attributes[0].mean_gap_classes == 0


def test_tpr_at_the_operating_points_and_its_gap():
    y, s, groups, view = _data(seed=3)
    cuts = np.array([0.5, 0.0, math.nan])
    report = subgroups(y, s, groups, {"view": view}, thresholds=cuts, n_resamples=20)
    attr = report.attributes[0]
    tprs = {}
    for g in attr.subgroups:
        rows = (view == g.name) & (y[:, 0] == 1)
        tprs[g.name] = (s[rows, 0] >= 0.5).mean()
        first = g.tpr["class 0"]
        assert first.value == pytest.approx(tprs[g.name]) and first.lo <= first.value <= first.hi
        assert g.tpr["class 2"].value is None  # no threshold for class 2
    assert attr.tpr_gap["class 0"].value == pytest.approx(max(tprs.values()) - min(tprs.values()))
    assert attr.tpr_gap["class 2"].value is None
    assert report.thresholds == {"class 0": 0.5, "class 1": 0.0, "class 2": None}


def test_age_bands_and_unassigned_images():
    ages = [0, 19, 19.5, 20, 39, 40, 59, 60, 79, 80, 120, 121, -1, math.nan]
    assert age_band(ages).tolist() == [
        "0-19", "0-19", "0-19", "20-39", "20-39", "40-59", "40-59", "60-79", "60-79", "80+", "80+", "", "", "",
    ]  # fmt: skip
    y, s, groups, view = _data(n=300, seed=5)
    rng = np.random.default_rng(6)
    age = rng.integers(0, 100, 300).astype(float)
    age[:7] = np.nan
    sex = rng.choice(np.array(["M", "F", ""], dtype=object), 300, p=[0.48, 0.48, 0.04])
    report = subgroups(y, s, groups, standard_attributes(view, sex, age), n_resamples=10)
    by_name = {a.attribute: a for a in report.attributes}
    assert [g.name for g in by_name["age"].subgroups] == ["0-19", "20-39", "40-59", "60-79", "80+"]
    assert by_name["age"].unassigned == 7 and by_name["sex"].unassigned == int((sex == "").sum())
    assert [g.name for g in by_name["sex"].subgroups] == ["M", "F"]


def test_bad_input_is_refused():
    y, s, groups, view = _data(n=50)
    with pytest.raises(ValueError, match="attribute 'view' must give one value per image"):
        subgroups(y, s, groups, {"view": view[:10]})
    with pytest.raises(ValueError, match="thresholds must give one value per class"):
        subgroups(y, s, groups, {"view": view}, thresholds=[0.5])
    with pytest.raises(ValueError, match="patient ids"):
        subgroups(y, s, groups[:3], {"view": view})
