"""`bench eval`: a checkpoint trained elsewhere, scored by a method's model without training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli.options import (
    DataOption,
    DeviceOption,
    LimitOption,
    NoCacheOption,
    PluginOption,
    PresetOption,
    ResultsOption,
    SplitSeedOption,
    TtaOption,
    ValFractionOption,
    WorkersOption,
)
from bench.cli.score import (
    DescriptionOption,
    FoldOption,
    SplitOption,
    TrainedOnOption,
    UrlOption,
    ValPredictionsOption,
    print_external,
)
from bench.config import data_root, results_dir


def eval_weights(
    method: Annotated[str, typer.Option("--method", "-m", help="The method whose model the weights are for.")],
    weights: Annotated[
        Path,
        typer.Option(
            "--weights",
            help="A state dict (or a dict holding one under 'state_dict' or 'model'), loaded with weights_only=True.",
        ),
    ],
    split: SplitOption = "official",
    name: Annotated[
        str | None,
        typer.Option("--name", help="The model's name in the leaderboard (default: METHOD@FILE).", show_default=False),
    ] = None,
    fold: FoldOption = 0,
    data: DataOption = None,
    image_size: Annotated[
        int | None,
        typer.Option(help="Test image size (default: the method's last stage's).", show_default=False),
    ] = None,
    tta: TtaOption = "none",
    preset: PresetOption = None,
    limit: LimitOption = None,
    description: DescriptionOption = None,
    url: UrlOption = None,
    trained_on: TrainedOnOption = "unknown",
    device: DeviceOption = "auto",
    batch_size: Annotated[
        int | None, typer.Option(help="Images per forward pass (default: twice the method's training batch).")
    ] = None,
    workers: WorkersOption = 0,
    no_cache: NoCacheOption = False,
    plugin: PluginOption = None,
    split_seed: SplitSeedOption = 0,
    val_fraction: ValFractionOption = 0.1,
    val_predictions: ValPredictionsOption = None,
    results: ResultsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notices.")] = False,
) -> None:
    """Score a checkpoint trained elsewhere on a split's test list (no training), recorded as an external run.

    Example: bench eval --method chexnet --weights densenet121.pt --split weng --trained-on weng --tta tencrop
    """
    from bench.external.inference import EvalOptions, evaluate_weights
    from bench.ui.console import notice

    results_path = results_dir(results)
    record = evaluate_weights(
        EvalOptions(
            method=method,
            weights=weights,
            split=split,
            results=results_path,
            name=name,
            fold=fold,
            data=data_root(data),
            preset=preset,
            image_size=image_size,
            tta=tta,
            limit=limit,
            description=description,
            url=url,
            trained_on=trained_on,
            device=device,
            batch_size=batch_size,
            workers=workers,
            no_cache=no_cache,
            plugins=tuple(str(p) for p in plugin or ()),
            split_seed=split_seed,
            val_fraction=val_fraction,
            val_predictions=val_predictions,
            quiet=quiet,
        ),
        notice=(lambda message: None) if quiet else notice,
    )
    print_external(record, results_path)


def mount(app: typer.Typer) -> None:
    app.command("eval")(eval_weights)
