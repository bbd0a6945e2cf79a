"""Method specs, the built-in methods, the registry rules, plugins and `bench methods`."""

from __future__ import annotations

import dataclasses
import io
import json
import warnings
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import bench.method
from bench.errors import BenchError, DuplicateNameError, UnknownNameError
from bench.method import (
    METHODS,
    LossSpec,
    Method,
    MethodSpec,
    OptimizerSpec,
    SpecError,
    StageSpec,
    get_method,
    make_registry,
    register_method,
)
from bench.method.optim import build_optimizer, step_scheduler

PLUGIN = Path(__file__).parent / "plugins" / "my_method.py"
BUILTIN_NAMES = [
    "cb-bce",
    "chexnet",
    "focal-densenet121",
    "wang-wbce",
    "wfocal-densenet121",
    "wfocal-effb0",
    "wfocal-effb3",
]
# Positive counts on the weng training list would do; any 14 positive counts below n_train work.
COUNTS = [8000, 2000, 9000, 14000, 4000, 4500, 1000, 3800, 3300, 1600, 1800, 1200, 2400, 160]
N_TRAIN = 78468
STAGE = StageSpec(32, 8, 1)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def registry(monkeypatch):
    """A fresh METHODS (built-ins only) for tests that register things."""
    fresh = make_registry()
    monkeypatch.setattr(bench.method, "METHODS", fresh)
    return fresh


def _spec(**changes) -> MethodSpec:
    stage = (StageSpec(32, 8, 1),)
    base = MethodSpec(
        name="tiny",
        description="a test method",
        backbone="densenet121",
        loss=LossSpec(),
        optimizer=OptimizerSpec("adam", lr=1e-3),
        presets={"paper": stage, "demo": stage, "smoke": stage},
    )
    return dataclasses.replace(base, **changes)


def _plugin_file(tmp_path: Path, name: str, method_name: str) -> Path:
    path = tmp_path / name
    path.write_text(
        "from bench.method import LossSpec, MethodSpec, OptimizerSpec, StageSpec, register_method\n"
        "s = (StageSpec(32, 8, 1),)\n"
        f"register_method(MethodSpec(name={method_name!r}, description='x', backbone='densenet121',\n"
        "    loss=LossSpec(), optimizer=OptimizerSpec('adam', lr=1e-3), presets={'paper': s, 'demo': s, 'smoke': s}))\n"
    )
    return path


# -- built-ins ------------------------------------------------------------------------------------
def test_builtin_names():
    assert sorted(n for n in METHODS.names() if METHODS.entry(n).builtin) == BUILTIN_NAMES


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_builtin_builds_model_loss_optimizer_at_smoke_size(name):
    method = get_method(name).resolve("smoke")
    stage = method.spec.stages[0]
    assert (stage.image_size, stage.batch_size, stage.epochs) == (32, 8, 1)
    torch.manual_seed(0)
    model = method.build_model(0, pretrained=False)
    images = torch.randn(2, 3, stage.image_size, stage.image_size)
    targets = torch.tensor([[1.0] * 7 + [0.0] * 7, [0.0] * 7 + [1.0] * 7])
    loss_fn = method.build_loss(COUNTS, N_TRAIN)
    optimizer = method.build_optimizer(model.parameters(), stage)
    scheduler = method.build_scheduler(optimizer, stage)
    model.eval()  # BatchNorm in eval: a batch of 2 at 1x1 features is fine, and the step is deterministic
    with torch.no_grad():
        assert model(images).shape == (2, 14)
    loss = method.train_step(model, (images, targets), loss_fn, optimizer)
    assert np.isfinite(loss) and loss > 0
    step_scheduler(scheduler, float(loss))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(method.spec.stage_lr(stage))


def test_two_stage_methods_keep_two_stages_in_every_preset():
    for name in BUILTIN_NAMES:
        spec = get_method(name).spec
        n = 2 if name.startswith("wfocal") else 1
        for preset, stages in spec.presets.items():
            assert len(stages) == n, (name, preset)
            if n == 2:  # stage 2 never smaller, its batch never larger
                assert stages[1].image_size >= stages[0].image_size, (name, preset)
                assert stages[1].batch_size <= stages[0].batch_size, (name, preset)
                # Only the main job's demo keeps its size (budget: docs/performance.md).
                grows = (name, preset) != ("wfocal-effb3", "demo")
                assert (stages[1].image_size > stages[0].image_size) == grows, (name, preset)


