"""Per-image predictions of a run (its test list's, and a trained run's validation lists'),
stored as parquet so statistics can be recomputed later.

Columns: `image_id`, `patient_id`, then `true:<Label>` (uint8) and `score:<Label>` (float32)
for each of the 14 labels in canonical order. Columns are read by name, never by position.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.atomic import atomic_write
from bench.errors import BenchError
from bench.labels import LABELS, NUM_CLASSES

TRUE_PREFIX = "true:"
SCORE_PREFIX = "score:"
TRUE_COLUMNS: tuple[str, ...] = tuple(TRUE_PREFIX + x for x in LABELS)
SCORE_COLUMNS: tuple[str, ...] = tuple(SCORE_PREFIX + x for x in LABELS)
COLUMNS: tuple[str, ...] = ("image_id", "patient_id") + TRUE_COLUMNS + SCORE_COLUMNS


class PredictionsError(BenchError):
    """A predictions file that is missing, unreadable or malformed."""


@dataclass(frozen=True, eq=False)
class Predictions:
    """Test-set predictions: one row per image, 14 labels and 14 scores in canonical order."""

    image_ids: tuple[str, ...]
    patient_ids: np.ndarray  # (n,) int64
    y_true: np.ndarray  # (n, 14) uint8, 0/1
    scores: np.ndarray  # (n, 14) float32, finite

    def __post_init__(self) -> None:
        ids = tuple(str(i) for i in self.image_ids)
        patients = np.asarray(self.patient_ids, dtype=np.int64).reshape(-1)
        y = np.asarray(self.y_true)
        s = np.asarray(self.scores, dtype=np.float32)
        n = len(ids)
        if patients.shape != (n,) or y.shape != (n, NUM_CLASSES) or s.shape != (n, NUM_CLASSES):
            raise ValueError(
                f"predictions need n image ids, (n,) patient ids, (n, {NUM_CLASSES}) labels and scores;"
                f" got {n}, {patients.shape}, {y.shape}, {s.shape}"
            )
        if len(set(ids)) != n:
            raise ValueError("predictions repeat an image id")
        if not np.isin(y, (0, 1)).all():
            raise ValueError("true labels must be 0 or 1")
        if not np.isfinite(s).all():
            raise ValueError("scores must be finite (a NaN or infinite score means a broken model)")
        for name, value in (
            ("image_ids", ids),
            ("patient_ids", patients),
            ("y_true", y.astype(np.uint8)),
            ("scores", s),
        ):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.image_ids)

    def reindex(self, image_ids) -> Predictions:
        """The rows of `image_ids`, in that order (KeyError naming one missing id)."""
        pos = {i: k for k, i in enumerate(self.image_ids)}
        try:
            rows = np.array([pos[str(i)] for i in image_ids], dtype=np.int64)
        except KeyError as exc:
            raise KeyError(f"image {exc.args[0]} is not in these predictions") from None
        return Predictions(
            tuple(self.image_ids[k] for k in rows), self.patient_ids[rows], self.y_true[rows], self.scores[rows]
        )

    @classmethod
    def concat(cls, parts) -> Predictions:
        """Several prediction sets as one (e.g. the out-of-fold predictions of all folds)."""
        parts = list(parts)
        return cls(
            tuple(i for p in parts for i in p.image_ids),
            np.concatenate([p.patient_ids for p in parts]),
            np.concatenate([p.y_true for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )


def save_predictions(path: Path | str, predictions, patient_ids=None, y_true=None, scores=None) -> Path:
    """Write parquet atomically (temporary file in the same directory, then rename).

    Pass a `Predictions`, or its four parts: `save_predictions(path, image_ids, patient_ids, y_true, scores)`.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(predictions, Predictions):
        predictions = Predictions(tuple(predictions), patient_ids, y_true, scores)
    path = Path(path)
    arrays = {
        "image_id": pa.array(predictions.image_ids, type=pa.string()),
        "patient_id": pa.array(predictions.patient_ids, type=pa.int64()),
    }
    for k, name in enumerate(TRUE_COLUMNS):
        arrays[name] = pa.array(predictions.y_true[:, k], type=pa.uint8())
    for k, name in enumerate(SCORE_COLUMNS):
        arrays[name] = pa.array(predictions.scores[:, k], type=pa.float32())
    table = pa.table(arrays, metadata={b"cxr_bench": b'{"kind": "predictions", "version": 1}'})
    return atomic_write(path, lambda fh: pq.write_table(table, fh))


def load_predictions(path: Path | str) -> Predictions:
    """Read and validate a predictions file; PredictionsError names the file and the problem."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"predictions file not found: {path}")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise PredictionsError(f"{path}: not a readable parquet file ({exc})") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise PredictionsError(f"{path}: missing columns {', '.join(missing[:3])}{more}")
    frame = table.select(list(COLUMNS)).to_pandas()
    try:
        if frame.isna().any().any():
            raise ValueError("empty cells")
        return Predictions(
            tuple(frame["image_id"].astype(str)),
            frame["patient_id"].to_numpy(dtype=np.int64),
            frame[list(TRUE_COLUMNS)].to_numpy(dtype=np.float64),
            frame[list(SCORE_COLUMNS)].to_numpy(dtype=np.float32),
        )
    except (ValueError, TypeError) as exc:
        raise PredictionsError(f"{path}: {exc}") from None


def file_sha256(path: Path | str) -> str:
    """The SHA-256 of a file's bytes, read in blocks (a submission, a checkpoint, a predictions file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
