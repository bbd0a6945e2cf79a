"""The typed label index of a dataset: what every other module reads, never raw CSVs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.labels import LABELS

# Columns of DatasetIndex.frame, besides the 14 label columns (0/1 uint8, canonical order).
# The frame's index is the image id (e.g. "00000001_000.png"), sorted.
META_COLUMNS: tuple[str, ...] = ("patient_id", "follow_up", "view", "age", "sex", "path")
COLUMNS: tuple[str, ...] = META_COLUMNS + LABELS


@dataclass(frozen=True)
class DatasetIndex:
    """A dataset root's labels, patients and image paths.

    `kind` is "demo" (the built-in synthetic dataset) or "nih". `path` is None for images
    that were not found (or not looked for: `images_checked` is False then).
    """

    root: Path
    kind: str
    frame: pd.DataFrame
    labels_file: str  # the file the labels came from (a path, or "torchxrayvision:<name>")
    labels_version: str  # "2017", "v2020" or "v2020 (torchxrayvision)"
    fingerprint: str  # sha256 over image ids and labels, plus labels_version (and the demo's version)
    images_checked: bool
    boxes: pd.DataFrame | None = None  # columns: image_id, label (canonical), x, y, w, h

    @property
    def image_ids(self) -> pd.Index:
        return self.frame.index

    def labels(self, image_ids=None):
        """(n, 14) uint8 label matrix for `image_ids` (default: all), canonical order."""
        frame = self.frame if image_ids is None else self.frame.loc[list(image_ids)]
        return frame[list(LABELS)].to_numpy(dtype="uint8")

    def patients(self, image_ids=None):
        frame = self.frame if image_ids is None else self.frame.loc[list(image_ids)]
        return frame["patient_id"].to_numpy()
