"""A run's heatmaps and box scores: its best checkpoint, on its own test images that have boxes.

Only the run's test list is scored (the model may have trained on any other image). Boxes
come in pixels of the stored image and are scaled to the checkpoint's input size.

`Localization.to_record` gives the scores as the run record keeps them (`bench.records.LocalizationRecord`,
written by `store_localization`, read by `bench leaderboard --localization`).
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.cam.maps import CamExtractor
from bench.cam.scoring import BOX_LEVEL, THRESHOLDS, BoxXYWH, ClassScores, ImageScore, score_image, summarise
from bench.errors import BenchError
from bench.labels import LABELS
from bench.records import ClassLocalization, LocalizationRecord, RunRecord, RunStore, utc_now

BATCH_SIZE = 32


@dataclass(frozen=True, eq=False)
class RunCam:
    """A run's best checkpoint, loaded strictly, ready to draw heatmaps."""

    record: RunRecord
    extractor: CamExtractor
    image_size: int
    checkpoint: str  # relative to the run directory
    mean: tuple[float, ...]
    std: tuple[float, ...]
    device: torch.device
    test_ids: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.record.method.display_name


def open_run(store: RunStore, run_id: str, *, device: str = "auto") -> RunCam:
    """Load a run's checkpoint and test list; BenchError for a run without them."""
    from bench.predictions import load_predictions
    from bench.train.device import pick_device
    from bench.train.evaluate import run_model

    record = store.load(run_id)
    if record.artifacts.checkpoint is None:
        raise _no_checkpoint(store, record)
    loaded = run_model(store, record, pick_device(device))
    preds_path = store.artifact(record, "predictions")
    if preds_path is None:
        raise BenchError(f"run {record.run_id} has no predictions file, so no test list", hint="train it again")
    test_ids = load_predictions(preds_path).image_ids
    norm = loaded.method.spec.normalisation
    return RunCam(
        record,
        CamExtractor(loaded.model),
        loaded.image_size,
        loaded.checkpoint,
        tuple(norm.mean),
        tuple(norm.std),
        loaded.device,
        test_ids,
    )


def _no_checkpoint(store: RunStore, record: RunRecord) -> BenchError:
    """Why a run has no checkpoint to draw, and a way on that works: a resume only for a run
    that stopped with a resumable checkpoint (a failed run would mostly fail again)."""
    from bench.train.checkpoint import RESUME_FILE

    status = store.liveness(record)
    message = f"run {record.run_id} has no checkpoint (status {status})"
    again = f"start it again (its options: bench runs show {record.run_id})"
    if status == "failed":
        return BenchError(f"{message}: {record.error or 'it failed'}", hint=f"fix the cause and {again}")
    if status in ("interrupted", "stale") and (store.run_dir(record.run_id) / RESUME_FILE).is_file():
        return BenchError(message, hint=f"finish it first: bench run --resume {record.run_id}")
    if status == "complete":
        return BenchError(message, hint="it holds scores computed elsewhere, no model to draw heatmaps of")
    if status == "running":
        return BenchError(message, hint="it is still training: draw it once it is complete")
    return BenchError(message, hint=f"it stopped before its first epoch ended: {again}")


def run_dataset(record: RunRecord, data: Path | None = None):
    """The run's dataset (its recorded root unless `data`), checked by fingerprint and for boxes."""
    from bench.data.nih import load_index

    root = Path(data) if data is not None else Path(record.dataset.root)
    if not root.is_dir():
        raise BenchError(
            f"run {record.run_id}'s dataset {root} is not there", hint="pass --data with the run's dataset root"
        )
    index = load_index(root)
    if index.fingerprint != record.dataset.fingerprint:
        raise BenchError(
            f"dataset {root} is not the one run {record.run_id} used (fingerprint {index.fingerprint[:12]},"
            f" run {record.dataset.fingerprint[:12]})",
            hint="pass --data with the run's dataset root",
        )
    if index.boxes is None or index.boxes.empty:
        raise BenchError(
            f"dataset {root} has no ground-truth boxes",
            hint="NIH's BBox_List_2017.csv belongs in the dataset root (or install torchxrayvision, which ships a copy)",
        )
    return index


