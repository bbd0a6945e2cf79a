"""An `Evaluation` as the project's tables: one per subgroup attribute, calibration, and one per
operating-point rule. Cells are text; an undefined value prints as "-"."""

from __future__ import annotations

from bench.evaluation.calibration import CalibrationReport
from bench.evaluation.common import Estimate, Mean
from bench.evaluation.operating import OperatingReport, RulePoints
from bench.evaluation.report import Evaluation
from bench.evaluation.subgroups import AttributeSubgroups, Gap, SubgroupReport
from bench.ui.tables import Column, Table, row

RULE_TEXT = {"youden": "Youden's J", "f1": "maximum F1"}


def _num(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _interval(value: float | None, lo: float | None, hi: float | None, ci: bool, spec: str) -> str:
    """ "0.812 [0.724, 0.901]", the bracket only with `ci` and a defined interval; "-" when undefined."""
    if value is None:
        return "-"
    if not ci or lo is None or hi is None:
        return format(value, spec)
    return f"{value:{spec}} [{lo:{spec}}, {hi:{spec}}]"


def _estimate(e: Estimate, ci: bool, spec: str = ".3f") -> str:
    return _interval(e.value, e.lo, e.hi, ci, spec)


def _mean(m: Mean, ci: bool, spec: str = ".3f") -> str:
    count = "" if m.n_classes == m.n_total or m.value is None else f" ({m.n_classes}/{m.n_total})"
    return _interval(m.value, m.lo, m.hi, ci, spec) + count


def _gap(g: Gap, ci: bool) -> str:
    return _interval(g.value, g.lo, g.hi, ci, "+.3f")


def _pair(g: Gap) -> str:
    return "-" if g.value is None else f"{g.best} - {g.worst}"


def attribute_table(a: AttributeSubgroups, report: SubgroupReport, *, ci: bool = True) -> Table:
    """Pathologies down, one AUROC column per subgroup, then the gap (best minus worst)."""
    classes = list(a.auroc_gap)
    columns = (
        Column("pathology", key=True),
        *(Column(f"{s.name} (n={s.n_images})", "right") for s in a.subgroups),
        Column("gap", "right"),
        Column("best - worst"),
    )
    body = [
        row(
            name,
            *(_estimate(s.auroc[name], ci) for s in a.subgroups),
            _gap(a.auroc_gap[name], ci),
            _pair(a.auroc_gap[name]),
            end_section=k == len(classes) - 1,
        )
        for k, name in enumerate(classes)
    ]
    body.append(row("mean", *(_mean(s.mean, ci) for s in a.subgroups), _gap(a.mean_gap, ci), _pair(a.mean_gap)))
    notes = [
        f"a subgroup with fewer than {report.min_cases} positives or negatives for a class is undefined (-) for it",
        f"the mean gap compares the subgroups' means over the {a.mean_gap_classes} classes defined in all of them"
        if a.mean_gap_classes
        else "no class is defined in every subgroup: no mean gap",
    ]
    if a.unassigned:
        notes.append(f"{a.unassigned} images have no {a.attribute} subgroup")
    if a.tpr_gap:
        gaps = ", ".join(
            f"{name} {_gap(g, False)} ({_pair(g)})" for name, g in a.tpr_gap.items() if g.value is not None
        )
        notes.append(f"true-positive-rate gap at the Youden thresholds: {gaps or 'undefined for every class'}")
    return Table(
        columns,
        tuple(body),
        title=f"AUROC by {a.attribute}",
        caption=f"brackets: {report.level:.0%} patient-bootstrap interval ({report.n_resamples} resamples)"
        if ci
        else "",
        footnotes=tuple(notes),
    )


def calibration_table(c: CalibrationReport, *, ci: bool = True) -> Table:
    columns = (Column("pathology", key=True), Column("ECE", "right"), Column("Brier", "right"))
    names = list(c.per_class)
    body = [
        row(name, _estimate(v.ece, ci, ".4f"), _estimate(v.brier, ci, ".4f"), end_section=k == len(names) - 1)
        for k, (name, v) in enumerate(c.per_class.items())
    ]
    body.append(row("mean", _mean(c.mean_ece, ci, ".4f"), _mean(c.mean_brier, ci, ".4f")))
    return Table(
        columns,
        tuple(body),
        title="Calibration",
        caption=f"expected calibration error over {c.n_bins} equal-mass bins, Brier score"
        + (f"; brackets: {c.level:.0%} patient-bootstrap interval" if ci else ""),
    )


def rule_table(points: RulePoints) -> Table:
    """One rule's thresholds (chosen on validation) and the test rates at them."""
    headers = ("threshold", "TP", "FP", "TN", "FN", "sensitivity", "specificity", "PPV", "NPV", "F1")
    names = list(points.per_class)
    body = []
    for k, (name, r) in enumerate(points.per_class.items()):
        counts = [_num(v, "d") for v in (r.tp, r.fp, r.tn, r.fn)]
        rates = [_num(v, ".3f") for v in (r.sensitivity, r.specificity, r.ppv, r.npv, r.f1)]
        body.append(row(name, _num(r.threshold, ".3f"), *counts, *rates, end_section=k == len(names) - 1))
    means = (points.sensitivity, points.specificity, points.ppv, points.npv, points.f1)
    body.append(row("mean", "", "", "", "", "", *(_mean(m, False) for m in means)))
    return Table(
        (Column("pathology", key=True), *(Column(h, "right") for h in headers)),
        tuple(body),
        title=f"Operating points: {RULE_TEXT[points.rule]}",
        caption="thresholds chosen on the validation predictions; counts and rates on the test list",
        frame="compact",  # eleven columns fit a narrow terminal
    )


def operating_tables(o: OperatingReport) -> tuple[Table, ...]:
    return tuple(rule_table(r) for r in o.rules)


def evaluation_tables(ev: Evaluation, *, ci: bool = True) -> tuple[Table, ...]:
    """Every table the evaluation has, in reading order; its notes are the caller's to show."""
    tables: list[Table] = []
    if ev.subgroups is not None:
        tables += [attribute_table(a, ev.subgroups, ci=ci) for a in ev.subgroups.attributes]
    if ev.calibration is not None:
        tables.append(calibration_table(ev.calibration, ci=ci))
    if ev.operating is not None:
        tables += operating_tables(ev.operating)
    return tuple(tables)
