"""The split files a dataset root holds, each read with the reader and format of its protocol
(so a file that passes here is one `bench run` accepts), and `bench data check`'s whole report:
bench.data's look at the root together with these files.

Each protocol checks its own files (`splits.official.check_files`, `splits.weng.check_files`);
this module composes them, and holds `validate_lists(fold, index)`: the same faults for the
lists of one fold, raised as one BenchError before a run trains on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from bench.data.check import (
    CheckReport,
    SplitFileCheck,
    check_dataset,
    duplicate_lines_problem,
    unknown_names_problem,
)
from bench.data.index import DatasetIndex
from bench.data.nih import unknown_ids
from bench.errors import BenchError
from splits import official, weng
from splits.listfiles import read_list

official_files = official.files
weng_files = weng.files

# protocol -> (its list format, where its files lie under a root)
PROTOCOL_FILES: dict[str, tuple[str, Callable[[Path], list[tuple[str, Path]]]]] = {
    "official": (official.LIST_FORMAT, official.files),
    "weng": (weng.LIST_FORMAT, weng.files),
}
# protocol -> its own check of its files under a root
PROTOCOL_CHECKS: dict[str, Callable[[DatasetIndex], tuple[SplitFileCheck, ...]]] = {
    "official": official.check_files,
    "weng": weng.check_files,
}

DUPLICATES_HINT = "each image may appear once in a list; drop the repeated lines (e.g. `sort -u`) or fix the list"
UNKNOWN_HINT = "use a split list made for this dataset, or point --data at the matching root"


def duplicates_of(names: Iterable[str]) -> list[str]:
    """The names of the lines that repeat an earlier line, in order."""
    seen: set[str] = set()
    repeats = []
    for name in names:
        if name in seen:
            repeats.append(name)
        seen.add(name)
    return repeats


def read_checks(
    protocol: str, fmt: str, files: Sequence[tuple[str, Path]], index: DatasetIndex
) -> list[SplitFileCheck]:
    """One check per (name shown, path): present, readable in `fmt`, no repeated lines, every
    name an image of `index`."""
    checks = []
    for name, path in files:
        if not path.is_file():
            checks.append(SplitFileCheck(name, protocol, present=False))
            continue
        try:
            ids = read_list(path, expect=fmt).names
        except BenchError as exc:
            checks.append(SplitFileCheck(name, protocol, True, problem=exc.one_line()))
            continue
        checks.append(
            SplitFileCheck(
                name, protocol, True, len(ids), tuple(unknown_ids(ids, index)), duplicates=tuple(duplicates_of(ids))
            )
        )
    return checks


def check_files(protocol: str, index: DatasetIndex) -> tuple[SplitFileCheck, ...]:
    """Whether each of `protocol`'s files is under the root, readable, and names dataset images."""
    return PROTOCOL_CHECKS[protocol](index)


def check_root(index: DatasetIndex, **options) -> CheckReport:
    """`bench data check`: `check_dataset(index, **options)` with every protocol's split files."""
    files = tuple(c for protocol in PROTOCOL_CHECKS for c in check_files(protocol, index))
    return check_dataset(index, split_files=files, **options)


def validate_lists(fold, index: DatasetIndex) -> None:
    """BenchError for the first fault of `fold`'s lists (train, val, test in this order): lines
    repeated within a list, then names that are not images of `index`. The words are those of
    `bench data check`'s rows, with "the train list" for the file."""
    for name in ("train", "val", "test"):
        ids = list(getattr(fold, name))
        what = f"the {name} list"
        repeats = duplicates_of(ids)
        if repeats:
            raise BenchError(
                duplicate_lines_problem(what, repeats), hint=f"split {fold.key} fold {fold.fold}: {DUPLICATES_HINT}"
            )
        unknown = unknown_ids(ids, index)
        if unknown:
            raise BenchError(
                unknown_names_problem(what, unknown),
                hint=f"split {fold.key} fold {fold.fold}, dataset {index.root}: {UNKNOWN_HINT}",
            )
