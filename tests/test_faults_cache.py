"""The image cache under faults: a row that no longer matches its checksum is decoded again
(one notice), the space for the rows is reserved before any is decoded (a full disk is one line,
never a SIGBUS), and a stop asked between chunks ends a fill at once with the rows done kept."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from faults_support import run_options
from typer.testing import CliRunner

from bench.cli import app
from bench.data import cache as cache_module
from bench.data.cache import (
    CHUNK_ROWS,
    DONE_FILE,
    PIXELS_FILE,
    SUMS_FILE,
    VERIFY_ROWS,
    cache_folder,
    prepare_cache,
    row_sums,
)
from bench.data.images import read_resized
from bench.errors import BenchError

# Training and scoring on one torch thread: the machine is shared.
pytestmark = pytest.mark.usefixtures("one_thread")


def _prepare(index, root, ids, size=32, **kw):
    return prepare_cache(index, size, ids=ids, workers=1, progress=False, root=root, **kw)


def test_a_row_that_no_longer_matches_its_checksum_is_decoded_again(demo_index, tmp_path, capsys):
    ids = list(demo_index.image_ids[:8])
    cache = _prepare(demo_index, tmp_path, ids)
    sums = np.load(cache.folder / SUMS_FILE)
    np.testing.assert_array_equal(sums[cache.rows(ids)], row_sums(np.asarray(cache.pixels[cache.rows(ids)])))
    pixels = np.load(cache.folder / PIXELS_FILE, mmap_mode="r+")
    row = cache.rows([ids[5]])[0]
    pixels[row, 3, :7] ^= 0x5A  # a few bytes of one row overwritten
    pixels.flush()
    del pixels, cache
    capsys.readouterr()
    again = _prepare(demo_index, tmp_path, ids)
    notices = " ".join(capsys.readouterr().err.split())
    assert f"1 row(s) no longer match their checksums (e.g. {ids[5]}); decoding them again from their PNGs" in notices
    path = demo_index.frame.at[ids[5], "path"]
    np.testing.assert_array_equal(np.asarray(again.pixels[row]), read_resized(path, 32))
    assert again.done[again.rows(ids)].all()
    np.testing.assert_array_equal(np.load(again.folder / SUMS_FILE), sums)


def test_a_cache_from_before_checksums_gets_them(demo_index, tmp_path, capsys):
    ids = list(demo_index.image_ids[:8])
    cache = _prepare(demo_index, tmp_path, ids)
    sums = np.load(cache.folder / SUMS_FILE)
    (cache.folder / SUMS_FILE).unlink()
    capsys.readouterr()
    _prepare(demo_index, tmp_path, ids)
    assert "checksums added for the 8 row(s) cached before rows had them" in " ".join(capsys.readouterr().err.split())
    np.testing.assert_array_equal(np.load(cache.folder / SUMS_FILE), sums)


def test_the_rows_space_is_reserved_before_any_is_decoded(demo_index, tmp_path, monkeypatch):
    calls, decoded = [], []
    real_read = cache_module.read_resized

    def fallocate(fd, offset, length):
        calls.append((offset, length))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache_module.os, "posix_fallocate", fallocate, raising=False)
    monkeypatch.setattr(cache_module, "read_resized", lambda p, s: decoded.append(p) or real_read(p, s))
    ids = [demo_index.image_ids[i] for i in (0, 1, 2, 7, 8)]
    with pytest.raises(BenchError) as info:
        _prepare(demo_index, tmp_path, ids)
    line = info.value.one_line()
    assert (
        line.startswith(f"the image cache at 32px needs {5 * 32 * 32 / 1e3:.1f} kB more in ") and "--no-cache" in line
    )
    offset = np.load(cache_folder(demo_index, 32, root=tmp_path) / PIXELS_FILE, mmap_mode="r").offset
    assert calls == [(offset, 3 * 32 * 32)]  # the first run of consecutive rows; it failed
    assert decoded == [] and not np.load(cache_folder(demo_index, 32, root=tmp_path) / DONE_FILE).any()


def test_two_caches_on_a_small_disk_fail_at_once_not_by_sigbus(demo_index, demo_root, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], check=False).returncode:
        pytest.skip("this machine refuses to mount a tmpfs")
    # The free-space check said yes before another cache took the space: 200 rows of 48 px
    # (460 kB) into 256 kB. Without the reservation the memory-mapped writes die of SIGBUS.
    code = textwrap.dedent(f"""
        import collections, shutil
        from bench.data import cache
        from bench.data.nih import load_index
        from bench.errors import BenchError
        cache.shutil.disk_usage = lambda folder: collections.namedtuple("u", "total used free")(1, 0, 10**12)
        index = load_index({str(demo_root)!r})
        try:
            cache.prepare_cache(index, 48, ids=index.image_ids[:200], workers=1, progress=False, root={str(disk)!r})
        except BenchError as exc:
            print(exc.one_line())
    """)
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "the image cache at 48px needs 460.8 kB more in" in done.stdout, done.stdout


def test_a_stop_between_chunks_ends_the_fill_with_its_rows_kept(demo_index, tmp_path, monkeypatch):
    decoded = []
    real_read = cache_module.read_resized
    monkeypatch.setattr(cache_module, "read_resized", lambda p, s: decoded.append(p) or real_read(p, s))

    def stop():
        raise KeyboardInterrupt

    ids = list(demo_index.image_ids[: 4 * CHUNK_ROWS])
    with pytest.raises(KeyboardInterrupt):
        _prepare(demo_index, tmp_path, ids, stop=stop)
    assert len(decoded) == CHUNK_ROWS  # one chunk, then it stopped
    done = np.load(cache_folder(demo_index, 32, root=tmp_path) / DONE_FILE)
    assert done.sum() == CHUNK_ROWS  # the chunk done is kept
    decoded.clear()
    _prepare(demo_index, tmp_path, ids)
    assert len(decoded) == 3 * CHUNK_ROWS + VERIFY_ROWS  # the rest (and the sample checked), not the kept rows


def test_ctrl_c_during_a_runs_cache_fill_stops_it_and_says_what_is_true(demo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("CXR_BENCH_CACHE", str(tmp_path / "cache"))
    real_decode, calls = cache_module._decode, []

    def decode(task):
        calls.append(len(task[0]))
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C: the run's handler sets its stop flag
        return real_decode(task)

    monkeypatch.setattr(cache_module, "_decode", decode)
    options = run_options(demo_root, tmp_path / "results")
    args = ["run", "--method", options.method, "--data", demo_root, "--results", options.results, "--preset", "smoke"]
    args += ["--limit", str(options.limit), "--no-pretrained", "--workers", "1", "-q"]
    args += [x for o in options.overrides for x in ("--set", o)]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 130, result.output
    line = " ".join(result.output.split())
    assert "interrupted before its first epoch ended" in line and "the images cached so far are kept" in line
    assert "--resume" not in line and "Traceback" not in result.output
    assert len(calls) == 1  # stopped after the chunk it was decoding
    (folder,) = (tmp_path / "cache" / "images").glob("*/32")
    assert np.load(folder / DONE_FILE).sum() == calls[0]
