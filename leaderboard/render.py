"""Leaderboard output: each table as `bench.ui.tables` values (`sections`, which the terminal
prints), and the files made of them: markdown, CSV, JSON and LaTeX.

Every format renders the same cells (`auroc_cells`, `improvement_cells`, and the `--by`,
`--rank` and `--evaluation` tables' `to_ui`); only markup differs.

The JSON (`to_json`) is one object:

    {"schema_version": 4, "results_dir": str | null, "reference": str | null,
     "labels": [the 14 classes],
     "tables": [{"title", "protocol", "n_folds", "demo", "published_only", "split_fingerprint",
                 "fold_fingerprints", "dataset": {DatasetInfo's fields} | null,
                 "columns": [{"key", "label", "published", "published_table", "runs": [run ids],
                              "seeds": [training seeds], "seed_runs": [[run ids per fold] per seed],
                              "origins": [MethodOrigin's fields | null, distinct over the runs],
                              "kind": "trained" | "external" | null, "tta": str | null,
                              "external": [provenance per run] | null,
                              "auroc", "std", "ci_lo", "ci_hi": PER_ROW | null,
                              "per_seed": [PER_ROW per seed, in "seeds" order], "n": int (seeds),
                              "sd": PER_ROW (sample std over seeds) | null,
                              "n_defined", "text": {row: cell text}}],
                 "best": {row: [column keys]},
                 "improvement": null | {"reference", "test", "correction": "holm" | "bh" | "none",
                                        "n_tests": int (the p-values corrected together),
                                        "columns": [{"key", "test": "delong" | "bootstrap" |
                                                     "seed-bootstrap" | null (untested),
                                                     "diff_points", "p_value", "lo_points",
                                                     "hi_points": PER_ROW | null,
                                                     "significant": {row: bool}}],
                                        "notes": [str]},
                 "notes": [str], "external_notes": [str], "origin_notes": [str],
                 "subgroups": null | {"attribute", "subgroups": [names],
                                      "columns": [{"key", "label",
                                                   "auroc": {subgroup: PER_ROW},
                                                   "n_defined": {subgroup: int},
                                                   "gap": number | null, "gap_classes": int,
                                                   "text": {subgroup or "gap": cell text}}],
                                      "notes": [str]},
                 "ranking": null | {"blocks": "classes" | "folds" | "seeds", "block_labels",
                                    "columns": [keys], "values": [[number | null] per block],
                                    "methods": [{"name", "mean_rank"}] (best first), "n_blocks",
                                    "dropped_blocks", "friedman_statistic", "friedman_p",
                                    "nemenyi_p": [[p] in methods' order], "critical_difference",
                                    "alpha", "groups": [[names]], "notes": [str],
                                    "plot": str | null},
                 "evaluation": null | {"rows": [{"key", "label", "part": "calibration" | "operating",
                                                 "rule": "youden" | "f1" | null,
                                                 "rate": str | null}],
                                       "columns": [{"key", "label", "runs": [run ids],
                                                    "value": {row key: number | null},
                                                    "n_runs": {row key: int (runs with the value)},
                                                    "n_classes": {row key: int | null (fewest classes)},
                                                    "text": {row key: cell text}}],
                                       "notes": [str]},
                 "other_runs": [{"run_id", "method", "fold", "status", "reason"}],
                 "plots": {label: PNG path}}]}

where a row is a class or "Average" and PER_ROW is {row: number | null} (null: undefined); a
subgroup's "Average" is its mean over the classes defined in it (`n_defined` of them).
A column's "per_seed" are its AUROC with each training seed (k-fold: the seed's mean over folds),
"sd" their sample standard deviation (n - 1 in the denominator; null below two seeds) and "n"
their count; a published column has `"per_seed": []`, `"n": 0`.
Version 2 added the seeds, origins, provenance notes, subgroups and ranking; version 3 the
per-seed values, "sd" and "n" of each column and the "test" of each improvement column; version
4 the "evaluation" (`--evaluation`: means of the runs' stored calibration and operating points).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.labels import LABELS, NUM_CLASSES
from bench.schema import encode
from bench.ui import tables as ui
from leaderboard.tables import ROWS, Column, Improvement, Leaderboard, Table

if TYPE_CHECKING:
    from leaderboard.evaluation import EvaluationTable
    from leaderboard.ranking import RankedTable
    from leaderboard.subgroups import SubgroupTable

FORMATS = ("md", "csv", "json", "latex")
EXTENSIONS = {"md": "md", "csv": "csv", "json": "json", "latex": "tex"}
JSON_SCHEMA_VERSION = 4
PM = "±"
DEMO_HEADING = "Synthetic demo data"
DEMO_TEXT = (
    "These runs used the built-in synthetic demo dataset: their numbers test the harness, say nothing"
    " about chest X-rays, and are never shown beside published figures."
)
OTHER_RUNS_TITLE = "Runs not in the table (not averaged)"


# -- cells ---------------------------------------------------------------------------------------
def _finite(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and np.isfinite(x)


def auroc_cell(table: Table, col: Column, row: int, *, ci: bool) -> str:
    """One cell as text: 4 decimals, with "± std" over training seeds for a column of several
    (k-fold: mean +- std over folds x100, 2 decimals); published as printed."""
    avg = row == NUM_CLASSES
    if col.published is not None:
        p = col.published
        return f"{p.text[row]} {PM} {p.std_text[row]}" if p.std_text else p.text[row]
    value = col.values[row]
    if not _finite(value):
        return "n/a"
    if table.cross_validation:
        stds = col.std
        if stds is None:
            raise ValueError(f"column {col.key}: a cross-validation column without a std over folds")
        std = stds[row]
        text = f"{100 * value:.2f} {PM} {100 * std:.2f}" if _finite(std) else f"{100 * value:.2f}"
        n_folds = len(col.runs)
        if not avg and col.folds_defined[row] < n_folds:
            text += f" ({col.folds_defined[row]}/{n_folds} folds)"
    else:
        text = " ".join(t for t in (f"{value:.4f}", col.seed_text(row)) if t)
        if ci and col.lo is not None and col.hi is not None and _finite(col.lo[row]):
            text += f" [{col.lo[row]:.4f}, {col.hi[row]:.4f}]"
    if avg and col.n_defined < NUM_CLASSES:
        text += f" ({col.n_defined}/{NUM_CLASSES})"
    return text


def auroc_cells(table: Table, *, ci: bool) -> list[list[tuple[str, bool]]]:
    """Rows of (text, best) per column, in ROWS order."""
    return [
        [(auroc_cell(table, col, row, ci=ci), i in table.best(row)) for i, col in enumerate(table.columns)]
        for row in range(len(ROWS))
    ]


def _p_text(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def improvement_cells(imp: Improvement) -> list[list[tuple[str, bool]]]:
    """Rows of (text, significant): "+3.45", with "(p=0.012)" or "[+0.40, +2.01]" when tested."""
    rows = []
    for row in range(len(ROWS)):
        cells = []
        for col in imp.columns:
            d = col.diff[row]
            text = "n/a" if not _finite(d) else f"{d:+.2f}"
            if col.p is not None and _finite(col.p[row]):
                text += f" ({_p_text(col.p[row])})"
            elif col.lo is not None and col.hi is not None and _finite(col.lo[row]):
                text += f" [{col.lo[row]:+.2f}, {col.hi[row]:+.2f}]"
            significant = col.significant(row)
            cells.append((text + ("*" if significant else ""), significant))
        rows.append(cells)
    return rows


def correction_text(imp: Improvement) -> str:
    """How the p-values were corrected, e.g. "Holm's step-down correction (family-wise error rate)
    over 28 tests (classes x columns)"."""
    from bench.evaluation.multiple import DESCRIPTIONS

    if imp.correction == "none":
        return "not corrected for multiple comparisons"
    return f"{DESCRIPTIONS[imp.correction]} over {imp.n_tests} tests (classes x columns)"


