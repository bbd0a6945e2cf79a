"""`bench sweep`: the matrix, the commands, skipping complete cells, failure isolation, the
Slurm path through submitit's local executor, and preemption resuming the run."""

from __future__ import annotations

import csv
import dataclasses
import io
import pickle
import signal
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.records import MethodInfo, RunStore
from bench.sweep.launchers import last_line
from bench.sweep.matrix import Cell, expand, integers, names, parse_folds, parse_grid
from bench.sweep.plan import SweepOptions, plan_sweep, run_argv
from bench.sweep.skip import CellKey
from bench.train.options import RunOptions

# Small enough for a few seconds per cell; some classes have no training positives, so cb-bce
# (class-balanced weights) fails at runtime: the injected failing cell.
LIMIT = "40"


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def sweep_args(demo_root, results, *args: str) -> list[str]:
    return ["sweep", *args, "--data", str(demo_root), "--results", str(results), "--preset", "smoke", "--limit", LIMIT]


# -- the matrix --------------------------------------------------------------------------------
def test_expand_every_fold_seed_and_grid_value():
    n_folds = {"official": 1, "kfold5": 5}.get
    cells = expand(
        ["a", "b"], ["official", "kfold5"], None, [0, 1], parse_grid(["loss.gamma=1,2"]), ["x=1"], n_folds=n_folds
    )
    assert len(cells) == 2 * (1 + 5) * 2 * 2
    assert cells[0] == Cell("a", "official", 0, 0, ("x=1", "loss.gamma=1"))
    assert cells[1] == Cell("a", "official", 0, 0, ("x=1", "loss.gamma=2"))
    assert cells[-1] == Cell("b", "kfold5", 4, 1, ("x=1", "loss.gamma=2"))
    assert sorted({c.fold for c in cells if c.split == "kfold5"}) == [0, 1, 2, 3, 4]
    assert cells[-1].label == "b kfold5/4 s1 x=1 loss.gamma=2"
    two = expand(["a"], ["kfold5"], (0, 1), [0], n_folds=n_folds)
    assert [c.fold for c in two] == [0, 1]


def test_matrix_refusals():
    n_folds = {"official": 1, "kfold5": 5}.get
    with pytest.raises(BenchError, match=r"split 'official' has no fold 1 \(only fold 0\)"):
        expand(["a"], ["official", "kfold5"], (0, 1), [0], n_folds=n_folds)
    with pytest.raises(BenchError, match="loss.beta is both a --set and a --grid key"):
        expand(["a"], ["official"], (0,), [0], parse_grid(["loss.beta=0.9,0.99"]), ["loss.beta=0.9"], n_folds=n_folds)
    with pytest.raises(BenchError, match="--grid loss.beta given twice"):
        parse_grid(["loss.beta=0.9", "loss.beta=0.99"])
    with pytest.raises(BenchError, match="no values for --grid loss.beta given"):
        parse_grid(["loss.beta="])
    with pytest.raises(BenchError, match=r"--grid 'loss.beta' is not KEY=VALUE \(e.g. --grid loss.beta=0.999,0.9999\)"):
        parse_grid(["loss.beta"])
    with pytest.raises(BenchError, match="seeds must be non-negative integers, got 'x'"):
        integers("0,x", "seeds")
    assert names(" a, b,a ,", "methods") == ("a", "b")
    assert parse_folds("all") is None and parse_folds("0,2") == (0, 2)


def test_run_argv_is_the_exact_command():
    options = RunOptions(
        method="chexnet",
        split="kfold5",
        fold=2,
        seed=1,
        data="/d",
        results="/r",
        preset="smoke",
        limit=40,
        pretrained=False,
        overrides=("loss.beta=0.99", "stages.0.epochs=2"),
        quiet=True,
    )
    assert run_argv(options) == [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--method",
        "chexnet",
        "--split",
        "kfold5",
        "--fold",
        "2",
        "--seed",
        "1",
        "--data",
        "/d",
        "--results",
        "/r",
        "--preset",
        "smoke",
        "--limit",
        "40",
        "--no-pretrained",
        "--set",
        "loss.beta=0.99",
        "--set",
        "stages.0.epochs=2",
        "--quiet",
    ]


def test_last_line_drops_the_error_prefix():
    assert last_line("warning: x\nerror: no fold 7 in split 'kfold5' (it has folds 0..4)\n\n") == (
        "no fold 7 in split 'kfold5' (it has folds 0..4)"
    )
    assert last_line("") is None


def test_plan_refuses_bad_overrides_before_running(demo_root, tmp_path):
    result = cli(*sweep_args(demo_root, tmp_path, "--methods", "chexnet", "--grid", "loss.bta=0.9,0.99"))
    assert result.exit_code == 2 and "has no key 'loss.bta' (did you mean 'loss.beta'?)" in result.output
    assert RunStore(tmp_path).run_ids() == []


