"""Images in, normalised batches out.

Pixels travel as uint8 (small, pinnable); conversion to float, ImageNet normalisation,
replication to 3 channels and random flips happen batched on the training device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bench.console import err
from bench.data.images import read_resized

# Below this many bytes of resized pixels a stage decodes its images once into memory.
PRELOAD_LIMIT_BYTES = 2 * 1024**3


class PngSource:
    """Decodes and resizes each image on every read (the slow path other projects take)."""

    def __init__(self, paths: Sequence[str], size: int):
        self.paths = list(paths)
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, i: int) -> np.ndarray:
        return read_resized(self.paths[i], self.size)

    def read_many(self, idx: np.ndarray) -> np.ndarray:
        return np.stack([self.read(int(i)) for i in idx])


class ArraySource:
    """Resized pixels already in an (n, S, S) uint8 array (RAM or memory-mapped)."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self.size = array.shape[-1]

    def __len__(self) -> int:
        return len(self.array)

    def read(self, i: int) -> np.ndarray:
        return self.array[i]

    def read_many(self, idx: np.ndarray) -> np.ndarray:
        return self.array[np.asarray(idx)]


def preload(source: PngSource, *, label: str, quiet: bool) -> ArraySource:
    """Decode every image once into memory, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    array = np.empty((len(source), source.size, source.size), dtype=np.uint8)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, disable=quiet, transient=True) as progress:
        task = progress.add_task(f"decoding {label} at {source.size}px", total=len(source))
        for i in range(len(source)):
            array[i] = source.read(i)
            progress.advance(task)
    return ArraySource(array)


def open_source(paths: Sequence[str], size: int, *, label: str, quiet: bool):
    if len(paths) * size * size <= PRELOAD_LIMIT_BYTES:
        return preload(PngSource(paths, size), label=label, quiet=quiet)
    return PngSource(paths, size)


class _Rows(torch.utils.data.Dataset):
    def __init__(self, source):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.source.read(i)))


@dataclass(frozen=True)
class Batch:
    index: np.ndarray  # row numbers into the list
    pixels: torch.Tensor  # (B, S, S) uint8, on the device
    targets: torch.Tensor  # (B, 14) float32, on the device


def iterate(
    source,
    labels: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    device: torch.device,
    *,
    workers: int = 0,
    drop_last: bool = False,
) -> Iterator[Batch]:
    """Batches in `order`. In-memory sources are sliced directly; PNG sources use workers."""
    pin = device.type == "cuda"
    starts = range(0, len(order) - (batch_size - 1 if drop_last else 0), batch_size)
    if isinstance(source, ArraySource) or workers == 0:
        chunks = (source.read_many(order[s : s + batch_size]) for s in starts)
        pixel_batches = (torch.from_numpy(np.ascontiguousarray(c)) for c in chunks)
    else:
        loader = torch.utils.data.DataLoader(
            _Rows(source),
            batch_size=batch_size,
            sampler=order.tolist(),
            num_workers=workers,
            pin_memory=pin,
            drop_last=drop_last,
            persistent_workers=False,
        )
        pixel_batches = iter(loader)
    for start, pixels in zip(starts, pixel_batches):
        idx = order[start : start + batch_size]
        if pin and not pixels.is_pinned():
            pixels = pixels.pin_memory()
        yield Batch(
            index=idx,
            pixels=pixels.to(device, non_blocking=True),
            targets=torch.from_numpy(labels[idx].astype(np.float32)).to(device, non_blocking=True),
        )


def to_input(
    pixels: torch.Tensor,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    flip: torch.Tensor | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """uint8 (B,S,S) -> normalised float (B,3,S,S); `flip` is a (B,) bool mask of mirrored images."""
    x = pixels.float().div_(255.0).unsqueeze(1)
    if flip is not None and bool(flip.any()):
        flip = flip.to(x.device)
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    mean_t = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    x = (x.expand(-1, 3, -1, -1) - mean_t) / std_t
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
