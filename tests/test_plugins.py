"""The kinds of plugin in tests/plugins/, each trained on the demo with the smoke preset: a
backbone swap, a custom loss, mixup in train_step, an installed entry-point package, a
frozen-backbone linear probe (started from the backbone swap's run) and averaged weights in
predict. One run per plugin, shared by the module's tests."""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import bench.method as method_module
from bench.cli import app
from bench.method import get_method, make_registry
from bench.records import RunStore

PLUGINS = Path(__file__).parent / "plugins"
LIMIT = 16  # images per list: two training batches of 8
TINY = ("--set", "backbone=test_resnet", "--set", "pretrained=imagenet")  # a fast timm test network


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("plugin-runs")


def cli(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})


def train(demo_root: Path, results: Path, *args: str):
    """A smoke run; its record."""
    before = set(RunStore(results).run_ids())
    result = cli(
        "run",
        *args,
        "--data",
        str(demo_root),
        "--results",
        str(results),
        "--preset",
        "smoke",
        "--limit",
        str(LIMIT),
        "-q",
    )
    assert result.exit_code == 0, result.output
    (run_id,) = set(RunStore(results).run_ids()) - before
    record = RunStore(results).load(run_id)
    assert record.status == "complete", record.error
    return record


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- a backbone swap --------------------------------------------------------------------------
SWAP = PLUGINS / "backbone_swap.py"


@pytest.fixture(scope="module")
def swap(demo_root, results):
    return train(demo_root, results, "--method", "resnet18-bce", "--plugin", str(SWAP), "--epochs", "2")


def test_backbone_swap_trains_with_its_schedule_and_records_its_file(swap, results):
    spec = swap.method.spec
    assert (spec["backbone"], spec["optimizer"]["name"], spec["optimizer"]["params"]) == (
        "resnet18",
        "adamw",
        {"weight_decay": 0.05},
    )
    # Cosine over 2 epochs after 1 warm-up epoch: epoch 1 at lr/2, epoch 2 at lr; the lr a record
    # keeps per epoch is the one after that epoch's step (the next epoch's): 1e-3, then 0.
    assert [h.lr for h in swap.history] == pytest.approx([1e-3, 0.0], abs=1e-12)
    origin = swap.method.origin
    assert (origin.kind, origin.path, origin.sha256) == ("file", str(SWAP.resolve()), sha256(SWAP))
    shown = cli("runs", "show", swap.run_id, "--results", str(results))
    (line,) = [line for line in shown.output.splitlines() if line.startswith("method origin")]
    assert line.split(None, 2)[2].strip() == f"file {SWAP.resolve()} (SHA-256 {sha256(SWAP)})"


# -- a custom loss ----------------------------------------------------------------------------
ASL = PLUGINS / "my_method.py"


def test_custom_loss_trains_with_its_declared_parameters(demo_root, results):
    record = train(
        demo_root,
        results,
        "--method",
        "asl-densenet121",
        "--plugin",
        str(ASL),
        *TINY,
        "--set",
        "loss.params.gamma_neg=2",
    )
    assert record.method.spec["loss"] == {**record.method.spec["loss"], "name": "asl"}
    assert record.method.spec["loss"]["params"] == {"gamma_pos": 0.0, "gamma_neg": 2.0, "margin": 0.05}
    assert "loss.params.gamma_neg=2," in record.method.display_name
    assert all(math.isfinite(h.train_loss) for h in record.history)


def test_a_typo_in_a_loss_parameter_leaves_no_run(demo_root, tmp_path):
    args = ["--method", "asl-densenet121", "--plugin", str(ASL), "--set", "loss.params.gama_neg=2"]
    result = cli("run", *args, "--data", str(demo_root), "--results", str(tmp_path), "--preset", "smoke")
    assert result.exit_code == 2
    assert "loss 'asl' has no parameter 'gama_neg' (did you mean 'loss.params.gamma_neg'?)" in result.output
    assert RunStore(tmp_path).run_ids() == []


# -- mixup in train_step ----------------------------------------------------------------------
MIXUP = PLUGINS / "mixup.py"


