"""`bench perf` on the CPU: the four figures, steps/s, the profiled step, JSON, every built-in
method, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from bench.cli import app
from bench.method import BUILTINS, get_method
from bench.perf import PerfReport, Span, activity, kernel_ns, measure, render_demo_subset

FIGURES = (
    "model only",
    "steps/s (model only)",
    "loader: image cache",
    "loader: PNG decode",
    "end to end (cache",
    "steps/s (end to end)",
    "end to end / model only",
    "step time (profiled)",
    "time in kernels",
    "outside kernels (Python, dispatch, launches)",
)


def cli(*args: str):
    return CliRunner().invoke(app, ["perf", *args])


def test_perf_prints_the_four_figures(demo_root):
    result = cli(
        "--method",
        "chexnet",
        "--preset",
        "smoke",
        "--batches",
        "2",
        "--device",
        "cpu",
        "--png",
        "--data",
        str(demo_root),
    )
    assert result.exit_code == 0, result.output
    for figure in FIGURES:
        assert figure in result.output
    assert "64 → 32 px" in result.output and "cache / PNG loader" in result.output


def test_the_profiler_prints_nothing_of_its_own(demo_root):
    # Kineto writes to the process's stderr from C++ (start/stop lines, CUDA probing errors):
    # only a separate process shows what a user's terminal would.
    command = [sys.executable, "-m", "bench", "perf", "--method", "chexnet", "--preset", "smoke"]
    command += ["--batches", "1", "--device", "cpu", "--json", "--data", str(demo_root)]
    env = {key: value for key, value in os.environ.items() if key != "KINETO_LOG_LEVEL"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kernel_ms"] > 0  # the profiled steps ran
    assert "profiler_start" not in done.stderr and "SyncActivityProfilerHandler" not in done.stderr
    assert "gpuGetDeviceCount" not in done.stderr


def test_perf_json(demo_root):
    result = cli(
        "--method",
        "focal-densenet121",
        "--preset",
        "smoke",
        "--batches",
        "2",
        "--device",
        "cpu",
        "--json",
        "--data",
        str(demo_root),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["image_size"], report["batch_size"], report["batches"], report["device"]) == (32, 8, 2, "cpu")
    assert min(report["model_only"], report["loader_cache"], report["end_to_end"]) > 0
    assert report["end_to_end_over_model"] == pytest.approx(report["end_to_end"] / report["model_only"])
    assert report["loader_png"] is None and report["cache_over_png"] is None
    assert (report["precision"], report["compiled"]) == ("fp32", False)  # no bf16 autocast on the CPU
    assert report["steps_per_s_model"] * 8 == pytest.approx(report["model_only"])
    assert report["steps_per_s_end_to_end"] * 8 == pytest.approx(report["end_to_end"])
    # a real profiled CPU step: the aten arithmetic takes most of it, Python and dispatch the rest
    assert 0 < report["kernel_ms"] <= report["step_ms"]
    assert 0 < report["outside_kernels"] < 1
    assert report["outside_kernels"] == pytest.approx(1 - report["kernel_ms"] / report["step_ms"])
    # the warm-up step is timed on its own (compilation and capture land there on CUDA)
    assert report["first_step_s"] > 0 and report["overrides"] == []


def test_perf_batch_size_override(demo_root):
    result = cli(
        "--method",
        "chexnet",
        "--preset",
        "smoke",
        "--batches",
        "1",
        "--batch-size",
        "3",
        "--no-amp",
        "--no-profile",
        "--device",
        "cpu",
        "--json",
        "--data",
        str(demo_root),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["batch_size"] == 3
    assert report["steps_per_s_model"] * 3 == pytest.approx(report["model_only"])
    assert (report["step_ms"], report["kernel_ms"], report["outside_kernels"]) == (None, None, None)


def cpu(name: str, start: int, end: int, thread: int = 1, activity: str = "cpu_op") -> Span:
    return Span(name, activity, thread, start, end)


# conv2d > convolution > mkldnn_convolution > empty; an optimizer range > add_ > _to_copy > copy_;
# a second thread; device work, which the CPU rule ignores and the CUDA rule alone counts.
SPANS = [
    cpu("aten::conv2d", 0, 100),
    cpu("aten::convolution", 5, 95),
    cpu("aten::mkldnn_convolution", 10, 90),
    cpu("aten::empty", 20, 30),
    cpu("Optimizer.step#Adam.step", 100, 300, activity="user_annotation"),
    cpu("aten::add_", 110, 170),
    cpu("aten::_to_copy", 120, 160),
    cpu("aten::empty_strided", 120, 125),
    cpu("aten::copy_", 130, 155),
    cpu("autograd::engine::evaluate_function: ReluBackward0", 0, 50, thread=2),
    cpu("aten::threshold_backward", 10, 40, thread=2),
    Span("void at::native::conv_kernel", "kernel", 7, 40, 140),
    Span("Memcpy HtoD (Pinned -> Device)", "gpu_memcpy", 7, 150, 160),
    Span("Optimizer.step#Adam.step", "gpu_user_annotation", 7, 100, 300),
]


def test_kernel_time_on_the_cpu_is_the_self_time_of_aten_arithmetic():
    # self times: conv2d 10, convolution 10, mkldnn_convolution 70 (less empty's 10), add_ 20,
    # _to_copy 10 (less empty_strided's 5 and copy_'s 25), copy_ 25, threshold_backward 30;
    # the allocation ops and the non-aten ranges do not count
    assert kernel_ns(SPANS, device="cpu") == 10 + 10 + 70 + 20 + 10 + 25 + 30
    assert kernel_ns(reversed(SPANS), device="cpu") == 175  # the order the events come in is irrelevant


def test_kernel_time_on_cuda_is_the_device_work():
    assert kernel_ns(SPANS, device="cuda") == 100 + 10  # the kernel and the copy, not the annotation range
    assert kernel_ns(SPANS[:4], device="cuda") == 0


class OldEvent:
    """A raw profiler event as torch 2.11 gives it: a device and an annotation flag, no activity type."""

    def __init__(self, device: str, annotation: bool = False):
        self._device = getattr(torch.autograd.DeviceType, device)
        self._annotation = annotation

    def device_type(self):
        return self._device

    def is_user_annotation(self) -> bool:
        return self._annotation


class NewEvent(OldEvent):
    def activity_type(self) -> str:
        return "gpu_memset"


def test_the_activity_of_an_event_from_a_torch_without_activity_types():
    assert activity(OldEvent("CUDA")) == "kernel"  # device work: kernels, copies and fills alike
    assert activity(OldEvent("CUDA", annotation=True)) == "gpu_user_annotation"
    assert activity(OldEvent("CPU")) == activity(OldEvent("CPU", annotation=True)) == "cpu_op"
    assert activity(NewEvent("CPU")) == "gpu_memset"  # where torch names it, its name
    spans = [Span("k", activity(OldEvent("CUDA")), 7, 0, 40), Span("r", activity(OldEvent("CUDA", True)), 7, 0, 90)]
    assert kernel_ns(spans, device="cuda") == 40


def report(**profiled) -> PerfReport:
    figures = dict(image_size=32, batch_size=8, batches=2, device="cpu", workers=0, source_size=64)
    return PerfReport("chexnet", "smoke", 1, **figures, model_only=16.0, loader_cache=1e4, end_to_end=12.0, **profiled)


def test_steps_per_s_and_the_share_outside_kernels():
    figures = report(step_ms=40.0, kernel_ms=30.0).to_json()
    assert (figures["steps_per_s_model"], figures["steps_per_s_end_to_end"]) == (2.0, 1.5)  # 16 and 12 img/s, batch 8
    assert (figures["step_ms"], figures["kernel_ms"], figures["outside_kernels"]) == (40.0, 30.0, 0.25)
    assert report(step_ms=40.0, kernel_ms=41.0).outside_kernels == 0.0  # overlapping device work: clamped
    assert report().to_json()["outside_kernels"] is None


@pytest.mark.parametrize("method", sorted(BUILTINS))
def test_every_builtin_method_runs(method, demo_root):
    stages = len(get_method(method).spec.presets["smoke"])  # the last stage: the largest images
    report = measure(
        method, data=demo_root, preset="smoke", stage=stages, batches=1, device="cpu", profile=False, progress=False
    )
    assert report.stage == stages and report.image_size == 32 * 2 ** (stages - 1)
    assert report.model_only > 0 and report.end_to_end > 0


def test_rendered_subset_is_the_demo(demo_root, tmp_path):
    root = render_demo_subset(tmp_path / "subset", 3, size=64, workers=2)  # demo_root: 64 px, in one process
    names = sorted(p.name for p in (root / "images").iterdir())
    assert len(names) == 3
    for name in names:
        assert (root / "images" / name).read_bytes() == (demo_root / "images" / name).read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "chexnet", "--stage", "2"], "out of range"),
        (["--method", "chexnt"], "did you mean"),
        (["--method", "chexnet", "--source-size", "64"], "cannot be combined with --data"),
    ],
)
def test_bad_input_is_one_line(args, message, demo_root):
    result = cli(*args, "--data", str(demo_root), "--device", "cpu")
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_perf_cuda_graphs_on_the_cpu_is_the_guarded_uncaptured_step(demo_root, capsys):
    report = measure(
        "chexnet",
        data=demo_root,
        preset="smoke",
        batches=1,
        device="cpu",
        cuda_graphs=True,
        profile=False,
        progress=False,
    )
    assert report.cuda_graphs is False and report.model_only > 0  # nothing captured off CUDA
    assert report.to_json()["cuda_graphs"] is False
    assert "--cuda-graphs applies on CUDA only" in capsys.readouterr().err
    result = cli("--method", "chexnet", "--cuda-graphs", "--compile", "--device", "cpu", "--data", str(demo_root))
    assert result.exit_code == 2 and "--cuda-graphs and --compile cannot be combined" in result.output


def test_perf_measures_onednns_depthwise_gradients_when_asked(demo_root):
    args = ("--method", "wfocal-effb0", "--preset", "smoke", "--batches", "1", "--device", "cpu")
    result = cli(*args, "--no-profile", "--onednn-depthwise", "--data", str(demo_root))
    assert result.exit_code == 0, result.output
    assert "oneDNN depthwise" in " ".join(result.output.split())
    report = measure("wfocal-effb0", data=demo_root, preset="smoke", batches=1, device="cpu", progress=False)
    assert report.onednn_depthwise is False and report.to_json()["onednn_depthwise"] is False


def test_perf_measures_bf16_on_the_cpu_when_asked(demo_root):
    args = ("--method", "wfocal-effb0", "--preset", "smoke", "--batches", "1", "--device", "cpu", "--no-profile")
    result = cli(*args, "--cpu-bf16", "--data", str(demo_root), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["precision"] == "bf16"
    result = cli(*args, "--cpu-bf16", "--no-amp", "--data", str(demo_root), "--json")
    assert json.loads(result.stdout)["precision"] == "fp32"


def test_perf_measures_the_spec_as_set_and_refuses_a_bad_item(demo_root):
    args = ("--method", "chexnet", "--preset", "smoke", "--batches", "1", "--device", "cpu", "--no-profile")
    result = cli(*args, "--set", "optimizer.params.fused=true", "--data", str(demo_root), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["overrides"] == ["optimizer.params.fused=true"]
    result = cli(*args, "--set", "optimizer.params.fuse=true", "--data", str(demo_root))
    assert result.exit_code == 2
    assert "optimizer 'adam' takes no parameter 'fuse'" in result.output and "Traceback" not in result.output
