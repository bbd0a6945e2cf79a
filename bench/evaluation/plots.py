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
CD_WIDTH = 7.0  # inches: the narrowest critical-difference figure
PAD = 0.1  # inches of margin around the drawing and its title
TITLE_GAP = 0.15  # inches between the title and the drawing
TITLE_SIZE = 9


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


def critical_difference_figure(ranking: Ranking, *, title: str = "") -> Figure:
    """The methods on an axis of mean rank (1 = best), bars joining those the Nemenyi test does
    not separate, and the critical difference (scikit-posthocs' drawing), under a title wrapped
    to the figure's width; the figure is as wide as the names beside the axis need."""
    import pandas as pd
    import scikit_posthocs

    names = [m.name for m in ranking.methods]
    ranks = pd.Series({m.name: m.mean_rank for m in ranking.methods})
    p = pd.DataFrame(ranking.nemenyi_p, index=names, columns=names)
    fig = _figure(CD_WIDTH, 1.2 + 0.35 * len(names))
    ax = fig.add_subplot()
    scikit_posthocs.critical_difference_diagram(ranks, p, alpha=ranking.alpha, ax=ax, cd=ranking.critical_difference)
    friedman = "undefined" if ranking.friedman_p is None else f"{ranking.friedman_p:.3g}"
    heading = f"{title}: " if title else ""
    _fit_under_title(
        fig,
        ax,
        f"{heading}mean rank over {ranking.n_blocks} blocks (Friedman p = {friedman}, Nemenyi alpha = {ranking.alpha})",
    )
    return fig


def critical_difference_png(ranking: Ranking, path: Path | str, *, title: str = "") -> Path:
    """`critical_difference_figure` as a PNG at `path`."""
    return _save(critical_difference_figure(ranking, title=title), path)


def _fit_under_title(fig: Figure, ax, title: str) -> None:
    """Resize `fig` to hold everything `ax` draws, its labels beside the axis included, centred
    beneath `title` wrapped to the figure's width. The axes keep their size in inches, so what
    they draw (placed in data coordinates, sized in points) moves with them unchanged."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg's, as _figure makes it
    dpi = fig.dpi
    drawn = ax.get_tightbbox(renderer)
    x0, y0, w, h = drawn.x0 / dpi, drawn.y0 / dpi, drawn.width / dpi, drawn.height / dpi
    width = max(CD_WIDTH, w + 2 * PAD)
    heading = fig.text(0.5, 1.0, "", ha="center", va="top", fontsize=TITLE_SIZE)
    heading.set_text(_wrapped(title, heading, (width - 2 * PAD) * dpi, renderer))
    extent = heading.get_window_extent(renderer)
    width = max(width, extent.width / dpi + 2 * PAD)  # a word longer than a line widens the figure
    height = h + extent.height / dpi + TITLE_GAP + 2 * PAD
    old_w, old_h = fig.get_size_inches()
    pos = ax.get_position()
    left = pos.x0 * old_w + (width - w) / 2 - x0
    bottom = pos.y0 * old_h + PAD - y0
    fig.set_size_inches(width, height)
    ax.set_position((left / width, bottom / height, pos.width * old_w / width, pos.height * old_h / height))
    heading.set_y(1 - PAD / height)


def _wrapped(text: str, artist, max_px: float, renderer) -> str:
    """`text` broken at spaces into lines at most `max_px` wide as `artist` draws them (a word
    wider than that keeps a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines:
            artist.set_text(f"{lines[-1]} {word}")
            if artist.get_window_extent(renderer).width <= max_px:
                lines[-1] += f" {word}"
                continue
        lines.append(word)
    return "\n".join(lines)
