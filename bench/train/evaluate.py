"""A model's scores on a list, their metrics, and the model a checkpoint holds.

Epoch validation, the test phase, `rescore` and `bench cam` all score and load through here, so
a checkpoint scored later gives exactly the numbers its run recorded. A scorer made by
`Scorer.for_method` gets each batch's logits from the method's `predict` hook; test-time
augmentation wraps it (every view goes through `predict`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from bench.errors import BenchError
from bench.labels import LABELS
from bench.train import batches, checkpoint, distributed
from bench.train.device import autocast, place_input, place_model
from bench.train.results import list_metrics, quiet_mean

if TYPE_CHECKING:
    from bench.method import Method, MethodSpec, Normalisation
    from bench.records import RunRecord, RunStore
    from bench.train.batches import RunImages

# The test phase and epoch validation import these from here with the scorer.
__all__ = [
    "TTA",
    "RunModel",
    "Scorer",
    "Scores",
    "augmented_source",
    "list_metrics",
    "load_model",
    "quiet_mean",
    "run_method",
    "run_model",
]


Predict = Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]  # (model, x) -> (B, 14) logits


def forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The logits of a scorer without a method: the model's own forward (`Method.predict`'s default)."""
    return model(x)


class Scores(NamedTuple):
    scores: np.ndarray  # (n, 14) float32 sigmoid scores, the list's order
    loss: float | None  # the mean loss, when a loss function was given


@dataclass(frozen=True)
class Scorer:
    """Scores whole lists in order; with several processes each scores its shard of a list
    and every one gets all rows."""

    normalisation: Normalisation
    batch_size: int
    device: torch.device
    world: distributed.World = distributed.SINGLE
    workers: int = 0
    check_stop: Callable[[], None] | None = None  # called after every batch
    predict: Predict = forward  # a batch's logits; the model is in eval mode, under no_grad and autocast

    @classmethod
    def for_spec(cls, spec: MethodSpec, device: torch.device, **kwargs) -> Scorer:
        # Twice the largest training batch: without gradients twice as many images fit.
        batch_size = max(s.batch_size for s in spec.stages) * 2
        return cls(spec.normalisation, batch_size, device, **kwargs)

    @classmethod
    def for_method(cls, method: Method, device: torch.device, **kwargs) -> Scorer:
        """`for_spec(method.spec, ...)` scoring through the method's `predict` hook."""
        return cls.for_spec(method.spec, device, predict=method.predict, **kwargs)

    @torch.no_grad()
    def score(
        self, model: torch.nn.Module, source, labels: np.ndarray, *, loss_fn=None, tta: TTA | None = None
    ) -> Scores:
        """Sigmoid scores for every row of `source` (in order) and, with `loss_fn`, the mean loss;
        with `tta`, each row's scores are the mean over its views (`source` at `tta.input_size`)."""
        augmented = tta is not None and tta.mode != "none"
        if augmented and loss_fn is not None:
            raise ValueError("a loss is computed on plain scores: no loss with test-time augmentation")
        if tta is not None and source.size != tta.input_size:
            raise ValueError(f"{tta.mode} scoring needs images of {tta.input_size} px, got {source.size} px")
        model = distributed.unwrap(model)  # no DDP forward: it would synchronise for gradients
        model.eval()
        order = distributed.shard(np.arange(len(source)), self.world)
        parts: list = []  # sigmoid scores per batch; with several processes (rows, logits or scores)
        total = 0.0
        for batch in batches.iterate(source, labels, order, self.batch_size, self.device, workers=self.workers):
            x = place_input(batch.pixels, self.normalisation)
            if augmented and tta is not None:
                scores = self._augmented(model, x, tta)
                parts.append((batch.index, scores.cpu().numpy()) if self.world.parallel else scores.cpu().numpy())
            else:
                with autocast(self.device):
                    logits = self.predict(model, x).float()
                if self.world.parallel:
                    parts.append((batch.index, logits.cpu().numpy()))  # scored once merged
                else:
                    if loss_fn is not None:
                        total += float(loss_fn(logits, batch.targets)) * len(batch.index)
                    parts.append(torch.sigmoid(logits).cpu().numpy())
            if self.check_stop is not None:
                self.check_stop()
        if self.world.parallel:
            return self._merged(parts, labels, loss_fn, scored=augmented)
        out = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, len(LABELS)), np.float32)
        return Scores(out, total / max(len(order), 1) if loss_fn is not None else None)

    def _augmented(self, model: torch.nn.Module, x: torch.Tensor, tta: TTA) -> torch.Tensor:
        """The mean over `tta`'s views of the sigmoid scores; one view at a time, so a batch
        takes no more memory than without augmentation."""
        total = None
        n = 0
        for view in tta.views(x):
            view = view.contiguous(memory_format=torch.channels_last)
            with autocast(self.device):
                scores = torch.sigmoid(self.predict(model, view).float())
            total = scores if total is None else total + scores
            n += 1
        if total is None:
            raise ValueError(f"test-time augmentation {tta.mode!r} gave no views")
        return total / n

    def _merged(self, parts: list, labels: np.ndarray, loss_fn, *, scored: bool = False) -> Scores:
        """Every rank's (rows, logits) batches (`scored`: sigmoid scores already) as the whole
        list's scores and mean loss. Every rank computes them from the same numbers, so the
        ranks' schedules and early stops agree."""
        rows = np.concatenate([r for r, _ in parts]) if parts else np.zeros(0, np.int64)
        values = np.concatenate([v for _, v in parts]) if parts else np.zeros((0, len(LABELS)), np.float32)
        merged = torch.from_numpy(distributed.merge_rows(len(labels), self.world.gather((rows, values)))).to(
            self.device
        )
        if scored:
            return Scores(merged.cpu().numpy().astype(np.float32), None)
        loss = None
        if loss_fn is not None:
            loss = float(loss_fn(merged, torch.from_numpy(labels.astype(np.float32)).to(self.device)))
        return Scores(torch.sigmoid(merged).cpu().numpy().astype(np.float32), loss)