def test_mixup_records_its_augmentation_and_param(demo_root, results):
    record = train(
        demo_root,
        results,
        "--method",
        "mixup-resnet18",
        "--plugin",
        str(MIXUP),
        *TINY,
        "--set",
        "params.mixup_alpha=0.2",
    )
    spec = record.method.spec
    assert spec["augmentation"] == ["hflip", "mixup"]
    assert spec["params"]["mixup_alpha"] == {
        "value": 0.2,
        "kind": "float",
        "help": "Beta(alpha, alpha) of the mixing weight",
        "choices": [],
    }
    assert record.method.overrides["params.mixup_alpha"] == 0.2


def test_mixup_step_trains_on_mixed_labels():
    method = get_method("mixup-resnet18", plugins=[MIXUP]).resolve("smoke")
    seen = []

    def loss_fn(logits, targets):
        seen.append(targets)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 14))
    targets = torch.eye(14)[:4]
    torch.manual_seed(0)
    loss = method.train_step(
        model, (torch.randn(4, 3, 4, 4), targets), loss_fn, torch.optim.SGD(model.parameters(), lr=0.1)
    )
    assert loss.ndim == 0 and torch.isfinite(loss)
    (soft,) = seen
    lam = soft.max().item()
    assert 0.5 <= lam < 1.0 and torch.allclose(soft.sum(1), torch.ones(4))  # each row mixes two one-hot rows


# -- an installed entry-point package -------------------------------------------------------------
PACKAGE = PLUGINS / "entry_point"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package on sys.path with its dist-info, as `pip install` leaves it; a fresh registry."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(PACKAGE / "src" / "cxr_bench_ls", site / "cxr_bench_ls")
    info = site / "cxr_bench_ls-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cxr-bench-ls\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[cxr_bench.methods]\nls-bce = cxr_bench_ls:METHOD\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        patch.setattr(method_module, "METHODS", make_registry())
        yield


@pytest.fixture(scope="module")
def ls_run(installed, demo_root, results):
    return train(demo_root, results, "--method", "ls-bce", *TINY)


def test_entry_point_package_is_listed_and_recorded_with_its_version(installed, ls_run):
    listed = cli("methods", "list")
    line = next(line for line in listed.output.splitlines() if line.strip().startswith("ls-bce"))
    assert "entry point of cxr-bench-ls 0.1.0 (cxr_bench_ls:METHOD)" in line
    origin = ls_run.method.origin
    assert (origin.kind, origin.package, origin.version, origin.path) == ("entry point", "cxr-bench-ls", "0.1.0", None)
    assert ls_run.method.spec["loss"]["params"] == {"smoothing": 0.1}


def test_entry_point_loss_by_hand(installed):
    loss_fn = get_method("ls-bce").build_loss([1] * 14, 10)
    # y = 1 smoothed by 0.1 is 0.95; at logit 2: -(0.95 log s(2) + 0.05 log s(-2)).
    expected = -(0.95 * math.log(1 / (1 + math.exp(-2))) + 0.05 * math.log(1 / (1 + math.exp(2))))
    assert loss_fn(torch.tensor([[2.0]]), torch.tensor([[1.0]])).item() == pytest.approx(expected)


# -- a frozen-backbone linear probe ---------------------------------------------------------------
PROBE = PLUGINS / "linear_probe.py"


def test_linear_probe_from_another_run_trains_the_head_only(demo_root, results, swap):
    record = train(
        demo_root,
        results,
        "--method",
        "probe-resnet18",
        "--plugin",
        str(PROBE),
        "--set",
        f"pretrained=run:{swap.run_id}",
    )
    store = RunStore(results)
    start = store.run_dir(swap.run_id) / swap.artifacts.checkpoint
    assert record.method.spec["pretrained"] == f"file:{start.resolve()}@sha256:{sha256(start)}"
    assert record.method.display_name == f"probe-resnet18[pretrained=run:{swap.run_id}]"
    before = torch.load(start, weights_only=True)
    after = torch.load(store.run_dir(record.run_id) / record.artifacts.checkpoint, weights_only=True)
    frozen = [k for k in before if not k.startswith("fc.")]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # BatchNorm statistics included
    assert not torch.equal(before["fc.weight"], after["fc.weight"])


