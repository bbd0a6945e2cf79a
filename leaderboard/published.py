"""The paper's published result tables (Nugroho 2020), shipped as data in leaderboard/published/.

These are transcribed figures: shown beside our runs as "(published)" columns on real data
only, never mixed into our statistics. Values are kept as printed (`text`) and as numbers on
the AUROC scale (Table 7's x100 figures are divided by 100).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from bench.errors import BenchError
from bench.labels import LABELS, canonical

PREFIX = "published:"


@dataclass(frozen=True)
class PublishedColumn:
    name: str  # the CSV column (std columns folded in), e.g. "agcnn_third_party"
    table: str  # e.g. "Table 8"
    protocol: str  # "official", "weng" or "kfold5"
    values: tuple[float, ...]  # 14, canonical order, AUROC scale
    average: float  # the Average row as printed (AUROC scale)
    text: tuple[str, ...]  # 15 cells as printed: 14 classes, then Average
    std: tuple[float, ...] | None = None  # Table 7: std over folds (AUROC scale), 15 with Average
    std_text: tuple[str, ...] | None = None

    @property
    def key(self) -> str:
        return PREFIX + self.name

    @property
    def label(self) -> str:
        return f"{self.name} (published)"


@dataclass(frozen=True)
class PublishedTable:
    file: str
    table: str  # "Table 4"
    caption: str
    protocol: str
    columns: tuple[PublishedColumn, ...]


# file, table, protocol, scale; Table 5's validation columns are left out: the tables compare test AUROC.
_SOURCES = (
    ("table4_official.csv", "Table 4", "official", 1.0),
    ("table5_weng_focal_ablation.csv", "Table 5", "weng", 1.0),
    ("table8_weng.csv", "Table 8", "weng", 1.0),
    ("table7_kfold5.csv", "Table 7", "kfold5", 100.0),
)
PROTOCOLS: tuple[str, ...] = ("official", "weng", "kfold5")
# The baseline each protocol's improvement table uses when no --reference is given
# (weng: the paper's own Table 9 reference).
DEFAULT_REFERENCE = {
    "official": PREFIX + "chexnet_reproduced",
    "weng": PREFIX + "agcnn_third_party",
    "kfold5": PREFIX + "baltruschat2019",
}


def _read(file: str) -> tuple[str, list[dict[str, str]]]:
    text = resources.files("leaderboard").joinpath("published", file).read_text(encoding="utf-8")
    comments = [line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(x for x in text.splitlines() if not x.startswith("#")))))
    return " ".join(comments), rows


def _by_label(rows: list[dict[str, str]], file: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        name = row["pathology"].strip()
        out["Average" if name == "Average" else canonical(name)] = row
    missing = [x for x in (*LABELS, "Average") if x not in out]
    if missing:  # a packaging bug, not user input
        raise ValueError(f"{file} lacks rows {missing}")
    return out


@cache
def published_tables() -> tuple[PublishedTable, ...]:
    tables = []
    for file, number, protocol, scale in _SOURCES:
        caption, rows = _read(file)
        by_label = _by_label(rows, file)
        order = (*LABELS, "Average")
        names = [c for c in rows[0] if c != "pathology" and not c.endswith(("_val", "_std"))]
        columns = []
        for col in names:
            std_col = col.removesuffix("_mean") + "_std"
            text = tuple(by_label[x][col].strip() for x in order)
            std_text = tuple(by_label[x][std_col].strip() for x in order) if std_col in rows[0] else None
            columns.append(
                PublishedColumn(
                    name=col.removesuffix("_mean"),
                    table=number,
                    protocol=protocol,
                    values=tuple(float(t) / scale for t in text[:-1]),
                    average=float(text[-1]) / scale,
                    text=text,
                    std=tuple(float(t) / scale for t in std_text) if std_text else None,
                    std_text=std_text,
                )
            )
        tables.append(PublishedTable(file, number, caption, protocol, tuple(columns)))
    return tuple(tables)


def published_columns(protocol: str) -> tuple[PublishedColumn, ...]:
    """Every published test-AUROC column for a split protocol (empty for other protocols)."""
    return tuple(c for t in published_tables() if t.protocol == protocol for c in t.columns)


def find_column(key: str, protocol: str | None = None) -> PublishedColumn | None:
    """The column named by `published:<name>` (within `protocol` if given), else None."""
    name = key.removeprefix(PREFIX)
    for t in published_tables():
        if protocol in (None, t.protocol):
            for c in t.columns:
                if c.name == name:
                    return c
    return None


def all_keys() -> list[str]:
    return [c.key for t in published_tables() for c in t.columns]


def table9_improvement() -> dict[str, float]:
    """Table 9 as printed: label (and "Average") -> improvement in AUROC percentage points."""
    _, rows = _read("table9_improvement.csv")
    return {label: float(row["rate_pct"]) for label, row in _by_label(rows, "table9_improvement.csv").items()}


def check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise BenchError(
            f"no published tables for split {protocol!r}", hint=f"published splits: {', '.join(PROTOCOLS)}"
        )
