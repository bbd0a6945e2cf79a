"""Reader for a dataset root laid out as NIH distributes ChestX-ray14.

A root holds `Data_Entry_2017_v2020.csv` (preferred) or `Data_Entry_2017.csv`, images under
`images/` or `images_0NN/images/`, and optionally `BBox_List_2017.csv` and the split lists.
Without a Data_Entry file the labels come from the copy inside the torchxrayvision wheel.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data.index import DatasetIndex
from bench.errors import BenchError
from bench.labels import LABELS, NO_FINDING, NUM_CLASSES, canonical

LABEL_FILES: tuple[tuple[str, str], ...] = (
    ("Data_Entry_2017_v2020.csv", "v2020"),
    ("Data_Entry_2017.csv", "2017"),
)
BOX_FILE = "BBox_List_2017.csv"
DEMO_MARKER = "DEMO.json"
TXV_VERSION = "v2020 (torchxrayvision)"
TXV_LABELS = "Data_Entry_2017_v2020.csv.gz"
TXV_BOXES = "BBox_List_2017.csv.gz"

# Data_Entry column -> DatasetIndex column.
_ENTRY_COLUMNS = {
    "Image Index": "image_id",
    "Finding Labels": "findings",
    "Follow-up #": "follow_up",
    "Patient ID": "patient_id",
    "Patient Age": "age",
    "Patient Gender": "sex",
    "View Position": "view",
}
_IMAGE_DIR = re.compile(r"images_\d+")
_ROOT_HINT = (
    "point --data or CXR_BENCH_DATA at the folder that holds images/ or images_0NN/images/ and Data_Entry_2017*.csv"
)


def txv_data_dir() -> Path | None:
    """torchxrayvision's bundled data folder, found without importing the package (slow)."""
    try:
        spec = importlib.util.find_spec("torchxrayvision")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _labels_source(root: Path) -> tuple[Path, str, str]:
    """(path to read, labels_file as recorded, labels_version)."""
    for name, version in LABEL_FILES:
        path = root / name
        if path.is_file():
            return path, str(path), version
    txv = txv_data_dir()
    if txv is None or not (txv / TXV_LABELS).is_file():
        raise BenchError(
            f"no {LABEL_FILES[0][0]} or {LABEL_FILES[1][0]} in {root}, and torchxrayvision's copy is not installed",
            hint="download Data_Entry_2017_v2020.csv from NIH into the root, or `pip install torchxrayvision`",
        )
    return txv / TXV_LABELS, f"torchxrayvision:{TXV_LABELS}", TXV_VERSION


def _malformed(path: Path | str, what: str) -> BenchError:
    return BenchError(
        f"malformed labels file {path}: {what}",
        hint="replace it with NIH's Data_Entry_2017_v2020.csv, or delete it to use torchxrayvision's copy",
    )