# What each test's cells carry, by `ImprovementColumn.test`, for the caption.
_P_TESTS = {
    "delong": ("DeLong's test", "single runs"),
    "seed-bootstrap": (
        "the paired bootstrap over patients and training seeds (normal approximation)",
        "columns of several seeds",
    ),
}
_INTERVAL_TESTS = {
    "bootstrap": ("the paired patient bootstrap", "single runs"),
    "seed-bootstrap": ("the paired bootstrap over patients and training seeds", "columns of several seeds"),
}


def _tests_text(names: list[str], tests: dict[str, tuple[str, str]]) -> str:
    """The tests used, each named with the columns it was used for when there are several."""
    if len(names) == 1:
        return tests[names[0]][0]
    return " and ".join(f"{tests[n][0]} ({tests[n][1]})" for n in names)


def improvement_caption(imp: Improvement) -> str:
    """What the cells are, naming the test(s) actually used: DeLong's test and/or the seed
    bootstrap for p-values, the patient or patient-and-seed bootstrap for k-fold intervals."""
    used = sorted({c.test for c in imp.columns if c.test}) or [imp.test]
    if imp.test == "none":
        what = "differences only: published figures come without predictions to test"
    elif imp.test == "bootstrap":
        over = _tests_text([t for t in used if t in _INTERVAL_TESTS] or ["bootstrap"], _INTERVAL_TESTS)
        what = f"95% intervals of the mean difference over folds from {over}; * interval excludes 0"
    else:
        p_tests = [t for t in used if t in _P_TESTS] or ["delong"]
        what = (
            "two-sided DeLong p-values"
            if p_tests == ["delong"]
            else f"two-sided p-values of {_tests_text(p_tests, _P_TESTS)}"
        )
        what += f" from the stored predictions, {correction_text(imp)}; * p < 0.05"
    tail = (
        "; published columns: differences only"
        if imp.test != "none" and any(c.key.startswith("published:") for c in imp.columns)
        else ""
    )
    return f"Improvement over {imp.reference.label} (AUROC percentage points; {what}{tail})"