def test_paper_presets_match_the_paper():
    specs = {n: get_method(n).spec for n in BUILTIN_NAMES}
    paper = {
        n: [(s.image_size, s.batch_size, s.epochs, sp.stage_lr(s)) for s in sp.presets["paper"]]
        for n, sp in specs.items()
    }
    assert paper["chexnet"] == [(224, 16, 25, 1e-3)]
    assert paper["focal-densenet121"] == [(224, 32, 25, 1e-3)]
    assert paper["wfocal-densenet121"] == [(224, 32, 25, 1e-3), (448, 16, 25, 1e-3)]
    assert paper["wfocal-effb0"] == [(224, 32, 25, 1e-3), (448, 16, 25, 1e-3)]
    assert paper["wfocal-effb3"] == [(300, 32, 25, 1e-3), (600, 16, 25, 1e-3)]
    assert paper["wang-wbce"] == [(224, 16, 25, 0.01)]
    effb3 = get_method("wfocal-effb3").spec
    assert (effb3.backbone, effb3.loss.weighting, effb3.loss.beta, effb3.loss.scale) == (
        "tf_efficientnet_b3",
        "class_balanced",
        0.9998,
        0.1,
    )
    assert get_method("wfocal-effb0").spec.backbone == "tf_efficientnet_b0"


def test_ranger_is_timm_lookahead_over_radam():
    from timm.optim import Lookahead, RAdam

    method = get_method("wfocal-effb0")
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = method.build_optimizer(params, method.spec.stages[0])
    assert isinstance(opt, Lookahead)
    assert isinstance(opt._base_optimizer, RAdam)
    group = opt.param_groups[0]
    assert (group["lookahead_k"], group["lookahead_alpha"], group["lr"], group["betas"]) == (5, 0.5, 1e-3, (0.9, 0.999))
    # The plateau scheduler's lr cut reaches the RAdam that does the steps.
    scheduler = method.build_scheduler(opt, method.spec.stages[0])
    for _ in range(3):
        step_scheduler(scheduler, 1.0)
    assert opt._base_optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)


def _lookahead_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 2, 1))
    model[2].bias.requires_grad_(False)  # frozen: never updated, never given a slow copy
    return model.to(memory_format=torch.channels_last)


def _ranger_steps(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int) -> None:
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        opt.zero_grad()
        x = torch.randn(2, 3, 6, 6, generator=generator).to(memory_format=torch.channels_last)
        model(x).square().mean().backward()
        opt.step()


def test_foreach_lookahead_gives_timms_weights_bit_for_bit_and_shares_its_checkpoints():
    from timm.optim import Lookahead

    from bench.method.lookahead import ForeachLookahead

    ours, theirs = _lookahead_model(), _lookahead_model()
    opt = get_method("wfocal-effb0").build_optimizer(ours, StageSpec(32, 2, 1, lr=0.01))
    assert type(opt) is ForeachLookahead
    reference = Lookahead(torch.optim.RAdam(theirs.parameters(), lr=0.01), alpha=0.5, k=5)
    _ranger_steps(ours, opt, 12)  # two slow updates, at steps 5 and 10, then two fast steps
    _ranger_steps(theirs, reference, 12)
    for mine, timms in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(mine, timms)
    frozen = ours[2].bias
    assert torch.equal(frozen, _lookahead_model()[2].bias)
    assert "lookahead_slow_buff" not in opt._base_optimizer.state[frozen]
    slow = opt._base_optimizer.state[ours[0].weight]["lookahead_slow_buff"]
    assert torch.equal(slow, reference._base_optimizer.state[theirs[0].weight]["lookahead_slow_buff"])
    assert slow.is_contiguous(memory_format=torch.channels_last)
    # A checkpoint of one resumes in the other, and both go on identically.
    saved = io.BytesIO()
    torch.save(opt.state_dict(), saved)
    saved.seek(0)
    reference.load_state_dict(torch.load(saved))
    _ranger_steps(ours, opt, 4)
    _ranger_steps(theirs, reference, 4)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters(), strict=True))


def test_sgd_and_adam_settings():
    params = [torch.nn.Parameter(torch.zeros(3))]
    sgd = get_method("wang-wbce").build_optimizer(params, StageSpec(32, 8, 1, lr=0.05))
    assert isinstance(sgd, torch.optim.SGD)
    assert (sgd.param_groups[0]["momentum"], sgd.param_groups[0]["lr"]) == (0.9, 0.05)
    adam = get_method("chexnet").build_optimizer(params, get_method("chexnet").spec.stages[0])
    assert isinstance(adam, torch.optim.Adam)
    assert (adam.param_groups[0]["betas"], adam.param_groups[0]["lr"]) == ((0.9, 0.999), 1e-3)


