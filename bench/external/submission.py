"""A submitted scores file read against a test list: the image id column, one score column per
label, every cell checked. Every fault is a BenchError naming the row and column; nothing is
written here, so a refused file leaves no run behind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.labels import ALIASES, LABELS, NUM_CLASSES
from bench.predictions import file_sha256

# Image id columns, in the order tried: NIH's CSVs, cxr-bench's predictions, common exports.
ID_COLUMNS: tuple[str, ...] = ("Image Index", "image_id", "image", "Path", "path", "filename")
# Affixes of score columns, compared after `_` became a space: prob_X, pred_X, score:X, score_X, X_prob, X_score.
PREFIXES: tuple[str, ...] = ("prob ", "pred ", "score:", "score ")
SUFFIXES: tuple[str, ...] = (" prob", " score")
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
SHOWN = 5  # examples named in a message
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _key(name: str) -> str:
    return " ".join(str(name).strip().lower().replace("_", " ").split())


# Label spellings as keys: canonical names and the canon's aliases, with `_` and space alike.
_LABEL_KEYS = {_key(name): name for name in LABELS} | {_key(alias): name for alias, name in ALIASES.items()}


def label_of(column: str) -> str | None:
    """The label a score column is named for (None: not a score column): case-insensitive, `_`
    and space alike, one affix stripped, the label canon's aliases understood."""
    key = _key(column)
    if key in _LABEL_KEYS:
        return _LABEL_KEYS[key]
    for prefix in PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :].strip()
            break
    else:
        for suffix in SUFFIXES:
            if key.endswith(suffix):
                key = key[: -len(suffix)].strip()
                break
    return _LABEL_KEYS.get(key)


def image_id(value: str) -> str:
    """An image id from a cell: a path's basename, `.png` added when missing."""
    name = re.split(r"[/\\]", str(value).strip())[-1]
    stem, dot, ext = name.rpartition(".")
    if dot and ext.lower() == "png":
        return f"{stem}.png"
    return f"{name}.png"


@dataclass(frozen=True, eq=False)
class Submission:
    """The scores of a file for the test images it covers, in the test list's order."""

    path: Path
    sha256: str
    rows: int  # data rows in the file
    ids: tuple[str, ...]  # covered test images, test list order
    scores: np.ndarray  # (n, 14) float64, LABELS order
    missing: tuple[str, ...]  # test images without a row, test list order
    ignored: int  # rows for images outside the test list
    ignored_examples: tuple[str, ...]  # the first few of their ids
    columns: dict[str, str]  # label -> the file's column
    id_column: str
    other_columns: tuple[str, ...]  # columns that are neither the id nor a score

    @property
    def in_unit_interval(self) -> bool:
        return bool(((self.scores >= 0) & (self.scores <= 1)).all())


def _read_frame(path: Path) -> pd.DataFrame:
    """Every cell of a CSV as text (so a bad cell can be named); parquet with its own types."""
    if not path.is_file():
        raise BenchError(f"scores file not found: {path}", hint="pass the CSV or parquet file of your model's scores")
    parquet = path.suffix.lower() in PARQUET_SUFFIXES
    try:
        if parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            try:
                return pq.read_table(path).to_pandas()
            except (pa.ArrowException, OSError) as exc:
                raise ValueError(str(exc)) from None
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise BenchError(f"{path} is empty", hint="write a header line and one row per test image") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        kind = "parquet" if parquet else "CSV"
        raise BenchError(f"{path}: not a readable {kind} file ({' '.join(str(exc).split())})") from None


