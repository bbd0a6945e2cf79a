"""`weng`: the arnoweng/CheXNet train/val/test lists (docs/domain.md section 3), and fetching them.

The project does not ship the lists. They are looked up in `<root>/weng/`, then the dataset
root itself, then `<cache>/splits/weng/` (where `bench splits fetch weng` puts them).
The lists carry 2017 labels; only their image names are used, labels come from the index.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from bench.atomic import atomic_write
from bench.config import cache_dir
from bench.data.index import DatasetIndex
from bench.errors import BenchError
from splits.base import Lists, SplitProtocol
from splits.listfiles import read_list

COMMIT = "3d45ee77e2cfe6ec81bf1b87e2ed4e3fc10af6c1"
URL = "https://raw.githubusercontent.com/arnoweng/CheXNet/{commit}/ChestX-ray14/labels/{file}"
FILES: dict[str, str] = {  # list name -> file name
    "train": "train_list.txt",
    "val": "val_list.txt",
    "test": "test_list.txt",
}
LIST_FORMAT = "arnoweng"  # an image name and 14 labels per line
SHA256: dict[str, str] = {  # at COMMIT
    "train_list.txt": "332d49fb9b7a380bd25c1a54de7544ab422bdc37142459e273298a8ea2ea5c03",
    "val_list.txt": "ef239d3493893aba431c39a9aa5c57e9bc3c04cdd3df505e0754dece04cb31da",
    "test_list.txt": "4333f58bed6d26bd974d825f6ee78a48ce7f81985803c145b3e13ae0c1d8f927",
}
TIMEOUT_S = 10.0
ROOT_FOLDER = "weng"  # the lists' folder inside a dataset root
# NIH's own root holds a test_list.txt too, so the root only counts when it has the weng-only names.
_ROOT_MARKERS = ("train_list.txt", "val_list.txt")


def cache_folder() -> Path:
    return cache_dir() / "splits" / "weng"


def candidates(root: Path) -> list[tuple[Path, tuple[str, ...]]]:
    """Folders searched, in order, with the file names that make a folder count as 'holding the lists'."""
    every = tuple(FILES.values())
    return [(root / ROOT_FOLDER, every), (root, _ROOT_MARKERS), (cache_folder(), every)]


def find_lists(root: Path) -> Path:
    """The folder holding the weng lists for `root`; BenchError saying where to put them if none."""
    searched = []
    for folder, markers in candidates(root):
        searched.append(str(folder))
        if any((folder / name).is_file() for name in markers):
            missing = [name for name in FILES.values() if not (folder / name).is_file()]
            if missing:
                raise BenchError(f"missing weng list {', '.join(missing)} in {folder}", hint=_where_hint(root))
            return folder
    raise BenchError(f"weng split lists not found (looked in {', '.join(searched)})", hint=_where_hint(root))


def _where_hint(root: Path) -> str:
    return (
        f"run `bench splits fetch weng`, or put {', '.join(FILES.values())} from arnoweng/CheXNet "
        f"(commit {COMMIT[:7]}, ChestX-ray14/labels/) into {root / 'weng'} or {cache_folder()}"
    )


class Weng(SplitProtocol):
    name = "weng"
    description = "the arnoweng/CheXNet lists: 78,468 / 11,219 / 22,433 images, patient-disjoint (fetch first)"

    def build(self, index: DatasetIndex, *, seed: int, val_fraction: float) -> list[Lists]:
        folder = find_lists(index.root)
        train, val, test = (
            list(read_list(folder / FILES[name], expect=LIST_FORMAT).names) for name in ("train", "val", "test")
        )
        return [(train, val, test)]


PROTOCOL = Weng()


def files(root: Path) -> list[tuple[str, Path]]:
    """(name shown, path) of the weng lists: in root/weng, else in the root itself."""
    root = Path(root)
    folder = root / ROOT_FOLDER
    if folder.is_dir():
        return [(f"{ROOT_FOLDER}/{name}", folder / name) for name in FILES.values()]
    # A flat root's test_list.txt is NIH's official one.
    return [(name, root / name) for name in FILES.values() if name in _ROOT_MARKERS]


def check_files(index: DatasetIndex):
    """`bench data check`'s look at the weng lists (splits.listcheck.read_checks); once one of them is
    there, a missing other is a fault, as `find_lists` says when a run looks for them."""
    import dataclasses

    from splits.listcheck import read_checks

    checks = read_checks(PROTOCOL.name, LIST_FORMAT, files(index.root), index)
    if any(c.present for c in checks):
        for i, c in enumerate(checks):
            if not c.present:
                checks[i] = dataclasses.replace(
                    c,
                    required=f"missing weng list {index.root / c.name} beside the others ({_where_hint(index.root)})",
                )
    return tuple(checks)


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 (fixed https URL)
        return response.read()


def fetch(dest: Path | None = None) -> Path:
    """Download the three lists at the pinned commit, check their SHA-256, write them atomically."""
    dest = Path(dest) if dest is not None else cache_folder()
    payloads = {}
    for file in FILES.values():
        url = URL.format(commit=COMMIT, file=file)
        try:
            data = _download(url)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise BenchError(
                f"cannot download {url}: {reason}",
                hint=f"without network, put {', '.join(FILES.values())} from arnoweng/CheXNet "
                f"(commit {COMMIT[:7]}, ChestX-ray14/labels/) into {dest} or <data root>/weng/",
            ) from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != SHA256[file]:
            raise BenchError(
                f"{url} has SHA-256 {digest}, expected {SHA256[file]}", hint="nothing was written; try again later"
            )
        payloads[file] = data
    # Written only once all three are verified, so the cache never holds a mixed or partial set.
    dest.mkdir(parents=True, exist_ok=True)
    for file, data in payloads.items():
        atomic_write(dest / file, data)
    return dest
