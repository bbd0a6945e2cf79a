"""Benchmarks: one run's whole evaluation (subgroups, calibration, operating points, the reliability
PNG) and a seed comparison with its corrections and ranking, on a test list of NIH's official size.

Run with: pytest tests/benchmarks -m benchmark --benchmark-only -n 0 -p no:cacheprovider
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.evaluation import evaluate
from bench.evaluation.multiple import adjust_pvalues
from bench.evaluation.plots import critical_difference_png, reliability_png
from bench.evaluation.ranking import rank_methods
from bench.evaluation.seeds import seed_bootstrap_diff, summarize_seeds
from bench.evaluation.subgroups import standard_attributes
from bench.metrics import per_class_auroc

# The paper's Table 3 positives (LABELS order), for realistic prevalences.
NIH_COUNTS = [11559, 2776, 13317, 19894, 5782, 6331, 1431, 5302, 4667, 2303, 2516, 1686, 3385, 227]
N_TEST, N_PATIENTS, N_VAL = 25_596, 2_797, 11_219  # NIH's official test list; a tenth of train_val for validation
BUDGET_S = 15.0  # the budget for one run on a 2-core CPU


def _probabilities(rng, y, signal):
    prevalence = np.array(NIH_COUNTS) / 112_120
    logits = rng.normal(size=y.shape) + signal * y + np.log(prevalence / (1 - prevalence))
    return 1 / (1 + np.exp(-logits))


@pytest.fixture(scope="module")
def test_list():
    rng = np.random.default_rng(0)
    prevalence = np.array(NIH_COUNTS) / 112_120
    groups = np.sort(rng.integers(0, N_PATIENTS, N_TEST))
    y = (rng.random((N_TEST, 14)) < prevalence).astype(np.int8)
    val_y = (rng.random((N_VAL, 14)) < prevalence).astype(np.int8)
    attributes = standard_attributes(
        np.where(rng.random(N_TEST) < 0.6, "PA", "AP"),
        np.where(rng.random(N_TEST) < 0.56, "M", "F"),
        np.clip(rng.normal(47, 17, N_TEST), 1, 95).round(),
    )
    return rng, y, groups, val_y, attributes


@pytest.mark.benchmark
def test_evaluate_one_run_25596_images(benchmark, test_list, tmp_path):
    rng, y, groups, val_y, attributes = test_list
    scores, val_scores = _probabilities(rng, y, 1.5), _probabilities(rng, val_y, 1.5)

    def one_run():
        result = evaluate(y, scores, groups, attributes=attributes, val_labels=val_y, val_scores=val_scores)
        reliability_png(result.calibration, tmp_path / "reliability.png")
        return result

    result = benchmark.pedantic(one_run, rounds=3)
    assert result.notes == () and len(result.subgroups.attributes) == 3
    view, sex, _ = result.subgroups.attributes
    assert all(g.mean.n_classes == 14 for g in view.subgroups + sex.subgroups)
    assert benchmark.stats.stats.median < BUDGET_S


@pytest.mark.benchmark
def test_seed_comparison_corrections_and_ranking(benchmark, test_list, tmp_path):
    rng, y, groups, _, _ = test_list
    runs = {name: [_probabilities(rng, y, signal) for _ in range(3)] for name, signal in (("a", 1.5), ("b", 1.3))}
    runs["c"] = [_probabilities(rng, y, 1.0) for _ in range(3)]

    def compare():
        test = seed_bootstrap_diff(y, runs["a"], runs["c"], groups)  # three seeds against three
        p = adjust_pvalues(np.array(list(test.p.values()), dtype=float), "holm")
        per_class = np.array([[per_class_auroc(y, s) for s in runs[m]] for m in runs])  # methods x seeds x C
        means = [summarize_seeds(per_class[i]) for i in range(len(runs))]
        blocks = np.array([list(m.mean.values()) for m in means], dtype=float).T  # the classes as blocks
        ranking = rank_methods(blocks, list(runs))
        critical_difference_png(ranking, tmp_path / "cd.png")
        return test, p, ranking

    test, p, ranking = benchmark.pedantic(compare, rounds=3)
    assert test.mean.lo > 0 and p.shape == (14,)
    assert [m.name for m in ranking.methods] == ["a", "b", "c"]
    assert benchmark.stats.stats.median < BUDGET_S
