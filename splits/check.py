"""`bench data check`'s whole report: bench.data's look at the root together with the split
files each protocol finds there (`splits.official.check_files`, `splits.weng.check_files`), each
read with its protocol's reader and format, so a file that passes here is one `bench run` accepts.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.data.check import CheckReport, SplitFileCheck, check_dataset
from bench.data.index import DatasetIndex
from splits import official, weng

# protocol -> its own check of its files under a root
PROTOCOL_CHECKS: dict[str, Callable[[DatasetIndex], tuple[SplitFileCheck, ...]]] = {
    "official": official.check_files,
    "weng": weng.check_files,
}


def check_files(protocol: str, index: DatasetIndex) -> tuple[SplitFileCheck, ...]:
    """Whether each of `protocol`'s files is under the root, readable, and names dataset images."""
    return PROTOCOL_CHECKS[protocol](index)


def check_root(index: DatasetIndex, **options) -> CheckReport:
    """`bench data check`: `check_dataset(index, **options)` with every protocol's split files."""
    files = tuple(c for protocol in PROTOCOL_CHECKS for c in check_files(protocol, index))
    return check_dataset(index, split_files=files, **options)
