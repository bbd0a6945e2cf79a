"""AUROC and true-positive rate by subgroup (view, sex, age band), with the gap between the best
and the worst subgroup of each attribute.

One set of patient resamples, drawn over the whole test list, serves every subgroup and
attribute, so a gap's interval comes from the same draws as the two AUROCs it subtracts. A
subgroup with fewer than `min_cases` positives or negatives for a class is undefined for that
class: its value is None and it enters no mean and no gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.evaluation.common import (
    LEVEL,
    N_RESAMPLES,
    Estimate,
    Mean,
    by_class,
    check_inputs,
    check_resampling,
    estimates,
    mean_estimate,
    mean_samples,
    opt,
)
from bench.metrics import PatientResamples, class_names, per_class_auroc, percentile_interval

MIN_CASES = 10
VIEWS: tuple[str, ...] = ("PA", "AP")
SEXES: tuple[str, ...] = ("M", "F")
# (name, youngest age in years): a band runs up to the next band's youngest age. Ages above
# MAX_AGE are recording errors and get no band.
AGE_BANDS: tuple[tuple[str, int], ...] = (("0-19", 0), ("20-39", 20), ("40-59", 40), ("60-79", 60), ("80+", 80))
MAX_AGE = 120
# The subgroups of the standard attributes, in display order.
STANDARD_ORDER: dict[str, tuple[str, ...]] = {
    "view": VIEWS,
    "sex": SEXES,
    "age": tuple(name for name, _ in AGE_BANDS),
}


@dataclass(frozen=True)
class Subgroup:
    """One subgroup's per-class AUROC (and TPR at the operating points) with intervals, keyed by class."""

    name: str
    n_images: int
    n_patients: int
    positives: dict[str, int]
    auroc: dict[str, Estimate]
    mean: Mean
    tpr: dict[str, Estimate] = field(default_factory=dict)  # empty without operating points


@dataclass(frozen=True)
class Gap:
    """The best subgroup's value minus the worst's, both chosen on the whole test list, with the
    interval of that difference over the resamples; None where fewer than two subgroups are defined."""

    best: str | None
    worst: str | None
    value: float | None
    lo: float | None
    hi: float | None


@dataclass(frozen=True)
class AttributeSubgroups:
    """The subgroups of one attribute and the gaps between them.

    `mean_gap` compares the subgroups' mean AUROC over the `mean_gap_classes` classes defined in
    every subgroup; `unassigned` counts images without a value in any of the subgroups.
    """

    attribute: str
    subgroups: tuple[Subgroup, ...]
    unassigned: int
    auroc_gap: dict[str, Gap]
    mean_gap: Gap
    mean_gap_classes: int
    tpr_gap: dict[str, Gap] = field(default_factory=dict)


@dataclass(frozen=True)
class SubgroupReport:
    attributes: tuple[AttributeSubgroups, ...]
    min_cases: int
    level: float
    n_resamples: int
    seed: int
    thresholds: dict[str, float | None] = field(default_factory=dict)  # the operating points the TPRs are read at


def age_band(ages) -> np.ndarray:
    """Each age's band name ("0-19" ... "80+"); "" for a missing, negative or implausible (> 120) age."""
    ages = np.asarray(ages, dtype=np.float64)
    out = np.full(ages.shape, "", dtype=object)
    valid = (ages >= 0) & (ages <= MAX_AGE)  # False for NaN
    band = np.searchsorted([youngest for _, youngest in AGE_BANDS], ages[valid], side="right") - 1
    out[valid] = np.array([name for name, _ in AGE_BANDS], dtype=object)[band]
    return out


def standard_attributes(view, sex, age) -> dict[str, np.ndarray]:
    """The dataset index's view, sex and age columns as the attributes `subgroups` takes."""
    return {"view": np.asarray(view, dtype=object), "sex": np.asarray(sex, dtype=object), "age": age_band(age)}


