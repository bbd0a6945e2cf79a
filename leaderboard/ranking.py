"""The ranked comparison of a split table's columns (`bench leaderboard --rank`): a Friedman test
over the 14 classes as blocks, Nemenyi's post-hoc test and the critical difference, with the
critical-difference diagram as a PNG."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.evaluation.ranking import Ranking, rank_methods
from bench.labels import NUM_CLASSES
from bench.ui.tables import Column, Table, row
from leaderboard.tables import Leaderboard


@dataclass(frozen=True)
class RankedTable:
    title: str  # the split table's
    ranking: Ranking
    plot: Path | None = None


def _names(columns) -> list[str]:
    labels = [c.label for c in columns]
    return labels if len(set(labels)) == len(labels) else [c.key for c in columns]


def _file_name(title: str) -> str:
    return "cd-" + re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower() + ".png"


def rank_tables(board: Leaderboard, warn, plots_dir: Path | None = None) -> list[RankedTable]:
    """One ranking per split table of three columns or more (a table with fewer is noted and
    skipped), each column's per-class test AUROC (the mean over folds on k-fold splits) ranked
    within each class; with `plots_dir`, the critical-difference diagram of each."""
    out = []
    for t in board.tables:
        if len(t.columns) < 3:
            if t.columns:
                warn(f"{t.title}: {len(t.columns)} columns, no ranking (the Friedman test needs 3 or more)")
            continue
        values = np.stack([c.values[:NUM_CLASSES] for c in t.columns], axis=1)
        try:
            ranking = rank_methods(values, _names(t.columns))
        except ValueError as exc:
            warn(f"{t.title}: no ranking ({exc})")
            continue
        plot = None
        if plots_dir is not None:
            from bench.evaluation.plots import critical_difference_png

            plot = critical_difference_png(ranking, Path(plots_dir) / _file_name(t.title), title=t.title)
        out.append(RankedTable(t.title, ranking, plot))
    return out


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def to_ui(ranked: RankedTable) -> Table:
    """The critical-difference table: methods from the best mean rank down, with the Nemenyi
    p-value against each other method; the Friedman test, CD and groups beneath."""
    r = ranked.ranking
    names = [m.name for m in r.methods]
    body = tuple(
        row(m.name, f"{m.mean_rank:.2f}", *("" if i == j else _p(r.nemenyi_p[i][j]) for j in range(len(names))))
        for i, m in enumerate(r.methods)
    )
    friedman = (
        "every class ties every method: no Friedman test"
        if r.friedman_statistic is None or r.friedman_p is None
        else f"Friedman chi^2 = {r.friedman_statistic:.2f}, p = {r.friedman_p:.3g}"
    )
    dropped = f", {r.dropped_blocks} left out (undefined for a column)" if r.dropped_blocks else ""
    groups = "; ".join(", ".join(g) for g in r.groups) or "none (every pair differs)"
    notes = (
        f"{friedman}, over {r.n_blocks} classes as blocks{dropped}",
        f"critical difference of mean ranks (Nemenyi, alpha {r.alpha}): {r.critical_difference:.3f}",
        f"groups not told apart: {groups}",
        *((f"diagram: {ranked.plot}",) if ranked.plot is not None else ()),
    )
    return Table(
        (Column("method", key=True), Column("mean rank", "right"), *(Column(n, "right") for n in names)),
        body,
        title=f"{ranked.title}: ranks of test AUROC over the classes",
        caption="rank 1 is the best AUROC of a class; cells: Nemenyi p-values between two methods",
        footnotes=notes,
    )
