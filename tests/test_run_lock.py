"""The run-folder lock: a live run shows as running, a killed one as stale; stage numbers and wall time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from record_factory import minimal_record
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.records import RunStore, StageRecord
from bench.records.lock import hold, is_held

HOLDER = """
import sys, time
from bench.records.lock import hold
with hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def _list(tmp_path, *args):
    result = CliRunner().invoke(app, ["runs", "list", "--results", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    return result.stdout.replace(str(tmp_path), "RESULTS")  # the test's folder name says "stale"


def test_killed_run_shows_as_stale(tmp_path):
    store = RunStore(tmp_path)
    record = minimal_record("20261125-180000-m-official-f0-s0-0001")
    store.write(record)
    run_dir = store.run_dir(record.run_id)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert is_held(run_dir) and store.liveness(record) == "running"
        out = _list(tmp_path)
        assert "running" in out and "stale" not in out
        assert "official 0/1" in _list(tmp_path, "--status", "running")
        assert (
            "no runs match"
            in CliRunner().invoke(app, ["runs", "list", "--results", str(tmp_path), "--status", "stale"]).output
        )
        with pytest.raises(BenchError, match=rf"run {record.run_id} is still running in process {proc.pid}"):
            with store.lock(record.run_id):
                pass
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.time() + 10
    while is_held(run_dir) and time.time() < deadline:
        time.sleep(0.05)
    assert not is_held(run_dir) and store.liveness(record) == "stale"
    out = _list(tmp_path)
    assert "stale" in out and "running" not in out
    assert "official 0/1" in _list(tmp_path, "--status", "stale")
    assert (
        "no runs match"
        in CliRunner().invoke(app, ["runs", "list", "--results", str(tmp_path), "--status", "running"]).output
    )
    show = CliRunner().invoke(app, ["runs", "show", record.run_id, "--results", str(tmp_path)])
    assert show.exit_code == 0 and "stale" in show.stdout
    with store.lock(record.run_id):  # a dead holder's lock can be taken again
        assert store.liveness(record) == "running"


def test_lock_in_this_process_and_finished_runs(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    assert not is_held(run_dir)
    with hold(run_dir) as path:
        assert path.read_text().strip() == str(os.getpid())
    assert not is_held(run_dir)
    store = RunStore(tmp_path)
    done = minimal_record("20261125-180100-m-official-f0-s0-0002").finished("complete")
    assert store.liveness(done) == "complete"


def test_show_numbers_stages_from_one_and_list_sums_stage_walls(tmp_path):
    store = RunStore(tmp_path)
    # Started at 18:00, interrupted, resumed the next day: the span is a day, the work 1:01:40.
    record = minimal_record(
        "20261125-180000-m-official-f0-s0-0001",
        ended="2026-11-26T18:00:00Z",
        status="complete",
        stages=(StageRecord(0, 224, 16, 2, 2, wall_s=3000.0), StageRecord(1, 448, 8, 1, 1, wall_s=700.0)),
    )
    store.write(record)
    out = _list(tmp_path)
    assert "1:01:40" in out and "24:00:00" not in out
    show = CliRunner().invoke(app, ["runs", "show", record.run_id, "--results", str(tmp_path)])
    assert show.exit_code == 0, show.output
    stages = show.stdout.split("Stages", 1)[1].split("Per-class", 1)[0]
    rows = [line.split() for line in stages.splitlines() if "224" in line or "448" in line]
    numbers = [r[1] if r[0] in "│|┃" else r[0] for r in rows]
    assert numbers == ["1", "2"], stages


def test_a_folder_never_locked_keeps_running(tmp_path):
    """A run from an engine that does not lock has no lock file: nothing tells it is dead."""
    store = RunStore(tmp_path)
    record = minimal_record("20261125-180000-m-official-f0-s0-0001")
    store.write(record)
    assert store.liveness(record) == "running"
    with store.lock(record.run_id):
        pass
    assert store.liveness(record) == "stale"  # locked once, released without a final status
