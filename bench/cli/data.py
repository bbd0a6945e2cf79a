"""`bench data ...`: inspect and generate datasets."""

from __future__ import annotations

import typer

group = typer.Typer(help="Inspect a dataset root or generate the synthetic demo dataset.", no_args_is_help=True)


def mount(app: typer.Typer) -> None:
    app.add_typer(group, name="data")
