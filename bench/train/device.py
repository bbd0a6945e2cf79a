"""Where and in what precision a model runs: the device, bf16 autocast, memory layout, cudnn,
and the kernels of a training step."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from bench.errors import BenchError
from bench.train import batches, distributed
from bench.train.depthwise import cpu_depthwise
from bench.ui.console import warn


def pick_device(name: str, world: distributed.World = distributed.SINGLE) -> torch.device:
    """The device `name` means; with several processes each one's GPU is cuda:LOCAL_RANK."""
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise BenchError(f"unknown device {name!r}", hint="use auto, cpu, cuda or cuda:N") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise BenchError(f"device {name!r} asked for but CUDA is not available", hint="use --device cpu")
    if device.type == "cuda" and world.parallel:
        if device.index is not None:
            raise BenchError(
                f"--device {name} with several processes: each uses cuda:LOCAL_RANK", hint="pass --device cuda or auto"
            )
        if world.local_rank >= torch.cuda.device_count():
            raise BenchError(
                f"local rank {world.local_rank} has no GPU: this machine has {torch.cuda.device_count()}",
                hint="start at most one process per GPU",
            )
        device = torch.device("cuda", world.local_rank)
    return device


def configure_backends(device: torch.device) -> None:
    """cudnn autotuning on CUDA, where input sizes are fixed per stage; never on the CPU."""
    torch.backends.cudnn.benchmark = device.type == "cuda"


def autocast(device: torch.device, *, enabled: bool = True, cache: bool = True, cpu_bf16: bool = False):
    """bf16 autocast on CUDA; on the CPU plain float32 unless `cpu_bf16` (or disabled: float32
    everywhere). CUDA graphs need `cache` off: a cast cached outside a graph would be stale inside it."""
    if enabled and (device.type == "cuda" or (cpu_bf16 and device.type == "cpu")):
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


@contextlib.contextmanager
def training_step(
    device: torch.device,
    *,
    amp: bool = True,
    cache: bool = True,
    onednn_depthwise: bool = False,
    cpu_bf16: bool = False,
) -> Iterator[None]:
    """A training step's precision (`autocast`; `cpu_bf16` for bf16 on the CPU too) and, on a
    float32 CPU step, its depthwise weight gradients (`depthwise.cpu_depthwise`, unless
    `onednn_depthwise`: that path is float32 only, so bf16 takes oneDNN's own kernels)."""
    bf16 = cpu_bf16 and amp
    with (
        autocast(device, enabled=amp, cache=cache, cpu_bf16=cpu_bf16),
        cpu_depthwise(device, enabled=not (onednn_depthwise or bf16)),
    ):
        yield


def warn_cpu_bf16_off_cpu(device: torch.device) -> None:
    """The one warning of --cpu-bf16 on CUDA, which trains under bf16 autocast already."""
    if device.type != "cpu":
        warn(f"--cpu-bf16 applies on the CPU; {device} trains under its own bf16 autocast")


def place_model(model: torch.nn.Module, device: torch.device, *, compile: bool = False) -> torch.nn.Module:
    """`model` on `device` in channels_last and, if asked, compiled in place on CUDA
    (nn.Module.compile keeps the state_dict keys, so checkpoints stay plain). On the CPU too
    channels_last is the faster layout: oneDNN's convolutions run 1.1-1.4x faster on it in
    training and scoring."""
    model.to(device, memory_format=torch.channels_last)
    if compile and device.type == "cuda":
        model.compile()
    elif compile:
        warn(f"--compile applies on CUDA only; running uncompiled on {device}")
    return model


def place_input(pixels: torch.Tensor, normalisation, *, flip: torch.Tensor | None = None) -> torch.Tensor:
    """A batch of uint8 pixels (on the model's device) as the model's input: normalised (a
    spec's `Normalisation`), in the memory layout `place_model` gives the model."""
    return batches.to_input(pixels, mean=normalisation.mean, std=normalisation.std, flip=flip)
