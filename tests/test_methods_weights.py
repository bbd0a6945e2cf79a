"""Start weights from a checkpoint file (pinned by SHA-256) and the optimizer groups helper."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from bench.errors import BenchError
from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec, StageSpec
from bench.method.optim import decay_groups
from bench.method.weights import pin, pinned_file, sha256_file

pytestmark = pytest.mark.usefixtures("one_thread")
STAGES = (StageSpec(32, 4, 1),)


def _method(pretrained: str) -> Method:
    return Method(
        MethodSpec(
            name="start",
            description="x",
            backbone="test_resnet",
            pretrained=pretrained,
            loss=LossSpec(),
            optimizer=OptimizerSpec("adam", lr=1e-3),
            presets={"paper": STAGES, "demo": STAGES, "smoke": STAGES},
        )
    )


def test_a_pinned_checkpoint_starts_stage_one_only(tmp_path):
    torch.manual_seed(1)
    source = _method("imagenet").build_model(0, pretrained=False)
    path = tmp_path / "start.pt"
    torch.save(source.state_dict(), path)
    pinned = pin(path)
    assert pinned == f"file:{path.resolve()}@sha256:{sha256_file(path)}" and len(sha256_file(path)) == 64
    assert pinned_file(pinned) == (path.resolve(), sha256_file(path))
    method = _method(pinned)
    torch.manual_seed(2)
    started = method.build_model(0, pretrained=True)
    assert all(torch.equal(a, b) for a, b in zip(started.state_dict().values(), source.state_dict().values()))
    torch.manual_seed(2)
    later = method.build_model(1, pretrained=True)  # a later stage starts from the previous stage's checkpoint
    assert not torch.equal(later.state_dict()["fc.weight"], source.state_dict()["fc.weight"])

    torch.save({k: v + 1 for k, v in source.state_dict().items()}, path)
    with pytest.raises(BenchError, match=r"start\.pt changed: its SHA-256 is not the"):
        method.build_model(0, pretrained=True)
    torch.save(nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(BenchError, match="does not fit the model"):
        _method(f"file:{path}").build_model(0, pretrained=True)
    with pytest.raises(BenchError, match="not found"):
        pin(tmp_path / "missing.pt")


def test_decay_groups_spare_biases_and_norms():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    model[0].weight.requires_grad_(False)  # frozen parameters are left out
    decay, no_decay = decay_groups(model, 0.05)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.05, 0.0)
    assert [tuple(p.shape) for p in decay["params"]] == [(2, 4)]
    assert [tuple(p.shape) for p in no_decay["params"]] == [(4,), (4,), (4,), (2,)]
    optimizer = _method("imagenet").build_optimizer(decay_groups(model, 0.05), STAGES[0])
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.05, 0.0]
    spec = dataclasses.replace(_method("imagenet").spec, pretrained="run:abc")
    assert spec.pretrained == "run:abc"