def test_optimizer_kernels_are_chosen_by_params_and_give_the_same_update():
    def trained(params: dict) -> torch.Tensor:
        torch.manual_seed(0)
        weights = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]
        opt = build_optimizer(OptimizerSpec("adam", lr=0.1, params=params), weights)
        for _ in range(5):
            opt.zero_grad()
            (weights[0].sum(0) * weights[1]).square().sum().backward()
            opt.step()
        return torch.cat([w.detach().flatten() for w in weights])

    plain = trained({"foreach": False})
    torch.testing.assert_close(trained({"foreach": True}), plain, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(
        trained({"fused": True}), plain, rtol=1e-6, atol=1e-7
    )  # torch's fused kernel, on the CPU too
    assert not torch.equal(trained({}), trained({"weight_decay": 0.5}))  # the comparison can tell updates apart
    ranger = build_optimizer(
        OptimizerSpec("ranger", lr=1e-3, params={"foreach": True}), [torch.nn.Parameter(torch.zeros(2))]
    )
    assert ranger._base_optimizer.param_groups[0]["foreach"] is True
    with pytest.raises(SpecError, match="params.foreach and params.fused cannot both be true"):
        OptimizerSpec("adam", lr=1e-3, params={"foreach": True, "fused": True})
    with pytest.raises(SpecError, match="optimizer 'ranger' takes no parameter 'fused'"):
        OptimizerSpec("ranger", lr=1e-3, params={"fused": True})


@pytest.mark.parametrize(
    ("name", "kind", "weights"),
    [
        ("chexnet", "bce", "none"),
        ("wang-wbce", "bce", "wang"),
        ("cb-bce", "bce", "cb_both"),
        ("focal-densenet121", "focal", "none"),
        ("wfocal-densenet121", "focal", "class_balanced"),
    ],
)
def test_builtin_loss_weights(name, kind, weights):
    from bench import losses

    loss = get_method(name).build_loss(COUNTS, N_TRAIN)
    assert loss.kind == kind
    if weights == "none":
        expected = (np.ones(14), np.ones(14))
    elif weights == "wang":
        counts = np.array(COUNTS, dtype=float)
        expected = (N_TRAIN / counts, N_TRAIN / (N_TRAIN - counts))  # Eq. 1 by hand
    elif weights == "cb_both":
        w = losses.effective_number_weights(COUNTS, 0.9998)
        expected = (w, w)
    else:
        expected = losses.class_balanced_weights(COUNTS, 0.9998, 0.1)
    np.testing.assert_allclose(loss.w_pos.numpy(), expected[0], rtol=1e-6)
    np.testing.assert_allclose(loss.w_neg.numpy(), expected[1], rtol=1e-6)
    if kind == "focal":
        assert (loss.alpha, loss.gamma) == (0.5, 1.0)


def test_loss_weight_problems_are_bench_errors():
    with pytest.raises(SpecError, match="14 positive counts"):
        get_method("wang-wbce").build_loss(COUNTS[:13], N_TRAIN)
    with pytest.raises(SpecError, match="Hernia"):  # no Hernia positives: weights undefined
        get_method("wfocal-effb3").build_loss(COUNTS[:13] + [0], N_TRAIN)
    printed_eq5 = LossSpec("focal", "class_balanced", scale=1.0)
    scale_one = dataclasses.replace(get_method("wfocal-effb3").spec, loss=printed_eq5)
    with pytest.raises(SpecError, match=r"outside \(0, 1\)"):  # the paper's printed Eq. 5 on rare classes
        Method(scale_one).build_loss(COUNTS, N_TRAIN)


# -- specs: validation, presets, JSON ---------------------------------------------------------
@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_spec_round_trips_through_json(name):
    spec = get_method(name).resolve("demo", epochs=2).spec
    text = json.dumps(spec.to_dict())
    assert MethodSpec.from_dict(json.loads(text)) == spec
    assert json.dumps(MethodSpec.from_dict(json.loads(text)).to_dict()) == text


def test_stage_lr_defaults_to_optimizer_lr():
    spec = _spec(optimizer=OptimizerSpec("sgd", lr=0.02))
    assert spec.stages[0].lr is None and spec.stage_lr(spec.stages[0]) == 0.02
    opt = Method(spec).build_optimizer([torch.nn.Parameter(torch.zeros(1))], spec.stages[0])
    assert opt.param_groups[0]["lr"] == 0.02
    assert spec.stage_lr(StageSpec(32, 8, 1, lr=0.5)) == 0.5


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(gamma=1), r"method spec: unknown field 'gamma'"),
        (lambda d: d["loss"].update(gama=1.0), r"unknown field 'loss\.gama' \(did you mean 'gamma'\?\)"),
        (lambda d: d["optimizer"].update(lr="fast"), r"field 'optimizer\.lr' should be a number, got str 'fast'"),
        (
            lambda d: d["presets"]["demo"][0].update(image_size=64.5),
            r"field 'presets\.demo\[0\]\.image_size' should be an integer",
        ),
        (lambda d: d["presets"].update(smoke={}), r"field 'presets\.smoke' should be a list"),
        (lambda d: d.pop("backbone"), r"field 'backbone' is missing"),
        (lambda d: d.update(augmentation="hflip"), r"field 'augmentation' should be a list"),
        (lambda d: d["schedule"].update(patience=True), r"field 'schedule\.patience' should be an integer, got bool"),
        (lambda d: d["loss"].update(beta=2.0), r"field 'loss': loss\.beta must be in \(0, 1\), got 2\.0"),
    ],
)
def test_from_dict_rejects_bad_input(mutate, message):
    data = get_method("wfocal-effb3").spec.to_dict()
    mutate(data)
    with pytest.raises(SpecError, match=message):
        MethodSpec.from_dict(data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Bad Name"}, "not valid"),
        ({"presets": {"paper": (STAGE,), "demo": (STAGE,)}}, "smoke missing"),
        (
            {"presets": {"paper": (StageSpec(32, 8, 1), StageSpec(64, 4, 1)), "demo": (STAGE,), "smoke": (STAGE,)}},
            "disagree on the number of stages",
        ),
        ({"augmentation": ("Rotate 90",)}, "augmentation name 'Rotate 90' is not valid"),
        ({"pretrained": "chexpert"}, "pretrained must be"),
    ],
)
def test_invalid_specs_are_refused(changes, message):
    with pytest.raises(SpecError, match=message):
        _spec(**changes)