def external_notes(table: Table) -> list[str]:
    """One footnote per external run in the table's columns: where its scores came from, what it
    was trained on (with any overlap) and how much of the test list it covers."""
    from bench.records.provenance import coverage_text, source_text, trained_on_text

    notes = []
    for col in table.columns:
        for r in col.runs:
            ext = r.external
            if ext is None:
                continue
            fold = f" fold {r.split.fold}" if table.cross_validation else ""
            parts = [source_text(ext)]
            if ext.url:
                parts.append(ext.url)
            parts += [f"trained on {trained_on_text(ext)}", f"coverage {coverage_text(ext)}"]
            if ext.description:
                parts.append(ext.description)
            notes.append(f"{col.label}{fold}: " + "; ".join(parts))
    return notes


def origin_notes(table: Table) -> list[str]:
    """One footnote per column whose method is not built in: where it came from (a plugin file
    with its SHA-256, an entry point's package and version, or a module), every distinct origin
    among the column's runs."""
    notes = []
    for col in table.columns:
        origins: list = []
        for r in (r for runs in col.seed_runs for r in runs):
            origin = r.method.origin
            if origin is not None and origin.kind != "built-in" and origin not in origins:
                origins.append(origin)
        if origins:
            several = f" ({len(origins)} different origins among its runs)" if len(origins) > 1 else ""
            notes.append(f"{col.label}: method from {'; '.join(o.text() for o in origins)}{several}")
    return notes


def table_caption(table: Table, ci: bool) -> str:
    text = table.subtitle
    if not table.cross_validation and any(c.n_seeds > 1 for c in table.columns):
        text += f" {PM}: sample std over training seeds."
    if ci and not table.cross_validation and not table.published_only:
        text += " Brackets: 95% patient-bootstrap interval."
    return text + " Best per row in bold."


