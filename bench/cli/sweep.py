"""`bench sweep`: run a matrix of methods x splits x folds x seeds x --grid values."""

from __future__ import annotations

import itertools
from enum import Enum
from typing import Annotated

import typer

from bench.cli.options import (
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
    SplitSeedOption,
    StaticShapesOption,
    TtaOption,
    ValFractionOption,
    WorkersOption,
    run_options,
)
from bench.config import results_dir


class Launcher(str, Enum):
    local = "local"
    slurm = "slurm"


def mount(app: typer.Typer) -> None:
    app.command("sweep")(sweep)


def sweep(
    ctx: typer.Context,
    methods: Annotated[str, typer.Option("--methods", help="Comma-separated method names, e.g. chexnet,wfocal-effb3.")],
    splits: Annotated[
        str, typer.Option("--splits", help="Comma-separated split protocols (official, kfold5, weng, custom:PATH).")
    ] = "official",
    folds: Annotated[
        str, typer.Option("--folds", help="Fold indices, e.g. 0 or 0,1, or all: every fold of each split.")
    ] = "0",
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated training seeds.")] = "0",
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            help="A sweep axis of --set values, KEY=v1,v2,... (repeatable); METHOD:KEY=v1,v2 for one method's cells only.",
        ),
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE for every cell (repeatable).")] = None,
    preset: PresetOption = None,
    data: DataOption = None,
    results: ResultsOption = None,
    epochs: EpochsOption = None,
    batch_size: BatchSizeOption = None,
    image_size: ImageSizeOption = None,
    lr: LrOption = None,
    limit: LimitOption = None,
    patience: PatienceOption = None,
    split_seed: SplitSeedOption = 0,
    val_fraction: ValFractionOption = 0.1,
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
    per_rank_batch: PerRankBatchOption = False,
    plugin: PluginOption = None,
    tta: TtaOption = "none",
    launcher: Annotated[
        Launcher, typer.Option(help="local: runs here, one process per cell; slurm: one job per cell (submitit).")
    ] = Launcher.local,
    max_parallel: Annotated[int, typer.Option(help="Local launcher: cells run at once.")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the matrix and the commands; run nothing.")] = False,
    partition: Annotated[str | None, typer.Option(help="Slurm partition (default: the cluster's).")] = None,
    gpus_per_job: Annotated[int, typer.Option(help="Slurm: GPUs per job.")] = 1,
    time_limit: Annotated[
        int, typer.Option(help="Slurm: time limit per job in minutes; a timed-out run is requeued and resumed.")
    ] = 240,
    array_parallelism: Annotated[int, typer.Option(help="Slurm: jobs of the array running at once.")] = 8,
) -> None:
    """Run every cell of a matrix as its own `bench run`; a cell whose complete run is already in
    the results (same method display name, split and dataset fingerprints, seed, preset) is skipped.

    Prints a summary table; exits 1 if any cell failed (the others still run).

    Example: bench sweep --methods chexnet,wfocal-densenet121 --splits official,kfold5 --folds all --seeds 0,1,2
    """
    from rich.markup import escape

    from bench.errors import BenchError
    from bench.sweep.launchers import run_local
    from bench.sweep.matrix import integers, names, parse_folds, parse_grid
    from bench.sweep.plan import SweepOptions, plan_sweep
    from bench.sweep.report import commands, outcome_line, plan_table, summary_table
    from bench.ui.console import notice, out

    results_path = results_dir(results).resolve()
    method_names = names(methods, "methods")
    base = run_options(ctx.params, resolve=True, method=method_names[0])
    options = SweepOptions(
        methods=method_names,
        base=base,
        splits=names(splits, "splits"),
        folds=parse_folds(folds),
        seeds=integers(seeds, "seeds"),
        grid=parse_grid(grid or ()),
    )
    settings = None
    if launcher is Launcher.slurm:
        settings = _slurm_settings(partition, gpus_per_job, time_limit, array_parallelism)
    planned = plan_sweep(options)
    if dry_run:
        out.print(plan_table(planned))
        if settings is not None:
            out.print(f"each command runs as a Slurm job: {settings.summary()}", markup=False)
        for line in commands(planned):
            out.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    to_run = sum(p.done is None for p in planned)
    notice(f"sweep: {len(planned)} cell(s), {to_run} to run, {len(planned) - to_run} with a complete run (skipped)")
    counter = itertools.count(1)  # next() is atomic: local cells may finish on several threads at once

    def report(outcome) -> None:
        notice(escape(outcome_line(outcome, next(counter), len(planned))))

    if settings is None:
        outcomes = run_local(planned, results=str(results_path), max_parallel=max_parallel, on_done=report)
    else:
        from bench.sweep.slurm import run_slurm

        outcomes = run_slurm(planned, settings, results=str(results_path), on_done=report)
    out.print(summary_table(outcomes))
    failed = sum(o.status == "failed" for o in outcomes)
    if failed:
        raise BenchError(
            f"{failed} of {len(outcomes)} cell(s) failed",
            hint="see the error column; rerun the same sweep to retry them, complete cells are skipped",
            exit_code=1,
        )


def _slurm_settings(partition, gpus_per_job, time_limit, array_parallelism):
    """The Slurm settings, after checking that submitit is installed."""
    from bench.errors import BenchError

    try:
        from bench.sweep.slurm import SlurmSettings
    except ModuleNotFoundError as exc:
        if exc.name != "submitit":
            raise
        raise BenchError("--launcher slurm needs submitit", hint='pip install "cxr-bench[slurm]"') from None
    return SlurmSettings(partition, gpus_per_job, time_limit, array_parallelism)
