"""Checkpoints: state dicts plus a JSON manifest, loaded strictly with weights_only=True.

Other ChestX-ray14 projects lost results to pickled whole models, DataParallel `module.`
prefixes and `strict=False` loads that silently load nothing; this module allows none of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from bench.atomic import atomic_write
from bench.errors import BenchError


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
        raise BenchError(f"checkpoint manifest missing: {mpath}", hint="the checkpoint was not written by cxr-bench") from None


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
        raise BenchError(f"no resumable checkpoint at {path}", hint="the run stopped before its first epoch ended; start it again")
    return torch.load(path, map_location="cpu", weights_only=True)
