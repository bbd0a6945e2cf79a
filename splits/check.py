"""The split files a dataset root holds, each read with the reader and format of its protocol
(so a file that passes here is one `bench run` accepts), and `bench data check`'s whole report:
bench.data's look at the root together with these files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.data.check import CheckReport, SplitFileCheck, check_dataset
from bench.data.index import DatasetIndex
from bench.data.nih import unknown_ids
from bench.errors import BenchError
from splits import official, weng
from splits.listfiles import read_list


def official_files(root: Path) -> list[tuple[str, Path]]:
    """(name shown, path) of NIH's two lists, in the root."""
    return [(name, root / name) for name in (official.TRAIN_VAL, official.TEST)]


def weng_files(root: Path) -> list[tuple[str, Path]]:
    """(name shown, path) of the weng lists: in root/weng, else in the root itself."""
    folder = root / weng.ROOT_FOLDER
    if folder.is_dir():
        return [(f"{weng.ROOT_FOLDER}/{name}", folder / name) for name in weng.FILES.values()]
    # A flat root's test_list.txt is NIH's official one.
    return [(name, root / name) for name in weng.FILES.values() if name not in (official.TRAIN_VAL, official.TEST)]


# protocol -> (its list format, where its files lie under a root)
PROTOCOL_FILES: dict[str, tuple[str, Callable[[Path], list[tuple[str, Path]]]]] = {
    "official": (official.LIST_FORMAT, official_files),
    "weng": (weng.LIST_FORMAT, weng_files),
}


def check_files(protocol: str, index: DatasetIndex) -> tuple[SplitFileCheck, ...]:
    """Whether each of `protocol`'s files is under the root, readable, and names dataset images."""
    fmt, files = PROTOCOL_FILES[protocol]
    checks = []
    for name, path in files(index.root):
        if not path.is_file():
            checks.append(SplitFileCheck(name, protocol, present=False))
            continue
        try:
            ids = read_list(path, expect=fmt).names
        except BenchError as exc:
            checks.append(SplitFileCheck(name, protocol, True, problem=exc.one_line()))
            continue
        checks.append(SplitFileCheck(name, protocol, True, len(ids), tuple(unknown_ids(ids, index))))
    return tuple(checks)


def check_root(index: DatasetIndex, **options) -> CheckReport:
    """`bench data check`: `check_dataset(index, **options)` with every protocol's split files."""
    files = tuple(c for protocol in PROTOCOL_FILES for c in check_files(protocol, index))
    return check_dataset(index, split_files=files, **options)