# -- table values ----------------------------------------------------------------------------------
def _pathology_table(headers: list[str], rows: list[list[ui.Cell]], **kw) -> ui.Table:
    """Pathologies down, one right-aligned column per header, a rule above the Average."""
    columns = (ui.Column("Pathology"), *(ui.Column(h, "right") for h in headers))
    body = tuple(ui.row(ROWS[i], *cells, end_section=i == NUM_CLASSES - 1) for i, cells in enumerate(rows))
    return ui.Table(columns, body, **kw)


def auroc_table(table: Table, *, ci: bool) -> ui.Table:
    """The AUROC table, best cells bold; without columns (no complete run) only its title and caption."""
    caption = table_caption(table, ci)
    if not table.columns:
        return ui.Table((), title=table.title, caption=caption)
    cells = [[ui.Cell(text, bold=best) for text, best in row] for row in auroc_cells(table, ci=ci)]
    return _pathology_table([c.label for c in table.columns], cells, title=table.title, caption=caption)


def improvement_table(imp: Improvement) -> ui.Table:
    """Differences against the reference; significant ones bold, and green (better) or red (worse)."""

    def cell(text: str, significant: bool) -> ui.Cell:
        if not significant:
            return ui.Cell(text)
        return ui.Cell(text, bold=True, style="green" if text.startswith("+") else "red")

    cells = [[cell(*c) for c in row] for row in improvement_cells(imp)]
    return _pathology_table([c.label for c in imp.columns], cells, title=improvement_caption(imp), footnotes=imp.notes)


def other_runs_table(table: Table) -> ui.Table:
    rows = tuple(
        ui.row(o.record.run_id, o.record.method.display_name, str(o.record.split.fold), o.reason)
        for o in table.other_runs
    )
    return ui.Table(tuple(ui.Column(h) for h in ("run", "method", "fold", "status")), rows, title=OTHER_RUNS_TITLE)


@dataclass(frozen=True)
class Extras:
    """The `--by`, `--rank` and `--evaluation` tables, each belonging to one split table."""

    subgroups: tuple[SubgroupTable, ...] = ()
    rankings: tuple[RankedTable, ...] = ()
    evaluations: tuple[EvaluationTable, ...] = ()


@dataclass(frozen=True)
class Section:
    """One leaderboard table as every format shows it."""

    table: Table
    auroc: ui.Table
    improvement: ui.Table | None
    other_runs: ui.Table | None
    external: tuple[str, ...] = ()  # provenance footnotes of external columns
    origins: tuple[str, ...] = ()  # provenance footnotes of plugin methods
    subgroups: SubgroupTable | None = None
    ranking: RankedTable | None = None
    evaluation: EvaluationTable | None = None

    @property
    def extra(self) -> tuple[ui.Table, ...]:
        """The subgroup, rank and evaluation tables, as the tabular writer renders them."""
        from leaderboard import evaluation, ranking, subgroups

        out: tuple[ui.Table, ...] = () if self.subgroups is None else (subgroups.to_ui(self.subgroups),)
        out += () if self.ranking is None else (ranking.to_ui(self.ranking),)
        return out + (() if self.evaluation is None else (evaluation.to_ui(self.evaluation),))


NO_EXTRAS = Extras()


def sections(board: Leaderboard, *, ci: bool, extras: Extras = NO_EXTRAS) -> Iterator[Section]:
    for t in board.tables:
        imp = t.improvement
        yield Section(
            t,
            auroc_table(t, ci=ci),
            improvement_table(imp) if imp is not None and imp.columns else None,
            other_runs_table(t) if t.other_runs else None,
            tuple(external_notes(t)),
            tuple(origin_notes(t)),
            next((x for x in extras.subgroups if x.table is t), None),
            next((x for x in extras.rankings if x.table is t), None),
            next((x for x in extras.evaluations if x.table is t), None),
        )


