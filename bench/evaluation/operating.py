"""Operating points: a threshold per class chosen on validation scores, and the test list's
sensitivity, specificity, PPV, NPV and F1 there.

A score at or above the threshold calls the image positive. The candidate thresholds are the
distinct validation scores; "youden" takes the one maximising sensitivity + specificity - 1,
"f1" the one maximising F1 = 2TP / (2TP + FP + FN). On a tie the higher threshold wins. A class
without positives or without negatives on validation has no threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bench.evaluation.common import Mean, by_class, plain_mean
from bench.metrics import check_scores, class_names

Rule = Literal["youden", "f1"]
RULES: tuple[Rule, ...] = ("youden", "f1")


@dataclass(frozen=True)
class ClassRates:
    """The confusion counts at one class's threshold and the rates read from them (None where a
    rate's denominator is 0; everything None where the class has no threshold)."""

    threshold: float | None
    tp: int | None
    fp: int | None
    tn: int | None
    fn: int | None
    sensitivity: float | None
    specificity: float | None
    ppv: float | None
    npv: float | None
    f1: float | None


@dataclass(frozen=True)
class RulePoints:
    """One rule's thresholds and the test rates at them, per class and averaged over the classes
    where each rate is defined."""

    rule: Rule
    per_class: dict[str, ClassRates]
    sensitivity: Mean
    specificity: Mean
    ppv: Mean
    npv: Mean
    f1: Mean


@dataclass(frozen=True)
class OperatingReport:
    rules: tuple[RulePoints, ...]

    def thresholds(self, rule: Rule = "youden") -> np.ndarray:
        """(C,) the rule's thresholds in class order, NaN where a class has none."""
        (points,) = (r for r in self.rules if r.rule == rule)
        return np.array([np.nan if c.threshold is None else c.threshold for c in points.per_class.values()])


def _candidates(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending, TP, FP at score >= each threshold) over the distinct scores."""
    order = np.argsort(-s, kind="stable")
    s_desc, y_desc = s[order], y[order]
    last = np.r_[s_desc[1:] != s_desc[:-1], True]  # the last image of each run of equal scores
    tp = np.cumsum(y_desc)[last]
    fp = np.cumsum(1 - y_desc)[last]
    return s_desc[last], tp, fp


def choose_thresholds(labels, scores, rule: Rule) -> np.ndarray:
    """(C,) the rule's threshold per class on these (validation) scores; NaN where undefined."""
    if rule not in RULES:
        raise ValueError(f"unknown operating-point rule {rule!r}; choose one of {', '.join(RULES)}")
    y, s = check_scores(labels, scores)
    out = np.full(y.shape[1], np.nan)
    for k in range(y.shape[1]):
        n_pos = int(y[:, k].sum())
        n_neg = y.shape[0] - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        cuts, tp, fp = _candidates(y[:, k].astype(np.int64), s[:, k])
        score = tp / n_pos - fp / n_neg if rule == "youden" else 2 * tp / (tp + fp + n_pos)
        out[k] = cuts[np.argmax(score)]  # the first maximum: candidates run from high to low
    return out


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def rates_at(labels, scores, thresholds) -> dict[str, ClassRates]:
    """Per class: the confusion counts and rates at score >= threshold (NaN: no threshold)."""
    y, s = check_scores(labels, scores)
    cuts = np.asarray(thresholds, dtype=np.float64)
    if cuts.shape != (y.shape[1],):
        raise ValueError(f"thresholds must give one value per class, shape ({y.shape[1]},), got {cuts.shape}")
    out = []
    for k, cut in enumerate(cuts):
        pos = y[:, k] == 1
        if not np.isfinite(cut):
            out.append(ClassRates(None, None, None, None, None, None, None, None, None, None))
            continue
        called = s[:, k] >= cut
        tp, fp = int((called & pos).sum()), int((called & ~pos).sum())
        fn, tn = int(pos.sum()) - tp, int((~pos).sum()) - fp
        out.append(
            ClassRates(
                float(cut),
                tp,
                fp,
                tn,
                fn,
                _ratio(tp, tp + fn),
                _ratio(tn, tn + fp),
                _ratio(tp, tp + fp),
                _ratio(tn, tn + fn),
                _ratio(2 * tp, 2 * tp + fp + fn),
            )
        )
    return by_class(class_names(y.shape[1]), out)


def _mean_of(per_class: dict[str, ClassRates], field: str) -> Mean:
    values = [getattr(c, field) for c in per_class.values()]
    return plain_mean(np.array([np.nan if v is None else v for v in values], dtype=np.float64))


def operating_points(
    val_labels, val_scores, test_labels, test_scores, rules: tuple[Rule, ...] = RULES
) -> OperatingReport:
    """Thresholds chosen on validation by each rule, and the test rates at them."""
    _, val_s = check_scores(val_labels, val_scores)
    test_y, test_s = check_scores(test_labels, test_scores)
    if val_s.shape[1] != test_s.shape[1]:
        raise ValueError(f"validation has {val_s.shape[1]} classes, the test list {test_s.shape[1]}")
    points = []
    for rule in rules:
        per_class = rates_at(test_y, test_s, choose_thresholds(val_labels, val_s, rule))
        points.append(
            RulePoints(
                rule,
                per_class,
                *(_mean_of(per_class, f) for f in ("sensitivity", "specificity", "ppv", "npv", "f1")),
            )
        )
    return OperatingReport(tuple(points))
