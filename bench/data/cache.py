"""Decode-once image cache: every image resized to SxS, as uint8 rows of one memory-mapped array.

One folder per (dataset, size): `cache_dir()/images/<fingerprint[:16]>-<source[:8]>/<size>/`
holding `pixels.npy` (n, S, S) uint8 in the dataset index's row order, `done.npy` (which rows
are written) and `index.json` (what the cache was made from). The source key (the resolved
root, and DEMO.json for the demo) keeps apart datasets with equal labels but other pixels:
the demo rendered at another size, or a downsampled copy of NIH.

Rows are decoded in parallel with `read_resized`, the one resize every path shares, so cache
and PNG give identical pixels. Pixels are flushed before their rows are flagged done, and the
flags are saved every few seconds, so a killed `prepare` loses little and never trusts a torn row.
Each row has a 64-bit checksum (`sums.npy`, BLAKE2b of its bytes): reopening checks every row
asked for (in parallel for large caches), and a row that no longer matches is decoded again
from its PNG; then a sample of rows is re-decoded, and a cache that disagrees with its images
(changed PNGs) is refused.

The space for the rows to be written is allocated before any is decoded, so a disk too small
(or filled meanwhile by another cache) fails at once in one line: a write into a memory map
cannot report a full disk, the process would die of SIGBUS. A `stop` callback is asked after
every chunk, so a run's Ctrl-C ends a fill within a chunk, the rows done kept.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.atomic import atomic_write, size_text, writable
from bench.config import cache_dir
from bench.data.images import read_resized
from bench.data.index import DatasetIndex
from bench.data.nih import DEMO_MARKER
from bench.errors import BenchError
from bench.ui.console import notice

FORMAT = "cxr-bench-image-cache"
VERSION = 1
PIXELS_FILE, DONE_FILE, INDEX_FILE, LOCK_FILE = "pixels.npy", "done.npy", "index.json", ".lock"
SUMS_FILE = "sums.npy"  # per row: a 64-bit checksum of its bytes
SUM_CHUNK_BYTES = 64 * 1024**2  # pixels checksummed per task
PARALLEL_SUM_BYTES = 256 * 1024**2  # below this, rows are checksummed in this process
CHUNK_ROWS = 32  # images per worker task
FLUSH_SECONDS = 5.0  # most work a kill can lose
VERIFY_ROWS = 4  # done rows re-decoded and compared whenever a cache is reopened


def default_workers() -> int:
    return min(4, os.cpu_count() or 1)


def source_key(index: DatasetIndex) -> str:
    """sha256 over where the pixels come from: the resolved root (and DEMO.json for the demo)."""
    root = Path(index.root).resolve()
    digest = hashlib.sha256(str(root).encode())
    marker = root / DEMO_MARKER
    if marker.is_file():
        digest.update(b"\0" + marker.read_bytes())
    return digest.hexdigest()


def cache_folder(index: DatasetIndex, size: int, *, root: Path | None = None) -> Path:
    """Where the cache of `index` at `size` lives (`root` defaults to cache_dir()/"images")."""
    base = Path(root) if root is not None else cache_dir() / "images"
    return base / f"{index.fingerprint[:16]}-{source_key(index)[:8]}" / str(size)


class ImageCache:
    """A prepared cache: `rows(ids)` gives the row of each image in `pixels` (read-only memmap)."""

    def __init__(self, folder: Path, size: int, ids: Sequence[str], done: np.ndarray):
        self.folder = Path(folder)
        self.size = size
        self._positions = pd.Index(ids)
        self.done = done
        self._pixels: np.ndarray | None = None

    @property
    def pixels_path(self) -> Path:
        return self.folder / PIXELS_FILE

    @property
    def pixels(self) -> np.ndarray:
        if self._pixels is None:
            self._pixels = np.load(self.pixels_path, mmap_mode="r")
        return self._pixels

    def __len__(self) -> int:
        return len(self._positions)

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """Row numbers of `ids`; BenchError for ids that are not in the dataset or not cached yet."""
        ids = list(ids)
        rows = self._positions.get_indexer(pd.Index(ids))
        if (rows < 0).any():
            unknown = ids[int(np.flatnonzero(rows < 0)[0])]
            raise BenchError(f"image {unknown} is not in the dataset of the image cache {self.folder}")
        missing = np.flatnonzero(~self.done[rows])
        if len(missing):
            raise BenchError(
                f"{len(missing)} image(s) are not in the image cache {self.folder} yet, e.g. {ids[missing[0]]}",
                hint=f"run `bench data prepare --size {self.size}` or pass --no-cache",
            )
        return rows.astype(np.int64)


def _refuse(folder: Path, why: str) -> BenchError:
    return BenchError(
        f"the image cache {folder} {why}",
        hint=f"delete the folder {folder} to rebuild it, or pass --no-cache to read the PNGs directly",
    )


def _meta(index: DatasetIndex, size: int) -> dict:
    from PIL import __version__ as pillow

    root = Path(index.root).resolve()
    return {
        "format": FORMAT,
        "version": VERSION,
        "fingerprint": index.fingerprint,
        "source": {"root": str(root), "key": source_key(index)},
        "size": size,
        "resize": f"read_resized (antialiased bilinear, Pillow {pillow})",
        "ids": list(map(str, index.image_ids)),
    }


def _check_meta(folder: Path, found: dict, wanted: dict) -> None:
    if found.get("format") != FORMAT or found.get("version") != VERSION:
        raise _refuse(
            folder, f"has format {found.get('format')!r} version {found.get('version')!r}, not {FORMAT} {VERSION}"
        )
    if found.get("fingerprint") != wanted["fingerprint"]:
        raise _refuse(
            folder,
            f"was made for another dataset (fingerprint {str(found.get('fingerprint'))[:16]}, "
            f"this dataset {wanted['fingerprint'][:16]})",
        )
    if found.get("ids") != wanted["ids"] or found.get("size") != wanted["size"]:
        raise _refuse(folder, "does not list this dataset's images at this size")


def _atomic_save(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda fh: np.save(fh, array))


@contextlib.contextmanager
def _locked(folder: Path, *, exclusive: bool) -> Iterator[None]:
    """One preparer per folder at a time (two runs starting together wait, not collide); a
    reader of a read-only cache takes the lock shared, so it waits for a preparer that can write."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    try:
        # flock needs no write access: a lock file another user made (read-only to us) locks too.
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:  # a read-only folder without a lock file: nobody can be writing it
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


