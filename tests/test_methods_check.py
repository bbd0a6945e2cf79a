"""`bench methods check` and the same resolution in `bench run`: a mistake in a plugin's spec or
hooks is one line per problem, before any run record exists."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bench.method
from bench.cli import app
from bench.method import get_method, make_registry
from bench.method.check import check_method, resolution_problems
from bench.method.spec import AUGMENTATIONS
from bench.records import RunStore

pytestmark = pytest.mark.usefixtures("one_thread")

HEADER = """\
import torch
from torch import nn
from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec, ScheduleSpec, StageSpec, register_method
s = (StageSpec(32, 4, 1),)
"""


@pytest.fixture
def registry(monkeypatch):
    """A fresh method registry, and the built-in augmentations only (another module's plugins
    register theirs for the whole session)."""
    fresh = make_registry()
    monkeypatch.setattr(bench.method, "METHODS", fresh)
    for name in set(AUGMENTATIONS) - {"hflip"}:
        monkeypatch.delitem(AUGMENTATIONS, name)
    return fresh


def plugin(tmp_path: Path, body: str, *, name: str = "bad", spec: str = "") -> Path:
    """A plugin file registering `name` (a tiny test backbone) with `spec`'s fields and `body`'s hooks."""
    path = tmp_path / f"{name}.py"
    hooks = textwrap.indent(textwrap.dedent(body), "    ") if body.strip() else "    pass"
    path.write_text(
        HEADER
        + f"class Bad(Method):\n{hooks}\n"
        + f"register_method(Bad(MethodSpec(name={name!r}, description='x', "
        + "loss=LossSpec(), optimizer=OptimizerSpec('adam', lr=1e-3), presets={'paper': s, 'demo': s, 'smoke': s}, "
        + (spec or "backbone='test_resnet'")
        + ")))\n"
    )
    return path


@pytest.mark.parametrize(("file", "name"), [("my_method.py", "asl-densenet121"), ("ema.py", "ema-resnet18")])
def test_the_example_plugins_pass(registry, file, name):
    path = Path(__file__).parent / "plugins" / file
    assert check_method(get_method(name, plugins=[path])) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "backbone='test_resnet', loss=LossSpec('focall')",
            "loss.name 'focall' is not known (did you mean 'focal'?; a plugin with its own overrides Method.build_loss)",
        ),
        ("backbone='test_resnet', optimizer=OptimizerSpec('adamx', lr=1e-3)", "optimizer 'adamx' is not known"),
        ("backbone='resnet-18'", "backbone: unknown backbone 'resnet-18' (not a timm model) (did you mean 'resnet18'"),
        (
            "backbone='test_resnet', schedule=ScheduleSpec('cosin')",
            "schedule.name 'cosin' is not known (did you mean 'cosine'?",
        ),
        (
            "backbone='test_resnet', augmentation=('mixup',)",
            "augmentation 'mixup' is not known (built in: hflip); a plugin applying its own registers it",
        ),
        (
            "backbone='test_resnet', loss=LossSpec(params={'smoothing': 0.1})",
            "loss.params smoothing: the built-in losses",
        ),
        (
            "backbone='test_resnet', presets={'paper': s, 'demo': (StageSpec(16, 4, 1),), 'smoke': s}",
            "preset demo: image size 16 is too small for test_resnet",
        ),
    ],
)
def test_names_the_built_in_hooks_do_not_know(registry, tmp_path, spec, message):
    spec = spec.replace("loss=LossSpec()", "")
    path = plugin(tmp_path, "", spec=spec)
    text = path.read_text()
    for field in ("loss", "optimizer", "presets"):  # the plugin's own replaces the default
        if f"{field}=" in spec:
            text = text.replace(
                {
                    "loss": "loss=LossSpec(), ",
                    "optimizer": "optimizer=OptimizerSpec('adam', lr=1e-3), ",
                    "presets": "presets={'paper': s, 'demo': s, 'smoke': s}, ",
                }[field],
                "",
            )
    path.write_text(text)
    (problem,) = resolution_problems(get_method("bad", plugins=[path]))
    assert message in problem


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            """
            def train_step(self, model, batch, loss_fn, optimizer):
                loss_fn(model(batch[0]), batch[1]).backward()
            """,
            "train_step of method 'bad' ({path}, line 7) returned NoneType; it must return the batch's mean loss",
        ),
        (
            """
            def build_loss(self, pos_counts, n_train):
                return nn.BCEWithLogitsLoss(smoothin=0.2)
            """,
            "build_loss of method 'bad' ({path}, line 8) raised TypeError:",
        ),
        (
            """
            def build_model(self, stage_index, pretrained=True):
                return nn.Sequential(nn.Flatten(), nn.LazyLinear(10))
            """,
            "build_model: the model maps a (4, 3, 32, 32) batch to (4, 10), not (4, 14) logits",
        ),
        (
            """
            def build_optimizer(self, model, stage):
                return [p for p in model.parameters()]
            """,
            "build_optimizer of method 'bad' ({path}, line 7) returned list; it must return a torch optimizer",
        ),
        (
            """
            def predict(self, model, x):
                return model(x).softmax(1)[:, 1:]
            """,
            "predict of method 'bad' ({path}, line 7) returned a tensor of shape (4, 13) for a batch of 4; "
            "it must return (4, 14) logits",
        ),
        (
            """
            def predict(self, model, x):
                return model.ema(x)
            """,
            "predict of method 'bad' ({path}, line 8) raised AttributeError: 'ResNet' object has no attribute 'ema'",
        ),
    ],
)
def test_hooks_are_built_and_stepped(registry, tmp_path, body, message):
    path = plugin(tmp_path, body)
    problems = check_method(get_method("bad", plugins=[path]))
    assert len(problems) == 1 and message.format(path=path) in problems[0], problems


def test_cli_check_prints_one_line_per_problem(registry, tmp_path):
    path = plugin(tmp_path, "", spec="backbone='test_resnet', schedule=ScheduleSpec('cosin'), augmentation=('cutmix',)")
    result = CliRunner().invoke(app, ["methods", "check", "bad", "--plugin", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["problem", "problem", "error"]
    assert "error: method 'bad': 2 problem(s)" in lines[-1] and "Traceback" not in result.output
    ok = CliRunner().invoke(app, ["methods", "check", "chexnet"])
    assert ok.exit_code == 0 and "method chexnet: ok" in ok.output


def test_run_refuses_before_a_record_exists(registry, tmp_path, demo_root):
    path = plugin(tmp_path, "", spec="backbone='test_resnet', loss=LossSpec('focall')")
    path.write_text(path.read_text().replace("loss=LossSpec(), ", ""))
    args = ["run", "--method", "bad", "--plugin", str(path), "--data", str(demo_root), "--results", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--preset", "smoke", "--quiet"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "error: method 'bad': loss.name 'focall' is not known (did you mean 'focal'?" in result.output
    assert RunStore(tmp_path).run_ids() == []


def test_errors_print_brackets_and_the_traceback_only_with_debug(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("CXR_BENCH_DEBUG", "")  # restored after the test: --debug sets it
    unknown = CliRunner().invoke(app, ["methods", "show", "chexnet[loss.beta=0.99]"], env={"COLUMNS": "300"})
    assert unknown.exit_code == 2
    assert "error: unknown method 'chexnet[loss.beta=0.99]' (see `bench methods list`;" in unknown.output
    broken = tmp_path / "broken.py"
    broken.write_text("import math\n\nmath.sqrt(-1)\n")
    args = ["methods", "show", "x", "--plugin", str(broken)]
    quiet = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert quiet.exit_code == 2 and "Traceback" not in quiet.output
    assert f"plugin file {broken} failed to import (line 3): ValueError: math domain error" in quiet.output
    loud = CliRunner().invoke(app, ["--debug", *args], env={"COLUMNS": "300"})
    assert loud.exit_code == 2
    assert "Traceback (most recent call last)" in loud.output and 'broken.py", line 3' in loud.output
    assert loud.output.rstrip().endswith("for the traceback)")


def test_terminal_tables_wrap_long_column_names():
    from rich.console import Console

    from bench.ui.tables import Column, Table, row

    name = "wfocal-effb3[loss.beta=0.99998,optimizer.lr=0.0003]"
    table = Table(
        (Column("class"), Column(name, "right"), Column("chexnet", "right")), (row("Hernia", "0.91", "0.88"),)
    )
    console = Console(width=40, record=True, color_system=None)
    console.print(table)
    text = console.export_text()
    assert "…" not in text
    header = [line.split("┃") for line in text.splitlines() if line.count("┃") == 4]
    assert "".join(cells[2].strip() for cells in header) == name  # the second column's header, line by line
