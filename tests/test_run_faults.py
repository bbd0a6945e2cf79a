"""Faults a run refuses before it trains or touches a run folder: bad split lists, a live run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from typer.testing import CliRunner

from bench.cli import app
from bench.records import RunStore


def _cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _custom_lists(demo_root, folder, *, repeat: str | None = None, unknown: str | None = None):
    names = sorted(p.name for p in (demo_root / "images").iterdir())[:60]
    train, val, test = names[:40], names[40:50], names[50:]
    if repeat:
        train.append(train[0])
    if unknown:
        test.append(unknown)
    folder.mkdir()
    for name, ids in (("train", train), ("val", val), ("test", test)):
        (folder / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    return folder


def _refused(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    line = result.output.strip().splitlines()[-1]
    for word in words:
        assert word in result.output, result.output
    assert line.startswith("error:")


def test_a_repeated_line_is_refused_before_any_training(demo_root, tmp_path):
    lists = _custom_lists(demo_root, tmp_path / "lists", repeat="yes")
    result = _cli(
        "run",
        "--method",
        "chexnet",
        "--split",
        f"custom:{lists}",
        "--data",
        demo_root,
        "--results",
        tmp_path / "r",
        "--preset",
        "smoke",
        "-q",
    )
    _refused(result, "1 duplicate line(s) in the train list")
    assert RunStore(tmp_path / "r").run_ids() == []  # no run record left behind


def test_unknown_names_are_refused_even_with_limit(demo_root, tmp_path):
    lists = _custom_lists(demo_root, tmp_path / "lists", unknown="99999999_000.png")
    result = _cli(
        "run",
        "--method",
        "chexnet",
        "--split",
        f"custom:{lists}",
        "--data",
        demo_root,
        "--results",
        tmp_path / "r",
        "--preset",
        "smoke",
        "--limit",
        "5",
        "-q",
    )
    assert result.exit_code == 2, result.output
    assert "not in the dataset" in result.output and "99999999_000.png" in result.output
    assert RunStore(tmp_path / "r").run_ids() == []


def test_a_resume_of_a_run_another_process_holds_is_refused(demo_root, tmp_path):
    from record_factory import minimal_record

    store = RunStore(tmp_path)
    from bench.train.options import RunOptions

    options = RunOptions(method="chexnet", data=str(demo_root), results=str(tmp_path), preset="smoke", limit=20)
    record = minimal_record(invocation=options.to_json()).finished("interrupted")
    store.write(record)
    before = store.record_path(record.run_id).read_bytes()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time
            from bench.records import RunStore
            with RunStore({str(tmp_path)!r}).lock({record.run_id!r}):
                print("held", flush=True)
                time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = _cli("run", "--resume", record.run_id, "--results", tmp_path, "-q")
        assert result.exit_code == 2, result.output
        assert f"still running in process {holder.pid}" in result.output and "Traceback" not in result.output
        assert store.record_path(record.run_id).read_bytes() == before  # left as it was
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 10
    while store.is_locked(record.run_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not store.is_locked(record.run_id)
