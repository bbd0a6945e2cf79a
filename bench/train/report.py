"""The end-of-run summary: per-class test AUROC with its patient-bootstrap interval."""

from __future__ import annotations

from rich.table import Table

from bench.labels import LABELS


def result_table(record) -> Table:
    test = record.metrics.test
    ci = test.ci
    table = Table(title=f"{record.method.display_name} on {record.split.protocol} fold {record.split.fold}: test AUROC")
    table.add_column("class")
    table.add_column("AUROC", justify="right")
    if ci is not None:
        table.add_column(f"{ci.level:.0%} CI (patients)", justify="right")
    table.add_column("positives", justify="right")

    def fmt(v):
        return "n/a" if v is None else f"{v:.4f}"

    positives = record.positives.test if record.positives else {}
    for label in LABELS:
        row = [label, fmt(test.auroc[label])]
        if ci is not None:
            row.append("n/a" if ci.lo[label] is None else f"{ci.lo[label]:.4f}-{ci.hi[label]:.4f}")
        row.append(str(positives.get(label, "")))
        table.add_row(*row)
    mean = fmt(test.mean) + ("" if test.n_defined == len(LABELS) else f" ({test.n_defined}/{len(LABELS)})")
    row = ["[bold]Average[/bold]", f"[bold]{mean}[/bold]"]
    if ci is not None:
        row.append("n/a" if ci.mean_lo is None else f"{ci.mean_lo:.4f}-{ci.mean_hi:.4f}")
    row.append("")
    table.add_row(*row, end_section=True)
    return table


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
