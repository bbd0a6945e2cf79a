"""An AuditReport as tables: `bench splits show` (the lists) and `bench splits audit` (the checks)."""

from __future__ import annotations

from bench.labels import LABELS
from bench.ui.tables import Cell, Column, Table, row
from splits.audit import AuditReport, FoldAudit
from splits.base import LIST_NAMES

UNDEFINED = "red"  # a count whose class has an undefined AUROC in that list


def _title(report: AuditReport, fold: FoldAudit, n_folds: int) -> str:
    which = f"fold {fold.fold} of {n_folds}" if n_folds > 1 else "single fold"
    seed = f", seed {report.seed}" if report.seed is not None else ""
    return f"{report.split} ({report.key}{seed}), {which}"


def _positives(fold: FoldAudit, name: str, label: str) -> Cell:
    """A list's positives of a class; red where that makes its AUROC undefined (train's never matters)."""
    stats = fold.lists[name]
    undefined = label in stats.undefined_auroc and name != "train"
    return Cell(f"{stats.positives[label]:,}", style=UNDEFINED if undefined else "")


def fold_table(report: AuditReport, fold: FoldAudit) -> Table:
    """Images, patients and per-class positives of each list of one fold."""
    rows = [
        row("images", *(f"{fold.lists[n].images:,}" for n in LIST_NAMES)),
        row("patients", *(f"{fold.lists[n].patients:,}" for n in LIST_NAMES), end_section=True),
    ]
    rows += [row(label, *(_positives(fold, n, label) for n in LIST_NAMES)) for label in LABELS]
    columns = (Column(""), *(Column(name, "right") for name in LIST_NAMES))
    return Table(columns, tuple(rows), title=_title(report, fold, len(report.folds)))


def checks_table(report: AuditReport) -> Table:
    """Checks as rows, folds as columns: the counts behind each check ("a&b": shared by lists a and b)."""
    multi = len(report.folds) > 1
    rows = []

    def add(label: str, values, end: bool = False) -> None:
        rows.append(row(label, *(f"{v:,}" if isinstance(v, int) else v for v in values), end_section=end))

    for name in LIST_NAMES:
        add(f"{name} images", [f.lists[name].images for f in report.folds])
        add(f"{name} patients", [f.lists[name].patients for f in report.folds], end=name == "test")
    add("unknown ids", [sum(s.unknown.count for s in f.lists.values()) for f in report.folds])
    add("duplicate ids", [sum(s.duplicates.count for s in f.lists.values()) for f in report.folds], end=True)
    for pair in report.folds[0].shared_images:
        shown = pair.replace("/", "&")
        add(f"{shown} images", [f.shared_images[pair].count for f in report.folds])
        add(f"{shown} patients", [f.shared_patients[pair].count for f in report.folds])
    add("in no list", [f.unassigned for f in report.folds])
    add("fingerprint", [f.fingerprint[:8] for f in report.folds])
    columns = (Column("check"), *(Column(f"fold {f.fold}" if multi else "count", "right") for f in report.folds))
    return Table(columns, tuple(rows), title=f"audit of {report.split} ({report.key})")


def positives_tables(report: AuditReport) -> list[Table]:
    """Per-class positives in validation and test lists; red where the AUROC is undefined."""
    if len(report.folds) == 1:
        layouts = [("positives per class (red: AUROC undefined)", [(report.folds[0], n, n) for n in ("val", "test")])]
    else:
        layouts = [
            (f"{name} positives per class (red: AUROC undefined)", [(f, name, f"fold {f.fold}") for f in report.folds])
            for name in ("val", "test")
        ]
    tables = []
    for title, columns in layouts:
        rows = tuple(row(label, *(_positives(f, name, label) for f, name, _ in columns)) for label in LABELS)
        header = (Column("class"), *(Column(h, "right") for _, _, h in columns))
        tables.append(Table(header, rows, title=title))
    return tables


def coverage_line(report: AuditReport) -> str | None:
    """How the test folds of a multi-fold split cover the dataset; None for a single fold."""
    if report.tested_twice is None or report.never_tested is None:
        return None
    identical = "; ".join(", ".join(map(str, ks)) for ks in report.identical_tests) or "none"
    return (
        f"test folds: {report.tested_twice.count:,} images tested more than once, "
        f"{report.never_tested.count:,} never tested; identical test folds: {identical}"
    )