# -- markdown --------------------------------------------------------------------------------------
def _md_section(s: Section, *, level: int, out_dir: Path | None) -> list[str]:
    blocks = [ui.to_markdown(s.auroc, heading=level)]
    if not s.table.columns:
        blocks.append("No complete runs.")
    if s.improvement is not None:
        blocks.append(ui.to_markdown(s.improvement))
    for heading, notes in (("External models:", s.external), ("Methods from plugins:", s.origins)):
        if notes:
            blocks += [heading, "\n".join(f"- {ui.md_escape(n)}" for n in notes)]
    if s.table.notes:
        blocks += ["Notes:", "\n".join(f"- {ui.md_escape(n)}" for n in s.table.notes)]
    if s.other_runs is not None:
        blocks.append(ui.to_markdown(s.other_runs))
    blocks += [ui.to_markdown(t) for t in s.extra]
    if s.table.plots:
        links = [f"[{label}]({_link(path, out_dir)})" for label, path in s.table.plots.items()]
        blocks.append("ROC curves: " + " · ".join(links))
    if s.ranking is not None and s.ranking.plot is not None:
        blocks.append(f"Critical-difference diagram: [{s.ranking.plot.name}]({_link(s.ranking.plot, out_dir)})")
    return blocks


def _link(path: Path, out_dir: Path | None) -> str:
    target = Path(path).resolve()
    rel = os.path.relpath(target, out_dir.resolve()) if out_dir is not None else str(target)
    return rel.replace(os.sep, "/").replace(" ", "%20")


def to_markdown(board: Leaderboard, *, ci: bool, out_path: Path | None = None, extras: Extras = NO_EXTRAS) -> str:
    """The whole leaderboard as markdown; plot links are relative to `out_path`'s folder."""
    out_dir = out_path.parent if out_path is not None else None
    source = f" from `{board.results_dir}`" if board.results_dir is not None else ""
    intro = (
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC{source}. Test AUROC per class;"
        " Average is the mean over the defined classes (a count such as (13/14) when some are undefined)."
    )
    if any(c.published for t in board.tables for c in t.columns):
        intro += " Columns marked (published) are the paper's printed figures, never part of our statistics."
    blocks = ["# cxr-bench leaderboard", intro]
    all_sections = list(sections(board, ci=ci, extras=extras))
    for s in all_sections:
        if not s.table.demo:
            blocks += _md_section(s, level=2, out_dir=out_dir)
    demo = [s for s in all_sections if s.table.demo]
    if demo:
        blocks += [f"## {DEMO_HEADING}", f"> {DEMO_TEXT}"]
        for s in demo:
            blocks += _md_section(s, level=3, out_dir=out_dir)
    return "\n\n".join(blocks) + "\n"


# -- csv / json ------------------------------------------------------------------------------------
def _num(x) -> float | None:
    return float(x) if _finite(x) else None


def _per_row(values) -> dict | None:
    return None if values is None else {name: _num(values[i]) for i, name in enumerate(ROWS)}


def _subgroups_json(sub: SubgroupTable) -> dict:
    def column(c) -> dict:
        means = [c.mean(g) for g in range(len(sub.subgroups))]
        return {
            "key": c.key,
            "label": c.label,
            "auroc": {g: _per_row([*c.aurocs[i], means[i].value]) for i, g in enumerate(sub.subgroups)},
            "n_defined": {g: means[i].n_classes for i, g in enumerate(sub.subgroups)},
            "gap": c.gap().value,
            "gap_classes": c.gap().n_classes,
            "text": {g: means[i].text() for i, g in enumerate(sub.subgroups)} | {"gap": c.gap().text("+.4f")},
        }

    return {
        "attribute": sub.attribute,
        "subgroups": list(sub.subgroups),
        "columns": [column(c) for c in sub.columns],
        "notes": list(sub.notes),
    }


def _ranking_json(ranked: RankedTable) -> dict:
    return {
        "blocks": ranked.blocks,
        "block_labels": list(ranked.block_labels),
        "columns": list(ranked.keys),
        "values": [[_num(v) for v in block] for block in ranked.values],
        **encode(ranked.ranking),
        "notes": list(ranked.notes),
        "plot": None if ranked.plot is None else str(ranked.plot),
    }