Opened = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # pixels, done flags, checksums (None: none yet)


def _open_existing(folder: Path, meta: dict, shape: tuple[int, int, int], *, write: bool) -> Opened:
    try:
        found = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
        pixels = np.load(folder / PIXELS_FILE, mmap_mode="r+" if write else "r")
        done = np.load(folder / DONE_FILE)
        sums = np.load(folder / SUMS_FILE) if (folder / SUMS_FILE).is_file() else None
    except (OSError, ValueError) as exc:
        raise _refuse(folder, f"is unreadable ({exc})") from None
    _check_meta(folder, found, meta)
    if pixels.shape != shape or pixels.dtype != np.uint8 or done.shape != shape[:1] or done.dtype != bool:
        raise _refuse(folder, f"holds an array of shape {pixels.shape}, not {shape}")
    if sums is not None and (sums.shape != shape[:1] or sums.dtype != np.uint64):
        raise _refuse(folder, f"holds checksums of shape {sums.shape}, not {shape[:1]}")
    return pixels, done, sums


def _open_or_create(folder: Path, meta: dict, shape: tuple[int, int, int]) -> Opened:
    index_path = folder / INDEX_FILE
    if index_path.is_file():
        return _open_existing(folder, meta, shape, write=True)
    # index.json is written last: until it exists, whatever else is here is a torn start.
    pixels = np.lib.format.open_memmap(folder / PIXELS_FILE, mode="w+", dtype=np.uint8, shape=shape)
    done, sums = np.zeros(shape[0], dtype=bool), np.zeros(shape[0], dtype=np.uint64)
    _atomic_save(folder / SUMS_FILE, sums)
    _atomic_save(folder / DONE_FILE, done)
    atomic_write(index_path, json.dumps(meta) + "\n")
    return pixels, done, sums


def _read_only(folder: Path, meta: dict, shape: tuple[int, int, int], wanted: np.ndarray) -> Opened:
    """A cache in a folder this process cannot write: usable as it is when it holds every image wanted."""
    hint = "make it writable, set CXR_BENCH_CACHE to a writable folder, or pass --no-cache"
    if not (folder / INDEX_FILE).is_file():
        raise BenchError(f"the image cache folder {folder} is read-only and holds no cache yet", hint=hint)
    pixels, done, sums = _open_existing(folder, meta, shape, write=False)
    lacking = int((wanted & ~done).sum())
    if lacking:
        raise BenchError(
            f"the image cache {folder} is read-only and lacks {lacking} of the images asked for", hint=hint
        )
    return pixels, done, sums


