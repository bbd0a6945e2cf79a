"""`bench eval`: checkpoints trained elsewhere, legacy keys mapped, loaded strictly, never unpickled."""

from __future__ import annotations

import argparse
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.external.weights import load_weights, map_keys
from bench.predictions import load_predictions
from bench.records import RunStore

runner = CliRunner()
LEGACY = (
    "module. prefix (DataParallel)",
    "densenet121. wrapper prefix",
    "torchvision-era DenseNet keys (norm.1 -> norm1, conv.2 -> conv2)",
    "classifier in a Sequential (classifier.0 -> classifier)",
)


def legacy_keys(state: dict) -> dict:
    """A timm DenseNet-121 state dict as arnoweng's CheXNet saved it: DataParallel around a
    `densenet121` attribute, torchvision < 0.3 layer names, the classifier in a Sequential."""
    return {
        "module.densenet121."
        + re.sub(r"(denselayer\d+)\.(norm|relu|conv)([12])\.", r"\1.\2.\3.", k).replace(
            "classifier.", "classifier.0."
        ): v
        for k, v in state.items()
    }


@pytest.fixture(scope="module")
def densenet():
    from bench.method import get_method

    torch.manual_seed(0)
    model = get_method("chexnet").resolve("demo").build_model(0, pretrained=False).eval()
    return model, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def fresh(densenet):
    """Another DenseNet-121 (other weights), loaded into by each test."""
    from bench.method import get_method

    torch.manual_seed(1)
    return get_method("chexnet").resolve("demo").build_model(0, pretrained=False).eval()


def test_legacy_keys_map_back_and_load_to_the_same_scores(densenet, fresh, tmp_path, one_thread):
    model, state = densenet
    legacy = legacy_keys(state)
    assert "module.densenet121.features.denseblock1.denselayer1.norm.1.weight" in legacy
    mapped, applied = map_keys(legacy, state)
    assert applied == LEGACY and set(mapped) == set(state)
    torch.save(legacy, tmp_path / "legacy.pt")
    loaded = load_weights(fresh, tmp_path / "legacy.pt")
    assert loaded.tensors == len(state) and loaded.mapping == LEGACY
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(torch.sigmoid(fresh(x)), torch.sigmoid(model(x)))


def test_a_plain_state_dict_needs_no_mapping_and_one_under_state_dict_loads(densenet, fresh, tmp_path):
    _, state = densenet
    assert map_keys(dict(state), state) == (state, ())
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "wrapped.pth.tar")
    assert load_weights(fresh, tmp_path / "wrapped.pth.tar").mapping == ()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("features.norm5.bias"), "tensors 1 missing (features.norm5.bias)"),
        (lambda s: s.__setitem__("extra.weight", torch.zeros(1)), "1 unexpected (extra.weight)"),
        (
            lambda s: s.__setitem__("classifier.bias", torch.zeros(15)),
            "1 of another shape (classifier.bias (15,) (the model's (14,)))",
        ),
    ],
    ids=["missing", "unexpected", "shape"],
)
def test_a_checkpoint_that_does_not_fit_is_refused_naming_keys(change, message, densenet, fresh, tmp_path):
    _, state = densenet
    state = dict(state)
    change(state)
    torch.save(legacy_keys(state), tmp_path / "w.pt")
    with pytest.raises(BenchError, match="does not fit the model after the key mapping module. prefix") as info:
        load_weights(fresh, tmp_path / "w.pt")
    assert message in info.value.one_line()


def test_pickled_objects_are_refused_with_how_to_convert(densenet, fresh, tmp_path):
    _, state = densenet
    torch.save({"state_dict": state, "args": argparse.Namespace(arch="densenet121")}, tmp_path / "model.pth.tar")
    with pytest.raises(BenchError) as info:
        load_weights(fresh, tmp_path / "model.pth.tar")
    text = info.value.one_line()
    assert "holds pickled Python objects (such as argparse.Namespace)" in text and "weights_only=False" in text
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BenchError, match="junk.pt is not a readable PyTorch checkpoint"):
        load_weights(fresh, tmp_path / "junk.pt")


def test_bench_eval_records_an_external_run_with_weights_provenance(densenet, demo_root, tmp_path):
    """The legacy file and the plain one give the same test scores, recorded with what was mapped;
    a file missing one tensor is one line and no run."""
    _, state = densenet
    torch.save(legacy_keys(state), tmp_path / "legacy.pt")
    torch.save(state, tmp_path / "plain.pt")
    common = ("--method", "chexnet", "--split", "official", "--data", demo_root, "--limit", "8", "--image-size", "32")
    scores = {}
    for name in ("legacy", "plain"):
        result = runner.invoke(
            app,
            [
                str(a)
                for a in ("eval", *common, "--weights", tmp_path / f"{name}.pt", "--results", tmp_path / name, "-q")
            ],
        )
        assert result.exit_code == 0, result.output
        (record,) = RunStore(tmp_path / name).find()
        scores[name] = load_predictions(RunStore(tmp_path / name).artifact(record, "predictions")).scores
        w = record.external.weights
        assert record.kind == "external" and record.external.source == "weights" and w.name == f"{name}.pt"
        assert w.key_mapping == (LEGACY if name == "legacy" else ()) and w.tensors == len(state)
        assert record.method.display_name == f"chexnet@{name}" and record.split.params["limit"] == 8
    np.testing.assert_array_equal(scores["legacy"], scores["plain"])
    broken = {k: v for k, v in state.items() if k != "classifier.weight"}
    torch.save(broken, tmp_path / "broken.pt")
    result = runner.invoke(
        app, [str(a) for a in ("eval", *common, "--weights", tmp_path / "broken.pt", "--results", tmp_path / "b", "-q")]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "tensors 1 missing (classifier.weight)" in errors[0]
    assert not RunStore(tmp_path / "b").run_ids()
