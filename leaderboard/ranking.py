"""The ranked comparison of a split table's columns (`bench leaderboard --rank`): a Friedman test
over blocks, Nemenyi's post-hoc test and the critical difference, with the critical-difference
diagram as a PNG.

The blocks (`--rank-blocks`) are the 14 classes (each column's per-class test AUROC), the folds
of a k-fold table (each column's mean test AUROC in the fold) or the training seeds every column
was run with (each column's mean test AUROC with that seed, over the folds on k-fold tables).
A fold's or seed's mean is over the classes defined for every ranked column in it, so no column's
mean covers classes another's lacks. `auto` takes the folds on k-fold tables and the classes on
single splits. Published columns are never ranked: they carry no per-fold or per-seed values and
enter no statistic.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bench.evaluation.ranking import Ranking, rank_methods
from bench.labels import LABELS, NUM_CLASSES
from bench.ui.tables import Column as UiColumn
from bench.ui.tables import Table as UiTable
from bench.ui.tables import row
from leaderboard.tables import Column, Leaderboard, Table

Blocks = Literal["classes", "folds", "seeds"]
BLOCK_CHOICES: tuple[str, ...] = ("auto", "classes", "folds", "seeds")


@dataclass(frozen=True, eq=False)
class RankedTable:
    table: Table  # the split table it ranks
    ranking: Ranking
    blocks: Blocks
    block_labels: tuple[str, ...]  # one per block, in the order of `values`' rows
    values: np.ndarray  # (blocks, columns ranked) the values ranked; NaN where undefined
    keys: tuple[str, ...]  # the ranked columns' keys, in `values`' column order
    notes: tuple[str, ...] = ()  # how a block's value is made
    plot: Path | None = None

    @property
    def title(self) -> str:
        return self.table.title


def _names(columns) -> list[str]:
    labels = [c.label for c in columns]
    return labels if len(set(labels)) == len(labels) else [c.key for c in columns]


def _file_name(title: str) -> str:
    return "cd-" + re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower() + ".png"


def _common_mean(aurocs: np.ndarray) -> tuple[np.ndarray, int]:
    """(columns, 14) AUROC in one fold: each column's mean over the classes every column defines,
    and their number (NaN means when none is)."""
    common = np.isfinite(aurocs).all(axis=0)
    if not common.any():
        return np.full(len(aurocs), np.nan), 0
    return aurocs[:, common].mean(axis=1), int(common.sum())


def _fold_values(columns: list[Column]) -> tuple[np.ndarray, tuple[str, ...], list[str]]:
    per_fold = np.stack([c.per_fold for c in columns], axis=1)  # (folds, columns, 14)
    means, counts = zip(*(_common_mean(f) for f in per_fold))
    notes = ["a fold's value: each column's mean test AUROC in the fold, over the classes every column defines there"]
    notes += _count_notes("fold", [str(f) for f in range(len(per_fold))], counts)
    if any(c.n_seeds > 1 for c in columns):
        notes.append("a column of several training seeds: each fold's AUROC is the mean over its seeds")
    return np.stack(means), tuple(f"fold {f}" for f in range(len(per_fold))), notes


def _count_notes(what: str, labels: list[str], counts) -> list[str]:
    partial = [f"{what} {label}: {n}/{NUM_CLASSES}" for label, n in zip(labels, counts) if n < NUM_CLASSES]
    return [f"classes every column defines, where fewer than {NUM_CLASSES}: {', '.join(partial)}"] if partial else []


def _seed_aurocs(col: Column, seed: int) -> np.ndarray:
    """(folds, 14) the column's AUROC with one training seed."""
    if col.per_seed is None:
        raise ValueError(f"column {col.key} has no per-seed AUROC")
    return col.per_seed[col.seeds.index(seed)]


def _seed_values(columns: list[Column]) -> tuple[np.ndarray, tuple[str, ...], list[str]]:
    seeds = sorted(set.intersection(*(set(c.seeds) for c in columns)))
    values, counts = [], []
    for s in seeds:
        per_fold = np.stack([_seed_aurocs(c, s) for c in columns], axis=1)
        means, n = zip(*(_common_mean(f) for f in per_fold))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a fold without common classes stays NaN
            values.append(np.nanmean(np.stack(means), axis=0))
        counts.append(min(n))
    over = " (the mean over the folds)" if len(columns[0].per_fold) > 1 else ""
    notes = [
        f"a seed's value: each column's mean test AUROC with that training seed{over}, over the classes every"
        f" column defines; the seeds every column was run with: {', '.join(map(str, seeds))}"
    ]
    notes += _count_notes("seed", [str(s) for s in seeds], counts)
    return np.array(values).reshape(len(seeds), len(columns)), tuple(f"seed {s}" for s in seeds), notes


