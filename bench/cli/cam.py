"""`bench cam`: class activation maps of a run's best checkpoint, box scores and pictures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from bench.cli.options import ResultsOption, write_output
from bench.config import results_dir
from bench.errors import BenchError
from bench.ui.console import notice, out, warn

if TYPE_CHECKING:
    from bench.ui.tables import Table

DEFAULT_IMAGES = 8


def mount(app: typer.Typer) -> None:
    app.command("cam")(cam)


def cam(
    run_ids: Annotated[
        list[str],
        typer.Argument(help="Run id (a unique prefix is enough); two or more with --compare.", show_default=False),
    ],
    compare: Annotated[
        bool,
        typer.Option(
            "--compare", help="Draw the runs side by side on the same images (rows classes, columns methods)."
        ),
    ] = False,
    classes: Annotated[
        list[str] | None,
        typer.Option(
            "--classes", "-c", help="Classes to draw (repeatable or comma-separated); default: every class with boxes."
        ),
    ] = None,
    images: Annotated[
        int | None,
        typer.Option("--images", "-n", help=f"Images per class (default {DEFAULT_IMAGES}; 1 with --compare)."),
    ] = None,
    image: Annotated[
        list[str] | None, typer.Option("--image", help="Draw these image ids instead (repeatable).")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for the pictures (default: <results>/runs/<run>/cam; <results>/cam with --compare)."
        ),
    ] = None,
    results: ResultsOption = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The run's dataset root, if it moved (default: the root in its record)."),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Heatmaps (CAM, or Grad-CAM for heads without global average pooling + a linear layer) of a run's
    best checkpoint: box scores on its test images (IoU / IoBB accuracy at T = 0.1, 0.25, 0.5, 0.75 and
    the pointing game) stored in its record, and one PNG grid per class. With --compare, one grid of
    several runs on the same images. A run without a checkpoint and a class without boxes are errors (exit 2).

    Example: bench cam 20261125-181500-wfocal-densenet121 --classes Cardiomegaly,Nodule --images 4
    """
    from bench.records import RunStore

    if compare and len(run_ids) < 2:
        raise BenchError("--compare needs two or more run ids")
    if not compare and len(run_ids) > 1:
        raise BenchError(
            f"{len(run_ids)} run ids given", hint="give one, or pass --compare to draw several side by side"
        )
    if images is not None and image:
        raise BenchError(
            "--images and --image exclude each other", hint="--images N picks N images per class; --image ID names them"
        )
    if images is not None and images < 1:
        raise BenchError(f"--images must be at least 1, got {images}")
    names = _class_names(classes)
    image = list(dict.fromkeys(image or ()))
    store = RunStore(results_dir(results))
    if compare:
        _compare(store, run_ids, names, images or 1, image or [], out_dir, data, device, quiet)
    else:
        _single(store, run_ids[0], names, images or DEFAULT_IMAGES, image or [], out_dir, data, device, quiet)


def _class_names(given: list[str] | None) -> list[str]:
    from bench.labels import canonical

    parts = [p for item in given or () for p in item.split(",") if p.strip()]
    return list(dict.fromkeys(canonical(p) for p in parts))


def _check_images(index, image_ids: list[str], pool: tuple[str, ...], who: str) -> None:
    for image_id in image_ids:
        if image_id not in index.frame.index:
            raise BenchError(
                f"image {image_id} is not in dataset {index.root}", hint="image ids look like 00000001_000.png"
            )
        if image_id not in pool:
            warn(escape(f"image {image_id} is not one of {who}'s test images: the model may have trained on it"))


def _wanted(index, pool: tuple[str, ...], names: list[str], n: int, image_ids: list[str]) -> dict[str, list[str]]:
    """label -> image ids to draw. Classes without boxes are errors unless images are named."""
    from bench.cam.pictures import boxed_images
    from bench.labels import LABELS

    boxes = index.boxes
    with_boxes = [c for c in LABELS if c in set(boxes["label"])]
    if image_ids:
        if not names:
            names = [c for c in with_boxes if c in set(boxes.loc[boxes["image_id"].isin(image_ids), "label"])]
            if not names:
                raise BenchError(
                    "none of the images named has a ground-truth box",
                    hint="pass --classes to draw their heatmaps anyway",
                )
        for image_id in sorted(set(image_ids) - set(boxes["image_id"])):
            warn(escape(f"image {image_id} has no ground-truth box: its heatmaps are drawn without one"))
        return {c: list(image_ids) for c in names}
    missing = [c for c in names if c not in with_boxes]
    if missing:
        raise BenchError(
            f"class {', '.join(missing)} has no ground-truth boxes in {index.root}",
            hint=f"boxes exist for {', '.join(with_boxes)}; name images with --image to draw other classes",
        )
    wanted = {c: boxed_images(index, pool, c, n) for c in names or with_boxes}
    for c, ids in wanted.items():
        if not ids and names:
            warn(f"no test image here has a {c} box: nothing drawn for {c}")
    return {c: ids for c, ids in wanted.items() if ids}


