"""`custom:PATH`: split lists from a folder, in any format `splits.listfiles` reads.

One fold: `train*`, `val*`, `test*` files (e.g. train_list.txt). Several folds: a number after
the role, e.g. train1.csv/val1.csv/test1.csv or train_1.txt; folds are ordered by that number
and indexed from 0. Files are .txt or .csv; anything else in the folder is ignored.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from bench.data.index import DatasetIndex
from bench.errors import BenchError
from splits.base import LIST_NAMES, Lists, SplitProtocol
from splits.listfiles import read_list

LIST_FILE = re.compile(r"^(train|val|test)(?:idation)?(?:[_-]?(\d+))?(?:[_-][^.]*)?\.(?:txt|csv)$", re.IGNORECASE)


def discover(folder: Path) -> dict[int | None, dict[str, Path]]:
    """Fold number (None for a single unnumbered fold) -> {"train"|"val"|"test": file}."""
    if not folder.is_dir():
        raise BenchError(
            f"custom split folder not found: {folder}", hint="write custom:PATH with PATH a folder of list files"
        )
    found: dict[int | None, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(folder.iterdir()):
        match = LIST_FILE.match(path.name)
        if match and path.is_file():
            role, number = match.group(1).lower(), match.group(2)
            found[int(number) if number is not None else None][role].append(path)
    if not found:
        raise BenchError(
            f"no split lists in {folder}",
            hint="expected train*/val*/test* .txt or .csv files, e.g. train.txt, val.txt, test.txt or train1.csv, val1.csv, test1.csv",
        )
    if None in found and len(found) > 1:
        raise BenchError(
            f"{folder} mixes numbered and unnumbered split lists",
            hint="number every fold (train1.txt, ...) or give a single train/val/test set",
        )
    folds: dict[int | None, dict[str, Path]] = {}
    for number, roles in sorted(found.items(), key=lambda item: -1 if item[0] is None else item[0]):
        label = "the fold" if number is None else f"fold {number}"
        missing = [role for role in LIST_NAMES if role not in roles]
        if missing:
            have = ", ".join(p.name for paths in roles.values() for p in paths)
            raise BenchError(f"mismatched split lists in {folder}: {label} has {have} but no {'/'.join(missing)} list")
        several = [paths for paths in roles.values() if len(paths) > 1]
        if several:
            raise BenchError(f"ambiguous split lists in {folder}: {label} has {', '.join(p.name for p in several[0])}")
        folds[number] = {role: roles[role][0] for role in LIST_NAMES}
    return folds


class Custom(SplitProtocol):
    """Unbound (no folder) in the registry; `bind(path)` reads the folder's lists."""

    name = "custom"
    description = "your own lists from a folder: one name per line, arnoweng format, or CSV with 'Image Index'"
    n_folds = None
    takes_argument = True
    usage = "custom:PATH"

    def __init__(self, path: Path | None = None, lists: list[Lists] | None = None):
        self.path = path
        self.lists = lists
        self.takes_argument = path is None

    def bind(self, argument: str) -> Custom:
        if not argument:
            raise BenchError("custom split without a folder", hint="write custom:PATH")
        path = Path(argument).expanduser()
        # Read now, so a bad folder or file fails before the (slower) dataset index loads.
        lists: list[Lists] = []
        for files in discover(path).values():
            train, val, test = (list(read_list(files[role]).names) for role in LIST_NAMES)
            lists.append((train, val, test))
        return Custom(path, lists)

    def params(self, *, val_fraction: float) -> dict:
        return {"path": str(self.path)}

    def build(self, index: DatasetIndex, *, seed: int, val_fraction: float) -> list[Lists]:
        if self.lists is None:
            raise BenchError("the custom split protocol needs a folder", hint="name it as custom:PATH")
        return list(self.lists)


PROTOCOL = Custom()
