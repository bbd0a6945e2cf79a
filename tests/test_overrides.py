"""`--set KEY=VALUE`: coercion into the frozen spec, refusals, display names, records, leaderboard rows."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.method import LossSpec, MethodSpec, OptimizerSpec, Param, SpecError, StageSpec, get_method
from bench.method.overrides import OverrideError, apply_overrides, display_name, overrides_json, settable_keys
from bench.records import RunStore
from bench.train.options import RunOptions


@pytest.fixture(scope="module")
def spec():
    """wfocal-densenet121's two smoke stages (32 px batch 8, 64 px batch 4, one epoch each)."""
    return get_method("wfocal-densenet121").spec.resolve("smoke")


def test_values_are_coerced_to_the_field_types(spec):
    new, done, _ = apply_overrides(
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
    new, _, _ = apply_overrides(sgd, ["optimizer.params.nesterov=true", "optimizer.params.momentum=0"])
    assert new.optimizer.params["nesterov"] is True
    assert new.optimizer.params["momentum"] == 0.0 and isinstance(new.optimizer.params["momentum"], float)


def test_display_name_sorts_keys_and_normalises_values(spec):
    _, a, _ = apply_overrides(spec, ["optimizer.lr=3e-4", "loss.beta=0.99998", "loss.gamma=2.50"])
    _, b, _ = apply_overrides(spec, ["loss.gamma=2.5", "optimizer.lr=0.0003", "loss.beta=0.999980"])
    expected = "wfocal-densenet121[loss.beta=0.99998,loss.gamma=2.5,optimizer.lr=0.0003]"
    assert display_name(spec.name, a) == display_name(spec.name, b) == expected
    _, c, _ = apply_overrides(spec, ["stages.0.epochs=10", "normalisation.std=1,1,1"])
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


def _plugin_spec():
    """A plugin's spec: typed method params and a loss of its own with declared parameters."""
    stage = (StageSpec(32, 8, 1),)
    return MethodSpec(
        name="ls-bce",
        description="label-smoothed BCE",
        backbone="resnet18",
        loss=LossSpec(name="ls-bce", params={"smoothing": 0.1, "sqrt_pos_weight": True, "betas": (0.5, 0.5)}),
        optimizer=OptimizerSpec("adamw", lr=1e-3),
        params={
            "mixup_alpha": Param(0.4, help="Beta(alpha, alpha) mixing"),
            "tta": Param(False),
            "mode": Param("soft", choices=("soft", "hard")),
            "warm": Param(2),
        },
        presets={"paper": stage, "demo": stage, "smoke": stage},
    )


def test_method_params_are_typed():
    new, done, inert = apply_overrides(
        _plugin_spec(), ["params.mixup_alpha=1", "params.tta=yes", "params.mode=hard", "params.warm=3"]
    )
    values = {k: p.value for k, p in new.params.items()}
    assert values == {"mixup_alpha": 1.0, "tta": True, "mode": "hard", "warm": 3}
    assert type(values["mixup_alpha"]) is float and new.params["mixup_alpha"].help == "Beta(alpha, alpha) mixing"
    assert display_name("ls-bce", done) == "ls-bce[params.mixup_alpha=1,params.mode=hard,params.tta=true,params.warm=3]"
    assert inert == ()
    assert MethodSpec.from_dict(json.loads(json.dumps(new.to_dict()))) == new


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("params.mixup_alpa=0.2", "method 'ls-bce' has no param 'mixup_alpa' (did you mean 'params.mixup_alpha'?)"),
        ("params.zzz=1", "has no param 'zzz' (its params: mixup_alpha, tta, mode, warm)"),
        ("params.tta=maybe", "--set params.tta=maybe: expected true or false, got 'maybe'"),
        ("params.warm=2.5", "--set params.warm=2.5: expected an integer, got '2.5'"),
        ("params.mode=medium", "param value 'medium' is not one of its choices (choices: soft, hard)"),
        ("params=1", "'params' is a group of settings, not one value"),
        (
            "loss.params.smoothin=0.2",
            "loss 'ls-bce' has no parameter 'smoothin' (did you mean 'loss.params.smoothing'?)",
        ),
        ("loss.params.sqrt_pos_weight=maybe", "expected true or false, got 'maybe'"),
        ("loss.params.smoothing=high", "expected a number, got 'high'"),
        ("loss.params.betas=0.5,x", "--set loss.params.betas=0.5,x: expected a number, got 'x'"),
        (
            "optimizer.params.nesterov=true",
            "optimizer 'adamw' takes no parameter 'nesterov' (it takes: betas, eps, weight_decay, foreach, fused)",
        ),
        ("optimizer.params.betas=0.9", "field 'params.betas' should be a list of 2, got 1 item(s)"),
    ],
)
def test_undeclared_or_mistyped_params_are_refused(item, message):
    with pytest.raises(OverrideError) as info:
        apply_overrides(_plugin_spec(), [item])
    assert message in info.value.one_line()


def test_declared_loss_params_take_their_declared_types():
    new, _, _ = apply_overrides(
        _plugin_spec(), ["loss.params.smoothing=0", "loss.params.sqrt_pos_weight=off", "loss.params.betas=1,2"]
    )
    assert new.loss.params == {"smoothing": 0.0, "sqrt_pos_weight": False, "betas": (1.0, 2.0)}
    assert type(new.loss.params["smoothing"]) is float
    with pytest.raises(OverrideError, match=r"its parameters: none; a plugin declares its loss's parameters"):
        apply_overrides(get_method("chexnet").spec, ["loss.params.smoothing=0.1"])


