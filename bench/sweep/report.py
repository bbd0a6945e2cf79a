"""What `bench sweep` prints: the plan (for --dry-run), a line per finished cell, the summary."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from bench.sweep.launchers import Outcome
from bench.sweep.plan import PlannedCell

_STYLE = {"done": "green", "skipped": "dim", "failed": "bold red"}


def _auroc(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def plan_table(planned: Sequence[PlannedCell]) -> Table:
    table = Table(title=f"sweep plan: {len(planned)} cell(s)")
    for name in ("#", "cell", "method (display name)", "plan"):
        table.add_column(name)
    for i, p in enumerate(planned, 1):
        plan = f"skip: complete run {p.done.run_id}" if p.done else "run"
        table.add_row(str(i), escape(p.cell.label), escape(p.key.display_name), escape(plan))
    return table


def commands(planned: Sequence[PlannedCell]) -> list[str]:
    """The shell command of every cell that would run."""
    return [shlex.join(p.argv) for p in planned if p.done is None]


def outcome_line(outcome: Outcome, index: int, total: int) -> str:
    """One plain-text line as a cell finishes, e.g. "[2/4] chexnet official/0 s0: done (run ..., test AUROC 0.5558)"."""
    if outcome.status == "failed":
        detail = outcome.error or "failed"
    else:
        detail = f"run {outcome.run_id}, test AUROC {_auroc(outcome.test_auroc)}"
    return f"[{index}/{total}] {outcome.cell.label}: {outcome.status} ({detail})"


def summary_table(outcomes: Sequence[Outcome]) -> Table:
    counts = {s: sum(o.status == s for o in outcomes) for s in _STYLE}
    title = "sweep: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    table = Table(title=title)
    table.add_column("cell")
    table.add_column("status")
    table.add_column("run id", overflow="fold")  # what `bench runs show` takes: folded when narrow, never cut
    table.add_column("mean test AUROC", justify="right")
    table.add_column("error")
    for o in outcomes:
        table.add_row(
            escape(o.cell.label),
            f"[{_STYLE[o.status]}]{o.status}[/{_STYLE[o.status]}]",
            o.run_id or "",
            "" if o.status == "failed" else _auroc(o.test_auroc),
            escape(o.error or ""),
        )
    return table
