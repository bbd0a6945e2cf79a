"""`bench perf`: training throughput on this machine, and whether input is the bottleneck."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bench.cli.options import (
    BatchSizeOption,
    CpuBf16Option,
    DataOption,
    DeviceOption,
    ImageSizeOption,
    OnednnDepthwiseOption,
    PresetOption,
    SetOption,
)
from bench.config import data_root


def perf(
    method: Annotated[str, typer.Option("--method", "-m", help="Method name (see `bench methods list`).")],
    stage: Annotated[int, typer.Option(help="Stage to measure (1-based).")] = 1,
    batches: Annotated[int, typer.Option(min=1, help="Batches per measurement, after one warm-up batch.")] = 5,
    device: DeviceOption = "auto",
    workers: Annotated[int, typer.Option(min=0, help="Loader worker processes (0: load in this process).")] = 0,
    png: Annotated[bool, typer.Option("--png", help="Also measure the PNG decode + resize loader.")] = False,
    source_size: Annotated[
        int | None,
        typer.Option(
            min=32,
            max=1024,
            help="Measure on demo images rendered at this size in a temporary folder (implies --png; e.g. 1024, NIH's size).",
            show_default=False,
        ),
    ] = None,
    preset: PresetOption = None,
    image_size: ImageSizeOption = None,
    batch_size: BatchSizeOption = None,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model (CUDA only).")] = False,
    cuda_graphs: Annotated[
        bool,
        typer.Option(
            "--cuda-graphs", help="Capture the training forward and backward as CUDA graphs (as bench run does)."
        ),
    ] = False,
    onednn_depthwise: OnednnDepthwiseOption = False,
    cpu_bf16: CpuBf16Option = False,
    set_: SetOption = None,
    amp: Annotated[
        bool, typer.Option("--amp/--no-amp", help="bf16 autocast on CUDA (--no-amp: float32, to see what bf16 buys).")
    ] = True,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile/--no-profile",
            help="Profile a few more model-only steps: the step time and its share outside kernels (--no-profile: skip them).",
        ),
    ] = True,
    data: DataOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON on stdout.")] = False,
) -> None:
    """Measure model-only, loader-only and end-to-end training images/s and steps/s, their ratio,
    and the share of a profiled step spent outside kernels.

    Example: bench perf --method chexnet --preset paper --source-size 1024 --device cpu
    """
    from bench.perf import measure, table_rows
    from bench.ui.console import out
    from bench.ui.tables import Column, Table, row

    report = measure(
        method,
        data=data_root(data),
        source_size=source_size,
        stage=stage,
        batches=batches,
        device=device,
        workers=workers,
        png=png,
        preset=preset,
        image_size=image_size,
        batch_size=batch_size,
        compile=compile,
        cuda_graphs=cuda_graphs,
        onednn_depthwise=onednn_depthwise,
        cpu_bf16=cpu_bf16,
        overrides=tuple(set_ or ()),
        amp=amp,
        profile=profile,
        progress=not as_json,
    )
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    title = (
        f"{report.method} stage {report.stage} ({report.preset}: {report.image_size} px, batch {report.batch_size}) "
        f"on {report.device} ({report.precision}{', compiled' if report.compiled else ''}"
        f"{', CUDA graphs' if report.cuda_graphs else ''}{', oneDNN depthwise' if report.onednn_depthwise else ''}"
        f"{''.join(f', --set {item}' for item in report.overrides)}), "
        f"{report.batches} batches, "
        f"{report.workers} loader workers"
    )
    rows = tuple(row(name, value) for name, value in table_rows(report))
    out.print(Table((Column("measure"), Column("value", "right")), rows, title=title, frame="compact"))


def mount(app: typer.Typer) -> None:
    app.command("perf")(perf)
