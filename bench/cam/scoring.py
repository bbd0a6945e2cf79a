"""Boxes from heatmaps and their scores against ground-truth boxes (Wang et al. 2017).

A heatmap is upsampled (bilinear) to the model's input size, scaled to [0, 1], and pixels
below `BOX_LEVEL` are ignored (Wang et al.: heatmaps scaled to [0, 255], threshold 180); each
8-connected region left gives one detected box. A ground-truth box counts as found at T when
some detected box has IoU > T, or IoBB (intersection over the detected box's area) > T.
Pointing game: the heatmap's peak (the centre of its largest cell at the layer's own
resolution) lies inside one of the image's boxes of that class.

Boxes are (x, y, w, h) floats in pixels, x to the right and y down, as in BBox_List_2017.csv.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

THRESHOLDS: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75)
BOX_LEVEL = 180 / 255

BoxXYWH = tuple[float, float, float, float]


def normalise(heatmap: np.ndarray) -> np.ndarray:
    """Scaled to [0, 1] by its own minimum and maximum; a constant map becomes all zeros."""
    heatmap = np.asarray(heatmap, dtype=np.float32)
    lo, hi = float(heatmap.min()), float(heatmap.max())
    if not hi > lo:
        return np.zeros_like(heatmap)
    return (heatmap - lo) / (hi - lo)


def upsample(maps: np.ndarray, size: int) -> np.ndarray:
    """(..., h, w) maps resized to (..., size, size), bilinear with pixel centres aligned."""
    import torch

    maps = np.asarray(maps, dtype=np.float32)
    lead = maps.shape[:-2]
    t = torch.from_numpy(maps.reshape(-1, 1, *maps.shape[-2:]))
    out = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return out.reshape(*lead, size, size).numpy()


def heatmap_boxes(heatmap: np.ndarray, level: float = BOX_LEVEL) -> list[BoxXYWH]:
    """One box per 8-connected region of the normalised `heatmap` at or above `level`."""
    from scipy import ndimage

    regions, _ = ndimage.label(np.asarray(heatmap) >= level, structure=np.ones((3, 3), dtype=bool))
    boxes = []
    for rows, cols in ndimage.find_objects(regions):
        boxes.append(
            (float(cols.start), float(rows.start), float(cols.stop - cols.start), float(rows.stop - rows.start))
        )
    return boxes


def intersection(a: BoxXYWH, b: BoxXYWH) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def iou(a: BoxXYWH, b: BoxXYWH) -> float:
    inter = intersection(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def iobb(truth: BoxXYWH, detected: BoxXYWH) -> float:
    """Intersection over the detected box's area (Wang et al.'s IoBB)."""
    area = detected[2] * detected[3]
    return intersection(truth, detected) / area if area > 0 else 0.0


def peak(native: np.ndarray, size: int) -> tuple[float, float] | None:
    """(x, y) in input pixels of the centre of the map's largest cell; None for a constant map."""
    native = np.asarray(native)
    if not native.max() > native.min():
        return None
    i, j = np.unravel_index(int(np.argmax(native)), native.shape)
    h, w = native.shape
    return (j + 0.5) * size / w, (i + 0.5) * size / h


def inside(point: tuple[float, float] | None, box: BoxXYWH) -> bool:
    if point is None:
        return False
    x, y = point
    return box[0] <= x <= box[0] + box[2] and box[1] <= y <= box[1] + box[3]


@dataclass(frozen=True)
class ImageScore:
    """One image and class: the detected boxes, each true box's best IoU and IoBB, the pointing hit."""

    image_id: str
    label: str
    detected: tuple[BoxXYWH, ...]
    truth: tuple[BoxXYWH, ...]
    best_iou: tuple[float, ...]  # per true box
    best_iobb: tuple[float, ...]
    peak: tuple[float, float] | None
    hit: bool


def score_image(
    image_id: str, label: str, native: np.ndarray, size: int, truth: Sequence[BoxXYWH], *, level: float = BOX_LEVEL
) -> ImageScore:
    """Score one class's heatmap (at the layer's resolution) against its true boxes (input pixels)."""
    heat = normalise(upsample(native, size))
    detected = tuple(heatmap_boxes(heat, level))
    # cast: each box is 4 numbers (BoxXYWH); the checker cannot count a generator's items.
    truth = tuple(cast(BoxXYWH, tuple(float(v) for v in t)) for t in truth)
    best_iou = tuple(max((iou(t, d) for d in detected), default=0.0) for t in truth)
    best_iobb = tuple(max((iobb(t, d) for d in detected), default=0.0) for t in truth)
    point = peak(native, size)
    return ImageScore(
        image_id, label, detected, truth, best_iou, best_iobb, point, any(inside(point, t) for t in truth)
    )


@dataclass(frozen=True)
class ClassScores:
    """A class's accuracies: the share of true boxes found at each threshold, and the pointing-game hit
    rate over images."""

    n_boxes: int
    n_images: int
    iou: dict[float, float]
    iobb: dict[float, float]
    pointing: float
    mean_iou: float
    mean_iobb: float

    def to_json(self) -> dict:
        return {
            "n_boxes": self.n_boxes,
            "n_images": self.n_images,
            "iou": {f"{t:g}": v for t, v in self.iou.items()},
            "iobb": {f"{t:g}": v for t, v in self.iobb.items()},
            "pointing": self.pointing,
            "mean_iou": self.mean_iou,
            "mean_iobb": self.mean_iobb,
        }


def summarise(scores: Iterable[ImageScore], thresholds: Sequence[float] = THRESHOLDS) -> ClassScores:
    """Accuracy over true boxes (IoU > T, IoBB > T) and hit rate over images; needs at least one box."""
    scores = list(scores)
    ious = np.array([v for s in scores for v in s.best_iou], dtype=float)
    iobbs = np.array([v for s in scores for v in s.best_iobb], dtype=float)
    if not len(ious):
        raise ValueError("no true boxes to score")
    return ClassScores(
        n_boxes=len(ious),
        n_images=len(scores),
        iou={t: float((ious > t).mean()) for t in thresholds},
        iobb={t: float((iobbs > t).mean()) for t in thresholds},
        pointing=float(np.mean([s.hit for s in scores])),
        mean_iou=float(ious.mean()),
        mean_iobb=float(iobbs.mean()),
    )