# -- heatmaps ----------------------------------------------------------------------------------------
def heatmaps(
    run: RunCam, index, image_ids: Sequence[str], classes: Sequence[str], *, quiet: bool = True
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per image: its maps (K, h, w) at the layer's resolution, K in `classes` order, and its 14 scores."""
    from bench.data.images import read_resized
    from bench.train.batches import to_input
    from bench.ui.progress import progress_bar

    paths = [image_path(index, i) for i in image_ids]
    ks = [LABELS.index(c) for c in classes]
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with progress_bar(f"heatmaps of {run.record.run_id[-4:]}", len(paths), enabled=not quiet) as bar:
        for start in range(0, len(paths), BATCH_SIZE):
            chunk = paths[start : start + BATCH_SIZE]
            pixels = torch.from_numpy(np.stack([read_resized(p, run.image_size) for p in chunk]))
            x = to_input(pixels, mean=run.mean, std=run.std).to(run.device)
            batch = run.extractor(x, ks)
            scores = 1 / (1 + np.exp(-batch.logits.astype(np.float64)))
            for j, image_id in enumerate(image_ids[start : start + BATCH_SIZE]):
                found[image_id] = (batch.maps[j], scores[j])
            bar.advance(len(chunk))
    return found


def image_path(index, image_id: str) -> str:
    """The image's file; BenchError if the dataset lacks it."""
    if image_id not in index.frame.index:
        raise BenchError(f"image {image_id} is not in dataset {index.root}")
    path = index.frame.at[image_id, "path"]
    if path is None or path != path:
        raise BenchError(f"image {image_id} is missing from {index.root}", hint="run `bench data check` and restore it")
    return path


def truth_boxes(index, image_ids: Sequence[str], size: int) -> dict[tuple[str, str], list[BoxXYWH]]:
    """(image id, label) -> its true boxes, scaled from the stored image's pixels to `size`."""
    from PIL import Image

    boxes = index.boxes[index.boxes["image_id"].isin(set(image_ids))]
    out: dict[tuple[str, str], list[BoxXYWH]] = defaultdict(list)
    for image_id, rows in boxes.groupby("image_id", sort=True):
        with Image.open(image_path(index, image_id)) as image:  # reads the header only
            width, height = image.size
        sx, sy = size / width, size / height
        for r in rows.itertuples(index=False):
            out[(image_id, r.label)].append((r.x * sx, r.y * sy, r.w * sx, r.h * sy))
    return dict(out)


# -- scoring -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Localization:
    run_id: str
    cam: str
    layer: str
    checkpoint: str
    image_size: int
    n_images: int
    classes: dict[str, ClassScores]  # LABELS order
    images: dict[str, tuple[ImageScore, ...]]  # label -> per image
    box_level: float = BOX_LEVEL
    thresholds: tuple[float, ...] = THRESHOLDS

    def to_record(self) -> LocalizationRecord:
        """The scores as the run record keeps them (`RunRecord.localization`)."""
        return LocalizationRecord(
            computed=utc_now(),
            cam=self.cam,
            layer=self.layer,
            checkpoint=self.checkpoint,
            image_size=self.image_size,
            box_level=round(self.box_level, 5),
            thresholds=tuple(self.thresholds),
            images="test",
            n_images=self.n_images,
            classes={label: ClassLocalization(**s.to_json()) for label, s in self.classes.items()},
        )


def boxed_test_images(run: RunCam, index) -> list[str]:
    """The run's test images that have at least one box (sorted); BenchError if none."""
    boxed = sorted(set(index.boxes["image_id"]) & set(run.test_ids))
    if not boxed:
        raise BenchError(
            f"none of run {run.record.run_id}'s {len(run.test_ids)} test images has a ground-truth box",
            hint="NIH's boxes are all on official-test images: score a run on the official split",
        )
    return boxed


def localize(run: RunCam, index, *, quiet: bool = True) -> Localization:
    """Score every class with boxes on the run's boxed test images."""
    image_ids = boxed_test_images(run, index)
    truth = truth_boxes(index, image_ids, run.image_size)
    classes = [c for c in LABELS if any(label == c for _, label in truth)]
    maps = heatmaps(run, index, image_ids, classes, quiet=quiet)
    per_class: dict[str, list[ImageScore]] = {c: [] for c in classes}
    for (image_id, label), boxes in sorted(truth.items()):
        native = maps[image_id][0][classes.index(label)]
        per_class[label].append(score_image(image_id, label, native, run.image_size, boxes))
    if run.extractor.method is None or run.extractor.layer is None:
        raise RuntimeError("the CAM extractor chose no method: it computed no heatmap")
    return Localization(
        run_id=run.record.run_id,
        cam=run.extractor.method,
        layer=run.extractor.layer,
        checkpoint=run.checkpoint,
        image_size=run.image_size,
        n_images=len(image_ids),
        classes={c: summarise(per_class[c]) for c in classes},
        images={c: tuple(v) for c, v in per_class.items()},
    )


SCORES_FILE = "localization.json"  # the scores, beside the pictures, when the record cannot take them


@dataclass(frozen=True)
class CamOutputs:
    folder: Path  # the pictures and the markdown table
    into_record: bool  # the scores go into the run's record; else into SCORES_FILE in `folder`


def cam_outputs(store: RunStore, run_id: str, out_dir: Path | None) -> CamOutputs:
    """Where `bench cam` writes, checked before any work: a read-only run folder needs `out_dir`."""
    from bench.atomic import writable

    run_dir = store.run_dir(store.found_id(run_id))
    into_record = writable(run_dir)
    if out_dir is None and not into_record:
        raise BenchError(
            f"run folder {run_dir} is read-only: bench cam can store neither the scores in its record nor the pictures",
            hint="pass --out DIR to write the pictures and the scores there",
        )
    return CamOutputs(output_folder(Path(out_dir) if out_dir is not None else run_dir / "cam"), into_record)


def output_folder(folder: Path) -> Path:
    """`folder`, made if need be; BenchError if it cannot be written."""
    from bench.atomic import writable

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(
            f"cannot create the output folder {folder} ({exc.strerror or exc})",
            hint="pass --out with a writable folder",
        ) from None
    if not writable(folder):
        raise BenchError(f"output folder {folder} is read-only", hint="pass --out with a writable folder")
    return folder


def save_scores(folder: Path, localization: Localization) -> Path:
    """The scores as the record would keep them, in `folder` (for a run folder that is read-only)."""
    from bench.atomic import atomic_write
    from bench.schema import encode

    return atomic_write(folder / SCORES_FILE, json.dumps(encode(localization.to_record()), indent=2) + "\n")


def store_localization(store: RunStore, record: RunRecord, localization: Localization) -> RunRecord:
    """Write the scores into the run's record (re-read first, so nothing else in it is lost)."""
    current = store.load(record.run_id)
    updated = dataclasses.replace(current, localization=localization.to_record())
    store.write(updated)
    return updated
