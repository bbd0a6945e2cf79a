"""ROC curves: one PNG per class with every method's curve (matplotlib, no GUI backend)."""

from __future__ import annotations

from pathlib import Path

from bench.labels import LABELS
from bench.predictions import Predictions
from leaderboard.tables import PredictionCache, Table


def roc_plots(table: Table, out_dir: Path, cache: PredictionCache) -> dict[str, Path]:
    """Write `<out_dir>/<table slug>/<Label>.png`; returns label -> path (empty without run predictions).

    K-fold columns pool their folds' out-of-fold predictions (each image is tested once).
    """
    # The Figure API with an explicit Agg canvas never touches pyplot's global backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_auc_score, roc_curve

    curves: list[tuple[str, Predictions]] = []
    for col in table.columns:
        parts = [cache.get(r) for r in col.runs]
        if parts and all(p is not None for p in parts):
            curves.append((col.label, Predictions.concat(parts)))
    if not curves:
        return {}
    folder = Path(out_dir) / table.slug
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for k, label in enumerate(LABELS):
        fig = Figure(figsize=(5.5, 5.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
        for name, preds in curves:
            y, s = preds.y_true[:, k], preds.scores[:, k]
            if y.min() == y.max():
                continue  # undefined: no positives or no negatives
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, linewidth=1.5, label=f"{name} ({roc_auc_score(y, s):.4f})")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate")
        pooled = ", pooled folds" if table.cross_validation else ""
        demo = " (synthetic demo data)" if table.demo else ""
        ax.set_title(f"{label}: {table.protocol}{pooled}{demo}", fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=8, title="method (AUROC)", title_fontsize=8)
        path = folder / f"{label}.png"
        fig.savefig(path, dpi=100)
        written[label] = path
    return written