def _row_name(path: Path, row: int) -> str:
    """How the user finds data row `row` (0-based): a CSV's line number (the header is line 1)."""
    return f"row {row + 1}" if path.suffix.lower() in PARQUET_SUFFIXES else f"line {row + 2}"


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(repr(str(x)) for x in items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _id_column(path: Path, frame: pd.DataFrame) -> str:
    for name in ID_COLUMNS:
        if name in frame.columns:
            return name
    raise BenchError(
        f"{path} has no image id column (columns found: {_listing(list(frame.columns))})",
        hint=f"name the column of image names one of: {', '.join(ID_COLUMNS)}",
    )


def _score_columns(path: Path, frame: pd.DataFrame, id_column: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """(label -> column, the other columns); BenchError for no match, a label with two columns
    or a label without one."""
    found: dict[str, list[str]] = {}
    others = []
    for column in frame.columns:
        label = None if column == id_column else label_of(str(column))
        if label is None:
            others.append(str(column))
        else:
            found.setdefault(label, []).append(str(column))
    hint = (
        "name one column per label, e.g. Atelectasis or prob_Atelectasis "
        "(case-insensitive; prefixes prob_, pred_, score:, score_ and suffixes _prob, _score are understood)"
    )
    columns = ", ".join(str(c) for c in frame.columns)
    if not found:
        raise BenchError(f"{path}: no column is named for a label (columns found: {columns})", hint=hint)
    twice = [(label, names) for label, names in found.items() if len(names) > 1]
    if twice:
        label, names = twice[0]
        raise BenchError(f"{path}: columns {' and '.join(names)} are both scores of {label}", hint="keep one of them")
    missing = [label for label in LABELS if label not in found]
    if missing:
        raise BenchError(
            f"{path}: no score column for {', '.join(missing)} (columns found: {columns})",
            hint=hint,
        )
    return {label: found[label][0] for label in LABELS}, tuple(others)


def _numbers(path: Path, frame: pd.DataFrame, rows: np.ndarray, columns: dict[str, str]) -> np.ndarray:
    """(len(rows), 14) float64 of the given rows; BenchError naming the first bad cell."""
    out = np.empty((len(rows), NUM_CLASSES), dtype=np.float64)
    for k, label in enumerate(LABELS):
        column = columns[label]
        cells = frame[column].iloc[rows]
        if pd.api.types.is_numeric_dtype(cells.dtype) and not pd.api.types.is_bool_dtype(cells.dtype):
            values = cells.to_numpy(dtype=np.float64, na_value=np.nan)
            text = None
        else:
            text = cells.astype(str).str.strip()
            values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (np.abs(values) > FLOAT32_MAX)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            where = f"{_row_name(path, int(rows[first]))}, column {column}"
            value = values[first]
            if np.isnan(value) and text is not None and text.iloc[first].lower() not in ("nan", "-nan", "+nan"):
                cell = text.iloc[first]
                problem = "an empty cell" if not cell else f"{cell!r} is not a number"
            elif np.isnan(value):
                problem = "a NaN score"
            elif np.isinf(value):
                problem = "an infinite score"
            else:
                problem = f"{value!r} is beyond the float32 range scores are stored in"
            raise BenchError(
                f"{path}, {where}: {problem}", hint="every score must be a finite number (a probability or a logit)"
            )
        out[:, k] = values
    return out


def read_submission(path: Path | str, test_ids: Sequence[str]) -> Submission:
    """The file's scores for the images of `test_ids` (the split's test list, in order): rows for
    other images are counted and left unread, test images without a row are listed in `missing`."""
    path = Path(path)
    frame = _read_frame(path)
    id_column = _id_column(path, frame)
    columns, others = _score_columns(path, frame, id_column)
    ids = np.array([image_id(v) for v in frame[id_column].astype(str)], dtype=object)
    position = pd.Index(list(test_ids)).get_indexer(pd.Index(ids))  # -1: not a test image
    wanted = np.flatnonzero(position >= 0)
    seen: dict[str, int] = {}
    for row in wanted:
        first = seen.setdefault(ids[row], int(row))
        if first != row:
            raise BenchError(
                f"{path}, {_row_name(path, int(row))}, column {id_column}: image {ids[row]} again "
                f"(first at {_row_name(path, first)})",
                hint="give each test image one row",
            )
    scores = _numbers(path, frame, wanted, columns)
    order = np.argsort(position[wanted], kind="stable")  # into the test list's order
    covered = np.zeros(len(test_ids), dtype=bool)
    covered[position[wanted]] = True
    return Submission(
        path=path,
        sha256=file_sha256(path),
        rows=len(frame),
        ids=tuple(ids[wanted][order]),
        scores=scores[order],
        missing=tuple(i for i, ok in zip(test_ids, covered) if not ok),
        ignored=len(frame) - len(wanted),
        ignored_examples=tuple(ids[position < 0][:3]),
        columns=columns,
        id_column=id_column,
        other_columns=others,
    )
