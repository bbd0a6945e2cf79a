"""`bench splits ...`."""

from __future__ import annotations

import typer

group = typer.Typer(help="TODO", no_args_is_help=True)


def mount(app: typer.Typer) -> None:
    app.add_typer(group, name="splits")
