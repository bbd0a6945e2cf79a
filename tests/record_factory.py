"""Synthetic run records and predictions for the records and leaderboard tests (no training)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import numpy as np

from bench.labels import NUM_CLASSES
from bench.predictions import Predictions, save_predictions
from bench.records import (
    Artifacts,
    ConfidenceIntervals,
    DatasetInfo,
    EnvironmentInfo,
    EpochRecord,
    EvalMetrics,
    MethodInfo,
    Metrics,
    Positives,
    RunRecord,
    RunStore,
    Sanity,
    SplitInfo,
    StageRecord,
    counts,
    new_run_id,
    per_class,
)

ENV = EnvironmentInfo(
    python="3.11.7",
    torch="2.14.1",
    timm="1.0.0",
    torchxrayvision=None,
    cuda=None,
    gpu="cpu",
    git_commit="0" * 40,
    git_dirty=False,
    platform="Linux",
)
T0 = datetime(2026, 11, 25, 18, 0, tzinfo=timezone.utc)


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def dataset(kind: str = "demo") -> DatasetInfo:
    return DatasetInfo(kind, f"/data/{kind}", "Data_Entry_2017_v2020.csv", "v2020", fingerprint(f"dataset-{kind}"))


def split(protocol: str = "official", fold: int = 0, n_folds: int = 1, fp: str | None = None) -> SplitInfo:
    fp = fp or fingerprint(f"{protocol}-{fold}")
    return SplitInfo(protocol, 1, fold, n_folds, 0, fp, {"val_fraction": 0.1})


def minimal_record(run_id: str = "20261125-180000-m-official-f0-s0-abcd", **changes) -> RunRecord:
    base = dict(
        run_id=run_id,
        status="running",
        started="2026-11-25T18:00:00Z",
        ended=None,
        error=None,
        method=MethodInfo("m", "m", {"name": "m", "stages": [{"image_size": 224}]}),
        split=split(),
        dataset=dataset(),
        seed=0,
        preset="smoke",
        device="cpu",
        environment=ENV,
    )
    return RunRecord(**(base | changes))


def synthetic_predictions(image_start: int, n_patients: int, strength: float, seed: int) -> Predictions:
    """3 images per patient; each class positive for ~20% of patients; scores = strength*y + noise."""
    rng = np.random.default_rng(seed)
    patients = np.repeat(np.arange(image_start, image_start + n_patients), 3)
    y = (rng.random((n_patients, NUM_CLASSES)) < 0.2).astype(np.uint8).repeat(3, axis=0)
    y[0, :] = 1  # every class has a positive ...
    y[1, :] = 0  # ... and a negative
    noise_rng = np.random.default_rng(1000 + seed)
    scores = (strength * y + noise_rng.normal(size=y.shape)).astype(np.float32)
    ids = tuple(f"{p:08d}_{k:03d}.png" for p, k in zip(patients, np.tile(np.arange(3), n_patients)))
    return Predictions(ids, patients, y, scores)


def complete_run(
    store: RunStore,
    method: str,
    *,
    protocol: str = "official",
    fold: int = 0,
    n_folds: int = 1,
    split_fp: str | None = None,
    kind: str = "demo",
    strength: float = 1.0,
    minutes: int = 0,
    image_start: int = 0,
    n_patients: int = 60,
    data_seed: int = 0,
    model_seed: int = 0,
    ci: bool = True,
) -> RunRecord:
    """A complete run with stored predictions and metrics computed from them by bench.metrics."""
    from bench.metrics import bootstrap_ci, per_class_auprc, per_class_auroc

    preds = synthetic_predictions(image_start, n_patients, strength, data_seed)
    noise = np.random.default_rng(model_seed).normal(scale=0.3, size=preds.scores.shape)
    preds = Predictions(preds.image_ids, preds.patient_ids, preds.y_true, preds.scores + noise)
    auroc = per_class_auroc(preds.y_true, preds.scores)
    defined = np.isfinite(auroc)
    intervals = None
    if ci:
        res = bootstrap_ci(preds.y_true, preds.scores, preds.patient_ids, n_resamples=200, seed=0)
        intervals = ConfidenceIntervals(per_class(res.lo), per_class(res.hi), res.mean_lo, res.mean_hi, 0.95, 200)
    test = EvalMetrics(
        per_class(auroc),
        per_class(per_class_auprc(preds.y_true, preds.scores)),
        float(np.nanmean(auroc)),
        int(defined.sum()),
        intervals,
    )
    started = T0 + timedelta(minutes=minutes)
    rid = new_run_id(method, protocol, fold, 0, now=started)
    record = RunRecord(
        run_id=rid,
        status="complete",
        started=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ended=(started + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        error=None,
        method=MethodInfo(method, method, {"name": method}),
        split=split(protocol, fold, n_folds, split_fp),
        dataset=dataset(kind),
        seed=0,
        preset="smoke",
        device="cpu",
        environment=ENV,
        stages=(StageRecord(0, 64, 8, 1, 1, 2.5, 40.0, 0, float(np.nanmean(auroc))),),
        history=(EpochRecord(0, 0, 0.7, 0.6, 0.7, per_class([0.7] * NUM_CLASSES), 1e-3, 2.5),),
        positives=Positives(counts([5] * 14), counts([2] * 14), counts(preds.y_true.sum(axis=0))),
        metrics=Metrics(val=None, test=test),
        sanity=Sanity(True, "ok"),
        artifacts=Artifacts(predictions="predictions.parquet", checkpoint=None, history=None),
    )
    store.run_dir(rid).mkdir(parents=True)
    save_predictions(store.run_dir(rid) / "predictions.parquet", preds)
    store.write(record)
    return record
