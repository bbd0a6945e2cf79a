"""`--set KEY=VALUE`: coercion into the frozen spec, refusals, display names, records, leaderboard rows."""

from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.method import get_method
from bench.method.overrides import OverrideError, apply_overrides, display_name, overrides_json, settable_keys
from bench.records import RunStore
from bench.train.options import RunOptions


@pytest.fixture(scope="module")
def spec():
    """wfocal-densenet121's two smoke stages (32 px batch 8, 64 px batch 4, one epoch each)."""
    return get_method("wfocal-densenet121").spec.resolve("smoke")


def test_values_are_coerced_to_the_field_types(spec):
    new, done = apply_overrides(
        spec,
        [
            "loss.beta=0.99998",
            "stages.0.epochs=10",
            "optimizer.lr=3e-4",
            "loss.gamma=2",
            "stages.1.lr=none",
            "optimizer.params.weight_decay=1e-4",
            "normalisation.mean=0.5,0.5,0.5",
            "augmentation=",
        ],
    )
    assert new.loss.beta == 0.99998 and new.loss.gamma == 2.0 and isinstance(new.loss.gamma, float)
    assert new.stages[0].epochs == 10 and new.stages[1].epochs == spec.stages[1].epochs == 1
    assert new.stages[1].lr is None and new.optimizer.lr == 0.0003
    assert new.optimizer.params == {**spec.optimizer.params, "weight_decay": 0.0001}
    assert new.normalisation.mean == (0.5, 0.5, 0.5) and new.augmentation == ()
    assert spec.loss.beta == 0.9998 and spec.stages[0].epochs == 1  # the original is untouched
    # Sorted by key, with JSON values for the record.
    assert [o.key for o in done] == sorted(o.key for o in done)
    assert overrides_json(done)["normalisation.mean"] == [0.5, 0.5, 0.5]
    assert overrides_json(done)["stages.0.epochs"] == 10


def test_bool_and_new_dict_params():
    sgd = get_method("wang-wbce").spec.resolve("smoke")
    new, _ = apply_overrides(sgd, ["optimizer.params.nesterov=true", "optimizer.params.momentum=0"])
    assert new.optimizer.params["nesterov"] is True
    assert new.optimizer.params["momentum"] == 0.0 and isinstance(new.optimizer.params["momentum"], float)


def test_display_name_sorts_keys_and_normalises_values(spec):
    _, a = apply_overrides(spec, ["optimizer.lr=3e-4", "loss.beta=0.99998", "loss.gamma=2.50"])
    _, b = apply_overrides(spec, ["loss.gamma=2.5", "optimizer.lr=0.0003", "loss.beta=0.999980"])
    expected = "wfocal-densenet121[loss.beta=0.99998,loss.gamma=2.5,optimizer.lr=0.0003]"
    assert display_name(spec.name, a) == display_name(spec.name, b) == expected
    _, c = apply_overrides(spec, ["stages.0.epochs=10", "normalisation.std=1,1,1"])
    assert display_name("m", c) == "m[normalisation.std=(1,1,1),stages.0.epochs=10]"
    assert display_name("m", ()) == "m"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("loss.bta=0.9", "has no key 'loss.bta' (did you mean 'loss.beta'?)"),
        ("zzz=1", "has no key 'zzz' (keys: backbone, loss.name,"),
        ("loss.beta=abc", "--set loss.beta=abc: expected a number, got 'abc'"),
        ("loss.beta=nan", "expected a finite number"),
        ("stages.0.epochs=1.5", "--set stages.0.epochs=1.5: expected an integer, got '1.5'"),
        ("stages.2.epochs=3", "stages has 2 item(s), no index 2 (indices 0..1)"),
        ("stages.x.epochs=3", "expected an index, got 'x'"),
        ("loss.beta=1.5", "--set loss.beta=1.5: loss.beta must be in (0, 1), got 1.5"),
        ("stages.0.epochs=0", "stage epochs must be a positive integer, got 0"),
        ("optimizer.params.foo=1", "optimizer 'ranger' takes no parameter 'foo'"),
        ("stages.0.image_size=8", "image size 8 is too small for densenet121"),
        ("backbone=densenet12", "unknown backbone 'densenet12'"),
        ("name=other", "'name' describes the method and cannot be set"),
        ("loss=focal", "'loss' is a group of settings, not one value (keys: loss.name,"),
        ("loss.beta", "--set 'loss.beta' is not KEY=VALUE"),
    ],
)
def test_bad_overrides_are_refused_in_one_line(spec, item, message):
    with pytest.raises(OverrideError) as info:
        apply_overrides(spec, [item])
    assert message in info.value.one_line() and "\n" not in info.value.one_line()