def _class_values(columns: list[Column], cross_validation: bool) -> tuple[np.ndarray, tuple[str, ...], list[str]]:
    over = " (the mean over the folds)" if cross_validation else ""
    notes = [f"a class's value: each column's test AUROC for it{over}"]
    return np.stack([c.values[:NUM_CLASSES] for c in columns], axis=1), LABELS, notes


def _blocks(
    t: Table, columns: list[Column], wanted: str
) -> tuple[Blocks, tuple[np.ndarray, tuple[str, ...], list[str]]]:
    """The table's blocks and their values; ValueError (one line) when `wanted` does not apply."""
    blocks: Blocks
    if wanted == "auto":
        blocks = "folds" if t.cross_validation else "classes"
    elif wanted in ("classes", "folds", "seeds"):
        blocks = wanted  # type: ignore[assignment]
    else:
        raise ValueError(f"unknown blocks {wanted!r} (choose one of {', '.join(BLOCK_CHOICES)})")
    if blocks == "folds":
        if not t.cross_validation:
            raise ValueError("a single split has no folds to rank over (use --rank-blocks classes or seeds)")
        return blocks, _fold_values(columns)
    if blocks == "seeds":
        common = set.intersection(*(set(c.seeds) for c in columns))
        if len(common) < 2:
            raise ValueError(
                f"{len(common)} training seed(s) common to every column; ranking over seeds needs 2 or more"
            )
        return blocks, _seed_values(columns)
    return blocks, _class_values(columns, t.cross_validation)


def rank_tables(board: Leaderboard, warn, plots_dir: Path | None = None, blocks: str = "auto") -> list[RankedTable]:
    """One ranking per split table of three run columns or more (a table with fewer, or where the
    blocks do not apply, is noted and skipped); with `plots_dir`, the critical-difference diagram
    of each."""
    out = []
    for t in board.tables:
        columns = [c for c in t.columns if c.published is None and c.runs]
        if len(columns) < 3:
            n = len(columns)
            if n:
                warn(f"{t.title}: {n} run column{'s' if n > 1 else ''}, no ranking (the Friedman test needs 3 or more)")
            elif t.columns:
                warn(f"{t.title}: published figures only, no ranking (published columns enter no statistic)")
            continue
        try:
            chosen, (values, labels, notes) = _blocks(t, columns, blocks)
            ranking = rank_methods(values, _names(columns))
        except ValueError as exc:
            warn(f"{t.title}: no ranking ({exc})")
            continue
        if len(columns) < len(t.columns):
            notes.append("published columns are not ranked: they enter no statistic")
        plot = None
        if plots_dir is not None:
            from bench.evaluation.plots import critical_difference_png

            plot = critical_difference_png(ranking, Path(plots_dir) / _file_name(t.title), title=t.title)
        keys = tuple(c.key for c in columns)
        out.append(RankedTable(t, ranking, chosen, labels, values, keys, tuple(notes), plot))
    return out


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


BLOCK_NOUN = {"classes": "class", "folds": "fold", "seeds": "training seed"}


def to_ui(ranked: RankedTable) -> UiTable:
    """The critical-difference table: methods from the best mean rank down, with the Nemenyi
    p-value against each other method; the Friedman test, CD, groups and blocks beneath."""
    r = ranked.ranking
    names = [m.name for m in r.methods]
    body = tuple(
        row(m.name, f"{m.mean_rank:.2f}", *("" if i == j else _p(r.nemenyi_p[i][j]) for j in range(len(names))))
        for i, m in enumerate(r.methods)
    )
    everything = {"classes": "every class", "folds": "every fold", "seeds": "every seed"}[ranked.blocks]
    friedman = (
        f"{everything} ties every method: no Friedman test"
        if r.friedman_statistic is None or r.friedman_p is None
        else f"Friedman chi^2 = {r.friedman_statistic:.2f}, p = {r.friedman_p:.3g}"
    )
    dropped = f", {r.dropped_blocks} left out (undefined for a column)" if r.dropped_blocks else ""
    groups = "; ".join(", ".join(g) for g in r.groups) or "none (every pair differs)"
    notes = (
        f"{friedman}, over {r.n_blocks} {ranked.blocks} as blocks{dropped}",
        f"critical difference of mean ranks (Nemenyi, alpha {r.alpha}): {r.critical_difference:.3f}",
        f"groups not told apart: {groups}",
        *ranked.notes,
        *((f"diagram: {ranked.plot}",) if ranked.plot is not None else ()),
    )
    noun = BLOCK_NOUN[ranked.blocks]
    return UiTable(
        (UiColumn("method", key=True), UiColumn("mean rank", "right"), *(UiColumn(n, "right") for n in names)),
        body,
        title=f"{ranked.title}: ranks of test AUROC over the {ranked.blocks}",
        caption=f"rank 1 is the best AUROC of a {noun}; cells: Nemenyi p-values between two methods",
        footnotes=notes,
    )
