"""Start weights from a checkpoint: `pretrained` as "file:PATH" or "run:RUN_ID" (that run's best
checkpoint). A run pins the file as "file:ABSOLUTE_PATH@sha256:HEX" in the spec it records, and
the weights load only if the file still has that hash."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import BenchError

if TYPE_CHECKING:
    from torch import nn

CHECKPOINT_SOURCES = ("file", "run")
_PIN = "@sha256:"


def checkpoint_source(pretrained: str) -> tuple[str, str] | None:
    """("file", PATH) or ("run", RUN_ID) for a checkpoint source, else None (ImageNet weights)."""
    kind, sep, rest = pretrained.partition(":")
    return (kind, rest) if sep and kind in CHECKPOINT_SOURCES and rest else None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pin(path: Path) -> str:
    """`pretrained` naming `path` with its current SHA-256; BenchError if there is no such file."""
    if not path.is_file():
        raise BenchError(f"pretrained checkpoint {path} not found", hint="give file:PATH of a .pt state dict")
    path = path.resolve()
    return f"file:{path}{_PIN}{sha256_file(path)}"


def pinned_file(pretrained: str) -> tuple[Path, str | None]:
    """(path, SHA-256 or None) of a "file:" source."""
    source = checkpoint_source(pretrained)
    if source is None or source[0] != "file":
        raise BenchError(f"pretrained {pretrained!r} names no checkpoint file")
    path, _, digest = source[1].partition(_PIN)
    return Path(path), digest or None


def load_start_weights(model: nn.Module, pretrained: str) -> nn.Module:
    """`model` with the state dict of the "file:" source `pretrained`, loaded strictly, after its
    SHA-256 is checked against the pinned one."""
    import torch

    path, digest = pinned_file(pretrained)
    if not path.is_file():
        raise BenchError(f"pretrained checkpoint {path} not found", hint="the file was moved or deleted")
    if digest is not None and sha256_file(path) != digest:
        raise BenchError(
            f"pretrained checkpoint {path} changed: its SHA-256 is not the {digest[:16]}... the run recorded",
            hint="start a new run to use the file as it is now",
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # not a state dict, or one of another architecture
        raise BenchError(
            f"pretrained checkpoint {path} does not fit the model: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
            hint="a checkpoint of the same backbone with a 14-logit head (a cxr-bench run's) is needed",
        ) from exc
    return model
