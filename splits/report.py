"""Rich views of an AuditReport: `bench splits show` (the lists) and `bench splits audit` (the checks)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bench.labels import LABELS
from splits.audit import AuditReport, FoldAudit
from splits.base import LIST_NAMES


def _title(report: AuditReport, fold: FoldAudit, n_folds: int) -> str:
    which = f"fold {fold.fold} of {n_folds}" if n_folds > 1 else "single fold"
    seed = f", seed {report.seed}" if report.seed is not None else ""
    return f"{report.split} ({report.key}{seed}), {which}"


def fold_table(report: AuditReport, fold: FoldAudit) -> Table:
    """Images, patients and per-class positives of each list of one fold."""
    table = Table(title=_title(report, fold, len(report.folds)))
    table.add_column("")
    for name in LIST_NAMES:
        table.add_column(name, justify="right")
    table.add_row("images", *(f"{fold.lists[n].images:,}" for n in LIST_NAMES))
    table.add_row("patients", *(f"{fold.lists[n].patients:,}" for n in LIST_NAMES), end_section=True)
    for label in LABELS:
        cells = []
        for name in LIST_NAMES:
            stats = fold.lists[name]
            cell = f"{stats.positives[label]:,}"
            cells.append(f"[red]{cell}[/red]" if label in stats.undefined_auroc and name != "train" else cell)
        table.add_row(label, *cells)
    return table


def print_show(report: AuditReport, console: Console) -> None:
    console.print(f"dataset {report.dataset}, labels {report.labels_version}")
    for fold in report.folds:
        console.print(fold_table(report, fold))
        console.print(f"fingerprint {fold.fingerprint}", soft_wrap=True)  # never wrapped: it gets copied


def checks_table(report: AuditReport) -> Table:
    """Checks as rows, folds as columns: the counts behind each check ("a&b": shared by lists a and b)."""
    multi = len(report.folds) > 1
    table = Table(title=f"audit of {report.split} ({report.key})")
    table.add_column("check")
    for fold in report.folds:
        table.add_column(f"fold {fold.fold}" if multi else "count", justify="right")

    def row(label, values, end=False):
        table.add_row(label, *(f"{v:,}" if isinstance(v, int) else v for v in values), end_section=end)

    for name in LIST_NAMES:
        row(f"{name} images", [f.lists[name].images for f in report.folds])
        row(f"{name} patients", [f.lists[name].patients for f in report.folds], end=name == "test")
    row("unknown ids", [sum(s.unknown.count for s in f.lists.values()) for f in report.folds])
    row("duplicate ids", [sum(s.duplicates.count for s in f.lists.values()) for f in report.folds], end=True)
    for pair in report.folds[0].shared_images:
        shown = pair.replace("/", "&")
        row(f"{shown} images", [f.shared_images[pair].count for f in report.folds])
        row(f"{shown} patients", [f.shared_patients[pair].count for f in report.folds])
    row("in no list", [f.unassigned for f in report.folds])
    row("fingerprint", [f.fingerprint[:8] for f in report.folds])
    return table


def positives_tables(report: AuditReport) -> list[Table]:
    """Per-class positives in validation and test lists; red where the AUROC is undefined."""
    def cell(fold: FoldAudit, name: str, label: str) -> str:
        stats = fold.lists[name]
        text = f"{stats.positives[label]:,}"
        return f"[red]{text}[/red]" if label in stats.undefined_auroc else text

    if len(report.folds) == 1:
        layouts = [("positives per class (red: AUROC undefined)", [(report.folds[0], n, n) for n in ("val", "test")])]
    else:
        layouts = [
            (f"{name} positives per class (red: AUROC undefined)", [(f, name, f"fold {f.fold}") for f in report.folds])
            for name in ("val", "test")
        ]
    tables = []
    for title, columns in layouts:
        table = Table(title=title)
        table.add_column("class")
        for _, _, header in columns:
            table.add_column(header, justify="right")
        for label in LABELS:
            table.add_row(label, *(cell(f, name, label) for f, name, _ in columns))
        tables.append(table)
    return tables


def print_audit(report: AuditReport, console: Console) -> None:
    console.print(f"dataset {report.dataset}, labels {report.labels_version}")
    console.print(checks_table(report))
    if report.tested_twice is not None:
        identical = "; ".join(", ".join(map(str, ks)) for ks in report.identical_tests) or "none"
        console.print(
            f"test folds: {report.tested_twice.count:,} images tested more than once, "
            f"{report.never_tested.count:,} never tested; identical test folds: {identical}"
        )
    for table in positives_tables(report):
        console.print(table)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    for fault in report.faults:
        console.print(f"[red]fault:[/red] {fault}")
    if report.ok:
        console.print(f"[green]no faults[/green] in {len(report.folds)} fold(s)")