def _evaluation_json(ev: EvaluationTable) -> dict:
    from leaderboard.evaluation import ROWS as MEASURES

    def column(c) -> dict:
        cells = dict(zip((row.key for row in MEASURES), c.cells))
        return {
            "key": c.key,
            "label": c.label,
            "runs": list(c.runs),
            "value": {k: _num(cell.value) for k, cell in cells.items()},
            "n_runs": {k: cell.n_runs for k, cell in cells.items()},
            "n_classes": {k: cell.n_classes for k, cell in cells.items()},
            "text": {k: cell.text() for k, cell in cells.items()},
        }

    return {
        "rows": [
            {"key": row.key, "label": row.label, "part": row.part, "rule": row.rule, "rate": row.rate}
            for row in MEASURES
        ],
        "columns": [column(c) for c in ev.columns],
        "notes": list(ev.notes),
    }


def _origins_json(col: Column) -> list:
    """The distinct origins of the column's runs (every seed and fold), null for one not recorded."""
    out: list = []
    for r in (r for runs in col.seed_runs for r in runs):
        origin = None if r.method.origin is None else encode(r.method.origin)
        if origin not in out:
            out.append(origin)
    return out


def _table_json(s: Section, ci: bool) -> dict:
    table = s.table
    per_row = _per_row

    columns = []
    for col in table.columns:
        columns.append(
            {
                "key": col.key,
                "label": col.label,
                "published": col.published is not None,
                "published_table": col.published.table if col.published else None,
                "runs": [r.run_id for r in col.runs],
                "seeds": list(col.seeds),
                "seed_runs": [[r.run_id for r in runs] for runs in col.seed_runs],
                "origins": _origins_json(col),
                "kind": col.runs[0].kind if col.runs else None,
                "tta": col.runs[0].tta if col.runs else None,
                "external": [encode(r.external) for r in col.runs] if col.runs and col.runs[0].external else None,
                "auroc": per_row(col.values),
                "std": per_row(col.std),
                "ci_lo": per_row(col.lo) if ci else None,
                "ci_hi": per_row(col.hi) if ci else None,
                "per_seed": [per_row(v) for v in col.seed_values] if col.seed_values is not None else [],
                "sd": per_row(col.seed_std),
                "n": col.n_seeds,
                "n_defined": NUM_CLASSES if col.published else col.n_defined,
                "text": {name: auroc_cell(table, col, i, ci=ci) for i, name in enumerate(ROWS)},
            }
        )
    imp = table.improvement
    return {
        "title": table.title,
        "protocol": table.protocol,
        "n_folds": table.n_folds,
        "demo": table.demo,
        "published_only": table.published_only,
        "split_fingerprint": table.split_fingerprint,
        "fold_fingerprints": list(table.fold_fingerprints),
        "dataset": None if table.dataset is None else dataclasses.asdict(table.dataset),
        "columns": columns,
        "best": {name: [table.columns[i].key for i in sorted(table.best(r))] for r, name in enumerate(ROWS)},
        "improvement": None
        if imp is None
        else {
            "reference": imp.reference.key,
            "test": imp.test,
            "correction": imp.correction,
            "n_tests": imp.n_tests,
            "columns": [
                {
                    "key": c.key,
                    "test": c.test or None,
                    "diff_points": per_row(c.diff),
                    "p_value": per_row(c.p),
                    "lo_points": per_row(c.lo),
                    "hi_points": per_row(c.hi),
                    "significant": {name: c.significant(r) for r, name in enumerate(ROWS)},
                }
                for c in imp.columns
            ],
            "notes": list(imp.notes),
        },
        "notes": list(table.notes),
        "external_notes": list(s.external),
        "origin_notes": list(s.origins),
        "subgroups": None if s.subgroups is None else _subgroups_json(s.subgroups),
        "ranking": None if s.ranking is None else _ranking_json(s.ranking),
        "evaluation": None if s.evaluation is None else _evaluation_json(s.evaluation),
        "other_runs": [
            {
                "run_id": o.record.run_id,
                "method": o.record.method.display_name,
                "fold": o.record.split.fold,
                "status": o.record.status,
                "reason": o.reason,
            }
            for o in table.other_runs
        ],
        "plots": {label: str(path) for label, path in table.plots.items()},
    }


