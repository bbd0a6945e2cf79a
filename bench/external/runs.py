"""An external model's scores as an ordinary run record of kind `external`: the same predictions
file, metrics, intervals, sanity check and evaluation as a trained run's test phase
(`bench.train.results`), and the provenance that replaces a method spec, stages and history."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from bench.atomic import atomic_write
from bench.evaluation.runs import Validation, check_validation, load_validation
from bench.external.target import Target
from bench.predictions import Predictions
from bench.records import (
    VAL_PREDICTIONS_FILE,
    Artifacts,
    DatasetInfo,
    EnvironmentInfo,
    ExternalInfo,
    MethodInfo,
    Metrics,
    RunRecord,
    RunStore,
    SplitInfo,
)
from bench.train.results import run_evaluation, run_result

PRESET = "external"  # the record's preset: nothing was trained
SEED = 0  # of the bootstrap; an external run trains nothing


def read_validation(path: Path | None, target: Target) -> Validation | None:
    """`--val-predictions FILE`, read and checked against the target's index and test list
    (before the run folder exists); None without one."""
    if path is None:
        return None
    validation = load_validation(Path(path))
    check_validation(validation, target.index, target.fold.test)
    return validation


def record_external(
    results: Path,
    *,
    target: Target,
    scores: np.ndarray,
    external: ExternalInfo,
    method: MethodInfo,
    environment: EnvironmentInfo,
    invocation: dict[str, Any],
    device: str = "cpu",
    tta: str = "none",
    validation: Validation | None = None,
) -> RunRecord:
    """A complete record in `results` for `scores` ((n, 14), the target's test list order);
    `validation` (checked by `read_validation`) is kept in the run folder, as the predictions
    its operating points are chosen on.

    Everything that can be refused has been by now: the run folder appears only here, and a
    fault while writing leaves the record failed, never complete."""
    predictions = Predictions(target.ids, target.patients, target.labels, scores)
    store = RunStore(results)
    record = store.create(
        method=method,
        split=SplitInfo.from_fold(target.fold),
        dataset=DatasetInfo.from_index(target.index),
        seed=SEED,
        preset=PRESET,
        device=device,
        environment=environment,
        invocation=invocation,
        kind="external",
        external=external,
        tta=tta,
    )
    with store.lock(record.run_id):
        run_dir = store.run_dir(record.run_id)
        try:
            result = run_result(run_dir, predictions, dataset_kind=target.index.kind, seed=record.seed)
            val_files: tuple[str, ...] = ()
            if validation is not None:  # the file's own bytes: its SHA-256 stays the one given
                atomic_write(run_dir / VAL_PREDICTIONS_FILE, Path(validation.source.file).read_bytes())
                val_files = (VAL_PREDICTIONS_FILE,)
            done = dataclasses.replace(
                record, artifacts=Artifacts(predictions=result.predictions, val_predictions=val_files)
            )
            evaluation = run_evaluation(store, done, target.index)
        except BaseException as exc:
            store.write(record.finished("failed", error=f"{type(exc).__name__}: {exc}"))
            raise
        record = done.finished(
            "complete", metrics=Metrics(test=result.test), sanity=result.sanity, evaluation=evaluation
        )
        store.write(record)
    return record
