"""PNG figures of the evaluations: the reliability diagram of a run and a critical-difference
diagram of a ranking. Drawn on matplotlib's Agg canvas through the Figure API (pyplot's global
backend is never touched) and written atomically."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from bench.atomic import atomic_write
from bench.errors import BenchError
from bench.evaluation.calibration import CalibrationReport
from bench.evaluation.ranking import Ranking

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path | str) -> Path:
    """The figure as a PNG at `path` (folders created); BenchError when it cannot be written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=DPI))
    except OSError as exc:
        raise BenchError(f"cannot write {path}: {exc.strerror or exc}", hint="pass a writable --plots DIR") from None


def reliability_png(report: CalibrationReport, path: Path | str, *, title: str = "") -> Path:
    """One panel per class: each bin's mean score against its observed positive rate, with the
    diagonal of perfect calibration and the class's ECE."""
    columns = 4
    classes = list(report.per_class)
    rows = math.ceil(len(classes) / columns)
    fig = _figure(2.6 * columns, 2.6 * rows + 0.5)
    axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[len(classes) :]:
        ax.set_axis_off()
    for k, (name, result) in enumerate(report.per_class.items()):
        ax = axes[k]
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
        ax.plot(
            [b.mean_score for b in result.bins],
            [b.observed for b in result.bins],
            marker="o",
            markersize=3,
            linewidth=1.2,
        )
        ax.set(xlim=(0, 1), ylim=(0, 1), xticks=(0, 0.5, 1), yticks=(0, 0.5, 1))
        ax.tick_params(labelsize=7)
        ece = "undefined" if result.ece.value is None else f"{result.ece.value:.3f}"
        ax.set_title(f"{name} (ECE {ece})", fontsize=9)
        if k % columns == 0:
            ax.set_ylabel("observed positive rate", fontsize=8)
        if k >= len(classes) - columns:  # the lowest panel of its column
            ax.set_xlabel("mean score", fontsize=8)
            ax.xaxis.set_tick_params(labelbottom=True)
    heading = f"{title}: " if title else ""
    fig.suptitle(f"{heading}reliability, {report.n_bins} equal-mass bins; mean ECE {report.mean_ece}", fontsize=10)
    # Fixed margins: tight_layout would draw the 14 panels twice.
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.06, top=0.93, wspace=0.25, hspace=0.35)
    return _save(fig, path)


def critical_difference_png(ranking: Ranking, path: Path | str, *, title: str = "") -> Path:
    """The methods on an axis of mean rank (1 = best), bars joining those the Nemenyi test does
    not separate, and the critical difference (scikit-posthocs' drawing)."""
    import pandas as pd
    import scikit_posthocs

    names = [m.name for m in ranking.methods]
    ranks = pd.Series({m.name: m.mean_rank for m in ranking.methods})
    p = pd.DataFrame(ranking.nemenyi_p, index=names, columns=names)
    fig = _figure(7.0, 1.2 + 0.35 * len(names))
    ax = fig.add_subplot()
    scikit_posthocs.critical_difference_diagram(ranks, p, alpha=ranking.alpha, ax=ax, cd=ranking.critical_difference)
    friedman = "undefined" if ranking.friedman_p is None else f"{ranking.friedman_p:.3g}"
    heading = f"{title}: " if title else ""
    ax.set_title(
        f"{heading}mean rank over {ranking.n_blocks} blocks (Friedman p = {friedman}, Nemenyi alpha = {ranking.alpha})",
        fontsize=9,
        pad=24,
    )
    fig.tight_layout()
    return _save(fig, path)
