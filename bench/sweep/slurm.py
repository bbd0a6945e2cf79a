"""Slurm launcher (submitit): one job per cell, submitted as an array, requeued on preemption or
timeout; a requeued job continues its run with `bench run --resume RUN_ID`.

Needs the optional dependency submitit (`pip install "cxr-bench[slurm]"`).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import submitit
from submitit.helpers import Checkpointable, DelayedSubmission

from bench.errors import BenchError
from bench.records import RunStore
from bench.sweep.launchers import Outcome, finished, last_line, skipped
from bench.sweep.plan import PlannedCell, resume_argv
from bench.sweep.skip import CellKey, resumable_run

# Slurm signals a job 90 s (submitit's default) before preempting it; the run saves its last
# epoch and exits well within that.
STOP_WAIT_S = 60


@dataclass(frozen=True)
class SlurmSettings:
    partition: str | None = None  # None: the cluster's default partition
    gpus_per_job: int = 1
    time_limit_min: int = 240
    array_parallelism: int = 8  # at most this many cells run at once

    def __post_init__(self) -> None:
        for name, low in (("gpus_per_job", 0), ("time_limit_min", 1), ("array_parallelism", 1)):
            if getattr(self, name) < low:
                flag = {"time_limit_min": "--time-limit"}.get(name, "--" + name.replace("_", "-"))
                raise BenchError(f"{flag} must be at least {low}, got {getattr(self, name)}")

    def summary(self) -> str:
        partition = self.partition or "the default partition"
        return (
            f"{partition}, {self.gpus_per_job} GPU(s), {self.time_limit_min} min time limit"
            f" (requeued and resumed on timeout or preemption), at most {self.array_parallelism} at once"
        )

    def parameters(self) -> dict[str, Any]:
        """submitit AutoExecutor parameters (the slurm_ ones are ignored by its local executor)."""
        params: dict[str, Any] = dict(
            name="bench-sweep",
            timeout_min=self.time_limit_min,
            gpus_per_node=self.gpus_per_job,
            tasks_per_node=1,
            slurm_array_parallelism=self.array_parallelism,
        )
        if self.partition:
            params["slurm_partition"] = self.partition
        return params


class CellJob(Checkpointable):
    """A cell's `bench run` command as a submitit job; on preemption the run is stopped cleanly
    (it keeps its last completed epoch) and the requeued job resumes it. With `gpus` > 1 the run
    trains data-parallel on them (`--nproc`), and so does its resume."""

    def __init__(self, argv: list[str], key: CellKey, results: str, gpus: int = 1):
        self.argv, self.key, self.results, self.gpus = list(argv), key, results, gpus
        self._process: subprocess.Popen | None = None

    def __call__(self) -> tuple[int, str | None]:
        """(exit status, last stderr line) of the run."""
        argv = self.argv + (["--nproc", str(self.gpus)] if self.gpus > 1 else [])
        self._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        _, stderr = self._process.communicate()
        return self._process.returncode, last_line(stderr)

    def checkpoint(self, *args: Any, **kwargs: Any) -> DelayedSubmission:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the run marks itself interrupted after the current batch
            try:
                process.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
        run = resumable_run(RunStore(self.results), self.key)
        argv = resume_argv(run.run_id, self.results) if run is not None else self.argv
        return DelayedSubmission(CellJob(argv, self.key, self.results, self.gpus))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_process": None}  # a process handle does not travel with the job


def slurm_executor(folder: Path) -> Any:
    """submitit's Slurm executor; BenchError where there is no Slurm."""
    if shutil.which("sbatch") is None:
        raise BenchError(
            "--launcher slurm needs Slurm (no sbatch on PATH)",
            hint="run on a Slurm login node, or use --launcher local",
        )
    return submitit.AutoExecutor(folder=folder, cluster="slurm")


def run_slurm(
    planned: Sequence[PlannedCell],
    settings: SlurmSettings,
    *,
    results: str,
    executor_factory: Callable[[Path], Any] = slurm_executor,
    on_done: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Submit the cells without a complete run as one job array and wait for them; outcomes in plan order.

    Job logs go to `<results>/sweeps/<UTC time>/`.
    """
    store = RunStore(results)
    before = set(store.run_ids())
    todo = [p for p in planned if p.done is None]
    jobs = {}
    if todo:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        executor = executor_factory(Path(results) / "sweeps" / stamp)
        executor.update_parameters(**settings.parameters())
        with executor.batch():
            submitted = [executor.submit(CellJob(p.argv, p.key, results, settings.gpus_per_job)) for p in todo]
        jobs = {id(p): job for p, job in zip(todo, submitted)}
    outcomes = []
    for p in planned:
        if p.done is not None:
            outcome = skipped(p)
        else:
            try:
                returncode, error = jobs[id(p)].result()
            except Exception as exc:  # the job itself failed (cancelled, timed out too often, node lost)
                returncode, error = 1, last_line(str(exc)) or type(exc).__name__
            outcome = finished(p, store, before, returncode, error)
        on_done(outcome)
        outcomes.append(outcome)
    return outcomes
