"""`bench data check`: what a dataset root holds and what is wrong with it."""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bench.ui.console import err, out
from bench.data.cache import default_workers, parallel_map
from bench.data.images import ImageError, read_grey
from bench.data.index import DatasetIndex
from bench.data.demo import VERSION as DEMO_VERSION
from bench.data.nih import demo_meta, find_images, unknown_ids
from bench.errors import BenchError
from bench.labels import LABELS
from splits import official, weng
from splits.listfiles import read_list

OFFICIAL_FILES = (official.TRAIN_VAL, official.TEST)
WENG_DIR = weng.ROOT_FOLDER
WENG_FILES = tuple(weng.FILES.values())
LIST_FORMATS = {"official": official.LIST_FORMAT, "weng": weng.LIST_FORMAT}
_SHOWN = 3  # examples quoted per problem
_DECODE_ERRORS_KEPT = 5
DECODE_CHUNK = 64  # images per decoding task: short tasks, so Ctrl-C stops soon


@dataclass(frozen=True)
class SplitFileCheck:
    name: str  # relative to the root, e.g. "weng/test_list.txt"
    protocol: str  # "official" or "weng"
    present: bool
    n_ids: int = 0
    unknown: tuple[str, ...] = ()  # names not in the dataset (all of them)
    problem: str | None = None  # why the file cannot be read as its protocol reads it


