"""A run's per-epoch history as `history.csv`: one row per epoch, a column per class's val AUROC."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.atomic import atomic_write
from bench.records.schema import EpochRecord


def write_history(history: Sequence[EpochRecord], path: Path) -> None:
    import pandas as pd

    rows = [
        {
            "stage": h.stage + 1,
            "epoch": h.epoch + 1,
            "train_loss": h.train_loss,
            "val_loss": h.val_loss,
            "val_auroc_mean": h.val_auroc_mean,
            "lr": h.lr,
            "wall_s": h.wall_s,
            **{f"val_auroc_{label}": value for label, value in h.val_auroc.items()},
        }
        for h in history
    ]
    atomic_write(path, pd.DataFrame(rows).to_csv(index=False, lineterminator="\n"))
