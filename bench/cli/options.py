"""Options shared by several commands (so every command spells them the same way)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bench.config import DATA_ENV, RESULTS_ENV
from bench.console import notice
from bench.errors import BenchError

DataOption = Annotated[
    Optional[Path],
    typer.Option(
        "--data",
        envvar=DATA_ENV,
        help=f"NIH ChestX-ray14 root (or ${DATA_ENV}); default: the built-in synthetic demo dataset.",
        show_default=False,
    ),
]
ResultsOption = Annotated[
    Optional[Path],
    typer.Option(
        "--results",
        envvar=RESULTS_ENV,
        help=f"Results directory (or ${RESULTS_ENV}); default: ./results.",
        show_default=False,
    ),
]


def write_output(path: Path, text: str) -> None:
    """Write a report file atomically (parents created); an unwritable path is a one-line error."""
    from bench.records import atomic_write_text

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except OSError as exc:
        raise BenchError(f"cannot write {path}: {exc.strerror or exc}", hint="pass a writable --out FILE") from None
    notice(f"wrote {path}")
