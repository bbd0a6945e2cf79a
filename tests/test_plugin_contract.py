"""The plugin contract page cannot drift: its field and hook tables are the ones generated from
the dataclasses and `Method`, every example plugin appears on it verbatim, and every `--set`
key it names is one `--set` accepts."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

from typer.testing import CliRunner

from bench.cli import app
from bench.method import LossSpec, Method, ScheduleSpec, get_method
from bench.method.base import HOOKS
from bench.method.contract import CLASSES, FIELDS, HOOK_DOCS, contract_markdown, field_rows
from bench.method.overrides import settable_keys

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "plugins.md"
PLUGINS = ROOT / "tests" / "plugins"
EXAMPLES = [
    "backbone_swap.py",
    "my_method.py",
    "mixup.py",
    "linear_probe.py",
    "ema.py",
    "entry_point/pyproject.toml",
    "entry_point/src/cxr_bench_ls/__init__.py",
]


def test_every_field_and_hook_is_documented():
    fields = {f"{cls.__name__}.{f.name}" for cls in CLASSES for f in dataclasses.fields(cls)}
    assert fields == set(FIELDS), f"undocumented: {fields - set(FIELDS)}; stale: {set(FIELDS) - fields}"
    assert set(HOOK_DOCS) == set(HOOKS)
    hooks = {name for name, _ in inspect.getmembers(Method, inspect.isfunction) if name in HOOK_DOCS}
    assert hooks == set(HOOKS)


def test_the_page_holds_the_generated_tables():
    text = PAGE.read_text(encoding="utf-8")
    begin, end = "<!-- contract:begin -->\n", "<!-- contract:end -->"
    assert begin in text and end in text
    block = text.split(begin, 1)[1].split(end, 1)[0]
    assert block == contract_markdown(), "regenerate the contract block of docs/plugins.md from contract_markdown()"
    assert "| `train_step(model, batch, loss_fn, optimizer)` |" in block
    assert "| `build_optimizer(model, stage)` |" in block
    assert "| `predict(model, x)` |" in block


def test_every_example_plugin_is_on_the_page_verbatim():
    text = PAGE.read_text(encoding="utf-8")
    for name in EXAMPLES:
        source = (PLUGINS / name).read_text(encoding="utf-8").rstrip("\n")
        assert f"\n{source}\n```" in text, f"docs/plugins.md does not show tests/plugins/{name} as it is"


def test_documented_set_keys_are_accepted():
    spec = get_method("mixup-resnet18", plugins=[PLUGINS / "mixup.py"]).resolve("smoke").spec
    # Every params dict declaring a name, so each `.NAME` key has one to reach.
    spec = dataclasses.replace(
        spec,
        loss=LossSpec("ls", params={"smoothing": 0.1}),
        schedule=ScheduleSpec("warmcos", params={"hold": 2}),
    )
    keys = set(settable_keys(spec))
    for cls in CLASSES:
        for row in field_rows(cls):
            key = row.set_key.replace("stages.N.", "stages.0.")
            if not key:
                continue
            if key.endswith(".NAME"):
                assert any(k.startswith(key[: -len("NAME")]) for k in keys), key
            else:
                assert key in keys, key


def test_cli_prints_the_contract():
    result = CliRunner().invoke(app, ["methods", "show", "--fields"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for cls in CLASSES:
        assert cls.__name__ in result.output
    for hook in HOOKS:
        assert hook in result.output
    assert "warmup_epochs" in result.output and "schedule.warmup_epochs" in result.output
