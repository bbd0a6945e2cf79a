"""A model's scores on a list, their metrics, and the model a checkpoint holds.

Epoch validation, the test phase, `rescore` and `bench cam` all score and load through here, so
a checkpoint scored later gives exactly the numbers its run recorded.
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

# The test phase and epoch validation import these from here with the scorer.
__all__ = ["RunModel", "Scorer", "Scores", "list_metrics", "load_model", "quiet_mean", "run_method", "run_model"]


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

    @classmethod
    def for_spec(cls, spec: MethodSpec, device: torch.device, **kwargs) -> Scorer:
        # Twice the largest training batch: without gradients twice as many images fit.
        batch_size = max(s.batch_size for s in spec.stages) * 2
        return cls(spec.normalisation, batch_size, device, **kwargs)

    @torch.no_grad()
    def score(self, model: torch.nn.Module, source, labels: np.ndarray, *, loss_fn=None) -> Scores:
        """Sigmoid scores for every row of `source` (in order) and, with `loss_fn`, the mean loss."""
        model = distributed.unwrap(model)  # no DDP forward: it would synchronise for gradients
        model.eval()
        order = distributed.shard(np.arange(len(source)), self.world)
        parts: list = []  # sigmoid scores per batch; with several processes (rows, logits)
        total = 0.0
        for batch in batches.iterate(source, labels, order, self.batch_size, self.device, workers=self.workers):
            x = place_input(batch.pixels, self.normalisation, self.device)
            with autocast(self.device):
                logits = model(x).float()
            if self.world.parallel:
                parts.append((batch.index, logits.cpu().numpy()))  # scored once merged
            else:
                if loss_fn is not None:
                    total += float(loss_fn(logits, batch.targets)) * len(batch.index)
                parts.append(torch.sigmoid(logits).cpu().numpy())
            if self.check_stop is not None:
                self.check_stop()
        if self.world.parallel:
            return self._merged(parts, labels, loss_fn)
        out = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, len(LABELS)), np.float32)
        return Scores(out, total / max(len(order), 1) if loss_fn is not None else None)

    def _merged(self, parts: list, labels: np.ndarray, loss_fn) -> Scores:
        """Every rank's (rows, logits) batches as the whole list's scores and mean loss. Every rank
        computes them from the same numbers, so the ranks' schedules and early stops agree."""
        rows = np.concatenate([r for r, _ in parts]) if parts else np.zeros(0, np.int64)
        logits = np.concatenate([v for _, v in parts]) if parts else np.zeros((0, len(LABELS)), np.float32)
        merged = torch.from_numpy(distributed.merge_rows(len(labels), self.world.gather((rows, logits)))).to(
            self.device
        )
        loss = None
        if loss_fn is not None:
            loss = float(loss_fn(merged, torch.from_numpy(labels.astype(np.float32)).to(self.device)))
        return Scores(torch.sigmoid(merged).cpu().numpy().astype(np.float32), loss)


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
