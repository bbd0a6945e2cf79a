"""Running a sweep's cells: each as its own `bench run` process, so one failing cell never stops
the others. `run_local` runs them on this machine; `bench.sweep.slurm` submits them to Slurm."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.errors import BenchError
from bench.records import RunStore
from bench.sweep.matrix import Cell
from bench.sweep.plan import PlannedCell
from bench.sweep.skip import runs_of


@dataclass(frozen=True)
class Outcome:
    cell: Cell
    status: str  # "done", "skipped" or "failed"
    run_id: str | None = None
    test_auroc: float | None = None  # mean test AUROC of the run
    error: str | None = None  # the failed run's last stderr line


def _test_mean(run) -> float | None:
    return run.metrics.test.mean if run.metrics.test else None


def skipped(planned: PlannedCell) -> Outcome:
    if planned.done is None:
        raise ValueError(f"cell {planned.key} has no complete run to skip to")
    return Outcome(planned.cell, "skipped", planned.done.run_id, _test_mean(planned.done))


def last_line(text: str) -> str | None:
    """The last non-empty line of a process's stderr, without the CLI's "error: " prefix."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1].removeprefix("error:").strip() if lines else None


def finished(planned: PlannedCell, store: RunStore, before: set[str], returncode: int, error: str | None) -> Outcome:
    """The outcome of a cell whose process exited: its new run in `store` (ids not in `before`)."""
    new = [r for r in runs_of(list(store.find()), planned.key) if r.run_id not in before]
    complete = [r for r in new if r.status == "complete"]
    if returncode == 0 and complete:
        run = complete[-1]
        return Outcome(planned.cell, "done", run.run_id, _test_mean(run))
    if returncode == 0:
        error = "the run exited without a complete record for this cell"
    return Outcome(planned.cell, "failed", new[-1].run_id if new else None, error=error or f"exit status {returncode}")


def run_local(
    planned: Sequence[PlannedCell],
    *,
    results: str,
    max_parallel: int = 1,
    on_done: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Run the cells without a complete run, `max_parallel` at a time; outcomes in plan order."""
    if max_parallel < 1:
        raise BenchError(f"--max-parallel must be at least 1, got {max_parallel}")
    store = RunStore(results)
    before = set(store.run_ids())

    def one(p: PlannedCell) -> Outcome:
        if p.done is not None:
            outcome = skipped(p)
        else:
            done = subprocess.run(
                p.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            outcome = finished(p, store, before, done.returncode, last_line(done.stderr))
        on_done(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max_parallel) as pool:
        return list(pool.map(one, planned))
