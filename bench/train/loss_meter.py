"""The running training loss of an epoch, kept on the device and read every few steps.

Reading a loss (`float(loss)`) waits for the GPU to finish the step; waiting every step leaves
the GPU idle while Python launches the next one, which at the paper's batch sizes is most of a
step. So losses are summed where they are and read every `every` steps (and at the epoch's end):
that read is where a NaN is caught and, with several processes, where they agree on the mean.
"""

from __future__ import annotations

import torch

from bench.train import distributed

# Steps between reads on a GPU; on a CPU a read costs nothing, so every step is read.
CUDA_READ_EVERY = 25


class LossMeter:
    def __init__(self, world: distributed.World = distributed.SINGLE, *, every: int = 1):
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.world, self.every = world, every
        self._pending: torch.Tensor | float = 0.0  # sum of loss x images since the last read
        self._pending_n = 0
        self._steps = 0
        self.total, self.seen = 0.0, 0

    @classmethod
    def for_device(cls, device: torch.device, world: distributed.World = distributed.SINGLE) -> LossMeter:
        return cls(world, every=CUDA_READ_EVERY if device.type == "cuda" else 1)

    def add(self, loss: torch.Tensor | float, n: int) -> bool:
        """Count one step's mean loss over `n` images; True when it is time to `read`."""
        if isinstance(loss, torch.Tensor):
            loss = loss.detach().float()
        self._pending = self._pending + loss * n
        self._pending_n += n
        self._steps += 1
        return self._steps % self.every == 0

    def read(self) -> float:
        """The mean loss of the steps since the last read (over all processes); NaN or inf if
        any of them was. Every process must call it at the same step."""
        value, n = float(self._pending), float(self._pending_n)
        if self.world.parallel:
            value, n = self.world.sum(value, n)
        self._pending, self._pending_n = 0.0, 0
        self.total += value
        self.seen += int(n)
        return value / max(n, 1)

    @property
    def mean(self) -> float:
        """The epoch's mean loss over the steps read so far."""
        return self.total / max(self.seen, 1)
