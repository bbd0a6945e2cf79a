"""`bench score`: an external model's scores file as a run record beside the trained runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli.options import DataOption, ResultsOption, SplitSeedOption, ValFractionOption
from bench.config import data_root, results_dir

# Shared with `bench eval`: what an external run says about itself.
NameOption = Annotated[str, typer.Option("--name", help="The model's name: its column in the leaderboard.")]
DescriptionOption = Annotated[
    str | None, typer.Option("--description", help="One line on the model (recorded).", show_default=False)
]
UrlOption = Annotated[
    str | None, typer.Option("--url", help="Where the model or its paper is (recorded).", show_default=False)
]
TrainedOnOption = Annotated[
    str,
    typer.Option(
        "--trained-on",
        help="The split the model was trained on: official, weng, kfold5:K, custom:PATH or unknown. The record "
        "counts the test images and patients its training and validation lists share with the test list.",
    ),
]
SplitOption = Annotated[
    str, typer.Option("--split", "-s", help="Split protocol of the test list: official, kfold5, weng or custom:PATH.")
]
FoldOption = Annotated[int, typer.Option(help="Fold index (0-based) for multi-fold protocols.")]
ValPredictionsOption = Annotated[
    Path | None,
    typer.Option(
        "--val-predictions",
        help="The model's predictions on validation images (the predictions parquet format), kept with the run: "
        "its operating points are chosen on them. Without: the evaluation says it has none.",
        show_default=False,
    ),
]


def score(
    file: Annotated[Path, typer.Argument(help="CSV or parquet: an image id column and one score column per label.")],
    name: NameOption,
    split: SplitOption = "official",
    fold: FoldOption = 0,
    data: DataOption = None,
    description: DescriptionOption = None,
    url: UrlOption = None,
    trained_on: TrainedOnOption = "unknown",
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Score the test images the file has rows for (recorded; the run gets a leaderboard table of its own).",
        ),
    ] = False,
    split_seed: SplitSeedOption = 0,
    val_fraction: ValFractionOption = 0.1,
    val_predictions: ValPredictionsOption = None,
    results: ResultsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notices.")] = False,
) -> None:
    """Score a file of an external model's test scores: the same metrics, intervals and record as a trained run.

    Example: bench score preds.csv --split weng --name my-densenet --trained-on weng
    """
    from bench.external.score import ScoreOptions, score_file
    from bench.ui.console import notice

    results_path = results_dir(results)
    record = score_file(
        ScoreOptions(
            file=file,
            split=split,
            name=name,
            results=results_path,
            fold=fold,
            data=data_root(data),
            description=description,
            url=url,
            trained_on=trained_on,
            allow_partial=allow_partial,
            split_seed=split_seed,
            val_fraction=val_fraction,
            val_predictions=val_predictions,
            quiet=quiet,
        ),
        notice=(lambda message: None) if quiet else notice,
    )
    print_external(record, results_path)


def print_external(record, results_path: Path) -> None:
    """The result table, the evaluation and where the run is; shared with `bench eval`."""
    from bench.cli.runs import print_evaluation
    from bench.records.provenance import provenance
    from bench.train.report import result_table
    from bench.ui.console import out, warn

    out.print(result_table(record))
    print_evaluation(record)
    for key, text in provenance(record):
        out.print(f"{key}: {text}", markup=False)
    if record.tta != "none":
        out.print(f"test-time augmentation: {record.tta}")
    if record.sanity is not None and not record.sanity.test_auroc_ok:
        warn(record.sanity.message)
    out.print(f"run {record.run_id} complete: {results_path / 'runs' / record.run_id}")


def mount(app: typer.Typer) -> None:
    app.command("score")(score)
