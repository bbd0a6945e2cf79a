"""Run records: the typed, versioned `record.json` of one run, and the store that holds them.

- `schema`: the dataclasses (version 2) and per-class helpers;
- `migrations`: older versions upgraded in memory before validation (`versions`: the current one);
- `store`: the results directory (`RunStore`), record files, run ids;
- `environment`: versions and git state recorded with a run;
- `history`: the per-epoch `history.csv`.
"""

from bench.records.environment import environment_info
from bench.records.history import write_history
from bench.records.schema import (
    DATASET_KINDS,
    RUN_KINDS,
    SANITY_MIN_AUROC,
    SCHEMA_VERSION,
    STATUSES,
    Artifacts,
    ClassLocalization,
    ConfidenceIntervals,
    DatasetInfo,
    EnvironmentInfo,
    EpochRecord,
    EvalMetrics,
    FutureSchemaError,
    LocalizationRecord,
    MethodInfo,
    Metrics,
    Positives,
    RecordError,
    RunRecord,
    Sanity,
    SplitInfo,
    StageRecord,
    as_array,
    counts,
    per_class,
    utc_now,
)
from bench.records.store import RECORD_FILE, RunStore, Scan, new_run_id, read_record

__all__ = [
    "DATASET_KINDS",
    "RUN_KINDS",
    "SANITY_MIN_AUROC",
    "SCHEMA_VERSION",
    "STATUSES",
    "RECORD_FILE",
    "Artifacts",
    "ClassLocalization",
    "ConfidenceIntervals",
    "DatasetInfo",
    "EnvironmentInfo",
    "EpochRecord",
    "EvalMetrics",
    "FutureSchemaError",
    "LocalizationRecord",
    "MethodInfo",
    "Metrics",
    "Positives",
    "RecordError",
    "RunRecord",
    "RunStore",
    "Sanity",
    "Scan",
    "SplitInfo",
    "StageRecord",
    "as_array",
    "counts",
    "environment_info",
    "new_run_id",
    "per_class",
    "read_record",
    "utc_now",
    "write_history",
]
