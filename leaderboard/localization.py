"""Localization tables from run records' `localization` scores (written by `bench cam`).

`localization_tables`: one table per group of comparable runs (the AUROC tables' grouping:
split and dataset fingerprints), rows = box classes, columns = methods (the latest complete
run with scores per method), cells "IoBB@0.5 accuracy / pointing-game hit rate".
`run_table`: one run's scores at every threshold (Wang et al. 2017's layout).

The JSON (`to_json`) is one object:

    {"schema_version": 1,
     "tables": [{"title": str, "caption": str,
                 "columns": [{"method": display name, "run_id": str}],
                 "rows": {class or "Mean": {method: {"iobb_0.5": number | null,
                                                     "pointing": number | null}}}}]}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError
from bench.labels import LABELS
from bench.records import ClassLocalization, LocalizationRecord, RunRecord
from bench.ui import tables as ui
from leaderboard.tables import exclusion, group_key, run_order

CELL_THRESHOLD = "0.5"
JSON_SCHEMA_VERSION = 1
CAPTION = "Cells: IoBB > 0.5 accuracy / pointing-game hit rate on each run's test images with boxes"


@dataclass(frozen=True)
class LocTable:
    title: str
    caption: str
    rows: tuple[str, ...]  # classes, then "Mean"
    columns: tuple[str, ...]  # method display names
    runs: tuple[RunRecord, ...]  # column order
    cells: tuple[tuple[str, ...], ...]  # rows x columns
    values: tuple[tuple[tuple[float | None, float | None], ...], ...]  # (IoBB@0.5, pointing) per cell


def _pair(scores: ClassLocalization | None) -> tuple[float | None, float | None]:
    if scores is None:
        return None, None
    return scores.iobb.get(CELL_THRESHOLD), scores.pointing


def _text(pair: tuple[float | None, float | None]) -> str:
    a, b = pair
    return "n/a" if a is None or b is None else f"{a:.2f} / {b:.2f}"


def localization_tables(records: Iterable[RunRecord], *, split: str = "all") -> list[LocTable]:
    """Tables of the complete runs with scores; BenchError when there are none (for `split`)."""
    groups: dict[tuple, list[tuple[RunRecord, dict[str, ClassLocalization]]]] = defaultdict(list)
    for r in records:
        if split not in ("all", r.split.protocol) or exclusion(r) is not None:
            continue
        if r.localization is not None:
            groups[group_key(r)].append((r, r.localization.classes))
    if not groups:
        where = "" if split == "all" else f" on split {split}"
        raise BenchError(f"no complete run{where} has localization scores", hint="compute them with: bench cam RUN_ID")
    tables = []
    for members in groups.values():
        latest: dict[str, tuple[RunRecord, dict[str, ClassLocalization]]] = {}
        for r, scores in sorted(members, key=lambda m: run_order(m[0])):
            latest[r.method.display_name] = (r, scores)
        names = sorted(latest)
        classes = [c for c in LABELS if any(c in latest[n][1] for n in names)]
        values = [[_pair(latest[n][1].get(c)) for n in names] for c in classes]
        means: list[tuple[float | None, float | None]] = []
        for j in range(len(names)):
            got = [v[j] for v in values if v[j][0] is not None and v[j][1] is not None]
            means.append(
                (float(np.mean([a for a, _ in got])), float(np.mean([b for _, b in got]))) if got else (None, None)
            )
        values.append(means)
        newest = max((latest[n][0] for n in names), key=run_order)
        kind = "synthetic demo data" if newest.dataset.kind == "demo" else "NIH ChestX-ray14"
        title = f"{newest.split.protocol} split, {kind} (split {newest.split.fingerprint[:8]})"
        caption = f"{CAPTION}; Mean over the classes shown."
        tables.append(
            LocTable(
                title,
                caption,
                (*classes, "Mean"),
                tuple(names),
                tuple(latest[n][0] for n in names),
                tuple(tuple(_text(p) for p in row) for row in values),
                tuple(tuple(row) for row in values),
            )
        )
    tables.sort(key=lambda t: t.title)
    return tables


def run_table(localization: LocalizationRecord) -> ui.Table:
    """One run's scores: boxes, IoU and IoBB accuracy at each threshold, pointing-game hit rate."""
    ts = [f"{t:g}" for t in localization.thresholds]
    headers = ["n"] + [f"IoU>{t}" for t in ts] + [f"IoBB>{t}" for t in ts] + ["pointing"]
    rows = tuple(
        ui.row(
            label,
            str(s.n_boxes),
            *(f"{s.iou[t]:.2f}" for t in ts),
            *(f"{s.iobb[t]:.2f}" for t in ts),
            f"{s.pointing:.2f}",
        )
        for label, s in localization.classes.items()
    )
    return ui.Table((ui.Column("Pathology"), *(ui.Column(h, "right") for h in headers)), rows)


# -- output ----------------------------------------------------------------------------------------
def as_table(t: LocTable) -> ui.Table:
    """`t` as a table value: classes down, methods across, a rule above the Mean."""
    columns = (ui.Column("Pathology"), *(ui.Column(name, "right") for name in t.columns))
    last = len(t.rows) - 2
    rows = tuple(ui.row(name, *cells, end_section=i == last) for i, (name, cells) in enumerate(zip(t.rows, t.cells)))
    return ui.Table(columns, rows, title=t.title, caption=t.caption)


def to_markdown(tables: list[LocTable]) -> str:
    return "\n\n".join(["# cxr-bench localization", *(ui.to_markdown(as_table(t), heading=2) for t in tables)]) + "\n"


def to_latex(tables: list[LocTable]) -> str:
    return "\n".join(
        ["% cxr-bench localization (needs no packages beyond LaTeX itself)", *map(ui.to_latex, map(as_table, tables))]
    )


CSV_HEADERS = ("table", "pathology", "method", "run_id", "iobb_0.5", "pointing")


def to_csv(tables: list[LocTable]) -> str:
    def fmt(x: float | None) -> str:
        return "" if x is None else f"{x:.6g}"

    rows = tuple(
        ui.row(t.title, row, name, run.run_id, fmt(a), fmt(b))
        for t in tables
        for row, values in zip(t.rows, t.values)
        for name, run, (a, b) in zip(t.columns, t.runs, values)
    )
    return ui.to_csv(ui.Table(tuple(ui.Column(h) for h in CSV_HEADERS), rows))


def to_json(tables: list[LocTable]) -> str:
    data = [
        {
            "title": t.title,
            "caption": t.caption,
            "columns": [{"method": n, "run_id": r.run_id} for n, r in zip(t.columns, t.runs)],
            "rows": {
                row: {n: {"iobb_0.5": a, "pointing": b} for n, (a, b) in zip(t.columns, values)}
                for row, values in zip(t.rows, t.values)
            },
        }
        for t in tables
    ]
    return ui.json_text({"schema_version": JSON_SCHEMA_VERSION, "tables": data})


def render(tables: list[LocTable], fmt: str) -> str:
    return {"md": to_markdown, "csv": to_csv, "json": to_json, "latex": to_latex}[fmt](tables)
