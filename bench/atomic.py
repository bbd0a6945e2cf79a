"""The one way cxr-bench replaces a file: whole or not at all, durable once it returns.

Records, predictions, checkpoints, cache metadata and list files all go through
`atomic_write`. The new content is written to a file in the target's folder (so the final
rename never crosses file systems), flushed and fsynced, renamed over the target, and the
folder is fsynced so the rename itself survives a crash. Where the file system offers
`O_TMPFILE` the content lives in an unnamed file until it is complete, so even a process
killed midway (`kill -9`, `os._exit`) leaves no temporary behind; elsewhere a uniquely named
temporary is used and removed on any failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from bench.errors import BenchError

TMP_SUFFIX = ".tmp"
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")


def _fsync_dir(folder: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_unnamed(folder: Path) -> int | None:
    """A file descriptor of an unnamed file in `folder`, or None where O_TMPFILE is not offered."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return None
    try:
        return os.open(folder, flag | os.O_RDWR, 0o644)
    except OSError:  # EOPNOTSUPP / EISDIR / EINVAL: a file system without O_TMPFILE
        return None


def _link_unnamed(fd: int, name: Path) -> bool:
    """Give the unnamed file `fd` the name `name`; False where this process may not."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.linkat(fd, b"", _AT_FDCWD, os.fsencode(name), _AT_EMPTY_PATH) == 0:
            return True
    except (OSError, AttributeError):
        pass
    try:  # without CAP_DAC_READ_SEARCH, through /proc (refused by some sandboxes)
        os.link(f"/proc/self/fd/{fd}", name, follow_symlinks=True)
        return True
    except OSError:
        return False


def _copy_to(fh: BinaryIO, name: Path) -> None:
    fh.seek(0)
    with open(name, "xb") as out:
        shutil.copyfileobj(fh, out)
        out.flush()
        os.fsync(out.fileno())


class DiskFull(BenchError):
    """A write that found no space left: which folder, how much the file needs, what is free."""

    exit_code = 1


def no_space(exc: BaseException | None) -> bool:
    """Whether `exc`, or an exception it was raised from or during, says the disk is full (torch's
    writers chain their own errors onto the OSError)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full(path: Path, need: int) -> DiskFull:
    folder = path.parent
    try:
        free = size_text(shutil.disk_usage(folder).free)
    except OSError:
        free = "unknown"
    return DiskFull(
        f"no space left in {folder} to write {path.name}: it needs at least {size_text(need)}, {free} free",
        hint=f"free some space there (the previous {path.name}, if any, is kept)",
    )


@contextlib.contextmanager
def atomic_open(path: Path | str) -> Iterator[BinaryIO]:
    """A binary file whose content replaces `path` when the block ends without an exception;
    DiskFull (one line, the temporary removed) when the disk has no space for it."""
    path = Path(path)
    written = [0]
    try:
        with _replacing(path, written) as fh:
            yield fh
    except Exception as exc:
        if not no_space(exc):
            raise
        previous = path.stat().st_size if path.is_file() else 0
        raise disk_full(path, max(written[0], previous)) from None


@contextlib.contextmanager
def _replacing(path: Path, written: list[int]) -> Iterator[BinaryIO]:
    folder = path.parent
    fd = _open_unnamed(folder)
    unnamed = fd is not None
    named: Path | None = None
    if fd is None:
        named = _tmp_name(path)
        fd = os.open(named, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "w+b") as fh:
            try:
                yield fh
            finally:
                with contextlib.suppress(OSError, ValueError):
                    written[0] = fh.tell()
            fh.flush()
            os.fsync(fh.fileno())
            if unnamed:  # name the complete file only now, then rename it into place
                named = _tmp_name(path)
                if not _link_unnamed(fh.fileno(), named):
                    _copy_to(fh, named)
        os.replace(named, path)  # type: ignore[arg-type]
        named = None
    finally:
        if named is not None:
            with contextlib.suppress(OSError):
                named.unlink()
    _fsync_dir(folder)


def atomic_write(path: Path | str, data: bytes | str | Callable[[BinaryIO], object]) -> Path:
    """Replace `path` by `data` (bytes, text as UTF-8, or a function writing to a binary file)."""
    path = Path(path)
    with atomic_open(path) as fh:
        if callable(data):
            data(fh)
        else:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def writable(folder: Path | str) -> bool:
    """Whether a file can be made in `folder` now: tried, not read from mode bits (root, read-only
    mounts and ACLs decide otherwise)."""
    probe = _tmp_name(Path(folder) / "probe")
    try:
        os.close(os.open(probe, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644))
    except OSError:
        return False
    with contextlib.suppress(OSError):
        probe.unlink()
    return True


def size_text(n: float) -> str:
    """A number of bytes as a person reads it: GB from 1 GB, MB below (never "0.0 GB")."""
    if n >= 999.95e6:  # what would show as 1000.0 MB
        return f"{n / 1e9:.1f} GB"
    if n >= 999.95e3:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.1f} kB"


def stray_temporaries(folder: Path | str) -> list[Path]:
    """Temporaries of `atomic_write` left in `folder` (only possible without O_TMPFILE)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX))
