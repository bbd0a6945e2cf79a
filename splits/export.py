"""Writing a split's lists to a folder, so it can be shared and re-imported as `custom:PATH`."""

from __future__ import annotations

import json
from pathlib import Path

from bench.atomic import atomic_write
from bench.data.index import DatasetIndex
from bench.errors import BenchError
from splits.base import Fold
from splits.custom import LIST_FILE
from splits.listfiles import FORMATS, SUFFIX, write_list

MANIFEST = "SPLIT.json"


def export(folds: list[Fold], out: Path, *, index: DatasetIndex, fmt: str = "names", force: bool = False) -> list[Path]:
    """Write `train{k}`, `val{k}`, `test{k}` (k = 0-based fold) and SPLIT.json; returns the list files.

    Refuses a folder that already holds split lists unless `force` (then they are replaced), since
    leftovers from another export would be read back as extra folds.
    """
    if fmt not in FORMATS:
        raise BenchError(f"unknown list format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} is a file, not a folder")
    existing = sorted(p for p in out.iterdir() if LIST_FILE.match(p.name)) if out.is_dir() else []
    if existing and not force:
        raise BenchError(
            f"{out} already holds split lists ({', '.join(p.name for p in existing[:3])}{', ...' if len(existing) > 3 else ''})",
            hint="choose an empty folder, or pass --force to replace them",
        )
    for path in existing:
        path.unlink()
    written = []
    for fold in folds:
        for name, ids in fold.lists().items():
            labels = None
            if fmt == "arnoweng":
                missing = [i for i in ids if i not in index.frame.index]
                if missing:
                    raise BenchError(
                        f"cannot write labels for {len(missing)} ids not in the dataset (e.g. {missing[0]})",
                        hint="use --format names",
                    )
                labels = index.labels(ids)
            written.append(write_list(out / f"{name}{fold.fold}{SUFFIX[fmt]}", ids, fmt=fmt, labels=labels))
    manifest = {
        "split": folds[0].key,
        "seed": folds[0].seed,
        "params": folds[0].params,
        "format": fmt,
        "labels_version": index.labels_version,
        "folds": [
            {"fold": f.fold, "fingerprint": f.fingerprint} | {name: len(ids) for name, ids in f.lists().items()}
            for f in folds
        ],
    }
    atomic_write(out / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return written
