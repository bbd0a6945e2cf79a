"""Benchmarks: weighted focal loss forward+backward and the patient bootstrap at NIH test-set scale.

Run with: pytest tests/benchmarks -m benchmark --benchmark-only -n 0 -p no:cacheprovider
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.losses import WeightedBinaryLoss, class_balanced_weights
from bench.metrics import bootstrap_ci, delong_test

# The paper's Table 3 positives (LABELS order), for realistic weights.
NIH_COUNTS = [11559, 2776, 13317, 19894, 5782, 6331, 1431, 5302, 4667, 2303, 2516, 1686, 3385, 227]
N_IMAGES, N_PATIENTS = 25_000, 2_800  # about NIH's official test list (25,596 images, 2,797 patients)


@pytest.fixture(scope="module")
def test_set_scores():
    rng = np.random.default_rng(0)
    groups = np.sort(rng.integers(0, N_PATIENTS, N_IMAGES))
    prevalence = np.array(NIH_COUNTS) / 112_120
    y = (rng.random((N_IMAGES, 14)) < prevalence).astype(np.int8)
    scores = rng.random((N_IMAGES, 14)) + 0.5 * y
    return y, scores, groups


@pytest.mark.benchmark
def test_weighted_focal_forward_backward_256x14(benchmark):
    torch.set_num_threads(1)
    w_pos, w_neg = class_balanced_weights(NIH_COUNTS, 0.9998)
    loss_fn = WeightedBinaryLoss(w_pos, w_neg, kind="focal", alpha=0.5, gamma=1.0)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(256, 14, generator=gen, requires_grad=True)
    targets = (torch.rand(256, 14, generator=gen) < 0.1).float()

    def step():
        logits.grad = None
        loss = loss_fn(logits, targets)
        loss.backward()
        return loss

    loss = benchmark(step)
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@pytest.mark.benchmark
def test_bootstrap_ci_25000x14_1000_resamples(benchmark, test_set_scores):
    y, scores, groups = test_set_scores
    result = benchmark.pedantic(bootstrap_ci, args=(y, scores, groups), kwargs={"n_resamples": 1000}, rounds=3)
    assert np.all(result.lo <= result.point) and np.all(result.point <= result.hi)
    assert benchmark.stats.stats.max < 10.0  # the budget on a 2-core CPU


@pytest.mark.benchmark
def test_delong_25000(benchmark, test_set_scores):
    y, scores, _ = test_set_scores
    other = scores + np.random.default_rng(1).normal(scale=0.3, size=scores.shape)
    auc_a, auc_b, p = benchmark(delong_test, y[:, 0], scores[:, 0], other[:, 0])
    assert 0 <= p <= 1
