"""Checkpoints: state dicts plus a JSON manifest, loaded strictly with weights_only=True.

Other ChestX-ray14 projects lost results to pickled whole models, DataParallel `module.`
prefixes and `strict=False` loads that silently load nothing; this module allows none of them.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
        manifest = json.loads(mpath.read_text())
    except FileNotFoundError:
        raise BenchError(
            f"checkpoint manifest missing: {mpath}", hint="the checkpoint was not written by cxr-bench"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(
            f"checkpoint manifest {mpath} is damaged ({type(exc).__name__}: {exc})", hint=WEIGHTS_REMEDY
        ) from None
    if not isinstance(manifest, dict):
        raise BenchError(f"checkpoint manifest {mpath} is not a JSON object", hint=WEIGHTS_REMEDY)
    return manifest


# What to do about a damaged checkpoint: the best weights of a stage exist once, and a resumable
# checkpoint is replaced each epoch (its previous copy is not kept).
WEIGHTS_REMEDY = "restore the run folder from a backup, or train the run again"
RESUME_REMEDY = (
    "no earlier copy is kept, so the run cannot continue from it: start it again "
    "(`bench runs show {run_id}` lists its options)"
)


def damage(path: Path) -> str:
    """What is wrong with a file torch cannot load, in a few words."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if size == 0:
        return "empty (0 bytes)"
    if head != b"PK\x03\x04":  # torch.save writes a zip archive
        return f"not a checkpoint ({size} bytes that are not a torch zip archive)"
    if not zipfile.is_zipfile(path):
        return f"truncated ({size} bytes: the end of its zip archive is missing)"
    return "damaged (a zip archive torch cannot read as weights)"


def load_file(path: Path, *, remedy: str) -> Any:
    """torch.load of a cxr-bench checkpoint (weights only); a BenchError naming the file, what
    is wrong with it and `remedy` when it cannot be loaded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a foreign pickle's protocol warning: the error says it all
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise BenchError(f"checkpoint {path} is {damage(path)}", hint=remedy) from None


def load_weights(model: torch.nn.Module, path: Path) -> int:
    """Load strictly; returns the number of tensors loaded."""
    if not path.is_file():
        raise BenchError(f"checkpoint not found: {path}", hint="was the run completed? see `bench runs show`")
    state = load_file(path, remedy=WEIGHTS_REMEDY)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BenchError(f"checkpoint {path} is not a checkpoint of model weights", hint=WEIGHTS_REMEDY)
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


RESUME_KEYS = frozenset({"state", "model", "optimizer", "scheduler"})


def load_resume(path: Path) -> dict:
    if not path.is_file():
        raise BenchError(
            f"no resumable checkpoint at {path}", hint="the run stopped before its first epoch ended; start it again"
        )
    remedy = RESUME_REMEDY.format(run_id=path.parent.parent.name)  # <run_dir>/checkpoints/last.pt
    state = load_file(path, remedy=remedy)
    if not isinstance(state, dict) or not RESUME_KEYS <= set(state):
        raise BenchError(f"checkpoint {path} is not a resumable checkpoint (no training state)", hint=remedy)
    return state