def _single(store, run_id, names, n, image_ids, out_dir, data, device, quiet) -> None:
    from bench.atomic import atomic_write
    from bench.cam.pictures import write_class_grids
    from bench.cam.runs import cam_outputs, localize, open_run, run_dataset, save_scores, store_localization
    from bench.ui.tables import to_markdown
    from leaderboard.localization import run_table

    outputs = cam_outputs(store, run_id, out_dir)
    run = open_run(store, run_id, device=device)
    index = run_dataset(run.record, data)
    _check_images(index, image_ids, run.test_ids, f"run {run.record.run_id}")
    wanted = _wanted(index, run.test_ids, names, n, image_ids)
    loc = localize(run, index, quiet=quiet)
    if outputs.into_record:
        record = store_localization(store, run.record, loc)
        stored = f"scores stored in {store.record_path(record.run_id)}"
    else:
        record = replace(run.record, localization=loc.to_record())
        stored = f"the run folder is read-only: scores written to {save_scores(outputs.folder, loc)}"
    folder = outputs.folder
    paths = write_class_grids(run, index, wanted, folder, quiet=quiet)
    if record.localization is None:
        raise BenchError(f"run {record.run_id}: no localization was stored")
    table = run_table(record.localization)
    caption = (
        f"{record.method.display_name}, run {record.run_id}: {loc.cam.upper()} ({loc.layer}) at {loc.image_size} px on"
        f" {loc.n_images} test images with boxes; accuracy = share of true boxes with IoU or IoBB above T,"
        f" pointing = share of images whose heatmap peak is inside a box"
    )
    out.print(_narrow(replace(table, caption=caption)))
    table_path = Path(folder) / "localization.md"
    atomic_write(table_path, to_markdown(replace(table, title="Localization", caption=f"{caption}."), heading=1) + "\n")
    notice(stored)
    notice(f"wrote {table_path} and {len(paths)} picture(s) in {folder}")


def _compare(store, run_ids, names, n, image_ids, out_dir, data, device, quiet) -> None:
    from bench.cam.pictures import write_comparison
    from bench.cam.runs import open_run, output_folder, run_dataset

    folder = output_folder(Path(out_dir) if out_dir is not None else store.results_dir / "cam")
    runs = [open_run(store, r, device=device) for r in run_ids]
    first = runs[0].record
    for other in runs[1:]:
        if other.record.dataset.fingerprint != first.dataset.fingerprint:
            raise BenchError(
                f"runs {first.run_id} and {other.record.run_id} used different datasets",
                hint="compare runs trained on one dataset",
            )
    index = run_dataset(first, data)
    pool = tuple(sorted(set.intersection(*(set(r.test_ids) for r in runs))))
    _check_images(index, image_ids, pool, "every run")
    wanted = _wanted(index, pool, names, n, image_ids)
    if not wanted:
        raise BenchError("the runs share no test image with a box", hint="name images with --image")
    name = f"compare-{'-'.join(r.record.run_id[-4:] for r in runs)}.png"
    path = write_comparison(runs, index, wanted, Path(folder) / name, quiet=quiet)
    notice(f"wrote {path}")


def _narrow(table: Table) -> Table:
    """`table` for the terminal: "IoU>0.1" as "IoU" over ">.1", no column rules, so eleven
    columns fit 80 characters."""
    columns = tuple(replace(c, header=c.header.replace(">0", "\n>"), wrap="never") for c in table.columns)
    return replace(table, columns=columns, frame="compact")


def show_localization(results: Path, *, split: str, fmt: str, out_file: Path | None) -> None:
    """`bench leaderboard --localization`: print the tables and write them (markdown by default)."""
    from bench.records import RunStore
    from leaderboard.localization import as_table, localization_tables, render
    from leaderboard.render import EXTENSIONS

    scan = RunStore(results).scan()
    for problem in scan.problems:
        warn(escape(problem))
    tables = localization_tables(scan.records, split=split)
    text = render(tables, fmt)
    if out_file is not None and str(out_file) == "-":
        typer.echo(text, nl=False)
        return
    for t in tables:
        out.print(as_table(t))
    path = out_file or results / "leaderboard" / f"LOCALIZATION.{EXTENSIONS[fmt]}"
    write_output(path, text)