def test_params_declared_wrongly_are_refused():
    with pytest.raises(SpecError, match="param kind must be one of bool, int, float, str"):
        Param((1, 2))
    with pytest.raises(SpecError, match="should be an integer"):
        Param(2.5, kind="int")
    with pytest.raises(SpecError, match="is not one of its choices"):
        Param("x", choices=("a", "b"))
    with pytest.raises(SpecError, match="params\\['mixup'\\] must be a Param"):
        dataclasses.replace(_plugin_spec(), params={"mixup": 0.4})
    with pytest.raises(SpecError, match="field 'params.betas' should be a list of 2"):
        OptimizerSpec("adam", lr=1e-3, params={"betas": (0.9, 0.99, 0.9)})
    assert Param(1, kind="float").value == 1.0 and Param(True).kind == "bool"


def test_overrides_that_change_nothing_are_left_out_and_reported(spec):
    new, done, inert = apply_overrides(spec, ["loss.beta=0.9998", "optimizer.lr=0.001", "stages.0.epochs=2"])
    assert [o.key for o in done] == ["stages.0.epochs"] and new.stages[0].epochs == 2
    assert inert == (
        "--set loss.beta=0.9998 changes nothing: wfocal-densenet121 has loss.beta=0.9998",
        "--set optimizer.lr=0.001 changes nothing: wfocal-densenet121 has optimizer.lr=0.001",
    )
    chexnet = get_method("chexnet").spec
    new, done, inert = apply_overrides(chexnet, ["loss.gamma=2", "loss.beta=0.99", "schedule.warmup_epochs=2"])
    assert (new, done) == (chexnet, ())
    assert inert[0] == (
        "--set loss.gamma=2 changes nothing: chexnet has loss.name=bce, which does not use loss.gamma "
        "(it is read for focal)"
    )
    assert "loss.weighting=none, which does not use loss.beta" in inert[1]
    assert "schedule.name=plateau, which does not use schedule.warmup_epochs" in inert[2]
    # Read once the loss is focal, or by a plugin's own build_loss.
    _, done, inert = apply_overrides(chexnet, ["loss.name=focal", "loss.gamma=2"])
    assert [o.key for o in done] == ["loss.gamma", "loss.name"] and inert == ()
    _, done, _ = apply_overrides(chexnet, ["loss.gamma=2"], hooks=("build_loss",))
    assert [o.key for o in done] == ["loss.gamma"]


def test_a_key_given_twice_is_refused(spec):
    with pytest.raises(OverrideError, match="loss.beta given twice"):
        apply_overrides(spec, ["loss.beta=0.99", "loss.beta=0.999"])


def test_settable_keys(spec):
    keys = settable_keys(spec)
    assert {"loss.beta", "optimizer.lr", "optimizer.params.k", "stages.0.epochs", "stages.1.lr"} <= set(keys)
    assert [k for k in keys if k.startswith("optimizer.params.")] == [
        f"optimizer.params.{k}" for k in ("betas", "eps", "weight_decay", "k", "alpha", "foreach")
    ]
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
    assert record.method.name == "chexnet" and record.method.origin.kind == "built-in"
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


def test_grid_axes_scoped_to_one_method():
    from bench.errors import BenchError
    from bench.sweep.matrix import expand, parse_grid

    grid = parse_grid(["wfocal-effb3:loss.beta=0.999,0.9999", "optimizer.lr=1e-3,1e-4", "chexnet:optimizer.lr=0.01"])
    cells = expand(["chexnet", "wfocal-effb3"], ["official"], (0,), [0], grid, n_folds=lambda split: 1)
    assert [(c.method, c.overrides) for c in cells] == [
        ("chexnet", ("optimizer.lr=0.01",)),  # its own lr axis replaces the shared one
        ("wfocal-effb3", ("loss.beta=0.999", "optimizer.lr=1e-3")),
        ("wfocal-effb3", ("loss.beta=0.999", "optimizer.lr=1e-4")),
        ("wfocal-effb3", ("loss.beta=0.9999", "optimizer.lr=1e-3")),
        ("wfocal-effb3", ("loss.beta=0.9999", "optimizer.lr=1e-4")),
    ]
    with pytest.raises(BenchError, match="--grid cb-bce:loss.beta: 'cb-bce' is not one of --methods"):
        expand(["chexnet"], ["official"], (0,), [0], parse_grid(["cb-bce:loss.beta=0.9"]), n_folds=lambda s: 1)


def test_runs_and_sweeps_leave_out_overrides_that_change_nothing(demo_root, tmp_path):
    from bench.sweep.plan import SweepOptions, plan_sweep
    from bench.train.plan import plan_run

    base = RunOptions(
        method="chexnet", data=str(demo_root), results=str(tmp_path), preset="smoke", limit=20, quiet=True
    )
    plan = plan_run(dataclasses.replace(base, overrides=("loss.gamma=2", "optimizer.lr=0.001")))
    assert plan.overrides == () and plan.spec == get_method("chexnet").resolve("smoke").spec
    # A grid axis the method ignores is one cell: the same experiment as the method itself.
    cells = plan_sweep(SweepOptions(methods=("chexnet",), base=base, grid=(("loss.gamma=1", "loss.gamma=2"),)))
    assert [c.key.display_name for c in cells] == ["chexnet"]
