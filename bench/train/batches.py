"""Images in, normalised batches out.

Pixels come from the decode-once image cache (`CacheSource`, the default) or from the PNGs
(`--no-cache`) and travel as uint8 (small, pinnable); conversion to float, ImageNet
normalisation, replication to 3 channels and random flips happen batched on the training device.
"""

from __future__ import annotations

import copy
import functools
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from bench.data.cache import ImageCache, prepare_cache
from bench.data.images import read_resized
from bench.ui.progress import progress_bar

if TYPE_CHECKING:
    from bench.train.distributed import World
    from bench.train.plan import RunPlan

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


class CacheSource:
    """A list's rows of a prepared image cache, read from the memory-mapped array.

    Picklable without the pixels (loader workers map the file themselves), and it keeps one
    persistent loader per worker setting, so workers survive from epoch to epoch.
    """

    def __init__(self, cache: ImageCache, ids: Sequence[str]):
        self.path = cache.pixels_path
        self.rows = cache.rows(ids)
        self.size = cache.size
        self._pixels: np.ndarray | None = None
        self._loaders: dict = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pixels": None, "_loaders": {}}

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def pixels(self) -> np.ndarray:
        if self._pixels is None:
            self._pixels = np.load(self.path, mmap_mode="r")
        return self._pixels

    def read(self, i: int) -> np.ndarray:
        return np.array(self.pixels[self.rows[i]])

    def read_many(self, idx: np.ndarray) -> np.ndarray:
        return np.asarray(self.pixels[self.rows[np.asarray(idx)]])

    def batches(self, chunks: list[np.ndarray], *, workers: int, pin: bool) -> Iterator[torch.Tensor]:
        """uint8 batches of `chunks` (row numbers into the list), gathered by persistent workers."""
        key = (workers, pin)
        if key not in self._loaders:
            sampler = _Chunks()
            loader = torch.utils.data.DataLoader(
                _Gather(copy.copy(self)),
                batch_size=None,
                sampler=sampler,
                num_workers=workers,
                pin_memory=pin,
                persistent_workers=True,
                prefetch_factor=4,
                worker_init_fn=_ignore_stop_signals,
            )
            self._loaders[key] = (loader, sampler)
        loader, sampler = self._loaders[key]
        sampler.chunks = chunks
        return iter(loader)


def _ignore_stop_signals(_worker_id: int) -> None:
    # Ctrl-C, `timeout` and Slurm signal the whole process group. The training process stops
    # between batches and then ends its workers; a worker killed by the signal first would make
    # the loader raise instead, and the run would end as failed rather than interrupted.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class _Chunks(torch.utils.data.Sampler):
    """This epoch's batches; replaced before each epoch, read when the loader's iterator starts."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []

    def __iter__(self):
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)


class _Gather(torch.utils.data.Dataset):
    def __init__(self, source: CacheSource):
        self.source = source  # a copy without loaders: no cycle keeps the workers alive

    def __getitem__(self, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.source.read_many(idx))


def preload(source: PngSource, *, label: str, quiet: bool) -> ArraySource:
    """Decode every image once into memory, with a progress bar."""
    array = np.empty((len(source), source.size, source.size), dtype=np.uint8)
    with progress_bar(f"decoding {label} at {source.size}px", len(source), enabled=not quiet) as bar:
        for i in range(len(source)):
            array[i] = source.read(i)
            bar.advance()
    return ArraySource(array)


def open_source(
    paths: Sequence[str],
    size: int,
    *,
    label: str,
    quiet: bool,
    cache: ImageCache | None = None,
    ids: Sequence[str] | None = None,
):
    """The list's images from `cache` (rows of `ids`) if given; else PNGs, decoded once into
    memory when they fit, or on every read."""
    if cache is not None:
        if ids is None:
            raise ValueError("a cached source needs the image ids of its rows")
        return CacheSource(cache, ids)
    if len(paths) * size * size <= PRELOAD_LIMIT_BYTES:
        return preload(PngSource(paths, size), label=label, quiet=quiet)
    return PngSource(paths, size)


class RunImages:
    """A run's lists as sources at any stage's size: rows of one image cache per size (holding
    every list's images, decoded on first need), or the PNGs with --no-cache."""

    def __init__(self, plan: RunPlan, world: World, *, stop: Callable[[], None] | None = None):
        self.plan, self.world = plan, world
        self.stop = stop  # asked between chunks of a cache fill; what it raises ends the fill
        self._caches: dict[int, ImageCache] = {}

    def sources(self, size: int, names: Sequence[str]) -> dict:
        """name -> source of that list at `size` px."""
        options = self.plan.options
        cache = None if options.no_cache else self._cache(size)
        return {
            name: open_source(
                self.plan.lists[name].paths,
                size,
                label=f"{name} images",
                quiet=options.quiet,
                cache=cache,
                ids=self.plan.lists[name].ids,
            )
            for name in names
        }

    def _cache(self, size: int) -> ImageCache:
        if size not in self._caches:
            ids = [i for images in self.plan.lists.values() for i in images.ids]
            options = self.plan.options
            # Rank 0 decodes; the others then find the rows done (or, with a cache folder of
            # their own on another node, fill it one at a time under the cache's lock).
            with self.world.main_first():
                self._caches[size] = prepare_cache(
                    self.plan.index,
                    size,
                    ids=ids,
                    workers=options.workers or None,
                    progress=not options.quiet,
                    stop=self.stop,
                )
        return self._caches[size]


class _Rows(torch.utils.data.Dataset):
    def __init__(self, source):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.source.read(i)))  # a writable copy: decoded arrays are read-only


