"""Checks of split list files and of a fold's lists: repeated lines and names that are not images
of the dataset, in the words of `bench data check`'s rows. The protocols check their own files
with `read_checks`; `validate_lists` raises the first fault of a fold before a run trains on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from bench.data.check import SplitFileCheck, duplicate_lines_problem, unknown_names_problem
from bench.data.index import DatasetIndex
from bench.data.nih import unknown_ids
from bench.errors import BenchError
from splits.listfiles import read_list

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
