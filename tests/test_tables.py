"""bench.ui.tables: each format's escaping, the CSV and JSON shapes, the markdown table shape."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
from rich.console import Console

from bench.ui.tables import (
    Cell,
    Column,
    Table,
    row,
    to_csv,
    to_json,
    to_latex,
    to_markdown,
    to_rich,
)

NASTY = "a_b & 5% #1 [x] |y|"


def nasty_table() -> Table:
    return Table(
        (Column("name"), Column(f"value {NASTY}", "right")),
        (row("plain", "1.0"), row(NASTY, Cell(NASTY, bold=True)), row("last", "[red]2[/red]", end_section=True)),
        title=f"title {NASTY}",
        caption=f"caption {NASTY}",
        footnotes=(f"note {NASTY}",),
    )


def _md_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_table_shape_and_escaping():
    text = to_markdown(nasty_table(), heading=2)
    assert text.startswith("## title a_b & 5% #1 [x] \\|y\\|\n\ncaption a_b & 5% #1 [x] \\|y\\|\n\n")
    header, separator, *rows = _md_rows(text)
    assert len(rows) == 3
    assert all(_unescaped_pipes(line) == 3 for line in (header, separator, *rows))  # two columns, whatever the text
    assert re.fullmatch(r"\|:-+\|-+:\|", separator)  # left, then right aligned
    assert "**a_b & 5% #1 [x] \\|y\\|**" in rows[1]  # bold, and only the pipe escaped
    assert "[red]2[/red]" in rows[2]
    assert text.endswith("- note a_b & 5% #1 [x] \\|y\\|")
    assert to_markdown(nasty_table()).startswith("**title a_b")  # heading 0: a bold line


def test_latex_escapes_every_special_character():
    tex = to_latex(nasty_table())
    escaped = r"a\_b \& 5\% \#1 {[}x{]} |y|"
    assert tex.startswith("\\begin{table}[ht]\n") and tex.endswith("\\end{table}\n")
    assert "\\begin{tabular}{lr}" in tex
    assert f"\\textbf{{{escaped}}}" in tex
    assert f"\\caption{{title {escaped}. caption {escaped}}}" in tex
    assert f"note {escaped}" in tex
    assert "{[}red{]}2{[}/red{]}" in tex
    body = tex.split("\\begin{tabular}")[1]
    assert not re.search(r"(?<!\\)[_%#]", body)  # nothing unescaped
    rest = to_latex(Table((Column("x"),), (row("p<0.001 > ± ~ ^ $ {} \\"),)))
    assert r"p$<$0.001 $>$ $\pm$ \textasciitilde{} \textasciicircum{} \$ \{\} \textbackslash{}" in rest


def test_csv_round_trips_through_pandas():
    table = nasty_table()
    frame = pd.read_csv(io.StringIO(to_csv(table)), dtype=str, keep_default_na=False)
    assert list(frame.columns) == table.headers
    assert frame.values.tolist() == table.texts()
    assert frame.iloc[1].tolist() == [NASTY, NASTY]


def test_json_has_a_schema_version_and_every_cell():
    data = json.loads(to_json([nasty_table()]))
    assert data["schema_version"] == 1
    (t,) = data["tables"]
    assert t["title"] == f"title {NASTY}" and t["caption"] == f"caption {NASTY}" and t["footnotes"] == [f"note {NASTY}"]
    assert t["columns"] == [{"header": "name", "align": "left"}, {"header": f"value {NASTY}", "align": "right"}]
    assert t["rows"][1] == [NASTY, NASTY]


def test_rich_prints_text_never_markup():
    console = Console(width=120, record=True, color_system=None)
    console.print(nasty_table())  # a table value is a Rich renderable
    text = console.export_text()
    assert f"title {NASTY}" in text and f"caption {NASTY}" in text and f"note {NASTY}" in text
    assert "[red]2[/red]" in text
    assert text == _printed(to_rich(nasty_table()))


def _printed(renderable) -> str:
    console = Console(width=120, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_rows_must_fill_the_columns():
    with pytest.raises(ValueError, match="a row of 1 cells in a table of 2 columns"):
        Table((Column("a"), Column("b")), (row("x"),))
