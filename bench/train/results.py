"""Scores of a list as the record's metrics, and a test list's scores as a run's result.

Torch-free, so `bench score` turns a submitted file into a record without loading torch, by
the same code that ends a trained run's test phase (`run_result`, `run_evaluation`): the
predictions file, the per-class metrics with their patient-bootstrap intervals, the sanity
check, and the evaluation beyond the mean AUROC.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bench.data.index import DatasetIndex
    from bench.metrics import MeanValue
    from bench.predictions import Predictions
    from bench.records import EvalMetrics, EvaluationRecord, RunRecord, RunStore, Sanity

PREDICTIONS_FILE = "predictions.parquet"


def quiet_mean(auroc: np.ndarray) -> MeanValue:
    """Mean AUROC over defined classes without the per-call warning (epoch lines show the count)."""
    from bench.metrics import mean_defined

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mean_defined(auroc)


def list_metrics(
    labels: np.ndarray, scores: np.ndarray, *, patients: np.ndarray | None = None, seed: int = 0
) -> EvalMetrics:
    """Per-class AUROC and AUPRC of `scores` and their mean; with `patients`, patient-level
    bootstrap intervals drawn from `seed`."""
    from bench.metrics import bootstrap_ci, mean_defined, per_class_auprc, per_class_auroc
    from bench.records import ConfidenceIntervals, EvalMetrics, per_class

    auroc = per_class_auroc(labels, scores)
    mean = mean_defined(auroc)
    ci = None
    if patients is not None:
        boot = bootstrap_ci(labels, scores, patients, seed=seed)
        ci = ConfidenceIntervals(
            lo=per_class(boot.lo),
            hi=per_class(boot.hi),
            mean_lo=boot.mean_lo,
            mean_hi=boot.mean_hi,
            level=boot.level,
            n_resamples=boot.n_resamples,
        )
    return EvalMetrics(
        auroc=per_class(auroc),
        auprc=per_class(per_class_auprc(labels, scores)),
        mean=mean.value,
        n_defined=mean.n_defined,
        ci=ci,
    )


def sanity_check(dataset_kind: str, test: EvalMetrics) -> Sanity:
    """A run on real data whose mean test AUROC is below SANITY_MIN_AUROC is broken (weights
    that did not load, labels in another order), not a result; the demo is not judged."""
    from bench.records import SANITY_MIN_AUROC, Sanity

    ok = dataset_kind != "nih" or (test.mean or 0.0) >= SANITY_MIN_AUROC
    if ok:
        return Sanity(test_auroc_ok=True, message="ok")
    return Sanity(
        test_auroc_ok=False,
        message=f"mean test AUROC {test.mean:.4f} < {SANITY_MIN_AUROC}: a broken run, not a result",
    )


@dataclass(frozen=True)
class RunResult:
    test: EvalMetrics  # with the patient-bootstrap intervals
    sanity: Sanity
    predictions: str  # the predictions file, relative to the run directory


def run_result(run_dir: Path, predictions: Predictions, *, dataset_kind: str, seed: int) -> RunResult:
    """Write `predictions` into `run_dir` and compute what the record says of them; every run,
    trained or external, ends through here."""
    from bench.predictions import save_predictions

    save_predictions(Path(run_dir) / PREDICTIONS_FILE, predictions)
    test = list_metrics(predictions.y_true, predictions.scores, patients=predictions.patient_ids, seed=seed)
    return RunResult(test, sanity_check(dataset_kind, test), PREDICTIONS_FILE)


def run_evaluation(store: RunStore, record: RunRecord, index: DatasetIndex) -> EvaluationRecord:
    """The evaluation of the run's stored test predictions on its dataset index, with the
    operating points chosen on the validation predictions its record lists (a trained run's last
    stage's). Read from the files, so `bench runs evaluate` computes it again to the last bit."""
    from bench.evaluation.runs import evaluate_predictions, run_predictions, run_validation

    test, validation = run_predictions(store, record), run_validation(store, record)
    return evaluate_predictions(test, index, validation, leaked=record.split.allow_leakage).record