@pytest.mark.parametrize(
    "build",
    [
        lambda: OptimizerSpec("adam", lr=0.0),
        lambda: StageSpec(0, 8, 1),
        lambda: StageSpec(32, 8, 1, lr=-1.0),
        lambda: LossSpec(beta=1.0),
        lambda: LossSpec(alpha=1.5),
        lambda: OptimizerSpec("adam", lr=1e-3, params={"momentum": 0.9}),  # SGD's parameter
    ],
)
def test_invalid_parts_are_refused(build):
    with pytest.raises(SpecError):
        build()


def test_resolve_presets_and_overrides():
    method = get_method("wfocal-effb3")
    demo = method.resolve("demo").spec
    assert demo.preset == "demo" and demo.stages == demo.presets["demo"]
    custom = method.spec.resolve("paper", epochs=3, batch_size=8, image_size=64)
    assert [(s.image_size, s.batch_size, s.epochs) for s in custom.stages] == [(64, 8, 3), (128, 4, 3)]
    assert custom.presets == method.spec.presets  # the record keeps every preset
    with pytest.raises(SpecError, match="did you mean 'demo'"):
        method.spec.resolve("dmeo")
    with pytest.raises(BenchError, match="too small for tf_efficientnet_b3"):
        method.spec.resolve("smoke", image_size=16)
    with pytest.raises(SpecError, match="epochs must be a positive integer"):
        method.spec.resolve("smoke", epochs=0)


def test_resolve_keeps_plugin_hooks(registry):
    assert registry.load_file(PLUGIN) == ["asl-densenet121"]
    assert registry.load_file(PLUGIN) == ["asl-densenet121"]  # loaded once per process, not a duplicate
    method = registry.get("asl-densenet121")
    resolved = method.resolve("smoke")
    assert type(resolved) is type(method) and resolved.spec.preset == "smoke" and method.spec.preset == "paper"


# -- registry rules --------------------------------------------------------------------------
def test_unknown_method_gets_did_you_mean():
    with pytest.raises(UnknownNameError, match="did you mean 'wfocal-effb3'"):
        get_method("wfocal-efb3")


