"""Shared Rich consoles: results to stdout, notices and errors to stderr."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def notice(message: str) -> None:
    """A one-line notice on stderr (e.g. which dataset is in use)."""
    err.print(f"[dim]{message}[/dim]")


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {message}")
