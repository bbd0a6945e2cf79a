"""The training engine end to end on the demo: records, determinism, resume, failures, bad input."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_BACKBONE
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.labels import LABELS
from bench.metrics import per_class_auroc
from bench.predictions import load_predictions
from bench.records import RunStore, as_array
from bench.train import engine, loop
from bench.train.options import RunOptions

PLUGIN = Path(__file__).parent / "plugins" / "my_method.py"
# Small enough for seconds per run, large enough for every class in every list.
LIMIT = 240


def options(demo_root, results, **kw) -> RunOptions:
    base = dict(
        method="chexnet",
        split="official",
        data=str(demo_root),
        results=str(results),
        preset="smoke",
        limit=LIMIT,
        quiet=True,
    )
    return RunOptions(**(base | kw))


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def smoke_run(demo_root, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    return engine.run(options(demo_root, results)), results


def test_run_writes_a_complete_record(smoke_run, demo_index):
    record, results = smoke_run
    store = RunStore(results)
    assert record.status == "complete" and record.ended is not None
    assert store.load(record.run_id) == record  # what is on disk is what was returned
    assert record.dataset.kind == "demo" and record.dataset.fingerprint == demo_index.fingerprint
    assert record.split.protocol == "official" and record.split.params["limit"] == LIMIT
    assert record.preset == "smoke" and record.seed == 0 and record.environment.torch
    assert record.environment.torch_threads == torch.get_num_threads()  # CPU results depend on it
    assert record.invocation["method"] == "chexnet"
    assert len(record.history) == 1 and record.stages[0].epochs_run == 1
    assert record.stages[0].train_images_per_s > 0
    # The stored predictions reproduce the recorded test metrics exactly.
    preds = load_predictions(store.artifact(record, "predictions"))
    assert len(preds.image_ids) == LIMIT
    np.testing.assert_allclose(
        per_class_auroc(preds.y_true, preds.scores), as_array(record.metrics.test.auroc), equal_nan=True
    )
    assert preds.y_true.sum(0).tolist() == [record.positives.test[x] for x in LABELS]
    ci = record.metrics.test.ci
    assert ci.unit == "patient" and ci.mean_lo <= record.metrics.test.mean <= ci.mean_hi
    # The per-epoch history as a table, the same numbers as the record's.
    history = pd.read_csv(store.artifact(record, "history"))
    (epoch,) = record.history
    assert history[["stage", "epoch"]].values.tolist() == [[1, 1]]
    assert history.at[0, "val_auroc_mean"] == pytest.approx(epoch.val_auroc_mean, abs=1e-12)
    assert history.at[0, "train_loss"] == pytest.approx(epoch.train_loss, abs=1e-12)
    assert [history.at[0, f"val_auroc_{x}"] for x in LABELS] == pytest.approx(
        [epoch.val_auroc[x] for x in LABELS], abs=1e-12
    )


def test_checkpoint_manifest_and_strict_load(smoke_run):
    record, results = smoke_run
    path = RunStore(results).artifact(record, "checkpoint")
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["labels"] == list(LABELS)
    assert manifest["split_fingerprint"] == record.split.fingerprint
    assert manifest["backbone"] == "densenet121" and manifest["image_size"] == 32
    from bench.method import get_method
    from bench.train.checkpoint import load_weights

    model = get_method("chexnet").build_model(0, pretrained=False)
    assert load_weights(model, path) == len(model.state_dict())
    wrong = get_method("wang-wbce").build_model(0, pretrained=False)  # resnet50: must not load
    with pytest.raises(BenchError, match="does not fit"):
        load_weights(wrong, path)


def test_rescore_and_run_model_give_the_recorded_scores(smoke_run):
    from bench.train.evaluate import run_model

    record, results = smoke_run
    store = RunStore(results)
    loaded = run_model(store, record, torch.device("cpu"))
    assert (loaded.stage, loaded.image_size, loaded.checkpoint) == (0, 32, record.artifacts.checkpoint)
    preds = load_predictions(store.artifact(record, "predictions"))
    np.testing.assert_array_equal(engine.rescore(record.run_id, results=str(results)), preds.scores)


def test_same_seed_same_result(demo_root, tmp_path):
    first, again = (engine.run(options(demo_root, tmp_path / x, overrides=TINY_BACKBONE)) for x in "ab")
    assert again.metrics.test.auroc == first.metrics.test.auroc
    assert again.history[0].train_loss == first.history[0].train_loss
    assert again.split.fingerprint == first.split.fingerprint


def test_resume_after_interrupt_matches_uninterrupted(demo_root, tmp_path, monkeypatch):
    kw = dict(method="focal-densenet121", epochs=2, overrides=TINY_BACKBONE)
    straight = engine.run(options(demo_root, tmp_path / "a", **kw))

    real_epoch = loop.StageLoop.train_epoch
    calls = {"n": 0}

    def interrupt_in_second_epoch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C: the run's handler sets its stop flag
        return real_epoch(self, *args, **kwargs)

    monkeypatch.setattr(loop.StageLoop, "train_epoch", interrupt_in_second_epoch)
    with pytest.raises(engine.Interrupted) as info:
        engine.run(options(demo_root, tmp_path / "b", **kw))
    assert info.value.exit_code == 130 and "--resume" in info.value.one_line()
    store = RunStore(tmp_path / "b")
    (run_id,) = store.run_ids()
    stopped = store.load(run_id)
    assert stopped.status == "interrupted" and len(stopped.history) == 1
    monkeypatch.setattr(loop.StageLoop, "train_epoch", real_epoch)

    resumed = engine.resume(run_id, results=str(tmp_path / "b"), quiet=True)
    assert resumed.status == "complete" and len(resumed.history) == 2
    assert resumed.metrics.test.auroc == straight.metrics.test.auroc
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in straight.history]


def test_sigterm_to_the_process_group_interrupts_cleanly(demo_root, tmp_path):
    """`timeout`, Slurm and Ctrl-C signal every process of the job, loader workers too: the run
    must still end as interrupted (exit 130, one line), not as a loader crash, and leave no workers."""
    args = [
        "run",
        "--method",
        "chexnet",
        "--split",
        "official",
        "--preset",
        "smoke",
        "--epochs",
        "50",
        "--limit",
        "120",
        "--workers",
        "2",
        *(f"--set={item}" for item in TINY_BACKBONE),
        "--data",
        str(demo_root),
        "--results",
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        for line in child.stderr:  # the first epoch line: workers are up and serving batches
            if line.startswith("stage 1 epoch 1/"):
                break
        os.killpg(child.pid, signal.SIGTERM)
        rest = child.stderr.read()
        assert child.wait(timeout=120) == engine.EXIT_INTERRUPTED, rest
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert "interrupted" in rest and "Traceback" not in rest and "DataLoader worker" not in rest, rest
    (record,) = RunStore(tmp_path).find()
    assert record.status == "interrupted" and len(record.history) >= 1
    deadline = time.monotonic() + 30  # workers notice their parent is gone within seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(child.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        os.killpg(child.pid, signal.SIGKILL)
        pytest.fail("loader workers outlived the interrupted run")


def test_nan_loss_fails_the_run_and_keeps_the_record(demo_root, tmp_path, monkeypatch):
    from bench.method import Method

    def nan_step(self, model, batch, loss_fn, optimizer):
        return float("nan")

    monkeypatch.setattr(Method, "train_step", nan_step)
    with pytest.raises(loop.RunFailed, match="loss became nan"):
        engine.run(options(demo_root, tmp_path))
    (record,) = RunStore(tmp_path).find()
    assert record.status == "failed" and "loss became nan" in record.error


def test_two_stage_method_and_plugin_via_cli(demo_root, tmp_path):
    result = cli(
        "run",
        "--plugin",
        str(PLUGIN),
        "--method",
        "asl-densenet121",
        "--data",
        str(demo_root),
        "--results",
        str(tmp_path),
        "--preset",
        "smoke",
        "--limit",
        str(LIMIT),
        *(f"--set={item}" for item in TINY_BACKBONE),
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "Average" in result.output
    result = cli(
        "run",
        "--method",
        "wfocal-densenet121",
        "--split",
        "kfold5",
        "--fold",
        "2",
        "--data",
        str(demo_root),
        "--results",
        str(tmp_path),
        "--preset",
        "smoke",
        "--limit",
        str(LIMIT),
        *(f"--set={item}" for item in TINY_BACKBONE),
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    record = RunStore(tmp_path).find(method="wfocal-densenet121")[0]
    assert [s.image_size for s in record.stages] == [32, 64]
    assert all(s.test_auroc_mean is not None for s in record.stages)
    assert record.split.fold == 2 and record.split.n_folds == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "chexnt"], "did you mean 'chexnet'"),
        (["--method", "chexnet", "--split", "oficial"], "official"),
        (["--method", "chexnet", "--split", "kfold5", "--fold", "7"], "fold"),
        (["--method", "wfocal-effb3", "--image-size", "8"], "image size"),
        (["--resume", "no-such-run"], "no run"),
        ([], "no method given"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, demo_root, tmp_path):
    result = cli("run", *args, "--data", str(demo_root), "--results", str(tmp_path), "--preset", "smoke", "--quiet")
    assert result.exit_code == 2, result.output
    assert message.lower() in result.output.lower()
    assert "Traceback" not in result.output
    assert not list(RunStore(tmp_path).find())  # nothing half-written


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_results_dir(demo_root, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    result = cli("run", "--method", "chexnet", "--data", str(demo_root), "--results", str(locked), "--preset", "smoke")
    assert result.exit_code == 2 and "not writable" in result.output


def test_results_path_that_is_a_file(demo_root, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli(
        "run",
        "--method",
        "chexnet",
        "--data",
        str(demo_root),
        "--results",
        str(blocker),
        "--preset",
        "smoke",
        "--limit",
        "20",
    )
    assert result.exit_code == 2 and "not writable" in result.output


def test_leaking_split_is_refused_unless_allowed(demo_root, demo_index, tmp_path):
    custom = tmp_path / "leaky"
    custom.mkdir()
    ids = list(demo_index.image_ids[:300])
    (custom / "train.txt").write_text("\n".join(ids[:200]) + "\n")
    (custom / "val.txt").write_text("\n".join(ids[200:250]) + "\n")
    (custom / "test.txt").write_text("\n".join(ids[150:300]) + "\n")  # shares 50 images with train
    base = [
        "run",
        "--method",
        "chexnet",
        "--split",
        f"custom:{custom}",
        "--data",
        str(demo_root),
        "--results",
        str(tmp_path / "r"),
        "--preset",
        "smoke",
        *(f"--set={item}" for item in TINY_BACKBONE),
        "--quiet",
    ]
    refused = cli(*base)
    assert refused.exit_code == 2 and "leak" in refused.output and "--allow-leakage" in refused.output
    allowed = cli(*base, "--allow-leakage")
    assert allowed.exit_code == 0, allowed.output
    (record,) = RunStore(tmp_path / "r").find()
    assert record.split.allow_leakage is True


def test_device_must_exist(demo_root, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = cli("run", "--method", "chexnet", "--device", "cuda", "--data", str(demo_root), "--results", str(tmp_path))
    assert result.exit_code == 2 and "CUDA is not available" in result.output
