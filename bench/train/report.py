"""The end-of-run summary: per-class test AUROC with its patient-bootstrap interval."""

from __future__ import annotations

from bench.labels import LABELS
from bench.ui.tables import Cell, Column, Table, row


def _auroc(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def result_table(record) -> Table:
    test = record.metrics.test
    ci = test.ci
    columns = [Column("class"), Column("AUROC", "right")]
    if ci is not None:
        columns.append(Column(f"{ci.level:.0%} CI (patients)", "right"))
    columns.append(Column("positives", "right"))

    positives = record.positives.test if record.positives else {}
    rows = []
    for label in LABELS:
        cells = [label, _auroc(test.auroc[label])]
        if ci is not None:
            cells.append("n/a" if ci.lo[label] is None else f"{ci.lo[label]:.4f}-{ci.hi[label]:.4f}")
        cells.append(str(positives.get(label, "")))
        rows.append(row(*cells))
    mean = _auroc(test.mean) + ("" if test.n_defined == len(LABELS) else f" ({test.n_defined}/{len(LABELS)})")
    average: list[str | Cell] = [Cell("Average", bold=True), Cell(mean, bold=True)]
    if ci is not None:
        average.append("n/a" if ci.mean_lo is None else f"{ci.mean_lo:.4f}-{ci.mean_hi:.4f}")
    average.append("")
    rows.append(row(*average, end_section=True))
    title = f"{record.method.display_name} on {record.split.protocol} fold {record.split.fold}: test AUROC"
    return Table(tuple(columns), tuple(rows), title=title)


def stage_lines(record) -> list[str]:
    lines = []
    for s in record.stages:
        ips = "n/a" if s.train_images_per_s is None else f"{s.train_images_per_s:.1f}"
        wall = "n/a" if s.wall_s is None else f"{s.wall_s:.1f}"
        test = "n/a" if s.test_auroc_mean is None else f"{s.test_auroc_mean:.4f}"
        lines.append(
            f"stage {s.index + 1}: {s.image_size}px, batch {s.batch_size}, {s.epochs_run}/{s.epochs_planned} epochs, "
            f"train {wall}s ({ips} img/s), best val AUROC {s.best_val_auroc or float('nan'):.4f}, test AUROC {test}"
        )
    return lines
