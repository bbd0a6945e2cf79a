"""Checkpoints: state dicts plus a JSON manifest, loaded strictly with weights_only=True.

Other ChestX-ray14 projects lost results to pickled whole models, DataParallel `module.`
prefixes and `strict=False` loads that silently load nothing; this module allows none of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from bench.atomic import atomic_write
from bench.errors import BenchError
from bench.labels import LABELS

if TYPE_CHECKING:
    from bench.train.plan import RunPlan

RESUME_FILE = "checkpoints/last.pt"
FORMAT = "cxr-bench-checkpoint/1"


def best_checkpoint(stage: int) -> str:
    """Where in a run directory the best weights of `stage` (0-based) are kept."""
    return f"checkpoints/stage{stage + 1}_best.pt"


def manifest(plan: RunPlan, run_id: str, stage: int, epoch: int, val_auroc: float) -> dict:
    """What a best checkpoint was trained on and how its inputs are made."""
    spec = plan.spec
    return {
        "format": FORMAT,
        "run_id": run_id,
        "method": spec.name,
        "backbone": spec.backbone,
        "labels": list(LABELS),
        "split_fingerprint": plan.fold.fingerprint,
        "dataset_fingerprint": plan.index.fingerprint,
        "labels_version": plan.index.labels_version,
        "stage": stage,
        "epoch": epoch,
        "image_size": spec.stages[stage].image_size,
        "normalisation": {"mean": list(spec.normalisation.mean), "std": list(spec.normalisation.std), "channels": 3},
        "val_auroc_mean": val_auroc,
        "torch": torch.__version__,
    }


def _atomic_torch_save(obj, path: Path) -> None:
    atomic_write(path, lambda fh: torch.save(obj, fh))


def plain_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's tensors, without DDP/compile wrappers' key prefixes."""
    inner = getattr(model, "_orig_mod", model)
    inner = getattr(inner, "module", inner)
    return {k: v.detach().cpu() for k, v in inner.state_dict().items()}


def manifest_path(path: Path) -> Path:
    return path.with_suffix(".json")


def save_weights(model: torch.nn.Module, path: Path, manifest: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_torch_save(plain_state_dict(model), path)
    atomic_write(manifest_path(path), json.dumps(manifest, indent=2, sort_keys=True))


def read_manifest(path: Path) -> dict:
    mpath = manifest_path(path)
    try:
        return json.loads(mpath.read_text())
    except FileNotFoundError:
        raise BenchError(
            f"checkpoint manifest missing: {mpath}", hint="the checkpoint was not written by cxr-bench"
        ) from None


def load_weights(model: torch.nn.Module, path: Path) -> int:
    """Load strictly; returns the number of tensors loaded."""
    if not path.is_file():
        raise BenchError(f"checkpoint not found: {path}", hint="was the run completed? see `bench runs show`")
    state = torch.load(path, map_location="cpu", weights_only=True)
    inner = getattr(model, "_orig_mod", model)
    inner = getattr(inner, "module", inner)
    try:
        inner.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise BenchError(f"checkpoint {path} does not fit the model: {first}") from None
    return len(state)


def save_resume(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_torch_save(state, path)


def load_resume(path: Path) -> dict:
    if not path.is_file():
        raise BenchError(
            f"no resumable checkpoint at {path}", hint="the run stopped before its first epoch ended; start it again"
        )
    return torch.load(path, map_location="cpu", weights_only=True)
