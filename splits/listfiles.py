"""Reading and writing split lists in the three formats met in the wild.

- "names": one image name per line (NIH's `train_val_list.txt` / `test_list.txt`);
- "arnoweng": a name and 14 labels (0/1) per line, canonical label order (arnoweng/CheXNet);
- "csv": a CSV with an `Image Index` column (other columns are ignored).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.atomic import atomic_write
from bench.errors import BenchError
from bench.labels import LABELS, NUM_CLASSES

FORMATS: tuple[str, ...] = ("names", "arnoweng", "csv")
SUFFIX = {"names": ".txt", "arnoweng": ".txt", "csv": ".csv"}
IMAGE_COLUMN = "Image Index"
_IMAGE_NAME = re.compile(r"^[\w.-]+\.(png|jpe?g)$", re.IGNORECASE)


@dataclass(frozen=True)
class ImageList:
    path: Path
    format: str
    names: tuple[str, ...]  # in file order, duplicates kept
    labels: np.ndarray | None = None  # (n, 14) uint8 for the arnoweng format


def read_list(path: Path, *, expect: str | None = None) -> ImageList:
    """Read a list file, detecting its format (or insisting on `expect`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BenchError(f"split list not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read split list {path}: {exc}") from None
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise BenchError(f"split list {path} is empty")
    if "," in lines[0][1] or IMAGE_COLUMN in lines[0][1]:
        result = _read_csv(path, text)
    else:
        result = _read_whitespace(path, lines)
    if expect is not None and result.format != expect:
        raise BenchError(
            f"{path} is in {result.format!r} format, expected {expect!r}",
            hint=_describe(expect),
        )
    return result


def _read_csv(path: Path, text: str) -> ImageList:
    rows = csv.reader(io.StringIO(text))
    header = [cell.strip() for cell in next(rows)]
    if IMAGE_COLUMN not in header:
        raise BenchError(
            f"unknown split list format in {path}: a CSV without an {IMAGE_COLUMN!r} column", hint=_formats_hint()
        )
    col = header.index(IMAGE_COLUMN)
    names = []
    for n, row in enumerate(rows, 2):
        if not any(cell.strip() for cell in row):
            continue
        if col >= len(row) or not row[col].strip():
            raise BenchError(f"{path}, line {n}: no {IMAGE_COLUMN!r} value")
        _refuse_folder_prefix(path, n, row[col].strip())
        names.append(row[col].strip())
    return ImageList(path, "csv", tuple(names))


def _read_whitespace(path: Path, lines: list[tuple[int, str]]) -> ImageList:
    width = len(lines[0][1].split())
    fmt = {1: "names", 1 + NUM_CLASSES: "arnoweng"}.get(width)
    if fmt is None:
        raise BenchError(
            f"unknown split list format in {path}: line {lines[0][0]} has {width} fields",
            hint=_formats_hint(),
        )
    names, labels = [], []
    for n, line in lines:
        fields = line.split()
        _refuse_folder_prefix(path, n, fields[0])
        if len(fields) != width or not _IMAGE_NAME.match(fields[0]) or any(f not in ("0", "1") for f in fields[1:]):
            raise BenchError(
                f"unknown split list format in {path}, line {n}: {line[:60]!r}",
                hint=f"every line must be like the first ({_describe(fmt)})",
            )
        names.append(fields[0])
        if fmt == "arnoweng":
            labels.append([int(f) for f in fields[1:]])
    return ImageList(path, fmt, tuple(names), np.asarray(labels, dtype="uint8") if labels else None)


def _refuse_folder_prefix(path: Path, n: int, name: str) -> None:
    """A line like `images_001/images/00000001_000.png`: an image name behind folders, which the
    lists must not carry (images are found by name wherever they lie under the root)."""
    if "/" not in name and "\\" not in name:
        return
    base = re.split(r"[/\\]", name)[-1]
    if not _IMAGE_NAME.match(base):
        return
    raise BenchError(
        f"{path}, line {n}: {name!r} has a folder prefix; split lists hold bare image names like {base!r}",
        hint=f"strip the folders from every line, e.g. sed -i 's#.*/##' {path}",
    )


def write_list(path: Path, names, *, fmt: str = "names", labels: np.ndarray | None = None) -> Path:
    """Write `names` (and, for "arnoweng", their (n, 14) labels) atomically; returns the path."""
    names = list(names)
    if fmt == "names":
        text = "".join(f"{n}\n" for n in names)
    elif fmt == "arnoweng":
        if labels is None or len(labels) != len(names):
            raise ValueError("the arnoweng format needs one row of 14 labels per name")
        text = "".join(f"{n} {' '.join(str(int(v)) for v in row)}\n" for n, row in zip(names, labels))
    elif fmt == "csv":
        text = f"{IMAGE_COLUMN}\n" + "".join(f"{n}\n" for n in names)
    else:
        raise BenchError(f"unknown list format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(Path(path), text)


def _describe(fmt: str) -> str:
    return {
        "names": "one image name per line",
        "arnoweng": f"an image name and {NUM_CLASSES} labels 0/1 per line, in the order {', '.join(LABELS[:2])}, ...",
        "csv": f"a CSV with an {IMAGE_COLUMN!r} column",
    }[fmt]


def _formats_hint() -> str:
    return "use " + "; or ".join(_describe(f) for f in FORMATS)
