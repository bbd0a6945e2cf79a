"""Smaller faults: space in MB below 1 GB, and `bench cam` on a run without a checkpoint
suggesting only what works (a resume only where a resumable checkpoint exists)."""

from __future__ import annotations

import shutil
from collections import namedtuple

import pytest
from record_factory import minimal_record
from typer.testing import CliRunner

import bench.data.cache as cache
from bench.atomic import size_text
from bench.cli import app
from bench.errors import BenchError
from bench.records import RunStore
from bench.records.lock import LOCK_FILE
from bench.train.checkpoint import RESUME_FILE


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0.0 kB"),
        (2_500, "2.5 kB"),
        (40_000_000, "40.0 MB"),
        (999_000_000, "999.0 MB"),
        (999_999_999, "1.0 GB"),
        (3.2e9, "3.2 GB"),
    ],
)
def test_sizes_read_in_mb_below_a_gigabyte(n, text):
    assert size_text(n) == text


def test_the_cache_space_error_speaks_in_mb(demo_index, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda folder: usage(10**9, 10**9 - 20_000, 20_000))
    ids = demo_index.image_ids[:40]
    with pytest.raises(BenchError) as info:
        cache.prepare_cache(demo_index, 48, ids=ids, workers=1, progress=False, root=tmp_path)
    line = info.value.one_line()
    assert f"needs {size_text(40 * 48 * 48)} more" in line and "20.0 kB are free" in line, line
    assert "0.0 GB" not in line


def _cam_line(store: RunStore, run_id: str) -> str:
    result = CliRunner().invoke(app, ["cam", run_id, "--results", str(store.results_dir)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return " ".join(result.output.split())


def test_bench_cam_on_a_run_without_a_checkpoint_suggests_what_works(tmp_path):
    store = RunStore(tmp_path)
    failed = minimal_record("20261125-180000-m-official-f0-s0-fail").finished("failed", error="loss became nan")
    store.write(failed)
    (store.run_dir(failed.run_id) / "checkpoints").mkdir()
    (store.run_dir(failed.run_id) / RESUME_FILE).write_bytes(b"a checkpoint")  # a resume would replay the failure
    line = _cam_line(store, failed.run_id)
    assert "has no checkpoint (status failed): loss became nan" in line and "--resume" not in line
    assert f"start it again (its options: bench runs show {failed.run_id})" in line

    stopped = minimal_record("20261125-180000-m-official-f0-s0-stop").finished("interrupted")
    store.write(stopped)
    line = _cam_line(store, stopped.run_id)  # no resumable checkpoint yet
    assert "status interrupted" in line and "before its first epoch ended" in line and "--resume" not in line
    shutil.copytree(store.run_dir(failed.run_id) / "checkpoints", store.run_dir(stopped.run_id) / "checkpoints")
    assert f"finish it first: bench run --resume {stopped.run_id}" in _cam_line(store, stopped.run_id)

    dead = minimal_record("20261125-180000-m-official-f0-s0-dead")  # running, but nobody holds its lock
    store.write(dead)
    (store.run_dir(dead.run_id) / LOCK_FILE).write_text("")
    assert "status stale" in _cam_line(store, dead.run_id)
