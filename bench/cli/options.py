"""Options shared by several commands (so every command spells them the same way)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bench.config import DATA_ENV, RESULTS_ENV

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
