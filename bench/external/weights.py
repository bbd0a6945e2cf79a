"""A checkpoint trained elsewhere, loaded strictly into a method's model.

`torch.load(..., weights_only=True)` only: a file holding pickled objects (the `.pth.tar` files
of the original CheXNet re-implementations) is refused with how to convert it, never
unpickled. The usual legacy key forms are renamed, each one recorded; then every tensor must
fit: a missing, unexpected or misshapen one is refused, never loaded with `strict=False`.
"""

from __future__ import annotations

import itertools
import pickle
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError

if TYPE_CHECKING:
    import torch
    from torch import nn

# torchvision < 0.3 named DenseNet layers `norm.1`, `relu.1`, `conv.1` (`.2`); now `norm1`, ...
_TORCHVISION_DENSE = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])(?=\.)")
SHOWN = 3  # keys named in a refusal
_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def _strip(prefix: str) -> Callable[[str], str]:
    return lambda key: key[len(prefix) :] if key.startswith(prefix) else key


@dataclass(frozen=True)
class KeyMapping:
    """One legacy form: `rename` turns a key of that form into today's (and leaves others alone)."""

    name: str
    rename: Callable[[str], str]


# In the order they are tried: the outer wrappers first, so the inner forms see bare keys.
MAPPINGS: tuple[KeyMapping, ...] = (
    KeyMapping("module. prefix (DataParallel)", _strip("module.")),
    KeyMapping("densenet121. wrapper prefix", _strip("densenet121.")),
    KeyMapping(
        "torchvision-era DenseNet keys (norm.1 -> norm1, conv.2 -> conv2)",
        lambda key: _TORCHVISION_DENSE.sub(r"\1\2", key),
    ),
    KeyMapping(
        "classifier in a Sequential (classifier.0 -> classifier)",
        lambda key: "classifier." + key[len("classifier.0.") :] if key.startswith("classifier.0.") else key,
    ),
)


def _unreadable(path: Path, exc: BaseException | str) -> BenchError:
    reason = " ".join(str(exc).split())
    reason = reason if len(reason) <= 160 else reason[:157] + "..."
    return BenchError(
        f"{path} is not a readable PyTorch checkpoint ({reason})", hint="pass a file written by torch.save"
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file: a state dict, or a dict holding one under `state_dict`
    or `model`; BenchError for a missing file, pickled objects or anything else."""
    import torch

    if not path.is_file():
        raise BenchError(f"weights file not found: {path}", hint="pass --weights FILE, a PyTorch state dict")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _GLOBAL.search(str(exc))
        if found is None:  # not a pickle of objects: garbage, or a truncated file
            raise _unreadable(path, "its bytes are not what torch.save writes") from None
        raise BenchError(
            f"{path} holds pickled Python objects (such as {found.group(1)}), which cxr-bench does not unpickle:"
            " unpickling runs code from the file",
            hint="convert it once where you trust the file: python -c \"import torch; c = torch.load('IN', "
            "weights_only=False); torch.save(c['state_dict'] if isinstance(c, dict) else c.state_dict(), 'OUT.pt')\""
            " and pass --weights OUT.pt",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    if isinstance(data, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    if not isinstance(data, Mapping) or not data:
        raise BenchError(
            f"{path} holds no state dict (a {type(data).__name__})",
            hint="save the model's state_dict(), or a dict holding it under 'state_dict' or 'model'",
        )
    bad = [str(k) for k, v in data.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise BenchError(
            f"{path}: entries {', '.join(bad[:SHOWN])} are not tensors",
            hint="save the model's state_dict(), or a dict holding it under 'state_dict' or 'model'",
        )
    return {str(k): v for k, v in data.items()}


def map_keys(state: dict[str, Any], expected: Iterable[str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The state renamed by the legacy mappings that make most of its keys the model's
    (`expected`), and their names, in order. Of equally good choices the one with the fewest
    mappings wins, so a model whose own keys look legacy keeps them."""
    expected = set(expected)
    best, best_fit = state, len(expected.intersection(state))
    best_names: tuple[str, ...] = ()
    # Increasing numbers of mappings, each kept only when it fits strictly more keys: a mapping
    # that changes nothing is never recorded.
    for n in range(1, len(MAPPINGS) + 1):
        for chosen in itertools.combinations(MAPPINGS, n):
            renamed = state
            for mapping in chosen:
                renamed = {mapping.rename(k): v for k, v in renamed.items()}
            fit = len(expected.intersection(renamed))
            if fit > best_fit:
                best, best_fit, best_names = renamed, fit, tuple(m.name for m in chosen)
    return best, best_names


def _listing(keys: list[str]) -> str:
    return ", ".join(keys[:SHOWN]) + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def check_fit(model: nn.Module, state: dict[str, Any], source: Path, mapping: tuple[str, ...]) -> None:
    """BenchError naming the first keys that are missing, unexpected or of the wrong shape."""
    expected = model.state_dict()
    # BatchNorm's step counter: checkpoints from before torch 0.4.1 lack it, and BatchNorm fills
    # it when absent (it does not enter inference).
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} (the model's {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_listing(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_listing(unexpected)})")
    if shapes:
        problems.append(f"{len(shapes)} of another shape ({_listing(shapes)})")
    if problems:
        mapped = f" after the key mapping {'; '.join(mapping)}" if mapping else ""
        raise BenchError(
            f"{source} does not fit the model{mapped}: tensors {'; '.join(problems)}",
            hint="check --method (the architecture) and that the file is this model's state dict",
        )


@dataclass(frozen=True)
class LoadedWeights:
    tensors: int
    mapping: tuple[str, ...]


def load_weights(model: nn.Module, path: Path) -> LoadedWeights:
    """Load `path` into `model` strictly, after the legacy key mappings it needs."""
    state, mapping = map_keys(read_state_dict(path), model.state_dict())
    check_fit(model, state, path, mapping)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # what check_fit cannot see, e.g. a module's own checks
        raise BenchError(f"{path} does not fit the model: {str(exc).splitlines()[0]}") from None
    return LoadedWeights(len(state), mapping)
