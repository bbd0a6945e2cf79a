"""One tabular writer: a table value, and its renderings as Rich, markdown, CSV, JSON and LaTeX.

A `Table` holds text only, formatted by its maker, so every format shows the same cells.
Each format has one escaping rule, applied to every text it writes (title, caption, headers,
cells, footnotes):

- Rich: text is never read as markup, so "[red]" prints as typed;
- markdown: "|" becomes "\\|" (the one character that breaks a pipe table) and a line break
  a space; the rest stays literal, so "0.81 [0.79, 0.83]" reads as it prints;
- LaTeX: \\ & % $ # _ { } ~ ^ [ ] < > and ± become the commands that print them;
- CSV: the csv module's quoting; a CSV holds the header and the rows only;
- JSON: `json.dumps`; NaN and infinities are refused rather than written as invalid JSON.

`to_json(tables)` writes:

    {"schema_version": 1,
     "tables": [{"title": str, "caption": str,
                 "columns": [{"header": str, "align": "left" | "right"}, ...],
                 "rows": [[str, ...], ...],  # one string per column
                 "footnotes": [str, ...]}, ...]}

A `Cell`'s `bold` shows in every format but CSV and JSON; its `style` (a Rich style such as
"red"), a `Row`'s style and section ends, a `Column`'s `key` and `wrap`, and the table's
`frame` and `show_header` are for the terminal only.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich import box
from rich.console import Group, OverflowMethod, RenderableType
from rich.table import Table as RichTable
from rich.text import Text
from tabulate import tabulate

SCHEMA_VERSION = 1

Align = Literal["left", "right"]
Wrap = Literal["words", "fold", "never"]  # fold: break long words anywhere rather than crop them
Frame = Literal["box", "compact", "grid"]  # compact: rules under the header only; grid: no lines, no header


@dataclass(frozen=True)
class Column:
    header: str = ""
    align: Align = "left"
    key: bool = False  # the row's name: bold in the terminal
    wrap: Wrap = "words"


@dataclass(frozen=True)
class Cell:
    text: str
    bold: bool = False
    style: str = ""


@dataclass(frozen=True)
class Row:
    cells: tuple[Cell, ...]
    style: str = ""
    end_section: bool = False  # a rule beneath it


def row(*cells: str | Cell, style: str = "", end_section: bool = False) -> Row:
    """A row of cells, plain strings taken as unstyled cells."""
    return Row(tuple(c if isinstance(c, Cell) else Cell(c) for c in cells), style, end_section)


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    rows: tuple[Row, ...] = ()
    title: str = ""
    caption: str = ""  # what the cells are: beneath a terminal table, above a markdown one
    footnotes: tuple[str, ...] = ()
    frame: Frame = "box"
    show_header: bool = True

    def __post_init__(self) -> None:
        for r in self.rows:
            if len(r.cells) != len(self.columns):
                raise ValueError(f"a row of {len(r.cells)} cells in a table of {len(self.columns)} columns")

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def texts(self) -> list[list[str]]:
        return [[c.text for c in r.cells] for r in self.rows]

    def __rich__(self) -> RenderableType:
        return to_rich(self)


# -- Rich ------------------------------------------------------------------------------------------
_OVERFLOW: dict[Wrap, OverflowMethod] = {"words": "ellipsis", "fold": "fold", "never": "ellipsis"}


def to_rich(table: Table) -> RenderableType:
    """A Rich table, with the footnotes as lines beneath it."""
    if table.frame == "grid":
        rt = RichTable.grid(padding=(0, 2))
    else:
        compact = table.frame == "compact"
        rt = RichTable(
            title=Text(table.title, style="table.title") if table.title else None,
            caption=Text(table.caption, style="table.caption") if table.caption else None,
            title_justify="left",
            caption_justify="left",
            show_header=table.show_header,
            box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD,
            collapse_padding=compact,  # many columns fit a narrow terminal
        )
    for c in table.columns:
        rt.add_column(
            # A header wraps, breaking long names anywhere, rather than lose its end to an ellipsis.
            Text(c.header, overflow="fold", no_wrap=False),
            justify=c.align,
            style="bold" if c.key else None,
            overflow=_OVERFLOW[c.wrap],
            no_wrap=c.wrap == "never",
        )
    for r in table.rows:
        cells = [Text(c.text, style=" ".join(s for s in ("bold" if c.bold else "", c.style) if s)) for c in r.cells]
        rt.add_row(*cells, style=r.style or None, end_section=r.end_section)
    return Group(rt, rich_notes(table.footnotes)) if table.footnotes else rt


def rich_notes(notes: Iterable[str]) -> Text:
    """Notes as indented "note:" lines."""
    return Text("\n".join(f"  note: {n}" for n in notes))


# -- markdown --------------------------------------------------------------------------------------
def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(table: Table, *, heading: int = 0) -> str:
    """Title (a heading of this level, or bold at 0), caption, pipe table, footnotes as a list;
    a table without columns keeps its title, caption and footnotes."""
    blocks = []
    if table.title:
        title = md_escape(table.title)
        blocks.append(f"{'#' * heading} {title}" if heading else f"**{title}**")
    if table.caption:
        blocks.append(md_escape(table.caption))
    if table.columns:
        body = [[f"**{md_escape(c.text)}**" if c.bold else md_escape(c.text) for c in r.cells] for r in table.rows]
        blocks.append(
            tabulate(
                body,
                headers=[md_escape(h) for h in table.headers],
                tablefmt="pipe",
                disable_numparse=True,
                colalign=[c.align for c in table.columns],
            )
        )
    if table.footnotes:
        blocks.append("\n".join(f"- {md_escape(n)}" for n in table.footnotes))
    return "\n\n".join(blocks)


# -- LaTeX -----------------------------------------------------------------------------------------
_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # Braced, so a cell starting a row is not read as the optional argument of the \\ before it.
    "[": "{[}",
    "]": "{]}",
    "<": "$<$",
    ">": "$>$",
    "±": r"$\pm$",
    "\n": " ",
}
_TEX_SPECIAL = re.compile("|".join(re.escape(k) for k in _TEX))


def tex_escape(text: str) -> str:
    return _TEX_SPECIAL.sub(lambda m: _TEX[m.group()], text)


def to_latex(table: Table) -> str:
    """A `table` float needing no package: the tabular, the footnotes, then "title. caption" as its caption."""
    body = [
        [rf"\textbf{{{tex_escape(c.text)}}}" if c.bold else tex_escape(c.text) for c in r.cells] for r in table.rows
    ]
    tab = tabulate(
        body,
        headers=[tex_escape(h) for h in table.headers],
        tablefmt="latex_raw",
        disable_numparse=True,
        colalign=[c.align for c in table.columns],
    )
    notes = "".join(f"{{\\footnotesize {tex_escape(n)}\\par}}\n" for n in table.footnotes)
    caption = ". ".join(t for t in (table.title, table.caption) if t)
    caption_line = f"\\caption{{{tex_escape(caption)}}}\n" if caption else ""
    return "\\begin{table}[ht]\n\\centering\n\\small\n" + tab + "\n" + notes + caption_line + "\\end{table}\n"


# -- CSV and JSON ----------------------------------------------------------------------------------
def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.headers)
    writer.writerows(table.texts())
    return buf.getvalue()


def json_text(data: Any) -> str:
    """The one JSON writer of reports: indented, NaN refused, a final newline."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def to_json(tables: Sequence[Table]) -> str:
    return json_text(
        {
            "schema_version": SCHEMA_VERSION,
            "tables": [
                {
                    "title": t.title,
                    "caption": t.caption,
                    "columns": [{"header": c.header, "align": c.align} for c in t.columns],
                    "rows": t.texts(),
                    "footnotes": list(t.footnotes),
                }
                for t in tables
            ],
        }
    )