def test_dry_run_prints_commands_and_runs_nothing(demo_root, tmp_path):
    result = cli(
        *sweep_args(
            demo_root,
            tmp_path,
            "--methods",
            "chexnet,focal-densenet121",
            "--splits",
            "official,kfold5",
            "--grid",
            "optimizer.lr=1e-3,3e-4",
            "--dry-run",
        )
    )
    assert result.exit_code == 0, result.output
    commands = [line for line in result.output.splitlines() if line.startswith(sys.executable)]
    assert len(commands) == 2 * 2 * 2
    assert commands[0] == (
        f"{sys.executable} -m bench run --method chexnet --split official --fold 0 --seed 0 --data {demo_root}"
        f" --results {tmp_path} --preset smoke --limit 40 --set optimizer.lr=1e-3 --quiet"
    )
    assert "sweep plan: 8 cell(s)" in result.output
    assert not (tmp_path / "runs").exists()


def test_a_sweep_passes_every_run_option(demo_root, tmp_path):
    extra = (
        "--patience",
        "2",
        "--workers",
        "1",
        "--compile",
        "--val-fraction",
        "0.2",
        "--split-seed",
        "3",
        "--no-cache",
        "--allow-leakage",
        "--per-rank-batch",
        "--set",
        "loss.gamma=2",
    )
    result = cli(*sweep_args(demo_root, tmp_path, "--methods", "chexnet", *extra, "--dry-run"))
    assert result.exit_code == 0, result.output
    (command,) = [line for line in result.output.splitlines() if line.startswith(sys.executable)]
    assert command == (
        f"{sys.executable} -m bench run --method chexnet --split official --fold 0 --seed 0 --split-seed 3"
        f" --val-fraction 0.2 --data {demo_root} --results {tmp_path} --preset smoke --limit 40 --patience 2"
        " --allow-leakage --workers 1 --no-cache --compile --per-rank-batch --set loss.gamma=2 --quiet"
    )
    # Every RunOptions field but the cell's axes and the ones the engine sets has a sweep option.
    import inspect

    from bench.cli.sweep import sweep

    flags = set(inspect.signature(sweep).parameters) | {"method", "split", "fold", "seed", "overrides", "plugins"}
    assert {f.name for f in dataclasses.fields(RunOptions)} - flags == {"world_size", "quiet"}


# -- running ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def swept(demo_root, tmp_path_factory):
    """2 methods x (official, kfold5 fold 0), two cells at a time."""
    results = tmp_path_factory.mktemp("sweep")
    args = sweep_args(demo_root, results, "--methods", "chexnet,focal-densenet121", "--splits", "official,kfold5")
    return cli(*args, "--max-parallel", "2"), results, args


def test_local_sweep_runs_every_cell(swept, demo_index):
    result, results, _ = swept
    assert result.exit_code == 0, result.output
    records = list(RunStore(results).find())
    assert sorted((r.method.display_name, r.split.protocol, r.split.fold, r.status) for r in records) == [
        ("chexnet", "kfold5", 0, "complete"),
        ("chexnet", "official", 0, "complete"),
        ("focal-densenet121", "kfold5", 0, "complete"),
        ("focal-densenet121", "official", 0, "complete"),
    ]
    assert all(r.preset == "smoke" and r.split.params["limit"] == 40 for r in records)
    assert all(r.dataset.fingerprint == demo_index.fingerprint for r in records)
    assert "sweep: 4 cell(s), 4 to run, 0 with a complete run (skipped)" in result.output
    for r in records:  # the progress line of each cell names its run and mean test AUROC
        assert f"done (run {r.run_id}, test AUROC {r.metrics.test.mean:.4f})" in result.output
    assert "sweep: 4 done, 0 skipped, 0 failed" in result.output


def test_rerun_skips_complete_cells(swept):
    _, results, args = swept
    before = RunStore(results).run_ids()
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert "4 to run" not in again.output and "0 to run, 4 with a complete run (skipped)" in again.output
    assert "sweep: 0 done, 4 skipped, 0 failed" in again.output
    assert RunStore(results).run_ids() == before


def test_a_failing_cell_does_not_stop_the_others(swept, demo_root):
    _, results, _ = swept
    before = set(RunStore(results).run_ids())
    # cb-bce runs first and fails (its class-balanced weights need positives of every class); chexnet still runs.
    result = cli(*sweep_args(demo_root, results, "--methods", "cb-bce,chexnet", "--seeds", "1"))
    assert result.exit_code == 1
    assert "error: 1 of 2 cell(s) failed" in result.output
    failed, done = sorted((r for r in RunStore(results).find() if r.run_id not in before), key=lambda r: r.method.name)
    assert (failed.method.name, failed.seed, failed.status) == ("cb-bce", 1, "failed")
    assert (done.method.name, done.seed, done.status) == ("chexnet", 1, "complete")
    # The progress lines: the failed run's own last stderr line, then the next cell's run.
    assert f"[1/2] cb-bce official/0 s1: failed ({failed.error}" in result.output
    assert "zero training positives" in failed.error
    assert f"[2/2] chexnet official/0 s1: done (run {done.run_id}" in result.output


