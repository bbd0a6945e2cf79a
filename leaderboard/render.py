"""Leaderboard output: Rich (terminal), markdown (tabulate), CSV, JSON and LaTeX.

Every format renders the same cells (`auroc_cells`, `improvement_cells`); only markup differs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tabulate import tabulate

from bench.labels import LABELS, NUM_CLASSES
from leaderboard.improvement import Improvement
from leaderboard.tables import ROWS, Column, Leaderboard, Table

FORMATS = ("md", "csv", "json", "latex")
EXTENSIONS = {"md": "md", "csv": "csv", "json": "json", "latex": "tex"}
PM = "±"
DEMO_HEADING = "Synthetic demo data"
DEMO_TEXT = (
    "These runs used the built-in synthetic demo dataset: their numbers test the harness, say nothing"
    " about chest X-rays, and are never shown beside published figures."
)


# -- cells ---------------------------------------------------------------------------------------
def _finite(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and np.isfinite(x)


def auroc_cell(table: Table, col: Column, row: int, *, ci: bool, pm: str = PM) -> str:
    """One cell as text: 4 decimals (k-fold: mean +- std x100, 2 decimals); published as printed."""
    avg = row == NUM_CLASSES
    if col.published is not None:
        p = col.published
        return f"{p.text[row]} {pm} {p.std_text[row]}" if p.std_text else p.text[row]
    value = col.values[row]
    if not _finite(value):
        return "n/a"
    if table.cross_validation:
        std = col.std[row]
        text = f"{100 * value:.2f} {pm} {100 * std:.2f}" if _finite(std) else f"{100 * value:.2f}"
        n_folds = len(col.runs)
        if not avg and col.folds_defined[row] < n_folds:
            text += f" ({col.folds_defined[row]}/{n_folds} folds)"
    else:
        text = f"{value:.4f}"
        if ci and col.lo is not None and _finite(col.lo[row]):
            text += f" [{col.lo[row]:.4f}, {col.hi[row]:.4f}]"
    if avg and col.n_defined < NUM_CLASSES:
        text += f" ({col.n_defined}/{NUM_CLASSES})"
    return text


def auroc_cells(table: Table, *, ci: bool, pm: str = PM) -> list[list[tuple[str, bool]]]:
    """Rows of (text, best) per column, in ROWS order."""
    return [
        [(auroc_cell(table, col, row, ci=ci, pm=pm), i in table.best(row)) for i, col in enumerate(table.columns)]
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
            elif col.lo is not None and _finite(col.lo[row]):
                text += f" [{col.lo[row]:+.2f}, {col.hi[row]:+.2f}]"
            significant = col.significant(row)
            cells.append((text + ("*" if significant else ""), significant))
        rows.append(cells)
    return rows


def improvement_caption(imp: Improvement) -> str:
    what = {
        "delong": "two-sided DeLong p-values from the stored predictions; * p < 0.05",
        "bootstrap": "paired patient-bootstrap 95% intervals of the mean difference over folds; * interval excludes 0",
        "none": "differences only: published figures come without predictions to test",
    }[imp.test]
    tail = "; published columns: differences only" if imp.test != "none" and any(
        c.key.startswith("published:") for c in imp.columns
    ) else ""
    return f"Improvement over {imp.reference.label} (AUROC percentage points; {what}{tail})"


def _other_rows(table: Table) -> list[list[str]]:
    return [
        [o.record.run_id, o.record.method.display_name, str(o.record.split.fold), o.reason]
        for o in table.other_runs
    ]


OTHER_HEADERS = ["run", "method", "fold", "status"]


def table_caption(table: Table, ci: bool) -> str:
    text = table.subtitle
    if ci and not table.cross_validation and not table.published_only:
        text += " Brackets: 95% patient-bootstrap interval."
    return text + " Best per row in bold."


# -- markdown --------------------------------------------------------------------------------------
def _md_escape(text: str) -> str:
    return text.replace("|", "/")


def _md_table(headers: list[str], rows: list[list[tuple[str, bool]]], mark: Callable[[str, bool], str]) -> str:
    body = [[ROWS[i]] + [mark(_md_escape(t), flag) for t, flag in cells] for i, cells in enumerate(rows)]
    return tabulate(
        body,
        headers=["Pathology"] + [_md_escape(h) for h in headers],
        tablefmt="pipe",
        disable_numparse=True,
        colalign=["left"] + ["right"] * len(headers),
    )


def _md_section(table: Table, *, ci: bool, level: int, out_dir: Path | None) -> list[str]:
    h = "#" * level
    parts = [f"{h} {table.title}", "", table_caption(table, ci), ""]
    if table.columns:
        parts += [_md_table([c.label for c in table.columns], auroc_cells(table, ci=ci), _bold), ""]
    else:
        parts += ["No complete runs.", ""]
    if table.improvement is not None and table.improvement.columns:
        imp = table.improvement
        parts += [f"**{improvement_caption(imp)}**", ""]
        parts += [_md_table([c.label for c in imp.columns], improvement_cells(imp), lambda t, f: t), ""]
        parts += [f"- {n}" for n in imp.notes] + ([""] if imp.notes else [])
    if table.notes:
        parts += ["Notes:", ""] + [f"- {n}" for n in table.notes] + [""]
    if table.other_runs:
        parts += ["Runs not in the table (not averaged):", ""]
        parts += [tabulate(_other_rows(table), headers=OTHER_HEADERS, tablefmt="pipe", disable_numparse=True), ""]
    if table.plots:
        links = [f"[{label}]({_link(path, out_dir)})" for label, path in table.plots.items()]
        parts += ["ROC curves: " + " · ".join(links), ""]
    return parts


def _bold(text: str, best: bool) -> str:
    return f"**{text}**" if best else text


def _link(path: Path, out_dir: Path | None) -> str:
    target = Path(path).resolve()
    rel = os.path.relpath(target, out_dir.resolve()) if out_dir is not None else str(target)
    return rel.replace(os.sep, "/").replace(" ", "%20")


def to_markdown(board: Leaderboard, *, ci: bool, out_path: Path | None = None) -> str:
    """The whole leaderboard as markdown; plot links are relative to `out_path`'s folder."""
    out_dir = out_path.parent if out_path is not None else None
    source = f" from `{board.results_dir}`" if board.results_dir is not None else ""
    intro = (
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC{source}. Test AUROC per class;"
        " Average is the mean over the defined classes (a count such as (13/14) when some are undefined)."
    )
    if any(c.published for t in board.tables for c in t.columns):
        intro += " Columns marked (published) are the paper's printed figures, never part of our statistics."
    parts = ["# cxr-bench leaderboard", "", intro, ""]
    real = [t for t in board.tables if not t.demo]
    demo = [t for t in board.tables if t.demo]
    for t in real:
        parts += _md_section(t, ci=ci, level=2, out_dir=out_dir)
    if demo:
        parts += [f"## {DEMO_HEADING}", "", f"> {DEMO_TEXT}", ""]
        for t in demo:
            parts += _md_section(t, ci=ci, level=3, out_dir=out_dir)
    return "\n".join(parts).rstrip() + "\n"