# -- test-time augmentation --------------------------------------------------------------------
# Ten-crop as the arnoweng/zoogzog CheXNet re-implementations test: resize to 256, crop 224.
TENCROP_RESIZE, TENCROP_CROP = 256, 224


def five_crop(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    """The four corners and the centre of (..., H, W) at `size`, torchvision's order and centring."""
    h, w = x.shape[-2:]
    if size > h or size > w:
        raise ValueError(f"crop of {size} px from {h}x{w} px images")
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    corners = ((0, 0), (0, w - size), (h - size, 0), (h - size, w - size), (top, left))
    return [x[..., t : t + size, c : c + size] for t, c in corners]


def ten_crop(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    """`five_crop` of the images, then of their mirror images (torchvision's `ten_crop` order)."""
    return five_crop(x, size) + five_crop(x.flip(-1), size)


@dataclass(frozen=True)
class TTA:
    """Test-time augmentation: `mode` (bench.records.TTA_MODES) at the model's `image_size`."""

    mode: str
    image_size: int

    def __post_init__(self) -> None:
        from bench.records import TTA_MODES

        if self.mode not in TTA_MODES:
            raise BenchError(
                f"unknown test-time augmentation {self.mode!r}", hint=f"use one of: {', '.join(TTA_MODES)}"
            )

    @property
    def input_size(self) -> int:
        """The size images are resized to before the views are taken (ten-crop: 256 for 224)."""
        if self.mode == "tencrop":
            return round(self.image_size * TENCROP_RESIZE / TENCROP_CROP)
        return self.image_size

    def views(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The views scored of a batch (B, C, input_size, input_size), each (B, C, image_size, image_size)."""
        if self.mode == "flip":
            return [x, x.flip(-1)]
        if self.mode == "tencrop":
            return ten_crop(x, self.image_size)
        return [x]


def augmented_source(images: RunImages, name: str, tta: TTA):
    """A run's `name` list at `tta.input_size`: the run's own source at a size it trained at;
    else a cache of that list's images alone, so ten-crop's larger size decodes no training image."""
    if tta.input_size == tta.image_size:
        return images.sources(tta.image_size, (name,))[name]
    plan, options = images.plan, images.plan.options
    listed = plan.lists[name]
    cache = None
    if not options.no_cache:
        from bench.data.cache import prepare_cache

        with images.world.main_first():  # rank 0 decodes; the others find the rows done
            cache = prepare_cache(
                plan.index, tta.input_size, ids=listed.ids, workers=options.workers or None, progress=not options.quiet
            )
    return batches.open_source(
        listed.paths, tta.input_size, label=f"{name} images", quiet=options.quiet, cache=cache, ids=listed.ids
    )


# -- models from checkpoints -------------------------------------------------------------------
def load_model(
    method: Method, stage: int, path: Path, device: torch.device, *, compile: bool = False
) -> torch.nn.Module:
    """`method`'s model for `stage` (0-based) with the weights at `path`, loaded strictly, on `device`."""
    model = method.build_model(stage, pretrained=False)
    checkpoint.load_weights(model, path)
    return place_model(model, device, compile=compile)


@dataclass(frozen=True, eq=False)
class RunModel:
    """A stored run's best model, ready to score."""

    record: RunRecord
    method: Method
    model: torch.nn.Module
    stage: int  # 0-based
    image_size: int  # the checkpoint's input size
    checkpoint: str  # relative to the run directory
    device: torch.device


def run_method(record: RunRecord) -> Method:
    """The method a run trained: its registered hooks (plugins loaded) with the spec it recorded."""
    from bench.method import MethodSpec, get_method

    plugins = tuple(record.invocation.get("plugins", ()))
    return get_method(record.method.name, plugins=plugins).with_spec(MethodSpec.from_dict(record.method.spec))


def run_model(store: RunStore, record: RunRecord, device: torch.device) -> RunModel:
    """The checkpoint `record` names (its last stage's best), loaded strictly; BenchError for a
    run without one or a checkpoint whose manifest does not describe it."""
    rel = record.artifacts.checkpoint
    if rel is None:
        raise BenchError(
            f"run {record.run_id} has no checkpoint (status {record.status})",
            hint="a run has one once complete; finish it with `bench run --resume` or train one with `bench run`",
        )
    path = store.run_dir(record.run_id) / rel
    if not path.is_file():
        raise BenchError(
            f"run {record.run_id}: checkpoint {path} is missing", hint="the run directory was changed; train it again"
        )
    manifest = checkpoint.read_manifest(path)
    if not {"stage", "image_size"} <= set(manifest):
        raise BenchError(f"checkpoint manifest {checkpoint.manifest_path(path)} lacks its stage or image size")
    if manifest.get("labels") != list(LABELS):
        raise BenchError(
            f"checkpoint {path} has another label order than cxr-bench's", hint="it was not written by this version"
        )
    method = run_method(record)
    stage = int(manifest["stage"])
    model = load_model(method, stage, path, device)
    return RunModel(record, method, model, stage, int(manifest["image_size"]), rel, device)