def subgroups(
    labels,
    scores,
    patient_ids,
    attributes: Mapping[str, Sequence | np.ndarray],
    *,
    order: Mapping[str, Sequence[str]] | None = None,
    thresholds=None,
    min_cases: int = MIN_CASES,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> SubgroupReport:
    """Per attribute (e.g. `standard_attributes(...)`), per subgroup and class: AUROC with its
    patient-bootstrap interval, the mean over the subgroup's defined classes, and the gaps.

    `order` names each attribute's subgroups in display order (default: STANDARD_ORDER for the
    standard attributes, else the sorted distinct values); images whose value is not one of them
    are left out of that attribute. `thresholds` (C,) adds each subgroup's true-positive rate at
    score >= threshold and the TPR gap (NaN thresholds: undefined for that class).
    """
    check_resampling(n_resamples, level)
    if min_cases < 1:
        raise ValueError(f"min_cases must be at least 1, got {min_cases}")
    y, s, groups = check_inputs(labels, scores, patient_ids)
    cuts = None
    if thresholds is not None:
        cuts = np.asarray(thresholds, dtype=np.float64)
        if cuts.shape != (y.shape[1],):
            raise ValueError(f"thresholds must give one value per class, shape ({y.shape[1]},), got {cuts.shape}")
    data = _Data(class_names(y.shape[1]), y, s, groups, PatientResamples.draw(groups, n_resamples, seed=seed), cuts)
    order = {**STANDARD_ORDER, **(order or {})}
    results = []
    for attribute, values in attributes.items():
        values = np.asarray(values, dtype=object)
        if values.shape != (y.shape[0],):
            raise ValueError(
                f"attribute {attribute!r} must give one value per image, shape ({y.shape[0]},), got {values.shape}"
            )
        present = sorted({str(v) for v in values if isinstance(v, str) and v})
        wanted = tuple(order.get(attribute, present))
        results.append(_attribute(attribute, values, wanted, data, min_cases, level))
    thresholds_out = {} if cuts is None else by_class(data.names, (opt(t) for t in cuts))
    return SubgroupReport(tuple(results), min_cases, level, n_resamples, seed, thresholds_out)


@dataclass(frozen=True, eq=False)
class _Data:
    """The checked inputs every subgroup reads."""

    names: tuple[str, ...]
    y: np.ndarray
    s: np.ndarray
    groups: np.ndarray
    resamples: PatientResamples
    cuts: np.ndarray | None


@dataclass(frozen=True, eq=False)
class _Computed:
    subgroup: Subgroup
    auroc_point: np.ndarray  # (C,) NaN where undefined
    auroc_samples: np.ndarray  # (R, C)
    tpr_point: np.ndarray  # (C,) all NaN without thresholds
    tpr_samples: np.ndarray  # (R, C)


def _attribute(attribute, values, wanted, data: _Data, min_cases, level) -> AttributeSubgroups:
    n_classes = len(data.names)
    computed = [_subgroup(name, values == name, data, min_cases, level) for name in wanted]
    unassigned = int(data.y.shape[0] - sum(c.subgroup.n_images for c in computed))
    auroc_points = np.array([c.auroc_point for c in computed]).reshape(len(computed), n_classes)
    auroc_samples = [c.auroc_samples for c in computed]
    auroc_gap = by_class(data.names, _gaps(wanted, auroc_points, auroc_samples, level))
    common = np.isfinite(auroc_points).all(axis=0) if computed else np.zeros(n_classes, dtype=bool)
    means = [mean_samples(p, smp, common) for p, smp in zip(auroc_points, auroc_samples)]
    mean_points = np.array([[m[0]] for m in means]).reshape(len(computed), 1)
    (mean_gap,) = _gaps(wanted, mean_points, [m[1][:, None] for m in means], level)
    tpr_gap: dict[str, Gap] = {}
    if data.cuts is not None:
        tpr_points = np.array([c.tpr_point for c in computed]).reshape(len(computed), n_classes)
        tpr_gap = by_class(data.names, _gaps(wanted, tpr_points, [c.tpr_samples for c in computed], level))
    return AttributeSubgroups(
        attribute,
        tuple(c.subgroup for c in computed),
        unassigned,
        auroc_gap,
        mean_gap,
        int(common.sum()),
        tpr_gap,
    )


def _subgroup(name: str, rows: np.ndarray, data: _Data, min_cases: int, level: float) -> _Computed:
    y_g, s_g = data.y[rows], data.s[rows]
    n_classes = y_g.shape[1]
    positives = y_g.sum(axis=0)
    defined = _defined(y_g, min_cases)
    point = np.full(n_classes, np.nan)
    samples = np.full((data.resamples.n_resamples, n_classes), np.nan)
    if defined.any():
        point[defined] = per_class_auroc(y_g[:, defined], s_g[:, defined])
        samples[:, defined] = data.resamples.aurocs(y_g[:, defined], s_g[:, defined], rows)
    tpr_point, tpr_samples = np.full_like(point, np.nan), np.full_like(samples, np.nan)
    tpr: dict[str, Estimate] = {}
    if data.cuts is not None:
        tpr_point, tpr_samples = _tpr(y_g, s_g, rows, data.resamples, data.cuts, positives >= min_cases)
        tpr = estimates(tpr_point, tpr_samples, level, data.names)
    subgroup = Subgroup(
        name,
        int(y_g.shape[0]),
        int(np.unique(data.groups[rows]).size),
        by_class(data.names, (int(p) for p in positives)),
        estimates(point, samples, level, data.names),
        mean_estimate(point, samples, defined, level),
        tpr,
    )
    return _Computed(subgroup, point, samples, tpr_point, tpr_samples)


def _defined(y_g: np.ndarray, min_cases: int) -> np.ndarray:
    """(C,) whether the subgroup has enough positives and negatives of each class for an AUROC."""
    positives = y_g.sum(axis=0)
    return (positives >= min_cases) & (y_g.shape[0] - positives >= min_cases)


def subgroup_aurocs(labels, scores, values, wanted: Sequence[str], *, min_cases: int = MIN_CASES) -> np.ndarray:
    """(len(wanted), C) each subgroup's AUROC per class, without intervals; NaN where undefined,
    by the rule `subgroups` applies. `values` gives each image's subgroup."""
    y, s = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    values = np.asarray(values, dtype=object)
    out = np.full((len(wanted), y.shape[1]), np.nan)
    for g, name in enumerate(wanted):
        rows = values == name
        defined = _defined(y[rows], min_cases)
        if defined.any():
            out[g, defined] = per_class_auroc(y[rows][:, defined], s[rows][:, defined])
    return out


def _tpr(y_g, s_g, rows, resamples: PatientResamples, cuts, enough) -> tuple[np.ndarray, np.ndarray]:
    """(C,) TPR at score >= cut, and (R, C) per resample; NaN where the class lacks positives or a cut."""
    with np.errstate(invalid="ignore"):
        hits = (s_g >= cuts) & (y_g == 1)
    totals = resamples.sums(np.hstack([y_g, hits]), rows)
    n_classes = y_g.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        samples = totals[:, n_classes:] / totals[:, :n_classes]
        point = hits.sum(axis=0) / y_g.sum(axis=0)
    usable = enough & np.isfinite(cuts)
    samples[:, ~usable] = np.nan
    return np.where(usable, point, np.nan), samples


def _gaps(names: Sequence[str], points: np.ndarray, samples: Sequence[np.ndarray], level: float) -> tuple[Gap, ...]:
    """Per column of `points` (subgroups x C): best minus worst subgroup among the defined ones."""
    out = []
    for k in range(points.shape[1]):
        defined = np.flatnonzero(np.isfinite(points[:, k]))
        if defined.size < 2:
            out.append(Gap(None, None, None, None, None))
            continue
        best = defined[np.argmax(points[defined, k])]
        last_first = defined[::-1]  # on a tie, best and worst are still two subgroups
        worst = last_first[np.argmin(points[last_first, k])]
        diff = samples[best][:, k] - samples[worst][:, k]
        lo, hi, _ = percentile_interval(diff[:, None], level)
        value = float(points[best, k] - points[worst, k])
        out.append(Gap(names[best], names[worst], value, opt(lo[0]), opt(hi[0])))
    return tuple(out)