def test_a_key_given_twice_is_refused(spec):
    with pytest.raises(OverrideError, match="loss.beta given twice"):
        apply_overrides(spec, ["loss.beta=0.99", "loss.beta=0.999"])


def test_settable_keys(spec):
    keys = settable_keys(spec)
    assert {"loss.beta", "optimizer.lr", "optimizer.params.NAME", "stages.0.epochs", "stages.1.lr"} <= set(keys)
    assert not {"name", "presets", "preset", "description"} & set(keys)


def test_run_options_keep_overrides_for_resume():
    options = RunOptions(method="chexnet", overrides=("loss.beta=0.99", "stages.0.epochs=3"))
    data = options.to_json()
    assert data["overrides"] == ["loss.beta=0.99", "stages.0.epochs=3"]
    assert RunOptions.from_json(data) == options
    assert RunOptions.from_json({"method": "chexnet"}).overrides == ()  # records written before --set


def test_run_with_set_records_overrides_and_display_name(demo_root, tmp_path, one_thread):
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--method",
            "chexnet",
            "--data",
            str(demo_root),
            "--results",
            str(tmp_path),
            "--preset",
            "smoke",
            "--limit",
            "40",
            "--quiet",
            "--set",
            "stages.0.batch_size=4",
            "--set",
            "optimizer.lr=3e-4",
        ],
    )
    assert result.exit_code == 0, result.output
    (record,) = RunStore(tmp_path).find()
    assert record.status == "complete"
    assert record.method.name == "chexnet"
    assert record.method.display_name == "chexnet[optimizer.lr=0.0003,stages.0.batch_size=4]"
    assert record.method.overrides == {"optimizer.lr": 0.0003, "stages.0.batch_size": 4}
    assert record.method.spec["optimizer"]["lr"] == 0.0003 and record.method.spec["stages"][0]["batch_size"] == 4
    assert record.stages[0].batch_size == 4 and record.history[0].lr == 0.0003
    assert "chexnet-optimizer.lr-0.0003-stages.0.batch-size-4-official-f0-s0" in record.run_id
    # --resume rebuilds the run from these options, overrides included.
    assert RunOptions.from_json(record.invocation).overrides == ("stages.0.batch_size=4", "optimizer.lr=3e-4")


def test_bad_set_on_the_command_line_exits_2_before_a_run(demo_root, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--method",
            "chexnet",
            "--data",
            str(demo_root),
            "--results",
            str(tmp_path),
            "--preset",
            "smoke",
            "--set",
            "loss.beta=abc",
        ],
    )
    assert result.exit_code == 2
    assert "error: --set loss.beta=abc: expected a number, got 'abc'" in result.output
    assert "Traceback" not in result.output and RunStore(tmp_path).run_ids() == []


def test_leaderboard_keeps_display_names_apart(tmp_path):
    from record_factory import complete_run

    from leaderboard.build import build_leaderboard

    store = RunStore(tmp_path)
    complete_run(store, "cb-bce", model_seed=0)
    tuned = complete_run(store, "cb-bce", model_seed=1, minutes=10)
    store.write(
        dataclasses.replace(tuned, method=dataclasses.replace(tuned.method, display_name="cb-bce[loss.beta=0.99]"))
    )
    (table,) = build_leaderboard(tmp_path).tables
    assert [c.key for c in table.columns] == ["cb-bce", "cb-bce[loss.beta=0.99]"]
    assert table.columns[1].runs[0].run_id == tuned.run_id