# -- csv / json ------------------------------------------------------------------------------------
def _num(x) -> float | None:
    return float(x) if _finite(x) else None


def _table_json(table: Table, ci: bool) -> dict:
    def per_row(values) -> dict | None:
        return None if values is None else {name: _num(values[i]) for i, name in enumerate(ROWS)}

    columns = []
    for col in table.columns:
        columns.append(
            {
                "key": col.key,
                "label": col.label,
                "published": col.published is not None,
                "published_table": col.published.table if col.published else None,
                "runs": [r.run_id for r in col.runs],
                "auroc": per_row(col.values),
                "std": per_row(col.std),
                "ci_lo": per_row(col.lo) if ci else None,
                "ci_hi": per_row(col.hi) if ci else None,
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
            "columns": [
                {
                    "key": c.key,
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
        "other_runs": [
            {"run_id": o.record.run_id, "method": o.record.method.display_name, "fold": o.record.split.fold,
             "status": o.record.status, "reason": o.reason}
            for o in table.other_runs
        ],
        "plots": {label: str(path) for label, path in table.plots.items()},
    }


def to_json(board: Leaderboard, *, ci: bool) -> str:
    data = {
        "results_dir": None if board.results_dir is None else str(board.results_dir),
        "reference": board.reference,
        "labels": list(LABELS),
        "tables": [_table_json(t, ci) for t in board.tables],
    }
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


CSV_HEADERS = ["table", "section", "pathology", "column", "published", "value", "std", "lo", "hi", "p_value", "flag", "text"]


def to_csv(board: Leaderboard, *, ci: bool) -> str:
    """Long format: one line per (table, section, pathology, column); AUROC on the 0-1 scale,
    improvement in points; `flag` is best (auroc) or significant (improvement)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADERS)

    def fmt(x) -> str:
        return "" if not _finite(x) else f"{float(x):.6g}"

    for t in board.tables:
        cells = auroc_cells(t, ci=ci)
        for r, name in enumerate(ROWS):
            for i, col in enumerate(t.columns):
                std = col.std[r] if col.std is not None else None
                lo = col.lo[r] if ci and col.lo is not None else None
                hi = col.hi[r] if ci and col.hi is not None else None
                w.writerow([t.title, "auroc", name, col.label, int(col.published is not None), fmt(col.values[r]),
                            fmt(std), fmt(lo), fmt(hi), "", int(cells[r][i][1]), cells[r][i][0]])
        if t.improvement is not None:
            icells = improvement_cells(t.improvement)
            for r, name in enumerate(ROWS):
                for i, c in enumerate(t.improvement.columns):
                    w.writerow([t.title, f"improvement over {t.improvement.reference.label}", name, c.label,
                                int(c.key.startswith("published:")), fmt(c.diff[r]), "",
                                fmt(c.lo[r] if c.lo is not None else None), fmt(c.hi[r] if c.hi is not None else None),
                                fmt(c.p[r] if c.p is not None else None), int(icells[r][i][1]), icells[r][i][0]])
    return buf.getvalue()


# -- latex -------------------------------------------------------------------------------------------
def _tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"), ("<", r"$<$")):
        text = text.replace(a, b)
    return text.replace(PM, r"$\pm$")


def _tex_table(caption: str, headers: list[str], rows, bold: bool) -> str:
    body = [
        [_tex(ROWS[i])] + [(r"\textbf{%s}" % _tex(t)) if (flag and bold) else _tex(t) for t, flag in cells]
        for i, cells in enumerate(rows)
    ]
    tab = tabulate(body, headers=["Pathology"] + [_tex(h) for h in headers], tablefmt="latex_raw",
                   disable_numparse=True, colalign=["left"] + ["right"] * len(headers))
    return "\\begin{table}[ht]\n\\centering\n\\small\n" + tab + f"\n\\caption{{{_tex(caption)}}}\n\\end{{table}}\n"


def to_latex(board: Leaderboard, *, ci: bool) -> str:
    parts = ["% cxr-bench leaderboard (needs no packages beyond LaTeX itself)"]
    for t in board.tables:
        heading = f"{DEMO_HEADING}: {t.title}" if t.demo else t.title
        if t.columns:
            parts.append(_tex_table(f"{heading}. {table_caption(t, ci)}", [c.label for c in t.columns],
                                    auroc_cells(t, ci=ci), bold=True))
        if t.improvement is not None and t.improvement.columns:
            imp = t.improvement
            parts.append(_tex_table(improvement_caption(imp), [c.label for c in imp.columns],
                                    improvement_cells(imp), bold=True))
    return "\n".join(parts)


def render(board: Leaderboard, fmt: str, *, ci: bool, out_path: Path | None = None) -> str:
    if fmt == "md":
        return to_markdown(board, ci=ci, out_path=out_path)
    return {"csv": to_csv, "json": to_json, "latex": to_latex}[fmt](board, ci=ci)


# -- Rich --------------------------------------------------------------------------------------------
def print_rich(board: Leaderboard, console, *, ci: bool) -> None:
    from rich.markup import escape
    from rich.table import Table as RichTable

    def rich_table(title: str, caption: str, headers: list[str], rows, style: Callable[[str, bool], str]):
        rt = RichTable(title=escape(title), caption=escape(caption), caption_justify="left", title_justify="left")
        rt.add_column("Pathology")
        for h in headers:
            rt.add_column(escape(h), justify="right")
        for i, cells in enumerate(rows):
            if i == NUM_CLASSES:
                rt.add_section()
            rt.add_row(ROWS[i], *[style(escape(t), flag) for t, flag in cells])
        return rt

    def best(text: str, flag: bool) -> str:
        return f"[bold]{text}[/bold]" if flag else text

    def sig(text: str, flag: bool) -> str:
        if not flag:
            return text
        return f"[green]{text}[/green]" if text.startswith("+") else f"[red]{text}[/red]"

    demo_said = False
    for t in board.tables:
        if t.demo and not demo_said:
            console.rule(f"[bold yellow]{DEMO_HEADING}[/bold yellow]")
            console.print(DEMO_TEXT, style="yellow")
            demo_said = True
        if t.columns:
            console.print(rich_table(t.title, table_caption(t, ci), [c.label for c in t.columns],
                                     auroc_cells(t, ci=ci), best))
        else:
            console.print(f"[bold]{escape(t.title)}[/bold]: no complete runs")
        imp = t.improvement
        if imp is not None and imp.columns:
            console.print(rich_table(improvement_caption(imp), "", [c.label for c in imp.columns],
                                     improvement_cells(imp), sig))
            for n in imp.notes:
                console.print(f"  note: {escape(n)}")
        for n in t.notes:
            console.print(f"  note: {escape(n)}")
        if t.other_runs:
            other = RichTable(title="Runs not in the table (not averaged)", title_justify="left")
            for h in OTHER_HEADERS:
                other.add_column(h)
            for row in _other_rows(t):
                other.add_row(*[escape(x) for x in row])
            console.print(other)
        console.print()