def to_json(board: Leaderboard, *, ci: bool, extras: Extras = NO_EXTRAS) -> str:
    return ui.json_text(
        {
            "schema_version": JSON_SCHEMA_VERSION,
            "results_dir": None if board.results_dir is None else str(board.results_dir),
            "reference": board.reference,
            "labels": list(LABELS),
            "tables": [_table_json(s, ci) for s in sections(board, ci=ci, extras=extras)],
        }
    )


CSV_HEADERS = (
    "table",
    "section",
    "pathology",
    "column",
    "published",
    "value",
    "std",
    "lo",
    "hi",
    "p_value",
    "flag",
    "text",
)


def _fmt(x) -> str:
    return "" if not _finite(x) else f"{float(x):.6g}"


def _csv_line(
    table: str,
    section: str,
    row: str,
    column: str,
    *,
    published: bool = False,
    value=None,
    std=None,
    lo=None,
    hi=None,
    p=None,
    flag: bool = False,
    text: str = "",
) -> list[str]:
    return [
        table,
        section,
        row,
        column,
        str(int(published)),
        _fmt(value),
        _fmt(std),
        _fmt(lo),
        _fmt(hi),
        _fmt(p),
        str(int(flag)),
        text,
    ]


def _subgroup_csv(title: str, sub: SubgroupTable) -> list[list[str]]:
    """Per subgroup, each column's AUROC per class and their mean (the Average); then the gap."""
    lines = []
    for g, name in enumerate(sub.subgroups):
        for c in sub.columns:
            mean = c.mean(g)
            for r, row_name in enumerate(ROWS[:NUM_CLASSES]):
                v = c.aurocs[g, r]
                text = f"{v:.4f}" if _finite(v) else "n/a"
                lines.append(
                    _csv_line(title, f"auroc by {sub.attribute}: {name}", row_name, c.label, value=v, text=text)
                )
            lines.append(
                _csv_line(
                    title, f"auroc by {sub.attribute}: {name}", "Average", c.label, value=mean.value, text=mean.text()
                )
            )
    for c in sub.columns:
        gap = c.gap()
        lines.append(
            _csv_line(title, f"gap by {sub.attribute}", "Average", c.label, value=gap.value, text=gap.text("+.4f"))
        )
    return lines


def _ranking_csv(title: str, ranked: RankedTable) -> list[list[str]]:
    """Each method's mean rank; the Nemenyi p-value of each pair (flag: below alpha); the Friedman
    test and the critical difference. The row is empty: a rank covers every block."""
    r, blocks = ranked.ranking, ranked.blocks
    names = [m.name for m in r.methods]
    lines = [
        _csv_line(title, f"rank over {blocks}", "", m.name, value=m.mean_rank, text=f"{m.mean_rank:.2f}")
        for m in r.methods
    ]
    for j, other in enumerate(names):
        for i, name in enumerate(names):
            if i != j:
                p = r.nemenyi_p[i][j]
                lines.append(
                    _csv_line(
                        title, f"nemenyi p over {blocks}: vs {other}", "", name, p=p, flag=p < r.alpha, text=f"{p:.3g}"
                    )
                )
    lines.append(
        _csv_line(
            title,
            f"friedman over {blocks}",
            "",
            "",
            value=r.friedman_statistic,
            p=r.friedman_p,
            text=f"{r.n_blocks} blocks",
        )
    )
    lines.append(
        _csv_line(
            title, f"critical difference over {blocks}", "", "", value=r.critical_difference, text=f"alpha {r.alpha}"
        )
    )
    return lines


