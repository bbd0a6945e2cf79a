"""The `bench` command line. Each command is a thin function over library code."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer
from rich.markup import escape
from typer._click.core import Context  # the click typer vendors: what TyperGroup passes
from typer.core import TyperGroup

from bench.errors import BenchError
from bench.ui.console import err

DEBUG_ENV = "CXR_BENCH_DEBUG"  # set by --debug, so the processes a command starts inherit it


class _BenchGroup(TyperGroup):
    """Turns a BenchError anywhere below into one line on stderr and its exit code (after the
    traceback of what caused it, with --debug)."""

    def invoke(self, ctx: Context):
        try:
            return super().invoke(ctx)
        except BenchError as exc:
            error = exc
        except ModuleNotFoundError as exc:  # commands import torch, timm and the rest on first use
            if (missing := missing_package(exc)) is None:
                raise
            error = missing
        _report(error)
        ctx.exit(error.exit_code)


def _report(exc: BenchError) -> None:
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(exc.__cause__ or exc, file=sys.stderr)
    # The message is text: "[...]" in it (a display name, a list) is not markup.
    err.print(f"[bold red]error:[/bold red] {escape(exc.one_line())}", markup=True, highlight=False)


OWN_PACKAGES = frozenset({"bench", "methods", "splits", "leaderboard"})  # this project's own


def missing_package(exc: ModuleNotFoundError) -> BenchError | None:
    """A third-party package that is not installed, as one line; None for a module of this
    project's own (a bug, whose traceback is wanted)."""
    top = (exc.name or "").partition(".")[0]
    if not top or top in OWN_PACKAGES:
        return None
    error = BenchError(
        f"the Python package {top!r} is not installed",
        hint="install the project with its dependencies: pip install -e . in the checkout",
    )
    error.__cause__ = exc
    return error


app = typer.Typer(
    cls=_BenchGroup,
    name="bench",
    help="Benchmark thorax disease classifiers on NIH ChestX-ray14 (or its built-in synthetic twin).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, print the traceback of its cause before the one-line message.")
    ] = False,
) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "1"


def _mount() -> None:
    # Each command module owns its commands and adds them through `mount(app)`.
    from bench.cli import cam, data, leaderboard, methods, perf, run, runs, score, splits, sweep
    from bench.cli import eval as eval_cli

    for module in (data, splits, methods, run, score, eval_cli, sweep, runs, leaderboard, perf, cam):
        module.mount(app)


try:
    _mount()
except ModuleNotFoundError as exc:  # `bench` started from a checkout without its dependencies
    if (missing := missing_package(exc)) is None:
        raise
    if "--debug" in sys.argv[1:]:  # before typer parses it
        os.environ[DEBUG_ENV] = "1"
    _report(missing)
    sys.exit(missing.exit_code)


def main(argv: list[str] | None = None) -> None:
    app(args=argv if argv is not None else sys.argv[1:], prog_name="bench")
