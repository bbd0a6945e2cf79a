"""An OS file lock on a run folder, held for as long as the run's process works on it.

The lock is `fcntl.flock` (exclusive, non-blocking) on `<run_dir>/.lock`; the holder writes its
pid into that file so that a second process can say who holds it. The kernel drops an flock
when its process exits, however it exits (a crash or `kill -9` included), so a record whose
status is "running" but whose folder lock nobody holds belongs to a dead process: the store
shows it as "stale" (`RunStore.liveness`). The lock file stays in the folder after the run
(empty once released), so that a later look can tell "finished or killed" from "never locked":
a folder without one (a run from before the engine locked) keeps the record's own status.

API, for the engine and other writers of a run folder:

    from bench.records import RunStore
    store = RunStore(results)
    record = store.create(...)        # makes the run folder, status "running"
    with store.lock(record.run_id):   # or: with bench.records.lock.hold(store.run_dir(run_id)):
        ...                           # train, write the record; the lock is released on exit
    # --resume: take `store.lock(run_id)` before touching the folder; a second
    # `bench run --resume` of a live run then fails with "still running in process PID".

Take the lock as soon as the folder exists (right after `store.create`) and hold it until the
final record is written; in a multi-process run, rank 0 alone holds it.

`hold` raises a BenchError ("run X is still running in process PID") when another process
holds the lock; `is_held(run_dir)` says whether some process holds it now (it tries to take the
lock without waiting and releases it at once). On a system without fcntl (Windows) the lock is a
no-op and `is_held` is False.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.errors import BenchError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"


def lock_path(run_dir: Path | str) -> Path:
    return Path(run_dir) / LOCK_FILE


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return "?"
    return text or "?"


@contextmanager
def hold(run_dir: Path | str) -> Iterator[Path]:
    """Hold the lock of `run_dir` for the `with` block; BenchError if another process holds it."""
    run_dir = Path(run_dir)
    path = lock_path(run_dir)
    if fcntl is None:  # pragma: no cover
        yield path
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise BenchError(
            f"cannot create the lock file {path} ({exc.strerror or exc})",
            hint="check that the run folder exists and the results directory is writable",
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(
                f"run {run_dir.name} is still running in process {_holder(path)}",
                hint="wait for it to finish, or stop that process first; a crashed run releases its lock",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield path
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_held(run_dir: Path | str) -> bool:
    """Whether some process holds the lock of `run_dir` now (never waits, never creates the file)."""
    path = lock_path(run_dir)
    if fcntl is None or not path.is_file():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