def trained_count(n: int, batch_size: int, *, static: bool = False) -> int:
    """How many of an epoch's `n` images (in order) train. With `static`, only full batches: a
    last partial batch is left out. Else all but a last batch of a single image, which BatchNorm
    cannot normalise in training. The order is reshuffled each epoch, so other images are left out."""
    if static:
        return n - n % batch_size
    return n - 1 if batch_size > 1 and n > 1 and n % batch_size == 1 else n


def has_batchnorm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


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
    """Batches in `order`. In-memory sources are sliced directly; with workers, cache sources
    gather whole batches in persistent workers and PNG sources decode in workers."""
    pin = device.type == "cuda"
    starts = range(0, len(order) - (batch_size - 1 if drop_last else 0), batch_size)
    if isinstance(source, CacheSource) and workers > 0:
        pixel_batches = source.batches([order[s : s + batch_size] for s in starts], workers=workers, pin=pin)
    elif isinstance(source, ArraySource) or workers == 0:
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
            worker_init_fn=_ignore_stop_signals,
        )
        pixel_batches = iter(loader)
    for start, pixels in zip(starts, pixel_batches):
        idx = order[start : start + batch_size]
        targets = torch.from_numpy(labels[idx].astype(np.float32))
        if pin:  # only a copy from pinned memory leaves the host free while the GPU works
            pixels = pixels if pixels.is_pinned() else pixels.pin_memory()
            targets = targets.pin_memory()
        yield Batch(
            index=idx, pixels=pixels.to(device, non_blocking=True), targets=targets.to(device, non_blocking=True)
        )


def to_input(
    pixels: torch.Tensor,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    flip: torch.Tensor | None = None,
) -> torch.Tensor:
    """uint8 (B,S,S) -> normalised float (B,3,S,S) in channels_last, the layout models are
    placed in (`device.place_model`); `flip` is a (B,) bool mask of mirrored images."""
    x = pixels.float().div_(255.0).unsqueeze(1)
    if flip is not None and bool(flip.any()):
        if x.device.type == "cuda":  # a pageable host-to-device copy would wait for the GPU
            flip = flip.pin_memory().to(x.device, non_blocking=True)
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    mean_t, std_t = _constants(tuple(mean), tuple(std), x.device)
    x = (x.expand(-1, 3, -1, -1) - mean_t) / std_t
    return x.contiguous(memory_format=torch.channels_last)


@functools.lru_cache(maxsize=16)
def _constants(
    mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) as (1,C,1,1) tensors on `device`, made once: building them per batch meant two
    blocking copies to the GPU every step."""
    return (
        torch.tensor(mean, device=device).view(1, -1, 1, 1),
        torch.tensor(std, device=device).view(1, -1, 1, 1),
    )