def test_duplicate_plugin_names_name_both_origins(registry, tmp_path):
    a, b = _plugin_file(tmp_path, "a.py", "same-name"), _plugin_file(tmp_path, "b.py", "same-name")
    registry.load_file(a)
    with pytest.raises(DuplicateNameError) as info:
        registry.load_file(b)
    assert f"file {a}" in str(info.value) and f"file {b}" in str(info.value)


def test_register_method_outside_a_file_names_the_calling_module(registry):
    register_method(_spec(name="from-test"))
    assert registry.entry("from-test").origin == f"module {__name__}"
    with pytest.raises(DuplicateNameError, match=f"module {__name__}"):
        register_method(_spec(name="from-test"))


def test_a_plugin_may_not_take_a_built_in_name(registry, tmp_path):
    path = _plugin_file(tmp_path, "shadow.py", "chexnet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DuplicateNameError) as info:
            registry.load_file(path)
    assert info.value.one_line() == (
        f"method 'chexnet' from file {path} cannot be registered: the name is built-in (rename it)"
    )
    assert registry.get("chexnet") is get_method("chexnet")  # the built-in object


def test_a_plugin_file_registering_nothing_is_an_error(registry, tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("from bench.method import MethodSpec\n")
    with pytest.raises(BenchError, match=f"plugin file {path} registered no method"):
        registry.load_file(path)
    broken = tmp_path / "broken.py"
    broken.write_text("x = 1\n\nraise ValueError('no weights here')\n")
    with pytest.raises(BenchError) as info:
        registry.load_file(broken)
    assert f"plugin file {broken} failed to import (line 3): ValueError: no weights here" in info.value.one_line()


def test_unknown_method_says_how_plugins_load(registry, tmp_path):
    with pytest.raises(UnknownNameError) as info:
        get_method("asl-densenet12")
    assert "--plugin FILE, or its package installed (entry-point group cxr_bench.methods)" in info.value.one_line()
    registry.load_file(PLUGIN)
    with pytest.raises(UnknownNameError) as info:
        get_method("asl-densenet12")
    assert info.value.one_line().startswith("unknown method 'asl-densenet12' (did you mean 'asl-densenet121' or")
    assert "--plugin" not in info.value.one_line()


def test_entry_point_is_found_without_importing_by_hand(monkeypatch, tmp_path, registry):
    (tmp_path / "cxr_ep_demo.py").write_text(
        "from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec, StageSpec\n"
        "s = (StageSpec(32, 8, 1),)\n"
        "METHOD = Method(MethodSpec(name='ep-method', description='x', backbone='resnet50',\n"
        "    loss=LossSpec(), optimizer=OptimizerSpec('sgd', lr=0.1), presets={'paper': s, 'demo': s, 'smoke': s}))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = EntryPoint(name="ep-method", value="cxr_ep_demo:METHOD", group="cxr_bench.methods")

    def entry_points(*, group=None):
        return [ep] if group == "cxr_bench.methods" else []

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    assert "ep-method" in registry.names()
    assert "entry point" in registry.entry("ep-method").origin
    method = get_method("ep-method")
    assert method.spec.backbone == "resnet50"


def test_entry_point_with_mismatched_spec_name(monkeypatch, registry):
    ep = EntryPoint(name="other-name", value="methods.chexnet:CHEXNET", group="cxr_bench.methods")
    monkeypatch.setattr("importlib.metadata.entry_points", lambda *, group=None: [ep])
    with pytest.raises(SpecError, match="has a spec named 'chexnet'"):
        get_method("other-name")


@pytest.mark.parametrize(
    ("source", "value"),
    [
        # The entry point names a Method subclass with a class-level spec: one instance is made.
        ("class EpClass(Method):\n    spec = SPEC\n", "cxr_ep_kinds:EpClass"),
        # The package calls register_method itself as well: the same method, under the entry point.
        ("METHOD = register_method(Method(SPEC))\n", "cxr_ep_kinds:METHOD"),
    ],
)
def test_entry_points_may_name_a_class_or_register_themselves(monkeypatch, tmp_path, registry, source, value):
    (tmp_path / "cxr_ep_kinds.py").write_text(
        "from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec, StageSpec, register_method\n"
        "s = (StageSpec(32, 8, 1),)\n"
        "SPEC = MethodSpec(name='ep-kind', description='x', backbone='resnet18', loss=LossSpec(),\n"
        "    optimizer=OptimizerSpec('sgd', lr=0.1), presets={'paper': s, 'demo': s, 'smoke': s})\n" + source
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "cxr_ep_kinds", raising=False)
    ep = EntryPoint(name="ep-kind", value=value, group="cxr_bench.methods")
    monkeypatch.setattr("importlib.metadata.entry_points", lambda *, group=None: [ep])
    method = get_method("ep-kind")
    assert isinstance(method, Method) and method.spec.backbone == "resnet18"
    assert get_method("ep-kind") is method and registry.entry("ep-kind").source.kind == "entry point"


def test_an_entry_point_taking_a_built_in_name_fails_when_looked_up(monkeypatch, registry):
    ep = EntryPoint(name="chexnet", value="methods.chexnet:CB_BCE", group="cxr_bench.methods")
    monkeypatch.setattr("importlib.metadata.entry_points", lambda *, group=None: [ep])
    assert "wang-wbce" in registry.names()  # the other methods stay usable
    with pytest.raises(DuplicateNameError, match="method 'chexnet' from entry point of an installed package"):
        get_method("chexnet")


# -- the example plugin --------------------------------------------------------------------
def test_example_plugin_loads_and_trains_a_step(registry):
    assert registry.load_file(PLUGIN) == ["asl-densenet121"]
    assert registry.entry("asl-densenet121").origin == f"file {PLUGIN}"
    method = get_method("asl-densenet121").resolve("smoke")
    loss_fn = method.build_loss(COUNTS, N_TRAIN)
    assert type(loss_fn).__name__ == "AsymmetricLoss"
    # ASL with gamma 0 and margin 0 is plain BCE.
    x, y = torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]])
    plain = type(loss_fn)(gamma_pos=0.0, gamma_neg=0.0, margin=0.0)
    assert plain(x, y).item() == pytest.approx(torch.nn.functional.binary_cross_entropy_with_logits(x, y).item())
    assert torch.isfinite(loss_fn(torch.tensor([[50.0, -50.0]]), torch.tensor([[0.0, 1.0]])))
    torch.manual_seed(0)
    model = method.build_model(0, pretrained=False).eval()
    optimizer = method.build_optimizer(model.parameters(), method.spec.stages[0])
    batch = (torch.randn(2, 3, 32, 32), torch.tensor([[1.0] * 14, [0.0] * 14]))
    assert np.isfinite(method.train_step(model, batch, loss_fn, optimizer))
    spec = method.spec
    assert MethodSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