# -- a hook that fails mid-run ----------------------------------------------------------------
def test_a_hook_failing_in_a_run_is_one_line_naming_file_and_line(demo_root, tmp_path):
    path = tmp_path / "broken_step.py"
    path.write_text(
        "from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec, StageSpec, register_method\n"
        "class Broken(Method):\n"
        "    def train_step(self, model, batch, loss_fn, optimizer):\n"
        "        return loss_fn(model(batch[0]), batch[1][:, :10])\n"
        "s = (StageSpec(32, 8, 1),)\n"
        "register_method(Broken(MethodSpec(name='broken-step', description='x', backbone='test_resnet',\n"
        "    loss=LossSpec(), optimizer=OptimizerSpec('adam', lr=1e-3), presets={'paper': s, 'demo': s, 'smoke': s})))\n"
    )
    args = ["--method", "broken-step", "--plugin", str(path), "--data", str(demo_root), "--results", str(tmp_path)]
    result = cli("run", *args, "--preset", "smoke", "--limit", str(LIMIT), "-q")
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: train_step of method 'broken-step' ({path}, line 4) raised")
    (record,) = RunStore(tmp_path).find()
    assert record.status == "failed" and f"({path}, line 4)" in record.error


# -- averaged weights through predict -------------------------------------------------------------
EMA = PLUGINS / "ema.py"


@pytest.fixture(scope="module")
def ema_run(demo_root, results):
    # A decay of 0.5: after the run's two steps the average is far from both the start and the net.
    return train(
        demo_root, results, "--method", "ema-resnet18", "--plugin", str(EMA), *TINY, "--set", "params.ema_decay=0.5"
    )


def by_hand(record, ids, demo_index, results):
    """The run's checkpoint on images `ids`: the scores of its average and of its network, each
    scored by hand, and of the run's method through predict; the images' labels."""
    from bench.method import MethodSpec
    from bench.train.batches import open_source
    from bench.train.evaluate import Scorer, run_model
    from bench.train.plan import image_list

    cpu = torch.device("cpu")
    loaded = run_model(RunStore(results), record, cpu)
    images = image_list(demo_index, ids)
    source = open_source(images.paths, loaded.image_size, label="images", quiet=True, ids=images.ids)
    plain = Scorer.for_spec(MethodSpec.from_dict(record.method.spec), cpu)
    ema, net = (plain.score(part, source, images.labels).scores for part in (loaded.model.ema, loaded.model.net))
    hooked = Scorer.for_method(loaded.method, cpu).score(loaded.model, source, images.labels).scores
    return ema, net, hooked, images.labels


def stored_test(record, results):
    from bench.predictions import load_predictions

    return load_predictions(RunStore(results).artifact(record, "predictions"))


def test_ema_average_follows_the_network_at_the_declared_decay():
    from importlib import import_module

    method = get_method("ema-resnet18", plugins=[EMA])
    averaged = import_module(type(method).__module__).Averaged(torch.nn.Linear(2, 1))
    start = averaged.net.weight.detach().clone()
    with torch.no_grad():
        averaged.net.weight.add_(1.0)
    averaged.update(0.75)
    assert torch.allclose(averaged.ema.weight, start + 0.25)  # 0.75 x start + 0.25 x (start + 1)


def test_ema_predict_scores_the_average(ema_run, demo_index, results):
    assert ema_run.method.spec["params"]["ema_decay"]["value"] == 0.5
    ema, net, hooked, _ = by_hand(ema_run, stored_test(ema_run, results).image_ids, demo_index, results)
    np.testing.assert_allclose(hooked, ema, rtol=0, atol=1e-6)
    assert not np.allclose(ema, net, atol=1e-4)  # the average is not the trained network


def test_ema_run_validates_and_tests_with_the_average(ema_run, demo_index, results):
    from bench.metrics import per_class_auroc
    from bench.train.evaluate import quiet_mean
    from bench.train.options import RunOptions
    from bench.train.plan import plan_run

    stored = stored_test(ema_run, results)
    ema, *_ = by_hand(ema_run, stored.image_ids, demo_index, results)
    np.testing.assert_allclose(stored.scores, ema, rtol=0, atol=1e-6)
    val = plan_run(RunOptions.from_json(ema_run.invocation)).lists["val"]
    ema, _, _, labels = by_hand(ema_run, val.ids, demo_index, results)
    (epoch,) = ema_run.history  # one epoch: the best checkpoint holds that epoch's average
    assert epoch.val_auroc_mean == pytest.approx(quiet_mean(per_class_auroc(labels, ema)).value, abs=1e-6)
