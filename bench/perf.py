"""`bench perf`: whether the GPU (or CPU), not the input pipeline, sets the pace of training.

Four figures in images/s, each over `batches` batches after a warm-up: the model alone (random
uint8 batches already on the device, through `to_input` and the method's train step), the
image-cache loader alone (and, if asked, the PNG decode+resize loader), and end-to-end training
(cache loader + train step). end-to-end / model-only near 1 means input is not the bottleneck.
Then a few more model-only steps under the torch profiler, in a pass of their own so that its
cost stays out of the rates: the step time and the share of it spent outside kernels (Python,
dispatch, kernel launches and waits), which is launch overhead when it is large on a GPU.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from bench.data.cache import default_workers, prepare_cache
from bench.data.index import DatasetIndex
from bench.errors import BenchError
from bench.labels import LABELS
from bench.train import capture
from bench.train.device import pick_device, warn_cpu_bf16_off_cpu
from bench.train.options import default_preset, refuse_graphs_with_compile

# NIH's positives per class (LABELS order) and image count: loss weights for the model-only
# step that do not depend on the sampled images (a small sample may lack a class).
NIH_POSITIVES = (11559, 2776, 13317, 19894, 5782, 6331, 1431, 5302, 4667, 2303, 2516, 1686, 3385, 227)
NIH_IMAGES = 112_120
# Loader passes repeat until this long, so microsecond-fast cache reads still give steady figures.
MIN_LOADER_SECONDS = 0.5
# Model-only steps under the profiler (at most `batches`): enough to average out one slow step.
PROFILED_STEPS = 5


@dataclass(frozen=True)
class PerfReport:
    method: str
    preset: str
    stage: int  # 1-based
    image_size: int
    batch_size: int
    batches: int
    device: str
    workers: int
    source_size: int  # side of the source PNGs (of the first sampled image)
    model_only: float  # images/s
    loader_cache: float
    end_to_end: float
    loader_png: float | None = None
    precision: str = "fp32"  # "bf16" under autocast (CUDA, or the CPU with --cpu-bf16)
    compiled: bool = False
    cuda_graphs: bool = False  # the step's forward and backward replayed as CUDA graphs
    onednn_depthwise: bool = False  # CPU depthwise weight gradients from oneDNN alone
    overrides: tuple[str, ...] = ()  # the `--set` items of the measured spec
    first_step_s: float | None = None  # the warm-up step: compilation, capture, cudnn autotuning, allocations
    step_ms: float | None = None  # wall time of a profiled model-only step; None: not profiled
    kernel_ms: float | None = None  # of which in kernels (see `kernel_ns`)

    @property
    def end_to_end_over_model(self) -> float:
        return self.end_to_end / self.model_only

    @property
    def steps_per_s_model(self) -> float:
        return self.model_only / self.batch_size

    @property
    def steps_per_s_end_to_end(self) -> float:
        return self.end_to_end / self.batch_size  # every pass is whole batches

    @property
    def outside_kernels(self) -> float | None:
        """Share of a profiled step outside kernels, in [0, 1]."""
        if self.step_ms is None or self.kernel_ms is None:
            return None
        return min(1.0, max(0.0, 1.0 - self.kernel_ms / self.step_ms))

    @property
    def cache_over_png(self) -> float | None:
        return None if self.loader_png is None else self.loader_cache / self.loader_png

    def to_json(self) -> dict:
        return {
            **asdict(self),
            "end_to_end_over_model": self.end_to_end_over_model,
            "cache_over_png": self.cache_over_png,
            "steps_per_s_model": self.steps_per_s_model,
            "steps_per_s_end_to_end": self.steps_per_s_end_to_end,
            "outside_kernels": self.outside_kernels,
        }


@dataclass(frozen=True)
class StepSettings:
    """How the measured training step runs."""

    compile: bool = False  # torch.compile (CUDA)
    amp: bool = True  # bf16 autocast (CUDA)
    cuda_graphs: bool = False  # forward and backward captured as CUDA graphs (the static-shape guard alone on the CPU)
    onednn_depthwise: bool = False  # CPU depthwise weight gradients from oneDNN alone (bench.train.depthwise)
    cpu_bf16: bool = False  # bf16 autocast on the CPU too


# -- a few demo images at any size --------------------------------------------------------------
def render_demo_subset(out: Path, n: int, *, size: int, seed: int = 0, workers: int | None = None) -> Path:
    """A demo root with only the demo's first `n` images, rendered at `size` px: the same PNGs
    `bench data demo --size S` writes for them, without rendering all ~4,200 (slow at 1024 px)."""
    from bench.data.demo import DATA_ENTRY, plan_demo, render_images, write_demo_meta

    plan = plan_demo(seed)
    n = min(n, len(plan.rows))
    images = Path(out) / "images"
    images.mkdir(parents=True)
    # One image per task: at 1024 px each takes long enough to spread over every worker.
    for chunk in render_images(plan, n, size, workers or default_workers(), chunk=1):
        for i, png, _ in chunk:
            (images / plan.image_ids[i]).write_bytes(png)
    plan.rows.iloc[:n].to_csv(Path(out) / DATA_ENTRY, index=False, lineterminator="\n")
    write_demo_meta(Path(out), seed=seed, size=size, images=n, subset=True)
    return Path(out)


# -- measuring ----------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(run_pass: Callable[[], int], device: torch.device, *, min_seconds: float = 0.0) -> float:
    """images/s of `run_pass` (returns the images it handled), repeated until `min_seconds`."""
    images, started = 0, time.perf_counter()
    while True:
        images += run_pass()
        _sync(device)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return images / max(elapsed, 1e-9)


# -- the profiled steps ---------------------------------------------------------------------------
class Span(NamedTuple):
    """One profiler event, as `kernel_ns` reads it."""

    name: str
    activity: str  # the profiler's activity type: "cpu_op", "kernel", "gpu_memcpy", "cuda_runtime", ...
    thread: int
    start_ns: int
    end_ns: int


# Work on the GPU itself; a "gpu_user_annotation" is a range over such work, not work.
DEVICE_WORK = frozenset({"kernel", "gpu_memcpy", "gpu_memset"})
# aten operators that allocate or alias memory: bookkeeping around the arithmetic, not part of it.
BOOKKEEPING = frozenset(
    "aten::" + name
    for name in (
        "empty empty_like empty_strided resize_ as_strided as_strided_ view _unsafe_view _reshape_alias alias "
        "expand t transpose permute slice select narrow unsqueeze squeeze detach resolve_conj resolve_neg"
    ).split()
)


def _self_ns(spans: Iterable[Span]) -> Iterator[tuple[Span, int]]:
    """(span, its duration less its children's) for host spans nested by time on each thread."""
    stack: list[list] = []  # [span, children's ns]

    def close() -> tuple[Span, int]:
        done, children = stack.pop()
        return done, max(0, done.end_ns - done.start_ns - children)

    for span in sorted(spans, key=lambda s: (s.thread, s.start_ns, -s.end_ns)):
        while stack and (stack[-1][0].thread != span.thread or stack[-1][0].end_ns <= span.start_ns):
            yield close()
        if stack:
            stack[-1][1] += span.end_ns - span.start_ns
        stack.append([span, 0])
    while stack:
        yield close()


def kernel_ns(spans: Iterable[Span], *, device: str) -> int:
    """Time in kernels among `spans`. On CUDA the device time of kernels, copies and fills. On
    the CPU, which has no device kernels, the self time of the aten operators that compute:
    every `aten::` operator but the allocation and view ones; a composite operator's own
    dispatch (aten::conv2d around aten::mkldnn_convolution) counts too, a few microseconds."""
    if device == "cuda":
        return sum(s.end_ns - s.start_ns for s in spans if s.activity in DEVICE_WORK)
    host = (s for s in spans if s.activity not in DEVICE_WORK)
    return sum(ns for s, ns in _self_ns(host) if s.name.startswith("aten::") and s.name not in BOOKKEEPING)


def _spans(prof: torch.profiler.profile) -> list[Span]:
    # The raw events, not prof.events(): building FunctionEvents takes seconds per step for
    # DenseNet-121's ~20,000 operator calls, reading these a fraction of a second.
    results = prof.profiler.kineto_results if prof.profiler is not None else None
    if results is None:
        raise BenchError("the torch profiler recorded no events", hint="pass --no-profile", exit_code=1)
    return [Span(e.name(), activity(e), e.start_thread_id(), e.start_ns(), e.end_ns()) for e in results.events()]


def activity(event) -> str:
    """A raw profiler event's activity type. Older torch (2.11 among them) gives only its device
    and whether it is an annotation: device work is then named "kernel", which `kernel_ns` reads
    as it reads copies and fills, and host events "cpu_op"."""
    if hasattr(event, "activity_type"):
        return event.activity_type()
    if event.device_type() == torch.autograd.DeviceType.CUDA:
        return "gpu_user_annotation" if event.is_user_annotation() else "kernel"
    return "cpu_op"


def _profile_steps(step: Callable[[], None], steps: int, device: torch.device) -> tuple[float, float]:
    """(wall ms, kernel ms) per step of `steps` calls of `step` under the torch profiler."""
    from torch.profiler import ProfilerActivity, profile

    # Kineto logs CUDA probing errors on a CPU-only machine and, from level 5 down, a line at
    # each profiler start and stop: neither says anything about the figure.
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        started = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        wall = time.perf_counter() - started
    return wall * 1e3 / steps, kernel_ns(_spans(prof), device=device.type) / 1e6 / steps


def _sample(index: DatasetIndex, n: int) -> list[str]:
    ids = index.frame.index[index.frame["path"].notna()].tolist()
    if not ids:
        raise BenchError(f"no images of {index.root} were found on disk", hint="run `bench data check`")
    rng = np.random.default_rng(0)
    return rng.choice(ids, size=n, replace=n > len(ids)).tolist()


def _side(path: str) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return image.size[0]


def _resolve(
    method: str, preset: str, stage: int, image_size: int | None, batch_size: int | None, overrides: Sequence[str]
):
    from bench.method import get_method
    from bench.method.overrides import apply_overrides

    resolved = get_method(method).resolve(preset, image_size=image_size, batch_size=batch_size)
    # `--set` as `bench run` applies it, after the preset and the size flags.
    resolved = resolved.with_spec(apply_overrides(resolved.spec, overrides, hooks=resolved.overridden()).spec)
    n_stages = len(resolved.spec.stages)
    if not 1 <= stage <= n_stages:
        raise BenchError(
            f"method {method!r} has {n_stages} stage(s); --stage {stage} is out of range", hint=f"use 1 to {n_stages}"
        )
    return resolved, resolved.spec.stages[stage - 1]


def measure(
    method: str,
    *,
    data: Path | None = None,
    source_size: int | None = None,
    stage: int = 1,
    batches: int = 5,
    device: str = "auto",
    workers: int = 0,
    png: bool = False,
    preset: str | None = None,
    image_size: int | None = None,
    batch_size: int | None = None,
    compile: bool = False,
    amp: bool = True,
    cuda_graphs: bool = False,
    onednn_depthwise: bool = False,
    cpu_bf16: bool = False,
    overrides: Sequence[str] = (),
    profile: bool = True,
    progress: bool = True,
) -> PerfReport:
    """Measure `method`'s stage on `data` (None: the demo), or with `source_size` on that many
    demo images rendered at `source_size` px into a temporary folder (implies `png`); with
    `profile`, also min(batches, PROFILED_STEPS) model-only steps under the profiler."""
    if batches < 1:
        raise BenchError(f"--batches must be at least 1, got {batches}")
    if workers < 0:
        raise BenchError(f"--workers must be 0 or more, got {workers}")
    refuse_graphs_with_compile(cuda_graphs=cuda_graphs, compile=compile)
    settings = StepSettings(
        compile=compile, amp=amp, cuda_graphs=cuda_graphs, onednn_depthwise=onednn_depthwise, cpu_bf16=cpu_bf16
    )
    if cuda_graphs:
        capture.warn_off_cuda(pick_device(device))
    if cpu_bf16:
        warn_cpu_bf16_off_cpu(pick_device(device))
    if source_size is None:
        from bench.data.dataset import open_dataset

        index = open_dataset(data, quiet=not progress)
        resolved, spec = _resolve(method, default_preset(preset, index.kind), stage, image_size, batch_size, overrides)
        report = _measure(
            resolved, spec, stage, index, batches, device, workers, png, settings, profile, progress, None
        )
    else:
        if data is not None:
            raise BenchError("--source-size renders demo images to measure on; it cannot be combined with --data")
        from bench.data.nih import load_index

        resolved, spec = _resolve(method, preset or "demo", stage, image_size, batch_size, overrides)
        with tempfile.TemporaryDirectory(prefix="cxr-bench-perf-") as tmp:
            root = render_demo_subset(
                Path(tmp) / "demo", batches * spec.batch_size, size=source_size, workers=workers or None
            )
            report = _measure(
                resolved,
                spec,
                stage,
                load_index(root),
                batches,
                device,
                workers,
                True,
                settings,
                profile,
                progress,
                Path(tmp) / "cache",
            )
    return replace(report, overrides=tuple(overrides))


def _measure(
    resolved,
    spec,
    stage,
    index,
    batches,
    device_name,
    workers,
    png,
    settings: StepSettings,
    profile,
    progress,
    cache_root,
) -> PerfReport:
    from bench.train.batches import CacheSource, PngSource, iterate
    from bench.train.device import configure_backends, place_input, place_model, training_step

    device = pick_device(device_name)
    configure_backends(device)
    size, batch_size = spec.image_size, spec.batch_size
    n = batches * batch_size
    ids = _sample(index, n)
    labels = index.labels(ids)
    cache = prepare_cache(index, size, ids=ids, workers=workers or None, progress=progress, root=cache_root)
    cached = CacheSource(cache, ids)
    order = np.arange(n)

    def loader_pass(source, count: int | None = None) -> Callable[[], int]:
        def run() -> int:
            seen = 0
            for batch in iterate(source, labels, order[: count or n], batch_size, device, workers=workers):
                seen += len(batch.index)
            return seen

        return run

    loader_pass(cached, batch_size)()  # warm-up: workers start, pages mapped
    loader_cache = _rate(loader_pass(cached), device, min_seconds=MIN_LOADER_SECONDS)
    loader_png = None
    if png:
        loader_png = _rate(
            loader_pass(PngSource(index.frame.loc[ids, "path"].tolist(), size)), device, min_seconds=MIN_LOADER_SECONDS
        )

    method = resolved
    model = place_model(method.build_model(stage - 1, pretrained=False), device, compile=settings.compile)
    model.train()
    loss_fn = method.build_loss(NIH_POSITIVES, NIH_IMAGES).to(device)
    optimizer = method.build_optimizer(model.parameters(), spec)
    norm = method.spec.normalisation
    flips = torch.Generator().manual_seed(0)
    hflip = "hflip" in method.spec.augmentation

    captured = False

    def step(pixels: torch.Tensor, targets: torch.Tensor) -> None:
        nonlocal captured
        flip = torch.rand(len(pixels), generator=flips) < 0.5 if hflip else None
        x = place_input(pixels, norm, flip=flip)
        if settings.cuda_graphs and not captured:  # on the first step, as training captures
            capture.graph_model(model, x, device, amp=settings.amp)
            captured = True
        with training_step(
            device,
            amp=settings.amp,
            cache=not settings.cuda_graphs,
            onednn_depthwise=settings.onednn_depthwise,
            cpu_bf16=settings.cpu_bf16,
        ):
            method.train_step(model, (x, targets), loss_fn, optimizer)

    gen = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (batch_size, size, size), dtype=torch.uint8, generator=gen).to(device)
    targets = (torch.rand(batch_size, len(LABELS), generator=gen) < 0.1).float().to(device)

    def model_pass() -> int:
        for _ in range(batches):
            step(pixels, targets)
        return n

    def training_pass() -> int:
        shuffled = np.random.default_rng(1).permutation(n)
        for batch in iterate(cached, labels, shuffled, batch_size, device, workers=workers):
            step(batch.pixels, batch.targets)
        return n

    started = time.perf_counter()
    step(pixels, targets)  # warm-up: allocations, cudnn autotuning, compilation, capture
    _sync(device)
    first_step_s = time.perf_counter() - started
    model_only = _rate(model_pass, device)
    end_to_end = _rate(training_pass, device)
    step_ms = kernel_ms = None
    if profile:
        step_ms, kernel_ms = _profile_steps(lambda: step(pixels, targets), min(batches, PROFILED_STEPS), device)
    return PerfReport(
        method=method.name,
        preset=method.spec.preset,
        stage=stage,
        image_size=size,
        batch_size=batch_size,
        batches=batches,
        device=str(device),
        workers=workers,
        source_size=_side(index.frame.at[ids[0], "path"]),
        model_only=model_only,
        loader_cache=loader_cache,
        end_to_end=end_to_end,
        loader_png=loader_png,
        precision="bf16" if settings.amp and (device.type == "cuda" or settings.cpu_bf16) else "fp32",
        compiled=settings.compile and device.type == "cuda",
        cuda_graphs=settings.cuda_graphs and device.type == "cuda",
        onednn_depthwise=settings.onednn_depthwise and device.type == "cpu",
        step_ms=step_ms,
        kernel_ms=kernel_ms,
        first_step_s=first_step_s,
    )


