"""What `bench sweep` prints: the plan (for --dry-run), a line per finished cell, the summary."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from bench.sweep.launchers import Outcome
from bench.sweep.plan import PlannedCell
from bench.ui.tables import Cell, Column, Table, row

_STYLE = {"done": "green", "skipped": "dim", "failed": "bold red"}


def _auroc(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def plan_table(planned: Sequence[PlannedCell]) -> Table:
    rows = tuple(
        row(str(i), p.cell.label, p.key.display_name, f"skip: complete run {p.done.run_id}" if p.done else "run")
        for i, p in enumerate(planned, 1)
    )
    columns = tuple(Column(h) for h in ("#", "cell", "method (display name)", "plan"))
    return Table(columns, rows, title=f"sweep plan: {len(planned)} cell(s)")


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
    columns = (
        Column("cell"),
        Column("status"),
        Column("run id", wrap="fold"),  # what `bench runs show` takes: folded when narrow, never cut
        Column("mean test AUROC", "right"),
        Column("error"),
    )
    rows = tuple(
        row(
            o.cell.label,
            Cell(o.status, style=_STYLE[o.status]),
            o.run_id or "",
            "" if o.status == "failed" else _auroc(o.test_auroc),
            o.error or "",
        )
        for o in outcomes
    )
    return Table(columns, rows, title="sweep: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