# -- CLI --------------------------------------------------------------------------------------
def test_cli_list_and_show(registry):
    from bench.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["methods", "list", "--plugin", str(PLUGIN)])
    assert listed.exit_code == 0, listed.output
    for name in BUILTIN_NAMES + ["asl-densenet121"]:
        assert name in listed.output
    shown = runner.invoke(app, ["methods", "show", "wfocal-effb3"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    for text in ("Eq. 3-6", "Nugroho", "tf_efficientnet_b3", "imagenet:aa_in1k", "paper", "demo", "smoke", "600"):
        assert text in shown.output
    as_json = runner.invoke(app, ["methods", "show", "chexnet", "--json"])
    assert MethodSpec.from_dict(json.loads(as_json.output)) == get_method("chexnet").spec
    unknown = runner.invoke(app, ["methods", "show", "chexnte"])
    assert unknown.exit_code == 2
    assert "did you mean 'chexnet'" in unknown.output and "Traceback" not in unknown.output


def test_no_warnings_from_plain_lookups():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in BUILTIN_NAMES:
            get_method(name)


def test_smoke_preset_is_tiny_for_every_method(demo_root):
    from bench.method.spec import PRESET_LIMITS
    from bench.models import min_image_size
    from bench.train.options import RunOptions
    from bench.train.plan import plan_run

    for name in BUILTIN_NAMES:
        spec = get_method(name).spec
        assert spec.presets["smoke"][0].image_size == min_image_size(spec.backbone) == 32
        assert all(s.epochs == 1 for s in spec.presets["smoke"])
    plan = plan_run(RunOptions(method="chexnet", data=str(demo_root), preset="smoke", quiet=True))
    assert PRESET_LIMITS["smoke"] == 200 and plan.fold.params["limit"] == 200
    assert {name: len(images) for name, images in plan.lists.items()} == {"train": 200, "val": 200, "test": 200}
    assert (
        plan_run(RunOptions(method="chexnet", data=str(demo_root), preset="smoke", limit=30, quiet=True)).fold.params[
            "limit"
        ]
        == 30
    )