@dataclass(frozen=True)
class CheckReport:
    root: str
    kind: str
    demo_version: int | None  # DEMO.json's generator version, for the demo
    labels_file: str
    labels_version: str
    fingerprint: str
    n_images: int  # rows of the labels file
    images_checked: bool
    found: int
    missing: int
    extra: int  # PNGs on disk that the labels file does not list
    decoded: int
    decode_failed: int
    decode_errors: tuple[str, ...]  # the first few messages
    sizes: dict[str, int]  # "WxH" -> count among decoded images
    positives: dict[str, int]  # canonical order
    no_finding: int
    views: dict[str, int]
    patients: int
    split_files: tuple[SplitFileCheck, ...]
    boxes: int | None  # None: no box file
    box_images: int
    box_classes: dict[str, int]
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def _examples(names) -> str:
    names = list(names)
    return ", ".join(names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")


def split_file_paths(root: Path) -> list[tuple[str, str, Path]]:
    """(protocol, shown name, path) of every split file a root may hold; weng lists in root/weng or root."""
    paths = [("official", name, root / name) for name in OFFICIAL_FILES]
    if (root / WENG_DIR).is_dir():
        paths += [("weng", f"{WENG_DIR}/{name}", root / WENG_DIR / name) for name in WENG_FILES]
    else:  # a flat root: its test_list.txt is the official one
        paths += [("weng", name, root / name) for name in WENG_FILES if name not in OFFICIAL_FILES]
    return paths


def _check_split_files(index: DatasetIndex) -> tuple[SplitFileCheck, ...]:
    """Each split file read with the reader and format its protocol uses, so a file that passes
    here is one `bench run` accepts."""
    checks = []
    for protocol, name, path in split_file_paths(index.root):
        if not path.is_file():
            checks.append(SplitFileCheck(name, protocol, present=False))
            continue
        try:
            ids = read_list(path, expect=LIST_FORMATS[protocol]).names
        except BenchError as exc:
            checks.append(SplitFileCheck(name, protocol, True, problem=exc.one_line()))
            continue
        checks.append(SplitFileCheck(name, protocol, True, len(ids), tuple(unknown_ids(ids, index))))
    return tuple(checks)


def _decode_chunk(task: tuple[int, list[str]]) -> tuple[int, int, list[str], Counter]:
    start, paths = task
    failed, sizes = [], Counter()
    for path in paths:
        try:
            grey = read_grey(path)
        except ImageError as exc:
            failed.append(exc.one_line())
            continue
        sizes[f"{grey.shape[1]}x{grey.shape[0]}"] += 1
    return start, len(paths), failed, sizes


def _decode(paths: list[str], progress: bool, workers: int) -> tuple[list[str], Counter]:
    """(error messages in the order of `paths`, "WxH" counts) of decoding `paths` in `workers` processes."""
    tasks = [(start, paths[start : start + DECODE_CHUNK]) for start in range(0, len(paths), DECODE_CHUNK)]
    failed: dict[int, list[str]] = {}
    sizes: Counter = Counter()
    columns = (TextColumn("decoding images"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        Progress(*columns, console=err, disable=not progress or not paths, transient=True) as bar,
        contextlib.closing(parallel_map(_decode_chunk, tasks, min(workers, len(tasks)))) as results,
    ):
        task = bar.add_task("decode", total=len(paths))
        for start, n, chunk_failed, chunk_sizes in results:
            failed[start] = chunk_failed
            sizes.update(chunk_sizes)
            bar.advance(task, n)
    return [message for start in sorted(failed) for message in failed[start]], sizes


def check_dataset(
    index: DatasetIndex,
    *,
    full: bool = False,
    sample: int = 200,
    seed: int = 0,
    progress: bool = True,
    workers: int | None = None,
) -> CheckReport:
    """Count and verify what `index` describes; decodes `sample` random images (all if `full`)
    in `workers` processes (default: min(4, CPUs))."""
    frame = index.frame
    errors: list[str] = []
    warnings: list[str] = []
    labels = frame[list(LABELS)].to_numpy()
    positives = dict(zip(LABELS, labels.sum(axis=0).tolist()))

    found = missing = extra = 0
    decode_failed, decode_errors, sizes = 0, [], Counter()
    if index.images_checked:
        present = frame["path"].notna().to_numpy()
        found, missing = int(present.sum()), int((~present).sum())
        if missing:
            errors.append(
                f"{missing} of {len(frame)} images in {index.labels_file} are missing under {index.root} "
                f"({_examples(frame.index[~present])})"
            )
        extra = len(set(find_images(index.root)) - set(frame.index))
        if extra:
            warnings.append(f"{extra} PNG(s) on disk are not in {index.labels_file} and will be ignored")
        paths = frame["path"].to_numpy()[present].tolist()
        if not full and sample < len(paths):
            chosen = np.random.default_rng(seed).choice(len(paths), size=max(sample, 0), replace=False)
            paths = [paths[i] for i in np.sort(chosen)]
        failed, sizes = _decode(paths, progress, workers or default_workers())
        decode_failed, decode_errors = len(failed), failed[:_DECODE_ERRORS_KEPT]
        decoded = len(paths)
        if decode_failed:
            errors.append(f"{decode_failed} of {decoded} decoded images failed: {failed[0]}")
    else:
        decoded = 0
        warnings.append("images were not looked for")

    split_files = _check_split_files(index)
    for check in split_files:
        if check.problem:
            errors.append(check.problem)
        if check.unknown:
            errors.append(
                f"{len(check.unknown)} image name(s) in {index.root / check.name} are not in the dataset "
                f"({_examples(check.unknown)})"
            )

    boxes = index.boxes
    box_classes: dict[str, int] = {}
    if boxes is not None:
        counts = boxes["label"].value_counts()
        box_classes = {name: int(counts[name]) for name in LABELS if name in counts.index}
        stray = unknown_ids(boxes["image_id"].unique(), index)
        if stray:
            errors.append(f"{len(stray)} box image(s) are not in the dataset ({_examples(stray)})")

    demo_version = None
    if index.kind == "demo":
        meta = demo_meta(index.root) or {}
        demo_version = meta.get("version")
        if demo_version != DEMO_VERSION:
            again = " ".join([f"--out {index.root}"] + [f"--{k} {meta[k]}" for k in ("seed", "size") if k in meta])
            warnings.append(
                f"this demo was drawn by generator version {demo_version}, this cxr-bench draws version "
                f"{DEMO_VERSION}: runs on it are not comparable with runs on the current demo "
                f"(regenerate: bench data demo {again})"
            )

    absent = [name for name, count in positives.items() if count == 0]
    if absent:
        warnings.append(f"no positive images for {', '.join(absent)}")

    return CheckReport(
        root=str(index.root),
        kind=index.kind,
        demo_version=demo_version,
        labels_file=index.labels_file,
        labels_version=index.labels_version,
        fingerprint=index.fingerprint,
        n_images=len(frame),
        images_checked=index.images_checked,
        found=found,
        missing=missing,
        extra=extra,
        decoded=decoded,
        decode_failed=decode_failed,
        decode_errors=tuple(decode_errors),
        sizes=dict(sorted(sizes.items(), key=lambda kv: -kv[1])),
        positives=positives,
        no_finding=int((labels.sum(axis=1) == 0).sum()),
        views={str(k): int(v) for k, v in frame["view"].value_counts().items()},
        patients=int(frame["patient_id"].nunique()),
        split_files=split_files,
        boxes=None if boxes is None else len(boxes),
        box_images=0 if boxes is None else int(boxes["image_id"].nunique()),
        box_classes=box_classes,
        errors=tuple(errors),
        warnings=tuple(warnings),
    )


def render_report(report: CheckReport, console: Console | None = None) -> None:
    """Print `report` as Rich tables."""
    console = console or out
    n = report.n_images
    kind = report.kind if report.demo_version is None else f"{report.kind} v{report.demo_version}"
    summary = Table(title=f"Dataset {escape(report.root)} ({kind})", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("labels", escape(f"{report.labels_version} ({report.labels_file})"))
    summary.add_row("fingerprint", report.fingerprint[:16])
    if report.images_checked:
        counts = f"{n} listed, {report.found} found, {report.missing} missing, {report.extra} unlisted"
        summary.add_row("images", counts)
        sizes = ", ".join(f"{size}: {count}" for size, count in report.sizes.items()) or "-"
        what = "all" if report.decoded == report.found else "a random sample"
        summary.add_row("decoded", f"{report.decoded} ({what}), {report.decode_failed} failed; sizes {sizes}")
    else:
        summary.add_row("images", f"{n} listed (not looked for)")
    summary.add_row("patients", str(report.patients))
    summary.add_row("views", ", ".join(f"{view} {count}" for view, count in report.views.items()))
    summary.add_row("no finding", f"{report.no_finding} ({100 * report.no_finding / n:.1f}%)")
    if report.boxes is None:
        summary.add_row("boxes", "none (no BBox_List_2017.csv)")
    else:
        classes = ", ".join(f"{name} {count}" for name, count in report.box_classes.items())
        counts = f"{report.boxes} on {report.box_images} images, {len(report.box_classes)} classes"
        summary.add_row("boxes", f"{counts}: {classes}")
    console.print(summary)

    classes = Table(title="Positives per class", title_justify="left")
    classes.add_column("class")
    classes.add_column("positives", justify="right")
    classes.add_column("%", justify="right")
    for name, count in report.positives.items():
        classes.add_row(name, str(count), f"{100 * count / n:.2f}", style="red" if count == 0 else None)
    console.print(classes)

    splits = Table(title="Split files", title_justify="left")
    splits.add_column("protocol")
    splits.add_column("file")
    splits.add_column("present")
    splits.add_column("images", justify="right")
    splits.add_column("not in dataset", justify="right")
    for check in report.split_files:
        if check.problem:
            splits.add_row(check.protocol, escape(check.name), "unreadable", "-", "-", style="red")
        elif check.present:
            splits.add_row(check.protocol, escape(check.name), "yes", str(check.n_ids), str(len(check.unknown)),
                           style="red" if check.unknown else None)
        else:
            splits.add_row(check.protocol, escape(check.name), "no", "-", "-", style="dim")
    console.print(splits)

    for message in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)
    for message in report.errors:
        console.print(f"[red]problem:[/red] {escape(message)}", highlight=False)
    if report.ok:
        console.print("[green]OK[/green]: no problems found")