def _read_entries(path: Path, shown: str) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, usecols=lambda c: c in _ENTRY_COLUMNS, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise _malformed(shown, "the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise _malformed(shown, " ".join(str(exc).split())) from None
    missing = [c for c in _ENTRY_COLUMNS if c not in raw.columns]
    if missing:
        raise _malformed(shown, f"missing column(s) {', '.join(repr(c) for c in missing)}")
    if raw.empty:
        raise _malformed(shown, "no rows")
    return raw.rename(columns=_ENTRY_COLUMNS)


def _integers(raw: pd.DataFrame, column: str, shown: str, *, digits_only: bool = False) -> np.ndarray:
    text = raw[column].str.strip()
    if digits_only:  # ages in some old copies look like "058Y"
        text = text.str.extract(r"^(\d+)", expand=False)
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        heading = next(k for k, v in _ENTRY_COLUMNS.items() if v == column)
        value, image = raw[column].iloc[row], raw["image_id"].iloc[row]
        raise _malformed(shown, f"{heading!r} {value!r} of {image} is not a number")
    return values.to_numpy(dtype=np.int64)


def _label_matrix(findings: pd.Series, ids: pd.Series, shown: str) -> np.ndarray:
    """(n, 14) uint8 from `A|B` / `No Finding` cells: parse each distinct cell once."""
    codes, uniques = pd.factorize(findings.str.strip())
    table = np.zeros((len(uniques), NUM_CLASSES), dtype=np.uint8)
    for row, cell in enumerate(uniques):
        for part in str(cell).split("|"):
            part = part.strip()
            if not part or part == NO_FINDING:
                continue
            try:
                table[row, LABELS.index(canonical(part))] = 1
            except BenchError:
                image = ids.iloc[int(np.argmax(codes == row))]
                raise BenchError(
                    f"unknown finding {part!r} for {image} in {shown}",
                    hint=f"use {NO_FINDING!r} or names from: {', '.join(LABELS)}",
                ) from None
    return table[codes]


def parse_entries(path: Path, shown: str | None = None) -> pd.DataFrame:
    """A Data_Entry CSV as the DatasetIndex frame (without paths), sorted by image id."""
    shown = shown or str(path)
    raw = _read_entries(path, shown)
    ids = raw["image_id"].str.strip()
    if (ids == "").any():
        raise _malformed(shown, "an empty 'Image Index'")
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise _malformed(shown, f"image {duplicated.iloc[0]} is listed twice")
    frame = pd.DataFrame(
        {
            "patient_id": _integers(raw, "patient_id", shown),
            "follow_up": _integers(raw, "follow_up", shown),
            "view": raw["view"].str.strip().to_numpy(),
            "age": _integers(raw, "age", shown, digits_only=True),
            "sex": raw["sex"].str.strip().to_numpy(),
            "path": pd.Series([None] * len(raw), dtype=object, index=ids.to_numpy()),
        },
        index=pd.Index(ids.to_numpy(), name="image_id"),
    )
    labels = pd.DataFrame(_label_matrix(raw["findings"], ids, shown), columns=list(LABELS), index=frame.index)
    return pd.concat([frame, labels], axis=1).sort_index()


def find_images(root: str | Path) -> dict[str, str]:
    """Image id -> path for every PNG in `root/images/` and `root/images_NNN/images/`."""
    root = Path(root)
    folders = [root / "images"]
    try:
        with os.scandir(root) as entries:
            numbered = sorted(e.name for e in entries if _IMAGE_DIR.fullmatch(e.name) and e.is_dir())
    except OSError:
        numbered = []
    folders += [root / name / "images" for name in numbered]
    found: dict[str, str] = {}
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.lower().endswith(".png") and entry.name not in found:
                        found[entry.name] = entry.path
        except (FileNotFoundError, NotADirectoryError):
            continue
    return found


def fingerprint(image_ids: Iterable[str], labels: np.ndarray, labels_version: str, pixels: str = "") -> str:
    """sha256 over the sorted image ids, their (n, 14) uint8 labels, the labels version and, when
    given, what else decides the pixels (the demo generator's version)."""
    ids = list(image_ids)
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable")
    digest = hashlib.sha256()
    digest.update("\n".join(ids[i] for i in order).encode())
    digest.update(b"\0")
    digest.update(np.ascontiguousarray(labels[order], dtype=np.uint8).tobytes())
    digest.update(b"\0")
    digest.update(labels_version.encode())
    if pixels:
        digest.update(b"\0" + pixels.encode())
    return digest.hexdigest()


def demo_meta(root: Path) -> dict | None:
    """A demo root's DEMO.json, or None where there is none or it is not a JSON object."""
    try:
        meta = json.loads((Path(root) / DEMO_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def demo_pixels(root: Path) -> str:
    """The demo generator and version: the same labels drawn by another version are another
    dataset. "" for NIH data, and for demo v1, fingerprinted before v2 redrew Cardiomegaly."""
    meta = demo_meta(root) or {}
    if meta.get("version") in (None, 1):
        return ""
    return f"{meta.get('generator')} v{meta['version']}"


def read_boxes(path: Path, shown: str | None = None) -> pd.DataFrame:
    """NIH's box list (`Image Index,Finding Label,Bbox [x,y,w,h],,,`) as image_id,label,x,y,w,h."""
    shown = shown or str(path)
    fix = "replace it with NIH's BBox_List_2017.csv, or delete it"
    try:
        raw = pd.read_csv(path, header=0, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise BenchError(f"box file {shown} is empty", hint=fix) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise BenchError(f"malformed box file {shown}: {' '.join(str(exc).split())}", hint=fix) from None
    if raw.shape[1] < 6:
        raise BenchError(f"malformed box file {shown}: expected image, label, x, y, w, h columns", hint=fix)
    coords = raw.iloc[:, 2:6].apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce"))
    if coords.isna().to_numpy().any():
        row = int(np.flatnonzero(coords.isna().any(axis=1).to_numpy())[0])
        raise BenchError(f"malformed box file {shown}: non-numeric box on line {row + 2}", hint=fix)
    sizes = coords.iloc[:, 2:4].to_numpy(dtype=float)
    flat = ~(sizes > 0).all(axis=1) | ~np.isfinite(coords.to_numpy(dtype=float)).all(axis=1)
    if flat.any():
        row = int(np.flatnonzero(flat)[0])
        w, h = sizes[row]
        raise BenchError(
            f"malformed box file {shown}: line {row + 2} ({str(raw.iloc[row, 0]).strip()}, {str(raw.iloc[row, 1]).strip()}) "
            f"has a box of width {w:g} and height {h:g}; a box needs a positive, finite width and height",
            hint=f"fix or delete that line, or {fix}",
        )
    try:
        labels = [canonical(name) for name in raw.iloc[:, 1]]
    except BenchError as exc:
        raise BenchError(f"box file {shown}: {exc.message}", hint=exc.hint) from None
    return pd.DataFrame(
        {
            "image_id": raw.iloc[:, 0].str.strip().to_numpy(),
            "label": labels,
            "x": coords.iloc[:, 0].to_numpy(dtype=float),
            "y": coords.iloc[:, 1].to_numpy(dtype=float),
            "w": coords.iloc[:, 2].to_numpy(dtype=float),
            "h": coords.iloc[:, 3].to_numpy(dtype=float),
        }
    )


def _boxes(root: Path, labels_version: str) -> pd.DataFrame | None:
    if (root / BOX_FILE).is_file():
        return read_boxes(root / BOX_FILE)
    txv = txv_data_dir()
    if labels_version == TXV_VERSION and txv is not None and (txv / TXV_BOXES).is_file():
        return read_boxes(txv / TXV_BOXES, f"torchxrayvision:{TXV_BOXES}")
    return None


def load_index(root: str | Path, *, check_images: bool = True) -> DatasetIndex:
    """The DatasetIndex of an NIH-layout root (see the module docstring).

    With `check_images`, image paths are filled in (None for images missing from disk) and a
    root without any image is an error; without it, paths are all None and nothing is scanned.
    """
    root = Path(root)
    if not root.exists():
        raise BenchError(f"dataset root {root} does not exist", hint=_ROOT_HINT)
    if not root.is_dir():
        raise BenchError(f"dataset root {root} is not a directory", hint=_ROOT_HINT)
    source, labels_file, labels_version = _labels_source(root)
    frame = parse_entries(source, labels_file)
    if check_images:
        found = find_images(root)
        if not found:
            raise BenchError(
                f"no images under {root / 'images'} or {root / 'images_0NN' / 'images'}",
                hint="extract NIH's images_001..012 tarballs into the root, or point --data at the right folder",
            )
        frame["path"] = pd.Series([found.get(i) for i in frame.index], index=frame.index, dtype=object)
    labels = frame[list(LABELS)].to_numpy(dtype=np.uint8)
    return DatasetIndex(
        root=root,
        kind="demo" if (root / DEMO_MARKER).is_file() else "nih",
        frame=frame,
        labels_file=labels_file,
        labels_version=labels_version,
        fingerprint=fingerprint(frame.index, labels, labels_version, demo_pixels(root)),
        images_checked=check_images,
        boxes=_boxes(root, labels_version),
    )


def unknown_ids(ids: Iterable[str], index: DatasetIndex) -> list[str]:
    """The ids (in the given order) that are not images of `index`."""
    ids = list(ids)
    known = pd.Index(ids, dtype=object).isin(index.frame.index)
    return [i for i, ok in zip(ids, known) if not ok]


def require_known(ids: Iterable[str], index: DatasetIndex, *, source: str) -> None:
    """BenchError if any id from `source` (e.g. a split file) is not in the dataset."""
    unknown = unknown_ids(ids, index)
    if unknown:
        shown = ", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        raise BenchError(
            f"{len(unknown)} image name(s) in {source} are not in the dataset at {index.root} ({shown})",
            hint="use a split list made for this dataset, or point --data at the matching root",
        )
