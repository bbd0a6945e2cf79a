"""`bench run --resume` quirks: options that contradict the stored run are refused in one line
(--workers, --quiet and --results may change); another torch thread count is warned about and
recorded per stage; a copied run folder continues as itself, leaving the original alone."""

from __future__ import annotations

import pytest
import torch
from faults_support import copy_run, interrupted, trained_run
from typer.testing import CliRunner

from bench.cli import app
from bench.records import RunStore
from bench.train.checkpoint import RESUME_FILE

# Training and scoring on one torch thread: the machine is shared.
pytestmark = pytest.mark.usefixtures("one_thread")


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(demo_root, tmp_path_factory):
    return trained_run(demo_root, tmp_path_factory)


def test_options_that_contradict_the_stored_run_are_refused(trained, tmp_path):
    record = copy_run(trained, tmp_path, status="interrupted", ended=None)
    store = RunStore(tmp_path)
    before = store.record_path(record.run_id).read_bytes()
    result = _cli("run", "--resume", record.run_id, "--results", tmp_path, "--epochs", "3", "--lr", "0.1", "-q")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert f"--resume continues run {record.run_id} with its stored options" in lines[0]
    assert "--epochs 3 (stored: none); --lr 0.1 (stored: none) differ" in lines[0]
    assert "--workers, --quiet, --results" in lines[0]
    result = _cli("run", "--resume", record.run_id, "--results", tmp_path, "--method", "wang-wbce", "-q")
    assert result.exit_code == 2 and "--method wang-wbce (stored: chexnet) differs" in result.output
    assert store.record_path(record.run_id).read_bytes() == before


def test_a_copied_run_folder_continues_as_itself_with_the_options_it_was_given(trained, demo_root, tmp_path):
    source = RunStore(trained[0]).load(trained[1])
    original = copy_run(trained, tmp_path, **interrupted(source))
    copy_id = original.run_id[:-4] + "copy"
    copy_run(trained, tmp_path, run_id=copy_id, **interrupted(source))
    store = RunStore(tmp_path)
    for folder in (original.run_id, copy_id):  # stopped before its test phase wrote them
        (store.run_dir(folder) / "predictions.parquet").unlink()
    before = store.record_path(original.run_id).read_bytes()
    # Options equal to the stored ones (and --workers) are accepted.
    result = _cli(
        "run", "--resume", copy_id, "--results", tmp_path, "--method", "chexnet", "--preset", "smoke",
        "--data", demo_root, "--workers", "0", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"run folder {copy_id} holds a copy of run {original.run_id}" in result.output
    done = store.load(copy_id)
    assert (done.run_id, done.status) == (copy_id, "complete")
    assert (store.run_dir(copy_id) / "predictions.parquet").is_file()
    assert store.record_path(original.run_id).read_bytes() == before
    assert not (store.run_dir(original.run_id) / "predictions.parquet").exists()


def test_another_thread_count_is_warned_about_and_recorded_per_stage(trained, tmp_path):
    record = copy_run(trained, tmp_path, status="interrupted", ended=None)
    store = RunStore(tmp_path)
    (trained_with,) = record.stages[0].torch_threads
    # Back to the start of its only epoch: the resume trains it again.
    path = store.run_dir(record.run_id) / RESUME_FILE
    state = torch.load(path, weights_only=True)
    state["state"] |= {"next_epoch": 0, "done": False, "best_auroc": -1.0, "best_epoch": -1}
    torch.save(state, path)
    other = 1 if trained_with > 1 else 2
    threads = torch.get_num_threads()
    torch.set_num_threads(other)
    try:
        result = _cli("run", "--resume", record.run_id, "--results", tmp_path, "-q")
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    assert (
        f"warning: run {record.run_id} trained stage 1 with {trained_with} torch thread(s), this process has {other}"
        in " ".join(result.output.split())
    )
    done = store.load(record.run_id)
    assert done.status == "complete"
    assert done.stages[0].torch_threads == (trained_with, other)
    assert [(h.stage, h.epoch) for h in done.history] == [(0, 0)]  # the epoch trained again, once
