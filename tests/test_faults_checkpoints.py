"""Damaged checkpoints (garbage, truncated, empty) are one line naming the file, what is wrong
with it and what to do: loaded directly, at `bench run --resume`, by `bench cam` and at a run's
test phase (whose recorded error is that line)."""

from __future__ import annotations

import pytest
import torch
from faults_support import copy_run, interrupted, trained_run
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.records import RunStore
from bench.train.checkpoint import RESUME_FILE, best_checkpoint, load_resume, load_weights, read_manifest

# Training and scoring on one torch thread: the machine is shared.
pytestmark = pytest.mark.usefixtures("one_thread")

DAMAGE = {
    "garbage": ("not a checkpoint", lambda good: b"\x80\x04 this is not a checkpoint" * 8),
    "truncated": ("truncated", lambda good: good[: len(good) // 2]),
    "empty": ("empty (0 bytes)", lambda good: b""),
}


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _one_line(result, *needles: str, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(demo_root, tmp_path_factory):
    return trained_run(demo_root, tmp_path_factory)


def _damaged(path, how: str) -> str:
    words, make = DAMAGE[how]
    path.write_bytes(make(path.read_bytes()))
    return words


@pytest.mark.parametrize("how", list(DAMAGE))
def test_loading_a_damaged_file_says_what_is_wrong_with_it(tmp_path, how):
    model = torch.nn.Linear(3, 2)
    weights, resume = tmp_path / "best.pt", tmp_path / "run" / "checkpoints" / "last.pt"
    resume.parent.mkdir(parents=True)
    torch.save(model.state_dict(), weights)
    torch.save({"state": {}, "model": model.state_dict(), "optimizer": {}, "scheduler": {}}, resume)
    for path in (weights, resume):
        words = _damaged(path, how)
        with pytest.raises(BenchError) as info:
            load_weights(model, path) if path is weights else load_resume(path)
        line = info.value.one_line()
        assert f"checkpoint {path} is {words}" in line, line
        assert len(line) < 300 and "\n" not in line
    with pytest.raises(BenchError, match="restore the run folder from a backup, or train the run again"):
        load_weights(model, weights)
    with pytest.raises(BenchError, match="no earlier copy is kept.*bench runs show run"):
        load_resume(resume)


def test_a_checkpoint_of_the_wrong_kind_is_named_as_such(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = tmp_path / "run" / "checkpoints" / "last.pt"
    path.parent.mkdir(parents=True)
    torch.save(model.state_dict(), path)  # best weights where the resumable checkpoint belongs
    with pytest.raises(BenchError, match="is not a resumable checkpoint"):
        load_resume(path)
    torch.save({"epoch": 3}, tmp_path / "w.pt")
    with pytest.raises(BenchError, match="is not a checkpoint of model weights"):
        load_weights(model, tmp_path / "w.pt")
    (tmp_path / "w.json").write_text("{not json")
    with pytest.raises(BenchError, match=r"manifest .*w\.json is damaged"):
        read_manifest(tmp_path / "w.pt")


@pytest.mark.parametrize("how", list(DAMAGE))
def test_bench_cam_names_the_damaged_best_checkpoint(trained, tmp_path, how):
    record = copy_run(trained, tmp_path)
    path = RunStore(tmp_path).artifact(record, "checkpoint")
    words = _damaged(path, how)
    result = _cli("cam", record.run_id, "--results", tmp_path, "-q")
    _one_line(result, f"checkpoint {path} is {words}", "train the run again")


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_resume_from_a_damaged_last_checkpoint_is_refused_and_changes_nothing(trained, tmp_path, how):
    record = copy_run(trained, tmp_path, status="interrupted", ended=None)
    store = RunStore(tmp_path)
    words = _damaged(store.run_dir(record.run_id) / RESUME_FILE, how)
    before = store.record_path(record.run_id).read_bytes()
    result = _cli("run", "--resume", record.run_id, "--results", tmp_path, "-q")
    _one_line(result, f"{RESUME_FILE} is {words}", "start it again", f"bench runs show {record.run_id}")
    assert store.record_path(record.run_id).read_bytes() == before


def test_a_damaged_best_checkpoint_at_the_test_phase_is_the_recorded_one_line_error(trained, tmp_path):
    source = RunStore(trained[0]).load(trained[1])
    record = copy_run(trained, tmp_path, **interrupted(source))  # stopped in its test phase
    store = RunStore(tmp_path)
    path = store.run_dir(record.run_id) / best_checkpoint(0)
    _damaged(path, "truncated")
    result = _cli("run", "--resume", record.run_id, "--results", tmp_path, "-q")
    line = _one_line(result, f"checkpoint {path} is truncated")
    failed = store.load(record.run_id)
    assert failed.status == "failed"
    assert failed.error == line.removeprefix("error:").strip()
    assert "PytorchStreamReader" not in failed.error and len(failed.error) < len(str(path)) + 200
