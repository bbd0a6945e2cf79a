"""Which images to draw, and the panels and grid files of `bench cam`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from bench.cam.figures import Panel, class_grid, compare_grid
from bench.cam.runs import RunCam, heatmaps, image_path, truth_boxes
from bench.cam.scoring import normalise, score_image, upsample
from bench.labels import LABELS

# Pictures show the image at least this large, whatever the model's input size.
DISPLAY_SIZE = 256


def boxed_images(index, pool: Sequence[str], label: str, n: int) -> list[str]:
    """The first `n` images of `pool` (sorted by id) with a box of `label`."""
    boxes = index.boxes
    have = set(boxes.loc[boxes["label"] == label, "image_id"]) & set(pool)
    return sorted(have)[:n]


def panels(run: RunCam, index, wanted: dict[str, list[str]], *, quiet: bool = True) -> dict[str, list[Panel]]:
    """label -> one panel per image id in `wanted[label]` (one heatmap pass over all of them)."""
    from bench.data.images import read_resized

    ids = sorted({i for v in wanted.values() for i in v})
    classes = list(wanted)
    maps = heatmaps(run, index, ids, classes, quiet=quiet)
    truth = truth_boxes(index, ids, run.image_size)
    size = run.image_size
    display = {i: read_resized(image_path(index, i), max(size, DISPLAY_SIZE)) for i in ids}
    out: dict[str, list[Panel]] = {}
    for k, label in enumerate(classes):
        out[label] = []
        for image_id in wanted[label]:
            native, scores = maps[image_id][0][k], maps[image_id][1]
            score = score_image(image_id, label, native, size, truth.get((image_id, label), []))
            caption = f"{image_id}  p={scores[LABELS.index(label)]:.2f}"
            if score.truth:
                caption += f"\nIoBB {max(score.best_iobb):.2f}  IoU {max(score.best_iou):.2f}  {'hit' if score.hit else 'miss'}"
            else:
                caption += "\nno true box"
            heat = normalise(upsample(native, size))
            out[label].append(Panel(display[image_id], heat, score.truth, score.detected, score.peak, caption))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def _method(extractor) -> str:
    if extractor.method is None:
        raise RuntimeError("the CAM extractor has not chosen its method yet (call it on a batch first)")
    return extractor.method.upper()


def write_class_grids(
    run: RunCam, index, wanted: dict[str, list[str]], out_dir: Path, *, quiet: bool = True
) -> list[Path]:
    """`<out_dir>/<Label>.png` per label with images."""
    drawn = panels(run, index, {k: v for k, v in wanted.items() if v}, quiet=quiet)
    method = f"{_method(run.extractor)} ({run.extractor.layer})"
    written = []
    for label, items in drawn.items():
        title = f"{label}: {run.name}, run {run.record.run_id}, {method}, {run.image_size} px"
        written.append(class_grid(Path(out_dir) / f"{_slug(label)}.png", title, items))
    return written


def write_comparison(
    runs: Sequence[RunCam], index, wanted: dict[str, list[str]], path: Path, *, quiet: bool = True
) -> Path:
    """Rows = (class, image), columns = runs, on the same images."""
    per_run = [panels(run, index, wanted, quiet=quiet) for run in runs]
    rows, labels = [], []
    for label, ids in wanted.items():
        for j, image_id in enumerate(ids):
            rows.append([drawn[label][j] for drawn in per_run])
            labels.append(label if len(ids) == 1 else f"{label}\n{image_id}")
    names = [r.name for r in runs]
    columns = [f"{n} #{r.record.run_id[-4:]}" if names.count(n) > 1 else n for n, r in zip(names, runs)]
    columns = [f"{c}\n{_method(r.extractor)}, {r.image_size} px" for c, r in zip(columns, runs)]
    return compare_grid(path, "Heatmaps by method (green: true box; yellow: detected; x: peak)", labels, columns, rows)