def _evaluation_csv(title: str, ev: EvaluationTable) -> list[list[str]]:
    """Per measure, each column's mean over classes (the Average row) as `value`, the cell as `text`."""
    from leaderboard.evaluation import ROWS as MEASURES

    return [
        _csv_line(title, f"evaluation: {row.key}", "Average", c.label, value=c.cells[i].value, text=c.cells[i].text())
        for i, row in enumerate(MEASURES)
        for c in ev.columns
    ]


def to_csv(board: Leaderboard, *, ci: bool, extras: Extras = NO_EXTRAS) -> str:
    """Long format: one line per (table, section, pathology, column); AUROC on the 0-1 scale,
    improvement in points; `flag` is best (auroc) or significant (improvement, Nemenyi). The
    `--by`, `--rank` and `--evaluation` sections follow each table's own (see `_subgroup_csv`,
    `_ranking_csv`, `_evaluation_csv`)."""
    rows = []
    for s in sections(board, ci=ci, extras=extras):
        t = s.table
        cells = auroc_cells(t, ci=ci)
        for r, name in enumerate(ROWS):
            for i, col in enumerate(t.columns):
                rows.append(
                    _csv_line(
                        t.title,
                        "auroc",
                        name,
                        col.label,
                        published=col.published is not None,
                        value=col.values[r],
                        std=col.std[r] if col.std is not None else None,
                        lo=col.lo[r] if ci and col.lo is not None else None,
                        hi=col.hi[r] if ci and col.hi is not None else None,
                        flag=cells[r][i][1],
                        text=cells[r][i][0],
                    )
                )
        if t.improvement is not None:
            icells = improvement_cells(t.improvement)
            for r, name in enumerate(ROWS):
                for i, c in enumerate(t.improvement.columns):
                    rows.append(
                        _csv_line(
                            t.title,
                            f"improvement over {t.improvement.reference.label}",
                            name,
                            c.label,
                            published=c.key.startswith("published:"),
                            value=c.diff[r],
                            lo=c.lo[r] if c.lo is not None else None,
                            hi=c.hi[r] if c.hi is not None else None,
                            p=c.p[r] if c.p is not None else None,
                            flag=icells[r][i][1],
                            text=icells[r][i][0],
                        )
                    )
        if s.subgroups is not None:
            rows += _subgroup_csv(t.title, s.subgroups)
        if s.ranking is not None:
            rows += _ranking_csv(t.title, s.ranking)
        if s.evaluation is not None:
            rows += _evaluation_csv(t.title, s.evaluation)
    return ui.to_csv(ui.Table(tuple(ui.Column(h) for h in CSV_HEADERS), tuple(ui.row(*r) for r in rows)))


# -- latex -------------------------------------------------------------------------------------------
def to_latex(board: Leaderboard, *, ci: bool, extras: Extras = NO_EXTRAS) -> str:
    """Per table: the AUROC table with its provenance footnotes (external models, plugin methods),
    the improvement table, then the `--by`, `--rank` and `--evaluation` tables."""
    parts = ["% cxr-bench leaderboard (needs no packages beyond LaTeX itself)"]
    for s in sections(board, ci=ci, extras=extras):
        t = s.table
        if t.columns:
            heading = f"{DEMO_HEADING}: {t.title}" if t.demo else t.title
            notes = s.auroc.footnotes + s.external + s.origins
            parts.append(ui.to_latex(dataclasses.replace(s.auroc, title=heading, footnotes=notes)))
        if s.improvement is not None:
            parts.append(ui.to_latex(s.improvement))
        parts += [ui.to_latex(x) for x in s.extra]
    return "\n".join(parts)


def render(board: Leaderboard, fmt: str, *, ci: bool, out_path: Path | None = None, extras: Extras = NO_EXTRAS) -> str:
    if fmt == "md":
        return to_markdown(board, ci=ci, out_path=out_path, extras=extras)
    return {"csv": to_csv, "json": to_json, "latex": to_latex}[fmt](board, ci=ci, extras=extras)
