"""Data-parallel runs: sharding and merging by hand, then 2 gloo processes on the demo."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import TINY_BACKBONE

from bench.errors import BenchError
from bench.metrics import per_class_auroc
from bench.predictions import load_predictions
from bench.records import RunStore, as_array
from bench.train import distributed, engine
from bench.train.distributed import World
from bench.train.plan import rank_batch

# Small: two processes share the machine's two cores.
LIMIT = 48


def test_detect_reads_torchrun_environment():
    assert distributed.detect({}) == World(1, 0, 0)
    world = distributed.detect({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert world == World(4, 3, 1) and world.parallel and not world.main
    with pytest.raises(BenchError, match="does not fit"):
        distributed.detect({"WORLD_SIZE": "2", "RANK": "2"})


def test_shard_pads_like_distributed_sampler():
    order = np.array([5, 3, 0, 4, 1])
    # Padded to 6 by repeating the first item; rank r takes every 2nd from position r.
    assert distributed.shard(order, World(2, 0)).tolist() == [5, 0, 1]
    assert distributed.shard(order, World(2, 1)).tolist() == [3, 4, 5]
    assert [distributed.shard(order, World(3, r)).tolist() for r in range(3)] == [[5, 4], [3, 1], [0, 5]]
    # Fewer items than ranks: the items repeat until every rank has one.
    assert [distributed.shard(np.array([7]), World(3, r)).tolist() for r in range(3)] == [[7], [7], [7]]
    assert distributed.shard(order, World()) is order


def test_rank_batches_together_make_the_global_batch():
    order = np.arange(10, 22)  # 12 rows, global batch 4 on 2 ranks: rank batches of 2
    shards = [distributed.shard(order, World(2, r)) for r in range(2)]
    assert sorted(np.concatenate([s[:2] for s in shards]).tolist()) == order[:4].tolist()


def test_merge_rows_keeps_each_row_once_in_order():
    # 5 rows on 2 ranks: rank 0 holds rows 0, 2, 4; rank 1 holds 1, 3 and row 0 again (padding).
    parts = [
        (np.array([0, 2, 4]), np.array([[0.0], [20.0], [40.0]])),
        (np.array([1, 3, 0]), np.array([[11.0], [31.0], [1.0]])),
    ]
    assert distributed.merge_rows(5, parts).tolist() == [[0.0], [11.0], [20.0], [31.0], [40.0]]
    with pytest.raises(ValueError, match="not all"):
        distributed.merge_rows(6, parts)


def test_batch_must_split_evenly():
    assert rank_batch(16, 4) == 4
    assert rank_batch(6, 4, per_rank=True) == 6
    assert rank_batch(6, 1) == 6
    with pytest.raises(BenchError, match="does not split evenly across 4 processes") as info:
        rank_batch(6, 4)
    assert "--per-rank-batch" in info.value.one_line()
    with pytest.raises(BenchError, match="across 2 processes"):
        rank_batch(1, 2)


def _bench(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "bench", *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def two_process_run(demo_root, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    done = _bench(
        "run",
        "--nproc",
        "2",
        "--method",
        "chexnet",
        "--data",
        str(demo_root),
        "--results",
        str(results),
        "--preset",
        "smoke",
        "--limit",
        str(LIMIT),
        *(f"--set={item}" for item in TINY_BACKBONE),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    (record,) = RunStore(results).find()
    return record, results, done


def test_two_processes_evaluate_as_one(two_process_run):
    record, results, done = two_process_run
    assert record.status == "complete"
    assert record.environment.world_size == 2 and record.invocation["world_size"] == 2
    assert record.stages[0].batch_size == 8  # chexnet's smoke batch, 4 per process
    assert done.stdout.count("complete:") == 1  # rank 1 printed nothing
    # The best checkpoint scored again in one process gives the recorded test metrics.
    preds = load_predictions(RunStore(results).artifact(record, "predictions"))
    auroc = per_class_auroc(preds.y_true, engine.rescore(record.run_id, results=str(results)))
    np.testing.assert_allclose(auroc, as_array(record.metrics.test.auroc), atol=1e-6, equal_nan=True)
    assert abs(np.nanmean(auroc) - record.metrics.test.mean) < 1e-6


def test_resume_needs_the_same_number_of_processes(two_process_run):
    record, results, _ = two_process_run
    with pytest.raises(BenchError, match="trained by 2 process") as info:
        engine.resume(record.run_id, results=str(results), quiet=True)
    assert f"--resume {record.run_id} --nproc 2" in info.value.one_line()


def test_batch_that_does_not_split_is_refused_in_one_line(demo_root, tmp_path):
    done = _bench(
        "run",
        "--nproc",
        "2",
        "--method",
        "chexnet",
        "--data",
        str(demo_root),
        "--results",
        str(tmp_path),
        "--preset",
        "smoke",
        "--limit",
        str(LIMIT),
        "--batch-size",
        "3",
        "--quiet",
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "batch size 3 does not split evenly across 2 processes" in lines[0]
    assert not list(RunStore(tmp_path).find())


def test_nproc_forwards_the_other_options(monkeypatch):
    from typer.testing import CliRunner

    from bench.cli import app
    from bench.train import launch

    calls = []
    monkeypatch.setattr(launch, "launch", lambda nproc, args: calls.append((nproc, args)) or 3)
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--nproc",
            "2",
            "-m",
            "chexnet",
            "--no-pretrained",
            "--plugin",
            "a.py",
            "--plugin",
            "b.py",
            "--lr",
            "0.0001",
            "--per-rank-batch",
            "-q",
        ],
    )
    assert result.exit_code == 3  # the launched run's exit code
    assert calls == [
        (
            2,
            [
                "run",
                "--method",
                "chexnet",
                "--lr",
                "0.0001",
                "--no-pretrained",
                "--per-rank-batch",
                "--plugin",
                "a.py",
                "--plugin",
                "b.py",
                "--quiet",
            ],
        )
    ]


def test_launcher_exit_code_from_the_failed_ranks():
    from bench.train.launch import _exit_code

    assert _exit_code({0: 2, 1: 2}) == 2  # a user error on every rank
    assert _exit_code({0: -15, 1: 1}) == 1  # rank 1 failed, the launcher then stopped rank 0
    assert _exit_code({0: -15}) == 1
    with pytest.raises(BenchError, match="rank 1 was killed by SIGKILL"):
        _exit_code({0: 1, 1: -9})
