"""`bench data ...`: inspect and generate datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli.options import DataOption, DecodeWorkersOption
from bench.config import data_root
from bench.errors import BenchError

group = typer.Typer(help="Inspect a dataset root or generate the synthetic demo dataset.", no_args_is_help=True)


@group.command("check")
def check(
    data: DataOption = None,
    full: Annotated[bool, typer.Option("--full", help="Decode every image (default: a random sample).")] = False,
    sample: Annotated[int, typer.Option("--sample", min=0, help="How many random images to decode.")] = 200,
    workers: DecodeWorkersOption = None,
) -> None:
    """Report what a dataset root holds (images, labels, splits, boxes); exit 2 on any problem.

    Example: bench data check --data /data/nih
    """
    from bench.data.dataset import open_dataset
    from splits.check import check_root

    index = open_dataset(data_root(data))
    report = check_root(index, full=full, sample=sample, workers=workers)
    _print_report(report)
    if not report.ok:
        raise BenchError(
            f"dataset check found {len(report.errors)} problem(s) in {index.root}: {report.errors[0]}",
            hint="see the report above",
        )


def _print_report(report) -> None:
    from rich.markup import escape

    from bench.ui.console import out
    from bench.ui.tables import Column, Table, row

    n = report.n_images
    summary = [
        ("labels", f"{report.labels_version} ({report.labels_file})"),
        ("fingerprint", report.fingerprint[:16]),
    ]
    if report.images_checked:
        sizes = ", ".join(f"{size}: {count}" for size, count in report.sizes.items()) or "-"
        what = "all" if report.decoded == report.found else "a random sample"
        summary += [
            ("images", f"{n} listed, {report.found} found, {report.missing} missing, {report.extra} unlisted"),
            ("decoded", f"{report.decoded} ({what}), {report.decode_failed} failed; sizes {sizes}"),
        ]
    else:
        summary.append(("images", f"{n} listed (not looked for)"))
    summary += [
        ("patients", str(report.patients)),
        ("views", ", ".join(f"{view} {count}" for view, count in report.views.items())),
        ("no finding", f"{report.no_finding} ({100 * report.no_finding / n:.1f}%)"),
    ]
    if report.boxes is None:
        summary.append(("boxes", "none (no BBox_List_2017.csv)"))
    else:
        classes = ", ".join(f"{name} {count}" for name, count in report.box_classes.items())
        counts = f"{report.boxes} on {report.box_images} images, {len(report.box_classes)} classes"
        summary.append(("boxes", f"{counts}: {classes}"))
    kind = report.kind if report.demo_version is None else f"{report.kind} v{report.demo_version}"
    out.print(
        Table(
            (Column(key=True), Column()),
            tuple(row(*r) for r in summary),
            title=f"Dataset {report.root} ({kind})",
            show_header=False,
        )
    )

    positives = tuple(
        row(name, str(count), f"{100 * count / n:.2f}", style="red" if count == 0 else "")
        for name, count in report.positives.items()
    )
    out.print(
        Table(
            (Column("class"), Column("positives", "right"), Column("%", "right")),
            positives,
            title="Positives per class",
        )
    )

    files = []
    for check in report.split_files:
        if check.problem:
            files.append(row(check.protocol, check.name, "unreadable", "-", "-", style="red"))
        elif check.present:
            files.append(
                row(
                    check.protocol,
                    check.name,
                    "yes",
                    str(check.n_ids),
                    str(len(check.unknown)),
                    style="red" if check.unknown else "",
                )
            )
        else:
            files.append(row(check.protocol, check.name, "no", "-", "-", style="dim"))
    columns = (
        Column("protocol"),
        Column("file"),
        Column("present"),
        Column("images", "right"),
        Column("not in dataset", "right"),
    )
    out.print(Table(columns, tuple(files), title="Split files"))

    for message in report.warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(message)}")
    for message in report.errors:
        out.print(f"[red]problem:[/red] {escape(message)}")
    if report.ok:
        out.print("[green]OK[/green]: no problems found")


@group.command("demo")
def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Directory to write (default: the cache used when no --data is given).", show_default=False
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the sampled patients, splits and images.")] = 0,
    size: Annotated[int, typer.Option("--size", min=32, max=1024, help="Image side in pixels.")] = 256,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Rendering processes (default: min(4, CPUs)); any count writes the same bytes.",
            show_default=False,
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Render every one of NIH's 112,120 rows, not the ~4,200-image sample: a real-length "
            "dataset for throughput at scale (4.1 GB at 256 px; about 22 CPU-minutes to render).",
        ),
    ] = False,
) -> None:
    """Generate the synthetic ChestX-ray14 (real NIH label rows, rendered images) in the NIH layout.

    Example: bench data demo --out ./demo --size 128
    """
    from bench.config import cache_dir
    from bench.data.demo import DEMO_DIRNAME, generate_demo
    from bench.data.nih import demo_meta
    from bench.ui.console import out as console

    if full and out is None:
        raise BenchError(
            "--full needs --out: the built-in demo in the cache stays the sample every run reads by default",
            hint="add --out DIR, then pass --data DIR to the commands that should read it",
        )
    root = generate_demo(
        out if out is not None else cache_dir() / DEMO_DIRNAME, seed=seed, size=size, workers=workers, full=full
    )
    meta = demo_meta(root)
    if meta is None:
        raise BenchError(f"the demo dataset in {root} has no readable DEMO.json", hint="run `bench data demo` again")
    images = meta["images"]
    kind = "full-length synthetic dataset" if full else "demo dataset"
    console.print(f"Wrote the {kind} ({images} images, {size}x{size}, seed {seed}) to {root}")
    console.print(f"Check it with: bench data check --data {root}")


@group.command("prepare")
def prepare(
    data: DataOption = None,
    size: Annotated[
        int, typer.Option("--size", min=8, max=4096, help="Side in pixels the images are resized to.")
    ] = ...,  # type: ignore[assignment]  # typer's marker for a required option
    workers: DecodeWorkersOption = None,
) -> None:
    """Decode every image once, resized to SIZE x SIZE, into the memory-mapped image cache that training reads.

    Resumable: an interrupted run keeps what it wrote. `bench run` does this by itself when a
    stage needs a size not cached yet.

    Example: bench data prepare --data /data/nih --size 224
    """
    from bench.data.cache import prepare_cache
    from bench.data.dataset import open_dataset
    from bench.ui.console import out as console

    index = open_dataset(data_root(data))
    cache = prepare_cache(index, size, workers=workers)
    cached = int(cache.done.sum())
    console.print(f"Image cache at {size}x{size}: {cached} of {len(cache)} images in {cache.folder}", soft_wrap=True)
    if cached < len(cache):
        console.print(f"{len(cache) - cached} image(s) are missing from {index.root} and were skipped")


def mount(app: typer.Typer) -> None:
    app.add_typer(group, name="data")
