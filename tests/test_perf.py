"""`bench perf` on the CPU: the four figures, JSON, every built-in method, bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.method import BUILTINS, get_method
from bench.perf import measure, render_demo_subset

FIGURES = ("model only", "loader: image cache", "loader: PNG decode", "end to end (cache", "end to end / model only")


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
        "--device",
        "cpu",
        "--json",
        "--data",
        str(demo_root),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["batch_size"] == 3


@pytest.mark.parametrize("method", sorted(BUILTINS))
def test_every_builtin_method_runs(method, demo_root):
    stages = len(get_method(method).spec.presets["smoke"])  # the last stage: the largest images
    report = measure(method, data=demo_root, preset="smoke", stage=stages, batches=1, device="cpu", progress=False)
    assert report.stage == stages and report.image_size == 32 * 2 ** (stages - 1)
    assert report.model_only > 0 and report.end_to_end > 0


def test_rendered_subset_is_the_demo(demo_root, tmp_path):
    root = render_demo_subset(tmp_path / "subset", 3, size=64, workers=1)  # demo_root is rendered at 64 px
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
