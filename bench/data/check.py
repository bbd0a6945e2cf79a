"""`bench data check`'s look at a dataset root: images, labels, boxes, and the split files'
checks it is given (the split protocols read their own files: splits.check)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.data.cache import default_workers, parallel_map
from bench.data.demo import VERSION as DEMO_VERSION
from bench.data.images import ImageError, read_grey
from bench.data.index import DatasetIndex
from bench.data.nih import demo_meta, find_images, unknown_ids
from bench.labels import LABELS
from bench.ui.progress import progress_bar

_SHOWN = 3  # examples quoted per problem
_DECODE_ERRORS_KEPT = 5
DECODE_CHUNK = 64  # images per decoding task: short tasks, so Ctrl-C stops soon


@dataclass(frozen=True)
class SplitFileCheck:
    name: str  # relative to the root, e.g. "weng/test_list.txt"
    protocol: str  # the split protocol that reads it
    present: bool
    n_ids: int = 0
    unknown: tuple[str, ...] = ()  # names not in the dataset (all of them)
    problem: str | None = None  # why the file cannot be read as its protocol reads it
    duplicates: tuple[str, ...] = ()  # the name of each line that repeats an earlier one, in file order
    required: str | None = None  # for a file not present: why its protocol needs it (a fault), else None


def duplicate_lines_problem(what: str, duplicates: Sequence[str]) -> str:
    """One line for `duplicates` (each line repeating an earlier one) of `what` ("the train list",
    a file path): the words of both `bench data check` and splits.validate_lists."""
    return f"{len(duplicates)} duplicate line(s) in {what}, e.g. {duplicates[0]}"


def unknown_names_problem(what: str, unknown: Sequence[str]) -> str:
    """One line for the names of `what` that are not images of the dataset."""
    return f"{len(unknown)} image name(s) of {what} are not in the dataset, e.g. {_examples(unknown)}"


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


def _decode_chunk(task: tuple[int, list[str]]) -> tuple[int, int, list[str], Counter]:
    start, paths = task
    failed: list[str] = []
    sizes: Counter[str] = Counter()
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
    with (
        progress_bar("decoding images", len(paths), enabled=progress and bool(paths)) as bar,
        contextlib.closing(parallel_map(_decode_chunk, tasks, min(workers, len(tasks)))) as results,
    ):
        for start, n, chunk_failed, chunk_sizes in results:
            failed[start] = chunk_failed
            sizes.update(chunk_sizes)
            bar.advance(n)
    return [message for start in sorted(failed) for message in failed[start]], sizes


def check_dataset(
    index: DatasetIndex,
    *,
    full: bool = False,
    sample: int = 200,
    seed: int = 0,
    progress: bool = True,
    workers: int | None = None,
    split_files: Sequence[SplitFileCheck] = (),
) -> CheckReport:
    """Count and verify what `index` describes; decodes `sample` random images (all if `full`)
    in `workers` processes (default: min(4, CPUs)). `split_files`' problems count as the root's."""
    frame = index.frame
    errors: list[str] = []
    warnings: list[str] = []
    labels = frame[list(LABELS)].to_numpy()
    positives = dict(zip(LABELS, labels.sum(axis=0).tolist()))

    found = missing = extra = 0
    decode_failed = 0
    decode_errors: list[str] = []
    sizes: Counter[str] = Counter()
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

    for check in split_files:
        if not check.present and check.required:
            errors.append(check.required)
        if check.problem:
            errors.append(check.problem)
        if check.duplicates:
            errors.append(duplicate_lines_problem(str(index.root / check.name), check.duplicates))
        if check.unknown:
            errors.append(unknown_names_problem(str(index.root / check.name), check.unknown))

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
            again = " ".join(
                [f"--out {index.root}"]
                + [f"--{k} {meta[k]}" for k in ("seed", "size") if k in meta]
                + (["--full"] if meta.get("full") else [])
            )
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
        split_files=tuple(split_files),
        boxes=None if boxes is None else len(boxes),
        box_images=0 if boxes is None else int(boxes["image_id"].nunique()),
        box_classes=box_classes,
        errors=tuple(errors),
        warnings=tuple(warnings),
    )
