"""One run's evaluation from what it stored: its test predictions, the dataset index it was scored
on (view, sex and age per image) and, when given, validation predictions to choose thresholds on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data.index import DatasetIndex
from bench.errors import BenchError
from bench.evaluation.common import N_RESAMPLES
from bench.evaluation.report import Evaluation, evaluate
from bench.evaluation.subgroups import standard_attributes
from bench.predictions import Predictions, load_predictions
from bench.records import RunRecord, RunStore


def run_predictions(store: RunStore, record: RunRecord) -> Predictions:
    """The run's stored test predictions; BenchError when it has none."""
    path = store.artifact(record, "predictions")
    if path is None:
        raise BenchError(
            f"run {record.run_id} has no predictions file recorded",
            hint="only a complete run stores its test predictions: finish it, or score it with `bench score`",
        )
    return load_predictions(path)


def run_index(record: RunRecord, data: Path | None = None) -> DatasetIndex:
    """The run's dataset index (its recorded root unless `data`), checked by fingerprint; no image is read."""
    from bench.data.nih import load_index

    root = Path(data) if data is not None else Path(record.dataset.root)
    if not root.is_dir():
        raise BenchError(
            f"run {record.run_id}'s dataset {root} is not there", hint="pass --data with the run's dataset root"
        )
    index = load_index(root, check_images=False)
    if index.fingerprint != record.dataset.fingerprint:
        raise BenchError(
            f"dataset {root} is not the one run {record.run_id} used (fingerprint {index.fingerprint[:12]},"
            f" run {record.dataset.fingerprint[:12]})",
            hint="pass --data with the run's dataset root",
        )
    return index


def index_attributes(index: DatasetIndex, image_ids) -> dict[str, np.ndarray]:
    """View, sex and age band per image of `image_ids`, in that order; BenchError naming an image
    the index lacks."""
    ids = list(image_ids)
    missing = [i for i in ids if i not in index.frame.index]
    if missing:
        raise BenchError(
            f"{len(missing)} predicted images are not in the dataset index {index.labels_file}, e.g. {missing[0]}",
            hint="pass --data with the dataset root the run was scored on",
        )
    rows = index.frame.loc[ids]
    return standard_attributes(rows["view"].to_numpy(), rows["sex"].to_numpy(), rows["age"].to_numpy())


def evaluate_run(
    store: RunStore,
    record: RunRecord,
    *,
    data: Path | None = None,
    val_predictions: Path | None = None,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Evaluation:
    """`evaluate` on the run's test predictions, with the index's attributes and, from
    `val_predictions` (a predictions file of validation images), the operating points."""
    test = run_predictions(store, record)
    attributes = index_attributes(run_index(record, data), test.image_ids)
    val = None if val_predictions is None else load_predictions(val_predictions)
    if val is not None and set(val.image_ids) & set(test.image_ids):
        raise BenchError(
            f"{val_predictions} shares images with run {record.run_id}'s test list",
            hint="thresholds must be chosen on validation images, never on the test list",
        )
    return evaluate(
        test.y_true,
        test.scores,
        test.patient_ids,
        attributes=attributes,
        val_labels=None if val is None else val.y_true,
        val_scores=None if val is None else val.scores,
        n_resamples=n_resamples,
        seed=seed,
    )
