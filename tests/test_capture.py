"""--static-shapes and --cuda-graphs on the CPU: full training batches only (the rest left out and
recorded), the static-shape guard of captured models, the refusals, and the options' records."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from conftest import TINY_BACKBONE
from torch import nn
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.method.base import Method
from bench.records import RunStore
from bench.train import launch
from bench.train.batches import trained_count
from bench.train.capture import StaticShapeGuard, capture_thread_local, graph_model
from bench.train.options import RunOptions

# Training on one torch thread: the machine is shared.
pytestmark = pytest.mark.usefixtures("one_thread")

# 43 training images in the smoke preset's batches of 8: five full batches and a last one of 3.
LIMIT = 43
FIXTURES = Path(__file__).parent / "fixtures"
WARNING = "--cuda-graphs applies on CUDA only; training batches on cpu are still checked for static shapes"


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def run_args(demo_root: Path, results: Path, *extra: str) -> list[str]:
    overrides = [part for item in TINY_BACKBONE for part in ("--set", item)]
    return [
        "run",
        "--method",
        "chexnet",
        "--data",
        str(demo_root),
        "--results",
        str(results),
        "--preset",
        "smoke",
        "--limit",
        str(LIMIT),
        "--no-pretrained",
        "--device",
        "cpu",
        *overrides,
        *extra,
    ]


def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize(
    ("n", "batch", "static", "kept"),
    [
        (43, 8, True, 40),
        (40, 8, True, 40),
        (41, 8, True, 40),
        (17, 8, True, 16),
        (7, 8, True, 0),
        (5, 1, True, 5),
        (43, 8, False, 43),
        (41, 8, False, 40),
        (7, 8, False, 7),
    ],
)
def test_trained_count(n, batch, static, kept):
    assert trained_count(n, batch, static=static) == kept


def _spied_run(demo_root, results, monkeypatch, *flags: str):
    """A smoke run with `flags` (its CliRunner result), and per training step the batch size the
    method's train_step got and whether the model carried the static-shape guard."""
    steps: list[tuple[int, bool]] = []
    train_step = Method.train_step

    def spy(self, model, batch, loss_fn, optimizer):
        guarded = any(isinstance(h, StaticShapeGuard) for h in model._forward_pre_hooks.values())
        steps.append((len(batch[0]), guarded))
        return train_step(self, model, batch, loss_fn, optimizer)

    monkeypatch.setattr(Method, "train_step", spy)
    return cli(*run_args(demo_root, results, *flags)), steps


def _record(results: Path):
    store = RunStore(results)
    (run_id,) = store.run_ids()
    return store.load(run_id)


def test_static_shapes_trains_full_batches_only_and_records_what_it_left_out(demo_root, tmp_path, monkeypatch):
    result, steps = _spied_run(demo_root, tmp_path, monkeypatch, "--static-shapes")
    assert result.exit_code == 0, result.output
    assert steps == [(8, False)] * 5  # 40 of the 43 images, no guard without --cuda-graphs
    record = _record(tmp_path)
    (stage,) = record.stages
    assert (stage.batch_size, stage.epochs_run, stage.train_dropped) == (8, 1, LIMIT % 8)
    assert record.invocation["static_shapes"] is True and record.invocation["cuda_graphs"] is False
    assert "would hold 3 image(s); it is left out (3 image(s) per epoch" in result.output
    assert "--static-shapes keeps every training batch at 8" in result.output
    assert WARNING not in result.output
    # A resume continues with the stored options, and one of them given anew is refused.
    again = cli("run", "--resume", record.run_id, "--results", str(tmp_path), "--cuda-graphs")
    assert again.exit_code == 2
    assert "--cuda-graphs True (stored: False) differs" in one_line(again)


def test_cuda_graphs_on_the_cpu_warns_once_and_trains_guarded_full_batches(demo_root, tmp_path, monkeypatch):
    result, steps = _spied_run(demo_root, tmp_path, monkeypatch, "--cuda-graphs")
    assert result.exit_code == 0, result.output
    assert result.output.count(WARNING) == 1, result.output
    assert "--cuda-graphs keeps every training batch at 8" in result.output
    assert steps == [(8, True)] * 5  # captured (here: guarded) on the first training batch
    record = _record(tmp_path)
    assert record.status == "complete" and record.stages[0].train_dropped == LIMIT % 8
    options = RunOptions.from_json(record.invocation)
    assert (options.cuda_graphs, options.static_shapes, options.static_batches) == (True, False, True)


def _tiny_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    ).train()


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (torch.zeros(7, 3, 16, 16), "training batch of shape (7, 3, 16, 16) differs from the captured (8, 3, 16, 16)"),
        (
            torch.zeros(8, 3, 16, 16, dtype=torch.float64),
            "training batch of dtype float64 differs from the captured float32",
        ),
        (
            torch.zeros(8, 3, 16, 16).contiguous(memory_format=torch.channels_last),
            "training batch in channels_last memory format differs from the captured contiguous",
        ),
    ],
)
def test_the_guard_refuses_a_training_batch_unlike_the_captured_one(batch, message):
    model = graph_model(_tiny_model(), torch.zeros(8, 3, 16, 16), torch.device("cpu"))
    with pytest.raises(BenchError) as info:
        model(batch)
    assert info.value.message == f"--cuda-graphs: {message}"
    assert "trains without --cuda-graphs" in info.value.one_line()


