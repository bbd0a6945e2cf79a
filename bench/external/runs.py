"""An external model's scores as an ordinary run record of kind `external`: the same predictions
file, metrics, intervals and sanity check as a trained run's test phase (`bench.train.results`),
and the provenance that replaces a method spec, stages and history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.external.target import Target
from bench.predictions import Predictions
from bench.records import (
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
from bench.train.results import run_result

PRESET = "external"  # the record's preset: nothing was trained
SEED = 0  # of the bootstrap; an external run trains nothing


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
) -> RunRecord:
    """A complete record in `results` for `scores` ((n, 14), the target's test list order).

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
        try:
            result = run_result(
                store.run_dir(record.run_id), predictions, dataset_kind=target.index.kind, seed=record.seed
            )
        except BaseException as exc:
            store.write(record.finished("failed", error=f"{type(exc).__name__}: {exc}"))
            raise
        record = record.finished(
            "complete",
            metrics=Metrics(test=result.test),
            sanity=result.sanity,
            artifacts=Artifacts(predictions=result.predictions),
        )
        store.write(record)
    return record
