"""`bench leaderboard`: results tables like the paper's, from run records and stored predictions."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bench.cli.options import ResultsOption, write_output
from bench.config import results_dir
from bench.errors import BenchError
from bench.ui.console import out, warn


class CorrectionChoice(str, Enum):
    holm = "holm"
    bh = "bh"
    none = "none"


class SeedsChoice(str, Enum):
    mean = "mean"
    latest = "latest"


class Attribute(str, Enum):
    view = "view"
    sex = "sex"
    age = "age"


class RankBlocks(str, Enum):
    auto = "auto"
    classes = "classes"
    folds = "folds"
    seeds = "seeds"


class Format(str, Enum):
    md = "md"
    csv = "csv"
    json = "json"
    latex = "latex"


def mount(app: typer.Typer) -> None:
    app.command("leaderboard")(leaderboard)


def leaderboard(
    results: ResultsOption = None,
    split: Annotated[
        str, typer.Option("--split", help="A split protocol (official, weng, kfold5, ...) or all.")
    ] = "all",
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="Baseline of the improvement tables: a method name or published:<column>. "
            "Default: the paper's baseline where its published column is shown.",
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Format of the file written to --out.")] = Format.md,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="File to write (default: <results>/leaderboard/LEADERBOARD.<ext>); '-' prints it to stdout "
            "instead of the terminal tables.",
        ),
    ] = None,
    ci: Annotated[bool, typer.Option("--ci/--no-ci", help="Show 95% patient-bootstrap intervals.")] = False,
    published: Annotated[
        bool, typer.Option("--published/--no-published", help="Show the paper's columns beside real NIH runs.")
    ] = True,
    published_only: Annotated[
        bool, typer.Option("--published-only", help="Only the paper's tables and their improvement tables; no runs.")
    ] = False,
    all_runs: Annotated[
        bool, typer.Option("--all-runs", help="Every complete run, not only the latest per method, split and fold.")
    ] = False,
    seeds: Annotated[
        SeedsChoice,
        typer.Option(
            "--seeds",
            help="Runs of one column that differ only in training seed: their mean ± sample std over seeds "
            "(mean), or the latest run only (latest).",
        ),
    ] = SeedsChoice.mean,
    plots: Annotated[
        Path | None,
        typer.Option(
            "--plots",
            help="Write one ROC-curve PNG per class here, linked from the markdown (and, with --rank, the "
            "critical-difference diagrams).",
        ),
    ] = None,
    correction: Annotated[
        CorrectionChoice,
        typer.Option(
            "--correction",
            help="Correction of the improvement tables' p-values for their number (classes x columns): Holm "
            "(family-wise error rate), bh (Benjamini-Hochberg, false discovery rate) or none.",
        ),
    ] = CorrectionChoice.holm,
    by: Annotated[
        Attribute | None,
        typer.Option(
            "--by",
            help="Also a table per split by subgroup: each method's mean test AUROC per view (PA, AP), sex "
            "or age band, from the stored predictions and the dataset index.",
        ),
    ] = None,
    rank: Annotated[
        bool,
        typer.Option(
            "--rank",
            help="Also rank each split's columns: Friedman test over blocks (--rank-blocks), Nemenyi post-hoc "
            "test and critical difference (with --plots, the critical-difference diagram PNG).",
        ),
    ] = False,
    rank_blocks: Annotated[
        RankBlocks,
        typer.Option(
            "--rank-blocks",
            help="The blocks of --rank: the 14 classes, the folds of a k-fold table, or the training seeds "
            "every column ran; auto: folds on k-fold tables, classes on single splits.",
        ),
    ] = RankBlocks.auto,
    evaluation: Annotated[
        bool,
        typer.Option(
            "--evaluation",
            help="Also a table per split of each method's mean ECE, Brier score and test sensitivity, "
            "specificity, PPV and F1 at the Youden's J and max-F1 thresholds, read from the runs' stored "
            "evaluations (never recomputed; bench runs evaluate RUN_ID --save stores one).",
        ),
    ] = False,
    localization: Annotated[
        bool,
        typer.Option(
            "--localization",
            help="Heatmap box scores from `bench cam` instead: a table per split, rows classes, columns methods,"
            " cells IoBB>0.5 accuracy / pointing-game hit rate (default file LOCALIZATION.<ext>).",
        ),
    ] = False,
) -> None:
    """Per-class test AUROC tables per split (and split/dataset fingerprint), with improvement tables.

    A results directory without any run record is an error (exit 2), as are an unknown
    --reference and a --split without runs. --localization shows `bench cam`'s box scores instead.

    Example: bench leaderboard --split official --reference chexnet --ci --by view --rank --evaluation
    """
    from leaderboard.build import build_leaderboard
    from leaderboard.ranking import rank_tables
    from leaderboard.render import EXTENSIONS, Extras, render

    if localization:
        from bench.cli.cam import show_localization

        return show_localization(results_dir(results), split=split, fmt=fmt.value, out_file=out_file)
    if published_only and not published:
        raise BenchError("--published-only and --no-published contradict each other", hint="drop one of them")
    if rank_blocks != RankBlocks.auto and not rank:
        raise BenchError(f"--rank-blocks {rank_blocks.value} without --rank ranks nothing", hint="add --rank")
    results_path = results_dir(results)
    say = lambda message: warn(escape(message))  # noqa: E731
    board = build_leaderboard(
        None if published_only else results_path,
        split=split,
        reference=reference,
        ci=ci,
        show_published=published,
        published_only=published_only,
        all_runs=all_runs,
        seeds=seeds.value,
        plots_dir=plots,
        correction=correction.value,
        warn=say,
    )
    if plots is not None and not any(t.plots for t in board.tables):
        warn("no run predictions to plot: no ROC curves written")
    extras = Extras(
        () if by is None or published_only else tuple(_subgroup_tables(board, results_path, by.value)),
        tuple(rank_tables(board, say, plots, rank_blocks.value)) if rank else (),
        tuple(_evaluation_tables(board)) if evaluation and not published_only else (),
    )
    to_stdout = out_file is not None and str(out_file) == "-"
    path = None if to_stdout else out_file or results_path / "leaderboard" / f"LEADERBOARD.{EXTENSIONS[fmt.value]}"
    text = render(board, fmt.value, ci=ci, out_path=path, extras=extras)
    if path is None:  # to stdout
        typer.echo(text, nl=False)
        return
    _print_board(board, ci=ci, extras=extras)
    write_output(path, text)


def _subgroup_tables(board, results_path: Path, attribute: str):
    from bench.records import RunStore
    from leaderboard.subgroups import subgroup_tables
    from leaderboard.tables import PredictionCache

    say = lambda message: warn(escape(message))  # noqa: E731
    tables = subgroup_tables(board, attribute, PredictionCache(RunStore(results_path), say), say)
    if not tables:
        warn(f"no run predictions and dataset index to split by {attribute}: no subgroup tables")
    return tables


def _evaluation_tables(board):
    from leaderboard.evaluation import evaluation_tables

    tables = evaluation_tables(board)
    if not tables:
        warn("no run columns: no evaluation tables")
    return tables


def _print_board(board, *, ci: bool, extras) -> None:
    """The terminal's view: each table, its improvement table, provenance, notes, runs left out
    and the --by, --rank and --evaluation tables; the demo's tables after a warning rule."""
    from rich.text import Text

    from bench.ui.tables import rich_notes
    from leaderboard.render import DEMO_HEADING, DEMO_TEXT, sections

    demo_said = False
    for s in sections(board, ci=ci, extras=extras):
        if s.table.demo and not demo_said:
            out.rule(f"[bold yellow]{DEMO_HEADING}[/bold yellow]")
            out.print(DEMO_TEXT, style="yellow")
            demo_said = True
        if s.table.columns:
            out.print(s.auroc)
        else:
            out.print(Text.assemble((s.table.title, "bold"), ": no complete runs"))
        if s.improvement is not None:
            out.print(s.improvement)
        for what, notes in (("external", s.external), ("plugin", s.origins)):
            if notes:
                out.print(Text("\n".join(f"  {what}: {n}" for n in notes)))
        if s.table.notes:
            out.print(rich_notes(s.table.notes))
        if s.other_runs is not None:
            out.print(s.other_runs)
        for table in s.extra:
            out.print(table)
        out.print()
