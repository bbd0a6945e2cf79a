"""Heatmap pictures (matplotlib, Agg canvas): per-class grids and the Table-6-like comparison.

Each panel shows the image in grey, the normalised heatmap in colour on top, the true boxes
in green, the detected boxes dashed in yellow and the heatmap's peak as a white cross.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.cam.scoring import BoxXYWH

PANEL_INCHES = 2.4
DPI = 110


@dataclass(frozen=True, eq=False)
class Panel:
    image: np.ndarray  # uint8 (D, D) grey, any display size
    heat: np.ndarray  # (S, S) in [0, 1]: the heatmap at the model's input size
    truth: tuple[BoxXYWH, ...]  # in input pixels (0..S)
    detected: tuple[BoxXYWH, ...]
    peak: tuple[float, float] | None
    caption: str

    @property
    def size(self) -> int:
        return self.heat.shape[-1]


def _draw(ax, panel: Panel) -> None:
    from matplotlib.patches import Rectangle

    s = panel.size
    extent = (0, s, s, 0)
    ax.imshow(panel.image, cmap="gray", vmin=0, vmax=255, extent=extent, interpolation="bilinear")
    ax.imshow(panel.heat, cmap="jet", vmin=0, vmax=1, alpha=0.4, extent=extent, interpolation="bilinear")
    for x, y, w, h in panel.detected:
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="yellow", linestyle="--", linewidth=1.2))
    for x, y, w, h in panel.truth:
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="lime", linewidth=1.6))
    if panel.peak is not None:
        ax.plot(*panel.peak, marker="x", color="white", markersize=7, markeredgewidth=2)
    ax.set_xlim(0, s)
    ax.set_ylim(s, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(panel.caption, fontsize=7)


def _figure(n_rows: int, n_cols: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(PANEL_INCHES * n_cols + 0.6, PANEL_INCHES * n_rows + 0.7), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(n_rows, n_cols, squeeze=False)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def class_grid(path: Path, title: str, panels: Sequence[Panel], *, columns: int = 4) -> Path:
    """One class: its panels in rows of `columns`."""
    n_cols = max(1, min(columns, len(panels)))
    n_rows = max(1, -(-len(panels) // n_cols))
    fig, axes = _figure(n_rows, n_cols)
    for ax in axes.flat[len(panels) :]:
        ax.set_axis_off()
    for ax, panel in zip(axes.flat, panels):
        _draw(ax, panel)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def compare_grid(
    path: Path, title: str, row_labels: Sequence[str], column_labels: Sequence[str], panels: Sequence[Sequence[Panel]]
) -> Path:
    """Rows (e.g. classes) by columns (e.g. methods), as the paper's Table 6."""
    fig, axes = _figure(len(row_labels), len(column_labels))
    for r, row in enumerate(panels):
        for c, panel in enumerate(row):
            _draw(axes[r, c], panel)
        axes[r, 0].set_ylabel(row_labels[r], fontsize=9)
    for c, label in enumerate(column_labels):
        axes[0, c].set_title(label, fontsize=9)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
