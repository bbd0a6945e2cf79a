"""`--cuda-graphs`: a model's training-mode forward and backward captured as CUDA graphs, and the
static-shape guard every training-mode call then passes (on the CPU the guard alone).

A graph replays the kernels it recorded on the tensors it recorded. A batch of another shape,
dtype, device or layout would be copied into the captured input regardless (broadcast, cast or
moved), and a parameter frozen or unfrozen after the capture would keep the captured gradient
flow, so the guard refuses both in one line instead. The optimizer step stays eager, and the
module keeps its parameters and state-dict keys: `make_graphed_callables` replaces only its
`forward`, which runs the graphs in training mode and the module's own code in eval mode.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from bench.errors import BenchError
from bench.train.device import autocast
from bench.ui.console import warn

FLAG = "--cuda-graphs"
_HINT = "every training batch must match the captured one; a method that changes them trains without --cuda-graphs"


@dataclass(frozen=True)
class InputSignature:
    """What a captured input fixes: shape, dtype, device and memory layout (its strides)."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device
    strides: tuple[int, ...]
    layout: str  # the strides' memory format, in words

    @classmethod
    def of(cls, x: torch.Tensor) -> InputSignature:
        return cls(tuple(x.shape), x.dtype, x.device, tuple(x.stride()), _layout(x))

    def difference(self, x: object) -> str | None:
        """How `x` differs from the captured input, in words; None when it matches."""
        if not isinstance(x, torch.Tensor):
            return f"a training input of type {type(x).__name__} differs from the captured tensor"
        if tuple(x.shape) != self.shape:
            return f"training batch of shape {_shape(x.shape)} differs from the captured {_shape(self.shape)}"
        if x.dtype != self.dtype:
            return f"training batch of dtype {_dtype(x.dtype)} differs from the captured {_dtype(self.dtype)}"
        if x.device != self.device:
            return f"training batch on {x.device} differs from the captured one on {self.device}"
        if tuple(x.stride()) != self.strides:
            other = InputSignature.of(x)
            if other.layout == self.layout:  # size-1 dimensions: one format, other strides
                return f"training batch of strides {_shape(other.strides)} differs from the captured {_shape(self.strides)}"
            return f"training batch in {other.layout} memory format differs from the captured {self.layout}"
        return None


class StaticShapeGuard:
    """A forward pre-hook: every training-mode call must pass inputs like the captured ones, to
    a model whose modules' train/eval modes and trainable parameters are those of the capture."""

    def __init__(self, model: nn.Module, sample: Sequence[torch.Tensor]):
        self.inputs = tuple(InputSignature.of(x) for x in sample)
        self.modes = [(m, m.training) for m in model.modules()]
        self.trainable = [(p, p.requires_grad) for p in model.parameters()]

    def problem(self, args: Sequence[object]) -> str | None:
        """What makes a training-mode call with `args` differ from the capture; None if nothing."""
        if len(args) != len(self.inputs):
            return f"a training call with {len(args)} input(s) differs from the captured {len(self.inputs)}"
        for signature, x in zip(self.inputs, args):
            difference = signature.difference(x)
            if difference:
                return difference
        if any(m.training != mode for m, mode in self.modes):
            return "a module's train/eval mode changed since the capture"
        if any(p.requires_grad != trainable for p, trainable in self.trainable):
            return "the model's trainable parameters changed since the capture"
        return None

    def __call__(self, module: nn.Module, args: tuple[object, ...]) -> None:
        if not module.training:  # eval-mode calls run the module's own forward, at any size
            return
        problem = self.problem(args)
        if problem is not None:
            raise BenchError(f"{FLAG}: {problem}", hint=_HINT)


def graph_model(model: nn.Module, sample: torch.Tensor, device: torch.device, *, amp: bool = True) -> nn.Module:
    """`model`, in training mode, with its training forward and backward captured on `sample` as
    CUDA graphs (under bf16 autocast if `amp`, as the training step runs) and the static-shape
    guard on every training-mode call; on the CPU the guard alone. The same module comes back.

    Training-mode calls must then run under `autocast(device, cache=False)`."""
    if not model.training:
        raise ValueError("a model is captured in training mode")
    if device.type == "cuda":
        # The capture's warm-up and recorded passes update BatchNorm's statistics: they are put
        # back (in place: the graphs hold these tensors), so the first real step starts from
        # the state an uncaptured run has.
        saved = [b.detach().clone() for b in model.buffers()]
        try:
            with autocast(device, enabled=amp, cache=False):
                capture_thread_local(model, sample)
        except (RuntimeError, AssertionError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BenchError(
                f"{FLAG}: the model's training step cannot be captured: {first}", hint="train without --cuda-graphs"
            ) from None
        with torch.no_grad():
            for buffer, value in zip(model.buffers(), saved):
                buffer.copy_(value)
    model.register_forward_pre_hook(StaticShapeGuard(model, (sample,)))
    return model


def capture_thread_local(model: nn.Module, sample: torch.Tensor) -> None:
    """`make_graphed_callables` on `model` in thread-local capture mode. The loader's pin-memory
    thread allocates page-locked memory during the capture, which touches no captured stream but
    would abort a global-mode one. Unused parameters get no gradient, as in eager mode."""
    make = torch.cuda.make_graphed_callables
    if "capture_error_mode" in inspect.signature(make).parameters:
        make(model, (sample,), allow_unused_input=True, capture_error_mode="thread_local")
        return
    # Older torch (2.11 among them) has no such argument and opens each graph with
    # `torch.cuda.graph` in global mode: that name is pointed at a thread-local one meanwhile.
    original = torch.cuda.graph
    torch.cuda.graph = functools.partial(original, capture_error_mode="thread_local")
    try:
        make(model, (sample,), allow_unused_input=True)
    finally:
        torch.cuda.graph = original


def warn_off_cuda(device: torch.device) -> None:
    """The one warning of --cuda-graphs off CUDA, where only the static-shape guard applies."""
    if device.type != "cuda":
        warn(f"{FLAG} applies on CUDA only; training batches on {device} are still checked for static shapes")


def _shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _layout(x: torch.Tensor) -> str:
    if x.is_contiguous():
        return "contiguous"
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return "channels_last"
    return f"strides {_shape(x.stride())}"