def row_sums(rows: np.ndarray) -> np.ndarray:
    """The 64-bit checksum (the first 8 bytes of BLAKE2b) of each row of `rows` (n, S, S)."""
    digests = (hashlib.blake2b(np.ascontiguousarray(r).data, digest_size=8).digest() for r in rows)
    return np.array([int.from_bytes(d, "little") for d in digests], dtype=np.uint64)


def _sums_task(task: tuple[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    path, rows = task
    return rows, row_sums(np.load(path, mmap_mode="r")[rows])


def _sums_of(folder: Path, pixels: np.ndarray, rows: np.ndarray, workers: int) -> np.ndarray:
    """The checksums of `rows` as they are on disk now; in `workers` processes for many rows."""
    row_bytes = max(1, int(np.prod(pixels.shape[1:])))
    per_task = max(1, SUM_CHUNK_BYTES // row_bytes)
    if len(rows) * row_bytes < PARALLEL_SUM_BYTES:
        workers = 1
    tasks = [(str(folder / PIXELS_FILE), rows[i : i + per_task]) for i in range(0, len(rows), per_task)]
    found = np.zeros(len(pixels), dtype=np.uint64)
    with contextlib.closing(parallel_map(_sums_task, tasks, min(workers, len(tasks)))) as results:
        for task_rows, sums in results:
            found[task_rows] = sums
    return found[rows]


def _check_sums(
    folder: Path, opened: Opened, rows: np.ndarray, ids: Sequence[str], *, workers: int, write: bool
) -> np.ndarray:
    """The cache's checksums, after checking the done ones of `rows` against them: a row that
    no longer matches is flagged not done, to be decoded again (refused in a read-only cache).
    A cache from before checksums gets them from its rows as they are."""
    pixels, done, sums = opened
    if sums is None:
        every = np.flatnonzero(done)
        sums = np.zeros(len(done), dtype=np.uint64)
        sums[every] = _sums_of(folder, pixels, every, workers)
        if write:
            _atomic_save(folder / SUMS_FILE, sums)
            notice(f"image cache {folder}: checksums added for the {len(every)} row(s) cached before rows had them")
        return sums
    rows = rows[done[rows]]
    bad = rows[_sums_of(folder, pixels, rows, workers) != sums[rows]]
    if len(bad):
        if not write:
            raise _refuse(
                folder, f"is read-only and {len(bad)} of its rows no longer match their checksums (e.g. {ids[bad[0]]})"
            )
        notice(
            f"image cache {folder}: {len(bad)} row(s) no longer match their checksums (e.g. {ids[bad[0]]}); "
            "decoding them again from their PNGs"
        )
        done[bad] = False
        _atomic_save(folder / DONE_FILE, done)
    return sums


def _verify(folder: Path, pixels: np.ndarray, done: np.ndarray, paths: np.ndarray, size: int) -> None:
    """Re-decode a few done rows; a cache that disagrees with its images is refused."""
    candidates = np.flatnonzero(done & (paths != None))  # noqa: E711 (elementwise)
    if not len(candidates):
        return
    rng = np.random.default_rng()
    for row in rng.choice(candidates, size=min(VERIFY_ROWS, len(candidates)), replace=False):
        if not np.array_equal(pixels[row], read_resized(paths[row], size)):
            raise _refuse(folder, f"disagrees with the image {paths[row]} (changed images, or a damaged cache)")


def _decode(task: tuple[np.ndarray, list[str], int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, paths, size = task
    pixels = np.stack([read_resized(p, size) for p in paths])
    return rows, pixels, row_sums(pixels)


def _start_worker(initializer: Callable | None, initargs: tuple) -> None:
    # Ctrl-C goes to the parent, which lets running tasks finish and stops; a forked worker
    # would otherwise also inherit the parent's handlers (training's SIGTERM only sets a flag).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer(*initargs)


def parallel_map(
    fn: Callable, tasks: Iterable, workers: int, *, initializer: Callable | None = None, initargs: tuple = ()
) -> Generator[Any, None, None]:
    """`fn` over `tasks` in `workers` processes, results as they finish (in this process, in
    order, if workers <= 1). Leaving the loop early cancels what has not started and waits for
    the rest (a task is one chunk: short), so workers always end cleanly."""
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(fn, tasks)
        return
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context(), initializer=_start_worker, initargs=(initializer, initargs)
    )
    try:
        for future in as_completed([pool.submit(fn, task) for task in tasks]):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def prepare_cache(
    index: DatasetIndex,
    size: int,
    *,
    ids: Iterable[str] | None = None,
    workers: int | None = None,
    progress: bool = True,
    root: Path | None = None,
    stop: Callable[[], None] | None = None,
) -> ImageCache:
    """The cache of `index` at `size`, with every image of `ids` (default: all found on disk) decoded.

    Rows already done are kept (after checking their checksums and re-decoding a sample of
    them); the rest are decoded by `workers` processes (default min(4, cpu count); 1 decodes in
    this process). `stop` is called after every chunk decoded; what it raises ends the fill,
    the rows done kept.
    """
    if size < 1:
        raise BenchError(f"cache image size must be positive, got {size}")
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise BenchError(f"--workers must be at least 1, got {workers}")
    meta = _meta(index, size)
    folder = cache_folder(index, size, root=root)
    paths = index.frame["path"].to_numpy(dtype=object)
    wanted = np.ones(len(paths), dtype=bool)
    if ids is not None:
        cache_rows = pd.Index(meta["ids"]).get_indexer(list(ids))
        if (cache_rows < 0).any():
            raise BenchError("prepare_cache: some ids are not images of the dataset")
        wanted = np.zeros(len(paths), dtype=bool)
        wanted[cache_rows] = True
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(
            f"cannot create the image cache folder {folder} ({exc.strerror or exc})",
            hint="set CXR_BENCH_CACHE to a writable directory, or pass --no-cache",
        ) from None
    shape = (len(paths), size, size)
    present = paths != None  # noqa: E711 (elementwise)
    can_write = writable(folder)
    with _locked(folder, exclusive=can_write):
        if can_write:
            opened = _open_or_create(folder, meta, shape)
        else:
            opened = _read_only(folder, meta, shape, wanted & present)
        pixels, done, _ = opened
        sums = _check_sums(folder, opened, np.flatnonzero(wanted), meta["ids"], workers=workers, write=can_write)
        _verify(folder, pixels, done, paths, size)
        todo = np.flatnonzero(wanted & ~done & present)
        if len(todo):
            if progress:
                notice(f"decoding {len(todo)} image(s) once into the image cache {folder}")
            _fill(folder, pixels, done, sums, paths, todo, size, workers, progress, stop)
        del pixels, opened  # unmap before readers map it read-only
    return ImageCache(folder, size, meta["ids"], done)


def _reserve(folder: Path, pixels: np.memmap, todo: np.ndarray, size: int) -> None:
    """Allocate the file's bytes of the rows `todo` before they are written; the one-line space
    error when the disk cannot hold them."""
    row_bytes = size * size
    need, free = len(todo) * row_bytes, shutil.disk_usage(folder).free
    error = BenchError(
        f"the image cache at {size}px needs {size_text(need)} more in {folder}; {size_text(free)} are free",
        hint="free some space, set CXR_BENCH_CACHE to a larger disk, or pass --no-cache",
    )
    if need > free:
        raise error
    if not hasattr(os, "posix_fallocate"):
        return
    breaks = np.flatnonzero(np.diff(todo) != 1)  # runs of consecutive rows: one call each
    starts, ends = todo[np.r_[0, breaks + 1]], todo[np.r_[breaks, len(todo) - 1]] + 1
    fd = os.open(folder / PIXELS_FILE, os.O_RDWR)
    try:
        for start, end in zip(starts.tolist(), ends.tolist()):
            os.posix_fallocate(fd, pixels.offset + start * row_bytes, (end - start) * row_bytes)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise error from None
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):  # else: no fallocate here
            raise
    finally:
        os.close(fd)


def _fill(folder, pixels, done, sums, paths, todo, size, workers, progress, stop) -> None:
    from bench.ui.progress import progress_bar

    _reserve(folder, pixels, todo, size)
    tasks = [(rows, paths[rows].tolist(), size) for rows in np.array_split(todo, -(-len(todo) // CHUNK_ROWS))]
    workers = min(workers, len(tasks))
    fresh: list[np.ndarray] = []

    def flush() -> None:
        # Pixels reach the file before their rows are flagged (and their checksums before the
        # flags), so a done row is never torn.
        pixels.flush()
        _atomic_save(folder / SUMS_FILE, sums)
        for rows in fresh:
            done[rows] = True
        fresh.clear()
        _atomic_save(folder / DONE_FILE, done)

    last = time.monotonic()
    try:
        with (
            progress_bar(f"caching images at {size}px", len(todo), enabled=progress) as bar,
            contextlib.closing(parallel_map(_decode, tasks, workers)) as results,
        ):
            for rows, decoded, decoded_sums in results:
                pixels[rows] = decoded
                sums[rows] = decoded_sums
                fresh.append(rows)
                bar.advance(len(rows))
                if time.monotonic() - last >= FLUSH_SECONDS:
                    flush()
                    last = time.monotonic()
                if stop is not None:
                    stop()
    finally:
        flush()
