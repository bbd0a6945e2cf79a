"""Data parallelism across the processes torchrun starts (or `bench run --nproc N`).

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK in each process; without WORLD_SIZE a run is one
process and every helper here is a no-op. Rank 0 alone writes files and prints. The other ranks
take every decision from values identical on all ranks (gathered scores, summed losses, rank 0's
broadcasts), so no rank waits in a collective that another has skipped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

import numpy as np
import torch

from bench.errors import BenchError

T = TypeVar("T")
# A rank may wait this long at a barrier while rank 0 fills the image cache (all of NIH at once).
TIMEOUT = timedelta(hours=1)
LAUNCH_HINT = "start several processes with `bench run --nproc N` or torchrun"


class Abandoned(BenchError):
    """This rank stops because another failed; that one (or rank 0) reports why."""


@dataclass(frozen=True)
class World:
    size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def parallel(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    # -- collectives (no-ops in one process) -----------------------------------------------
    def barrier(self) -> None:
        if self.parallel:
            torch.distributed.barrier()

    def broadcast(self, obj: T) -> T:
        """Rank 0's `obj` on every rank."""
        if not self.parallel:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list:
        """Every rank's `obj`, in rank order, on every rank."""
        if not self.parallel:
            return [obj]
        boxes = [None] * self.size
        torch.distributed.all_gather_object(boxes, obj)
        return boxes

    def sum(self, *values: float) -> tuple[float, ...]:
        """Each value summed over the ranks."""
        if not self.parallel:
            return values
        cuda = torch.distributed.get_backend() == "nccl"  # NCCL reduces GPU tensors only
        tensor = torch.tensor(values, dtype=torch.float64, device="cuda" if cuda else "cpu")
        torch.distributed.all_reduce(tensor)
        return tuple(tensor.tolist())

    def sync_buffers(self, model: torch.nn.Module) -> None:
        """Rank 0's buffers (BatchNorm statistics) everywhere, as DDP does before each training
        forward: each rank's last batch left its own, and rank 0's are the ones checkpointed."""
        if self.parallel:
            for buffer in unwrap(model).buffers():
                torch.distributed.broadcast(buffer, src=0)

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block before the others (it fills a cache they then only open)."""
        if not self.main:
            self.barrier()
        try:
            yield
        finally:
            if self.main and self.parallel:
                self.barrier()

    def from_main(self, fn: Callable[[], T]) -> T:
        """fn() run on rank 0 only, its result on every rank; if it raises, the others stop too."""
        if not self.parallel:
            return fn()
        if not self.main:
            outcome = self.broadcast(None)
            if isinstance(outcome, _Failure):
                raise Abandoned("rank 0 failed", exit_code=outcome.exit_code)
            return cast(T, outcome)  # rank 0 broadcast fn()'s value
        try:
            value = fn()
        except BaseException as exc:
            self.broadcast(_Failure(_describe(exc), getattr(exc, "exit_code", 1)))
            raise
        return self.broadcast(value)

    def together(self, fn: Callable[[], T]) -> T:
        """fn() on every rank; if it raises on any, all stop and rank 0 alone reports it."""
        if not self.parallel:
            return fn()
        try:
            value, error = fn(), None
        except Exception as exc:
            value, error = None, exc
        failures = self.gather(None if error is None else _Failure(_describe(error), getattr(error, "exit_code", 1)))
        if self.main and error is not None:
            raise error
        for rank, failure in enumerate(failures):
            if failure is not None:
                if self.main:
                    raise BenchError(f"rank {rank}: {failure.message}", exit_code=failure.exit_code)
                raise Abandoned(f"rank {rank} failed", exit_code=failure.exit_code)
        return cast(T, value)  # no rank failed, so fn() returned on this one


SINGLE = World()


@dataclass(frozen=True)
class _Failure:
    message: str
    exit_code: int


def _describe(exc: BaseException) -> str:
    return exc.one_line() if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"


def detect(environ: Mapping[str, str] = os.environ) -> World:
    """The world torchrun describes in the environment; one process when WORLD_SIZE is unset."""
    try:
        world = World(
            size=int(environ.get("WORLD_SIZE", 1)),
            rank=int(environ.get("RANK", 0)),
            local_rank=int(environ.get("LOCAL_RANK", 0)),
        )
    except ValueError:
        raise BenchError("WORLD_SIZE, RANK and LOCAL_RANK must be integers", hint=LAUNCH_HINT) from None
    if world.size < 1 or not 0 <= world.rank < world.size or world.local_rank < 0:
        raise BenchError(f"RANK {world.rank} does not fit WORLD_SIZE {world.size}", hint=LAUNCH_HINT)
    return world


@contextlib.contextmanager
def process_group(world: World, device: torch.device) -> Iterator[None]:
    """The default process group for a block: NCCL on CUDA, gloo on the CPU. From here on ranks
    other than 0 print nothing: rank 0 reports for all."""
    if not world.parallel:
        yield
        return
    from bench.ui.console import err, out

    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(device)
    try:
        torch.distributed.init_process_group(
            "nccl" if cuda else "gloo", timeout=TIMEOUT, device_id=device if cuda else None
        )
    except (ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BenchError(f"rank {world.rank} cannot join the other processes: {first}", hint=LAUNCH_HINT) from None
    out.quiet = err.quiet = not world.main
    try:
        yield
    finally:
        torch.distributed.destroy_process_group()


def lost_peer(exc: BaseException) -> bool:
    """Whether a collective failed because another process of the run is gone."""
    # gloo raises a plain RuntimeError naming the closed connection; NCCL raises DistError.
    return isinstance(exc, torch.distributed.DistError) or (isinstance(exc, RuntimeError) and "by peer" in str(exc))


def data_parallel(model: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """`model` wrapped in DistributedDataParallel (gradients averaged across ranks, rank 0's
    weights broadcast now); the model itself in one process."""
    if not world.parallel:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)


def shard(order: np.ndarray, world: World) -> np.ndarray:
    """This rank's share of `order`: every size-th item from position `rank`, after repeating
    the first items so that all ranks get equally many (as torch's DistributedSampler does),
    hence take equally many steps. Batch k of every rank together is batch k of `order`."""
    if not world.parallel:
        return order
    per_rank = -(-len(order) // world.size)
    return np.resize(order, per_rank * world.size)[world.rank :: world.size]


def merge_rows(n: int, parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Rows 0..n-1 of the values every rank computed for its (rows, values) shard; a row that
    padding repeated is taken from the first rank that has it."""
    if not parts:
        raise ValueError("no shards to merge")
    rows = np.concatenate([np.asarray(r) for r, _ in parts])
    values = np.concatenate([np.asarray(v) for _, v in parts])
    found, first = np.unique(rows, return_index=True)
    if not np.array_equal(found, np.arange(n)):
        raise ValueError(f"the shards hold {len(found)} distinct rows of 0..{n - 1}, not all of them")
    return values[first]
