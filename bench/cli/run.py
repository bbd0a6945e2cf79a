"""`bench run`: train and evaluate one method on one split fold."""

from __future__ import annotations

from typing import Annotated

import typer

from bench.cli.options import (
    RUN_FIELDS,
    AllowLeakageOption,
    BatchSizeOption,
    CompileOption,
    CpuBf16Option,
    CudaGraphsOption,
    DataOption,
    DeviceOption,
    EpochsOption,
    ImageSizeOption,
    LimitOption,
    LrOption,
    NoCacheOption,
    OnednnDepthwiseOption,
    PatienceOption,
    PerRankBatchOption,
    PluginOption,
    PresetOption,
    PretrainedOption,
    ResultsOption,
    SetOption,
    SplitSeedOption,
    StaticShapesOption,
    TtaOption,
    ValFractionOption,
    WorkersOption,
    run_options,
)
from bench.config import results_dir


def run(
    ctx: typer.Context,
    method: Annotated[
        str | None, typer.Option("--method", "-m", help="Method name (see `bench methods list`).")
    ] = None,
    split: Annotated[
        str, typer.Option("--split", "-s", help="Split protocol: official, kfold5, weng or custom:PATH.")
    ] = "official",
    fold: Annotated[int, typer.Option(help="Fold index (0-based) for multi-fold protocols.")] = 0,
    seed: Annotated[int, typer.Option(help="Training seed (python, numpy, torch).")] = 0,
    split_seed: SplitSeedOption = 0,
    val_fraction: ValFractionOption = 0.1,
    data: DataOption = None,
    results: ResultsOption = None,
    preset: PresetOption = None,
    epochs: EpochsOption = None,
    batch_size: BatchSizeOption = None,
    image_size: ImageSizeOption = None,
    lr: LrOption = None,
    limit: LimitOption = None,
    patience: PatienceOption = None,
    device: DeviceOption = "auto",
    pretrained: PretrainedOption = None,
    allow_leakage: AllowLeakageOption = False,
    workers: WorkersOption = 0,
    no_cache: NoCacheOption = False,
    compile: CompileOption = False,
    static_shapes: StaticShapesOption = False,
    cuda_graphs: CudaGraphsOption = False,
    onednn_depthwise: OnednnDepthwiseOption = False,
    cpu_bf16: CpuBf16Option = False,
    tta: TtaOption = "none",
    nproc: Annotated[
        int | None,
        typer.Option(
            help="Train data-parallel in N processes on this machine (starts torchrun; one GPU each on CUDA).",
            show_default=False,
        ),
    ] = None,
    per_rank_batch: PerRankBatchOption = False,
    plugin: PluginOption = None,
    set_: SetOption = None,
    resume: Annotated[str | None, typer.Option(help="Continue an interrupted run by its id.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or epoch lines.")] = False,
) -> None:
    """Train and evaluate a method on a split, and store a complete run record.

    Example: bench run --method wfocal-effb3 --split official  (on 4 GPUs: add --nproc 4)
    """
    from bench.errors import BenchError
    from bench.train.engine import resume as resume_run
    from bench.train.engine import run as start_run
    from bench.train.report import result_table, stage_lines
    from bench.ui.console import out

    if method is None and resume is None:
        raise BenchError("no method given", hint="pass --method NAME (see `bench methods list`) or --resume RUN_ID")
    if nproc is not None:
        from bench.train.launch import command_line, launch

        if method is not None:  # the options each process would refuse, refused before any starts
            run_options(ctx.params, resolve=False, world_size=nproc)
        raise typer.Exit(launch(nproc, command_line(ctx, drop=("nproc",))))
    results_path = results_dir(results)
    if resume is not None:
        record = resume_run(resume, results=str(results_path), quiet=quiet, given=_given_again(ctx))
    elif method is not None:  # checked above: one of the two is given
        record = start_run(run_options(ctx.params, resolve=False))
    if not quiet:
        for line in stage_lines(record):
            out.print(line)
    out.print(result_table(record))
    out.print(f"run {record.run_id} complete: {results_path / 'runs' / record.run_id}")


# --resume, --nproc, --quiet and --results are the resume's own.
_RESUME_OWN = ("resume", "nproc", "quiet", "results")


def _given_again(ctx: typer.Context) -> dict:
    """The run options given on the command line with --resume: field -> (flag, value)."""
    from bench.train.launch import long_flag

    given = {}
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if param.name in _RESUME_OWN or source is None or source.name != "COMMANDLINE":
            continue
        value = ctx.params[param.name]
        given[RUN_FIELDS.get(param.name, param.name)] = (long_flag(param.opts), value)
    return given


def mount(app: typer.Typer) -> None:
    app.command("run")(run)
