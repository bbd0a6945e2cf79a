"""`bench leaderboard`."""

from __future__ import annotations

import typer


def mount(app: typer.Typer) -> None:
    pass