def test_the_guard_passes_matching_training_calls_and_eval_calls_of_any_size():
    model = _tiny_model()
    keys = list(model.state_dict())
    assert graph_model(model, torch.zeros(8, 3, 16, 16), torch.device("cpu")) is model
    assert list(model.state_dict()) == keys  # checkpoints stay plain
    assert model(torch.randn(8, 3, 16, 16)).shape == (8, 2)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(3, 3, 16, 16)).shape == (3, 2)
        assert model(torch.randn(1, 3, 20, 20)).shape == (1, 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m[0].weight.requires_grad_(False), "the model's trainable parameters changed since the capture"),
        (lambda m: m[1].eval(), "a module's train/eval mode changed since the capture"),
    ],
)
def test_the_guard_refuses_a_model_changed_since_its_capture(change, message):
    model = graph_model(_tiny_model(), torch.zeros(8, 3, 16, 16), torch.device("cpu"))
    change(model)
    with pytest.raises(BenchError, match=message):
        model(torch.zeros(8, 3, 16, 16))


def _graph_opener(modes: list[str]):
    """A stand-in for torch.cuda.graph that records the capture mode each graph is opened in."""

    def graph(cuda_graph, pool=None, stream=None, capture_error_mode="global"):
        modes.append(capture_error_mode)
        return nullcontext()

    return graph


def test_capture_is_thread_local_where_torch_takes_the_argument(monkeypatch):
    calls: list[dict] = []

    def make(
        callables, sample_args, num_warmup_iters=3, allow_unused_input=False, pool=None, capture_error_mode="global"
    ):
        calls.append({"unused": allow_unused_input, "mode": capture_error_mode, "sample": sample_args})

    monkeypatch.setattr(torch.cuda, "make_graphed_callables", make)
    sample = torch.zeros(2, 3, 4, 4)
    capture_thread_local(nn.Identity(), sample)
    assert calls == [{"unused": True, "mode": "thread_local", "sample": (sample,)}]


def test_capture_is_thread_local_on_a_torch_without_the_argument(monkeypatch):
    # As in torch 2.11: make_graphed_callables opens its forward and backward graphs itself.
    modes: list[str] = []
    original = torch.cuda.graph

    def make(callables, sample_args, num_warmup_iters=3, allow_unused_input=False, pool=None):
        assert allow_unused_input
        for _ in ("forward", "backward"):
            with torch.cuda.graph(object(), pool=pool):
                pass

    monkeypatch.setattr(torch.cuda, "graph", _graph_opener(modes))
    monkeypatch.setattr(torch.cuda, "make_graphed_callables", make)
    patched = torch.cuda.graph
    capture_thread_local(nn.Identity(), torch.zeros(1))
    assert modes == ["thread_local", "thread_local"]
    assert torch.cuda.graph is patched  # put back afterwards
    monkeypatch.undo()
    assert torch.cuda.graph is original


def test_a_failed_capture_on_an_old_torch_still_puts_the_graph_opener_back(monkeypatch):
    def make(callables, sample_args, num_warmup_iters=3, allow_unused_input=False, pool=None):
        raise RuntimeError("operation not permitted when stream is capturing")

    opener = _graph_opener([])
    monkeypatch.setattr(torch.cuda, "graph", opener)
    monkeypatch.setattr(torch.cuda, "make_graphed_callables", make)
    with pytest.raises(RuntimeError, match="not permitted"):
        capture_thread_local(nn.Identity(), torch.zeros(1))
    assert torch.cuda.graph is opener


def test_cuda_graphs_with_compile_is_refused_in_one_line(demo_root, tmp_path):
    result = cli(*run_args(demo_root, tmp_path, "--cuda-graphs", "--compile"))
    assert result.exit_code == 2
    assert "--cuda-graphs and --compile cannot be combined" in one_line(result)
    assert not (tmp_path / "runs").exists()


def test_cuda_graphs_with_several_processes_is_refused_before_any_starts(demo_root, tmp_path, monkeypatch):
    monkeypatch.setattr(launch, "launch", lambda nproc, args: pytest.fail("processes were started"))
    result = cli(*run_args(demo_root, tmp_path, "--cuda-graphs", "--nproc", "2"))
    assert result.exit_code == 2
    assert "--cuda-graphs trains in one process, not 2" in one_line(result)
    with pytest.raises(BenchError, match="in one process, not 4"):
        RunOptions(method="chexnet", cuda_graphs=True, world_size=4)


def test_static_shapes_with_a_list_smaller_than_a_batch_is_refused_before_a_record(demo_root, tmp_path):
    result = cli(*run_args(demo_root, tmp_path, "--static-shapes", "--batch-size", "16", "--limit", "10"))
    assert result.exit_code == 2
    line = one_line(result)
    assert "stage 1's training list holds 10 image(s), less than one batch of 16" in line
    assert "it would train on nothing" in line and "--batch-size" in line
    assert RunStore(tmp_path).run_ids() == []


def test_the_options_round_trip_and_old_records_load_without_them():
    options = RunOptions(method="chexnet", static_shapes=True, cuda_graphs=True)
    assert RunOptions.from_json(json.loads(json.dumps(options.to_json()))) == options
    olds = sorted(FIXTURES.glob("results_v*/runs/*/record.json"))
    assert len(olds) == 2
    for path in olds:
        invocation = json.loads(path.read_text())["invocation"]
        assert "static_shapes" not in invocation and "cuda_graphs" not in invocation
        old = RunOptions.from_json(invocation)
        assert (old.static_shapes, old.cuda_graphs, old.static_batches) == (False, False, False)


def test_a_sweep_passes_both_flags_to_its_runs(demo_root, tmp_path):
    result = cli(
        "sweep",
        "--methods",
        "chexnet",
        "--data",
        str(demo_root),
        "--results",
        str(tmp_path),
        "--preset",
        "smoke",
        "--static-shapes",
        "--cuda-graphs",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    (command,) = [line for line in result.output.splitlines() if line.startswith(sys.executable)]
    assert command.endswith(" --preset smoke --static-shapes --cuda-graphs --quiet"), command
