"""Operating points: Youden and max-F1 thresholds on a toy ROC, and the rates at them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from bench.evaluation.operating import choose_thresholds, operating_points, rates_at

# Four positives, nine negatives. Calling score >= t positive, from the top:
#   t     TP FP  Youden J = TP/4 - FP/9   F1 = 2TP / (TP + FP + 4)
#   0.9   1  0   0.250                    0.400
#   0.8   2  0   0.500                    0.667
#   0.7   2  1   0.389                    0.571
#   0.6   3  1   0.639                    0.750  <- max F1
#   0.5   3  2   0.528                    0.667
#   0.45  3  3   0.417                    0.600
#   0.4   4  3   0.667  <- max J          0.727
#   0.3   4  4   0.556                    0.667  (and lower: J and F1 fall)
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05])
LABELS = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])


def test_youden_and_f1_thresholds_by_hand():
    assert choose_thresholds(LABELS[:, None], SCORES[:, None], "youden").tolist() == [0.4]
    assert choose_thresholds(LABELS[:, None], SCORES[:, None], "f1").tolist() == [0.6]
    fpr, tpr, cuts = roc_curve(LABELS, SCORES)
    assert cuts[np.argmax(tpr - fpr)] == 0.4  # scikit-learn's ROC agrees


def test_a_tie_takes_the_higher_threshold_and_a_one_sided_class_has_none():
    # J = 0.5 at both 0.9 and 0.7.
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    s = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    cuts = choose_thresholds(y, s, "youden")
    assert cuts[0] == 0.9 and np.isnan(cuts[1])
    with pytest.raises(ValueError, match="unknown operating-point rule 'best'"):
        choose_thresholds(y, s, "best")  # type: ignore[arg-type]


def test_rates_at_the_thresholds_by_hand():
    rates = rates_at(np.stack([LABELS, LABELS], 1), np.stack([SCORES, SCORES], 1), [0.4, 0.6])
    assert list(rates) == ["class 0", "class 1"]
    youden, f1 = rates.values()
    # At 0.4: TP 4, FP 3, TN 6, FN 0.
    assert (youden.tp, youden.fp, youden.tn, youden.fn) == (4, 3, 6, 0)
    assert youden.sensitivity == 1.0 and youden.specificity == pytest.approx(6 / 9)
    assert youden.ppv == pytest.approx(4 / 7) and youden.npv == 1.0 and youden.f1 == pytest.approx(8 / 11)
    # At 0.6: TP 3, FP 1, TN 8, FN 1.
    assert (f1.tp, f1.fp, f1.tn, f1.fn) == (3, 1, 8, 1)
    assert f1.sensitivity == 0.75 and f1.specificity == pytest.approx(8 / 9)
    assert f1.ppv == 0.75 and f1.npv == pytest.approx(8 / 9) and f1.f1 == 0.75


def test_operating_points_choose_on_validation_and_read_the_test_list():
    val_y = np.stack([LABELS, np.zeros_like(LABELS)], 1)  # class 1 has no validation positives
    val_s = np.stack([SCORES, SCORES], 1)
    test_y = np.array([[1, 1], [0, 0], [1, 0], [0, 0]])
    test_s = np.array([[0.95, 0.9], [0.5, 0.1], [0.35, 0.2], [0.1, 0.3]])
    report = operating_points(val_y, val_s, test_y, test_s)
    youden, f1 = report.rules
    assert youden.rule == "youden" and f1.rule == "f1"
    assert report.thresholds("youden")[0] == 0.4 and np.isnan(report.thresholds("youden")[1])
    # Youden 0.4 on the test list: calls 0.95 and 0.5 -> TP 1, FP 1, FN 1, TN 1.
    first, second = youden.per_class.values()
    assert (first.tp, first.fp, first.tn, first.fn) == (1, 1, 1, 1) and first.sensitivity == 0.5
    assert second.threshold is None and second.sensitivity is None and second.tp is None
    assert youden.sensitivity.value == 0.5 and (youden.sensitivity.n_classes, youden.sensitivity.n_total) == (1, 2)
    # max-F1 0.6: calls only 0.95 -> TP 1, FP 0, TN 2, FN 1.
    assert f1.per_class["class 0"].ppv == 1.0 and f1.per_class["class 0"].specificity == 1.0
    with pytest.raises(ValueError, match="3 classes"):
        operating_points(np.zeros((2, 3)), np.zeros((2, 3)), test_y, test_s)


def test_a_rate_without_a_denominator_is_undefined():
    (point,) = rates_at(np.array([[0], [0]]), np.array([[0.1], [0.2]]), [0.5]).values()  # nothing called, no positives
    assert point.sensitivity is None and point.ppv is None and point.f1 is None
    assert point.specificity == 1.0 and point.npv == 1.0