def test_leaderboard_shows_the_sweep(swept):
    _, results, _ = swept
    # chexnet has seeds 0 and 1 here (the failing-cell sweep): the latest run, not their mean.
    args = ("--split", "official", "--seeds", "latest", "--out", "-", "--format", "csv")
    result = cli("leaderboard", "--results", str(results), *args)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    average = {r["column"]: float(r["value"]) for r in rows if r["pathology"] == "Average" and r["section"] == "auroc"}
    chexnet = RunStore(results).find(method="chexnet", split="official")[-1]  # the newest: seed 1
    assert set(average) == {"chexnet", "focal-densenet121"}
    assert average["chexnet"] == pytest.approx(chexnet.metrics.test.mean, abs=5e-5)


# -- Slurm, through submitit's local executor ---------------------------------------------------
def local_executor(folder):
    import submitit

    return submitit.AutoExecutor(folder=folder, cluster="local")


def test_slurm_launcher_runs_a_cell_through_submitit(demo_root, tmp_path):
    from bench.sweep.slurm import SlurmSettings, run_slurm

    base = RunOptions(method="chexnet", data=str(demo_root), results=str(tmp_path), preset="smoke", limit=40)
    options = SweepOptions(methods=("chexnet",), base=base)
    planned = plan_sweep(options)
    (outcome,) = run_slurm(
        planned,
        SlurmSettings(gpus_per_job=0, time_limit_min=10),
        results=str(tmp_path),
        executor_factory=local_executor,
    )
    (record,) = RunStore(tmp_path).find()
    assert outcome.status == "done" and outcome.run_id == record.run_id and record.status == "complete"
    assert outcome.test_auroc == record.metrics.test.mean
    assert len(list((tmp_path / "sweeps").glob("*/*_result.pkl"))) == 1  # submitit's own job files
    # Now the cell is complete: a second submission skips it without a job.
    (again,) = run_slurm(
        plan_sweep(options), SlurmSettings(gpus_per_job=0), results=str(tmp_path), executor_factory=local_executor
    )
    assert again.status == "skipped" and again.run_id == record.run_id


def test_preemption_stops_the_run_and_requeues_a_resume(tmp_path):
    """What submitit does on preemption: call the job's checkpoint(), requeue what it returns."""
    from record_factory import dataset, minimal_record, split

    from bench.sweep.slurm import CellJob

    store = RunStore(tmp_path)
    key = CellKey("chexnet", split().fingerprint, 0, "smoke", dataset().fingerprint)
    # A stand-in for `bench run` that only stops when told (TERM exits -15).
    job = CellJob([sys.executable, "-c", "import time; time.sleep(120)"], key, str(tmp_path))
    worker = threading.Thread(target=job)
    worker.start()
    while job._process is None:
        time.sleep(0.01)
    fresh = job.checkpoint()  # the cell has no run yet: requeue the same command
    worker.join(timeout=30)
    assert job._process.returncode == -signal.SIGTERM
    assert fresh.function.argv == job.argv and fresh.function.key == key

    mine = minimal_record(
        "20261125-180000-chexnet-official-f0-s0-aaaa",
        status="interrupted",
        method=MethodInfo("chexnet", "chexnet", {"name": "chexnet"}),
    )
    other = minimal_record(
        "20261125-190000-chexnet-official-f0-s1-bbbb",
        status="interrupted",
        seed=1,
        method=MethodInfo("chexnet", "chexnet", {"name": "chexnet"}),
    )
    for record in (mine, other):
        store.run_dir(record.run_id).mkdir(parents=True)
        store.write(record)
    resumed = job.checkpoint()  # the cell's run stopped mid-way: requeue `bench run --resume` of it
    assert resumed.function.argv == [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--resume",
        mine.run_id,
        "--results",
        str(tmp_path),
        "--quiet",
    ]
    assert pickle.loads(pickle.dumps(resumed)).function.argv == resumed.function.argv  # what submitit stores


def test_several_gpus_per_job_train_data_parallel(tmp_path):
    from record_factory import dataset, split

    from bench.sweep.slurm import CellJob

    key = CellKey("chexnet", split().fingerprint, 0, "smoke", dataset().fingerprint)
    echo = [sys.executable, "-c", "import sys; print(' '.join(sys.argv[1:]), file=sys.stderr)", "run"]
    assert CellJob(echo, key, str(tmp_path), gpus=4)() == (0, "run --nproc 4")
    assert CellJob(echo, key, str(tmp_path), gpus=1)() == (0, "run")
    requeued = CellJob(echo, key, str(tmp_path), gpus=4).checkpoint()  # no run yet: the same command again
    assert requeued.function() == (0, "run --nproc 4")


def test_slurm_without_sbatch_is_one_line(demo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    result = cli(*sweep_args(demo_root, tmp_path, "--methods", "chexnet", "--launcher", "slurm", "--gpus-per-job", "0"))
    assert result.exit_code == 2 and "--launcher slurm needs Slurm (no sbatch on PATH)" in result.output