def table_rows(report: PerfReport) -> Iterator[tuple[str, str]]:
    """(measure, value) lines of the report, as `bench perf` prints them."""
    yield "model only (random batches on the device)", f"{report.model_only:,.1f} img/s"
    yield "steps/s (model only)", f"{report.steps_per_s_model:,.2f}"
    yield "loader: image cache", f"{report.loader_cache:,.1f} img/s"
    if report.loader_png is not None:
        yield (
            f"loader: PNG decode + resize ({report.source_size} → {report.image_size} px)",
            f"{report.loader_png:,.1f} img/s",
        )
    yield "end to end (cache loader + train step)", f"{report.end_to_end:,.1f} img/s"
    yield "steps/s (end to end)", f"{report.steps_per_s_end_to_end:,.2f}"
    yield "end to end / model only", f"{report.end_to_end_over_model:.2f}"
    if report.first_step_s is not None:
        yield "first step (compilation, capture, autotuning)", f"{report.first_step_s:,.2f} s"
    if report.cache_over_png is not None:
        yield "cache / PNG loader", f"{report.cache_over_png:,.1f}x"
    if report.step_ms is not None and report.kernel_ms is not None:
        yield "step time (profiled)", f"{report.step_ms:,.1f} ms"
        yield "time in kernels", f"{report.kernel_ms:,.1f} ms"
        yield "outside kernels (Python, dispatch, launches)", f"{report.outside_kernels:.0%}"
