"""The run plan (torch-free) and the loop's progress state."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bench.errors import BenchError
from bench.labels import LABELS
from bench.train.loop import StageProgress
from bench.train.options import RunOptions
from bench.train.plan import limit_fold, plan_run


def options(demo_root, **kw) -> RunOptions:
    return RunOptions(
        **({"method": "wfocal-densenet121", "data": str(demo_root), "preset": "smoke", "quiet": True} | kw)
    )


def test_plan_module_imports_no_torch():
    code = "import sys, bench.train.plan; assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_plan_resolves_method_fold_lists_and_batches(demo_root, demo_index):
    plan = plan_run(options(demo_root, limit=40, lr=0.01, overrides=("loss.gamma=1.5",), world_size=2))
    assert plan.preset == "smoke" and plan.patience == 5 and plan.pretrained is False  # demo data
    assert [s.image_size for s in plan.spec.stages] == [32, 64]
    assert {s.lr for s in plan.spec.stages} == {0.01} and plan.spec.loss.gamma == 1.5
    assert [o.key for o in plan.overrides] == ["loss.gamma"]
    assert plan.batch_sizes == tuple(s.batch_size // 2 for s in plan.spec.stages)  # each of 2 processes' share
    assert plan.fold.params["limit"] == 40
    for name, images in plan.lists.items():
        assert images.ids == list(getattr(plan.fold, name)) and len(images) == 40
        assert images.paths == demo_index.frame.loc[images.ids, "path"].tolist()
        assert images.labels.shape == (40, len(LABELS)) and images.labels.dtype == np.uint8
        assert images.patients.tolist() == demo_index.frame.loc[images.ids, "patient_id"].tolist()


def test_limit_is_one_sample_for_every_seed(demo_root):
    a, b = (plan_run(options(demo_root, limit=30, seed=s)) for s in (0, 1))
    assert a.fold.fingerprint == b.fold.fingerprint and a.lists["train"].ids == b.lists["train"].ids
    with pytest.raises(BenchError, match="at least 1"):
        limit_fold(a.fold, 0)


def test_plan_refuses_a_batch_that_does_not_split(demo_root):
    with pytest.raises(BenchError, match="does not split evenly across 2 processes"):
        plan_run(options(demo_root, batch_size=3, world_size=2))


def test_stage_progress_state_dict_round_trip():
    progress = StageProgress(
        stage=1, next_epoch=3, best_auroc=0.7, best_epoch=1, since_best=1, train_seconds=2.5, train_images=90
    )
    again = StageProgress()
    again.load_state_dict(progress.state_dict())
    assert again == progress
    with pytest.raises(ValueError, match="not stage progress fields"):
        again.load_state_dict({"stage": 0, "epoch": 2})
