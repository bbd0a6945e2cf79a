"""Run records: the typed, versioned `record.json` of one run, and the store that holds them.

Layout: `<results>/runs/<run_id>/record.json` plus the run's artifacts (predictions,
checkpoint, history), whose paths the record gives relative to the run directory.
Records are frozen: update one with `dataclasses.replace` (or `finished`) and `RunStore.write`.
Per-class values are dicts keyed by the canonical label names; None marks a value that is
not known yet or undefined (JSON has no NaN).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import json
import math
import os
import platform
import re
import secrets
import subprocess
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Union

from rich.markup import escape

from bench.atomic import atomic_write
from bench.ui.console import warn
from bench.errors import BenchError
from bench.labels import LABELS

SCHEMA_VERSION = 1
RECORD_FILE = "record.json"
STATUSES: tuple[str, ...] = ("running", "complete", "failed", "interrupted")
DATASET_KINDS: tuple[str, ...] = ("demo", "nih")
# Below this test AUROC on real data a run is a failed sanity check (DOMAIN.md section 6).
SANITY_MIN_AUROC = 0.55

PerClass = dict[str, Optional[float]]  # label -> value (None: undefined or not yet known)
Counts = dict[str, int]  # label -> positives


class RecordError(BenchError):
    """A record.json that is unreadable, incomplete or ill-typed."""


class FutureSchemaError(RecordError):
    """A record written by a newer cxr-bench (schema_version above ours)."""


# -- the schema ---------------------------------------------------------------------------------
class _PerClassChecked:
    """Checks that every per-class dict field is keyed by exactly the 14 canonical labels."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.type in ("PerClass", "Counts") and set(value) != set(LABELS):
                missing = [x for x in LABELS if x not in value]
                unknown = [x for x in value if x not in LABELS]
                raise RecordError(
                    f"{type(self).__name__}.{f.name} must have one value per label"
                    f" (missing {missing}, unknown {unknown})"
                )


@dataclass(frozen=True)
class MethodInfo:
    name: str  # the registry name, e.g. "wfocal-effb3"
    display_name: str  # the name shown in tables; carries overrides, e.g. "wfocal-effb3[loss.beta=0.99998]"
    spec: dict[str, Any]  # the fully resolved MethodSpec as plain JSON
    overrides: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: Any, *, display_name: str | None = None, overrides: dict | None = None) -> MethodInfo:
        """From a MethodSpec dataclass (or a plain dict with a "name")."""
        as_dict = _jsonable(dataclasses.asdict(spec) if dataclasses.is_dataclass(spec) else dict(spec))
        return cls(as_dict["name"], display_name or as_dict["name"], as_dict, dict(overrides or {}))


@dataclass(frozen=True)
class SplitInfo:
    protocol: str  # "official", "kfold5", "weng", "custom:PATH"
    version: int
    fold: int
    n_folds: int
    seed: Optional[int]  # None for protocols that draw nothing at random (weng, custom)
    fingerprint: str
    params: dict[str, Any] = field(default_factory=dict)
    allow_leakage: bool = False

    @classmethod
    def from_fold(cls, fold: Any, *, allow_leakage: bool = False) -> SplitInfo:
        """From a `splits.base.Fold`."""
        return cls(
            fold.protocol, fold.version, fold.fold, fold.n_folds, fold.seed, fold.fingerprint,
            _jsonable(dict(fold.params)), allow_leakage,
        )


@dataclass(frozen=True)
class DatasetInfo:
    kind: str  # "demo" | "nih"
    root: str
    labels_file: Optional[str]
    labels_version: str
    fingerprint: str

    @classmethod
    def from_index(cls, index: Any) -> DatasetInfo:
        """From a `bench.data.index.DatasetIndex`."""
        return cls(index.kind, str(index.root), index.labels_file, index.labels_version, index.fingerprint)


@dataclass(frozen=True)
class EnvironmentInfo:
    python: str
    torch: Optional[str]
    timm: Optional[str]
    torchxrayvision: Optional[str]
    cuda: Optional[str]  # the CUDA version torch was built with; None on CPU builds
    gpu: str  # GPU name, or "cpu"
    git_commit: Optional[str]
    git_dirty: Optional[bool]
    platform: str
    world_size: int = 1
    torch_threads: Optional[int] = None  # CPU results depend on it (summation order)


@dataclass(frozen=True)
class StageRecord:
    index: int
    image_size: int
    batch_size: int
    epochs_planned: int
    epochs_run: int = 0
    wall_s: Optional[float] = None
    train_images_per_s: Optional[float] = None
    best_epoch: Optional[int] = None
    best_val_auroc: Optional[float] = None
    test_auroc_mean: Optional[float] = None  # this stage's best checkpoint on the test list


@dataclass(frozen=True)
class EpochRecord(_PerClassChecked):
    stage: int
    epoch: int
    train_loss: Optional[float]  # None: not finite (the run stops on a NaN loss)
    val_loss: Optional[float]
    val_auroc_mean: Optional[float]
    val_auroc: PerClass
    lr: float
    wall_s: float


@dataclass(frozen=True)
class Positives(_PerClassChecked):
    train: Counts
    val: Counts
    test: Counts


@dataclass(frozen=True)
class ConfidenceIntervals(_PerClassChecked):
    lo: PerClass
    hi: PerClass
    mean_lo: Optional[float]
    mean_hi: Optional[float]
    level: float = 0.95
    n_resamples: int = 1000
    unit: str = "patient"


@dataclass(frozen=True)
class EvalMetrics(_PerClassChecked):
    auroc: PerClass
    auprc: PerClass
    mean: Optional[float]  # mean AUROC over the defined classes
    n_defined: int
    ci: Optional[ConfidenceIntervals] = None


@dataclass(frozen=True)
class Metrics:
    val: Optional[EvalMetrics] = None
    test: Optional[EvalMetrics] = None


@dataclass(frozen=True)
class Sanity:
    test_auroc_ok: bool
    message: str


@dataclass(frozen=True)
class Artifacts:
    predictions: Optional[str] = None  # paths relative to the run directory
    checkpoint: Optional[str] = None
    history: Optional[str] = None


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    status: str
    started: str  # ISO 8601 UTC, e.g. "2026-11-25T18:15:00Z"
    ended: Optional[str]
    error: Optional[str]  # one line, for failed runs
    method: MethodInfo
    split: SplitInfo
    dataset: DatasetInfo
    seed: int
    preset: str
    device: str
    environment: EnvironmentInfo
    stages: tuple[StageRecord, ...] = ()
    history: tuple[EpochRecord, ...] = ()
    positives: Optional[Positives] = None
    metrics: Metrics = Metrics()
    sanity: Optional[Sanity] = None
    artifacts: Artifacts = Artifacts()
    localization: Optional[dict[str, Any]] = None  # filled by `bench cam` (issue 7)
    invocation: dict[str, Any] = field(default_factory=dict)  # the run's options, for --resume
    schema_version: int = SCHEMA_VERSION

    def finished(self, status: str, *, error: str | None = None, **changes: Any) -> RunRecord:
        """A copy with a final status, the end time now, and `changes` applied."""
        if error is not None:
            error = " ".join(str(error).split())
        return dataclasses.replace(self, status=status, ended=utc_now(), error=error, **changes)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (lists, not tuples)."""
        data = _jsonable(dataclasses.asdict(self))
        # schema_version first, so a human (or an old reader) sees it at the top.
        return {"schema_version": data.pop("schema_version"), **data}

    @classmethod
    def from_json(cls, data: Any, *, source: str = "record") -> RunRecord:
        """Validate and convert parsed JSON; RecordError names the first bad field."""
        if not isinstance(data, dict):
            raise RecordError(f"{source}: expected a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if version is None:
            raise RecordError(f"{source}: field 'schema_version' is missing")
        if type(version) is not int:
            raise RecordError(f"{source}: field 'schema_version' should be an integer, got {version!r}")
        if version > SCHEMA_VERSION:
            raise FutureSchemaError(
                f"{source}: schema_version {version} is newer than this cxr-bench reads ({SCHEMA_VERSION})",
                hint="upgrade cxr-bench to read it",
            )
        if version < 1:
            raise RecordError(f"{source}: schema_version {version} is not a valid version")
        return _convert(cls, data, source, "")

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise RecordError(f"run {self.run_id}: status {self.status!r} is not one of {', '.join(STATUSES)}")
        if self.dataset.kind not in DATASET_KINDS:
            raise RecordError(f"run {self.run_id}: dataset kind {self.dataset.kind!r} is not demo or nih")


def write_history(history: Sequence[EpochRecord], path: Path) -> None:
    """The per-epoch history as a CSV table (one row per epoch, a column per class's val AUROC)."""
    import pandas as pd

    rows = [
        {
            "stage": h.stage + 1, "epoch": h.epoch + 1, "train_loss": h.train_loss, "val_loss": h.val_loss,
            "val_auroc_mean": h.val_auroc_mean, "lr": h.lr, "wall_s": h.wall_s,
            **{f"val_auroc_{label}": value for label, value in h.val_auroc.items()},
        }
        for h in history
    ]
    atomic_write(path, pd.DataFrame(rows).to_csv(index=False, lineterminator="\n"))


def per_class(values: Any) -> PerClass:
    """A length-14 sequence (canonical order; NaN = undefined) as a label -> value dict."""
    seq = list(values)
    if len(seq) != len(LABELS):
        raise ValueError(f"expected {len(LABELS)} values, got {len(seq)}")
    return {label: (None if v is None or v != v else float(v)) for label, v in zip(LABELS, seq)}


def counts(values: Any) -> Counts:
    """A length-14 sequence of positive counts as a label -> count dict."""
    seq = [int(v) for v in values]
    if len(seq) != len(LABELS):
        raise ValueError(f"expected {len(LABELS)} counts, got {len(seq)}")
    return dict(zip(LABELS, seq))


def as_array(values: PerClass):
    """A label -> value dict as a float array in canonical order (NaN where None)."""
    import numpy as np

    return np.array([np.nan if values.get(x) is None else values[x] for x in LABELS], dtype=float)


# -- validated conversion from JSON ------------------------------------------------------------
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "an object"
    if origin is dict or tp is dict:
        return "an object"
    if origin is tuple:
        return "a list"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}.get(
        tp, str(tp)
    )


def _convert(tp: Any, value: Any, source: str, where: str) -> Any:
    def bad() -> RecordError:
        got = "null" if value is None else type(value).__name__
        return RecordError(f"{source}: field '{where or '(top)'}' should be {_describe(tp)}, got {got} {value!r:.40}")

    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                return _convert(arg, value, source, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad()
        hints, kwargs = _hints(tp), {}
        for f in dataclasses.fields(tp):
            path = f"{where}.{f.name}" if where else f.name
            if f.name in value:
                kwargs[f.name] = _convert(hints[f.name], value[f.name], source, path)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{source}: field '{path}' is missing")
        unknown = sorted(set(value) - {f.name for f in dataclasses.fields(tp)})
        if unknown:
            raise RecordError(f"{source}: unknown field '{where + '.' if where else ''}{unknown[0]}'")
        try:
            return tp(**kwargs)
        except RecordError as exc:
            raise RecordError(f"{source}: field '{where or '(top)'}': {exc.message}") from None
    if origin is tuple:
        if not isinstance(value, list):
            raise bad()
        (item,) = typing.get_args(tp)[:1]
        return tuple(_convert(item, v, source, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise bad()
        _, item = typing.get_args(tp)
        return {str(k): _convert(item, v, source, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float:
        if type(value) not in (int, float):
            raise bad()
        return float(value)
    if tp in (int, str, bool):
        if type(value) is not tp:
            raise bad()
        return value
    raise TypeError(f"unsupported record field type {tp!r}")  # a schema bug, not user input


def _jsonable(value: Any) -> Any:
    """Plain JSON types: tuples to lists, paths to strings, NaN and infinities to None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)


# -- ids, times, environment --------------------------------------------------------------------
def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", str(text).lower()).strip("-.") or "x"


def new_run_id(method: str, split: str, fold: int, seed: int, *, now: datetime | None = None) -> str:
    """A sortable, unique id: `20261125-181500-wfocal-effb3-official-f0-s0-3fa2` (UTC time first)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{_slug(method)}-{_slug(split)}-f{int(fold)}-s{int(seed)}-{secrets.token_hex(2)}"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    repo = Path(__file__).resolve().parents[1]
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def environment_info(*, world_size: int = 1) -> EnvironmentInfo:
    """Versions, accelerator and the project's git state; unknowns are None, never an error."""
    cuda, gpu, threads = None, "cpu", None
    try:
        import torch

        cuda, threads = torch.version.cuda, torch.get_num_threads()
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except Exception:  # a broken torch install must not stop a record from being written
        pass
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return EnvironmentInfo(
        python=platform.python_version(),
        torch=_version("torch"),
        timm=_version("timm"),
        torchxrayvision=_version("torchxrayvision"),
        cuda=cuda,
        gpu=gpu,
        git_commit=commit.strip() if commit else None,
        git_dirty=None if status is None else bool(status.strip()),
        platform=platform.platform(),
        world_size=world_size,
        torch_threads=threads,
    )


# -- files ---------------------------------------------------------------------------------------
def read_record(path: Path) -> RunRecord:
    """Load and validate one record.json; RecordError (or FutureSchemaError) names the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path}: no such record") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable JSON record ({exc})") from None
    return RunRecord.from_json(data, source=str(path))


class RunStore:
    """The runs under one results directory."""

    def __init__(self, results_dir: Path | str):
        self.results_dir = Path(results_dir)
        self.runs_dir = self.results_dir / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def record_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / RECORD_FILE

    def artifact(self, record: RunRecord, name: str) -> Path | None:
        """Absolute path of an artifact ("predictions", "checkpoint", "history"), if recorded."""
        rel = getattr(record.artifacts, name)
        return None if rel is None else self.run_dir(record.run_id) / rel

    def create(
        self,
        *,
        method: MethodInfo,
        split: SplitInfo,
        dataset: DatasetInfo,
        seed: int,
        preset: str,
        device: str,
        environment: EnvironmentInfo | None = None,
        stages: tuple[StageRecord, ...] = (),
        run_id: str | None = None,
        invocation: dict[str, Any] | None = None,
    ) -> RunRecord:
        """Make the run directory and write its first record (status "running")."""
        run_id = run_id or new_run_id(method.display_name, split.protocol, split.fold, seed)
        try:
            self.run_dir(run_id).mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise BenchError(f"run {run_id} already exists in {self.runs_dir}") from None
        except OSError as exc:
            raise BenchError(
                f"cannot create a run directory in {self.runs_dir}: the results directory is not writable"
                f" ({exc.strerror or exc})",
                hint="pass --results DIR or set CXR_BENCH_RESULTS to a writable directory",
            ) from None
        record = RunRecord(
            run_id=run_id, status="running", started=utc_now(), ended=None, error=None,
            method=method, split=split, dataset=dataset, seed=seed, preset=preset, device=device,
            environment=environment or environment_info(), stages=tuple(stages),
            invocation=_jsonable(dict(invocation or {})),
        )
        self.write(record)
        return record

    def write(self, record: RunRecord) -> Path:
        path = self.record_path(record.run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(record.to_json(), indent=2, allow_nan=False) + "\n")
        return path

    def run_ids(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.name for p in self.runs_dir.iterdir() if p.is_dir() and not p.name.startswith("."))

    def load(self, run_id: str) -> RunRecord:
        """The record of `run_id`, or of the one run whose id starts with (else contains) it."""
        ids = self.run_ids()
        if run_id not in ids:
            matches = [i for i in ids if i.startswith(run_id)] or [i for i in ids if run_id in i]
            if not run_id or len(matches) != 1:
                close = difflib.get_close_matches(run_id, ids, n=2, cutoff=0.6)
                if len(matches) > 1:
                    hint = f"{len(matches)} runs match it; give more of the id"
                elif close:
                    hint = f"did you mean {' or '.join(close)}?"
                else:
                    hint = "list runs with: bench runs list"
                raise BenchError(f"no run {run_id!r} in {self.runs_dir}", hint=hint)
            run_id = matches[0]
        return read_record(self.record_path(run_id))

    def iter_records(self) -> Iterator[RunRecord]:
        """Every readable record, oldest id first; bad ones are skipped with a warning naming the file."""
        for run_id in self.run_ids():
            path = self.record_path(run_id)
            if not path.is_file():
                warn(escape(f"skipping {path.parent}: no {RECORD_FILE} (a run that never started?)"))
                continue
            try:
                yield read_record(path)
            except RecordError as exc:
                warn(escape(f"skipping {exc.one_line()}"))

    def find(self, *, method: str | None = None, split: str | None = None, status: str | None = None) -> list[RunRecord]:
        """Records matching every filter given (method: registry or display name; split: protocol)."""
        if status is not None and status not in STATUSES:
            raise BenchError(f"unknown status {status!r}", hint=f"use one of: {', '.join(STATUSES)}")
        return [
            r
            for r in self.iter_records()
            if (method is None or method in (r.method.name, r.method.display_name))
            and (split is None or r.split.protocol == split)
            and (status is None or r.status == status)
        ]


__all__ = [
    "SCHEMA_VERSION", "STATUSES", "SANITY_MIN_AUROC", "RecordError", "FutureSchemaError",
    "MethodInfo", "SplitInfo", "DatasetInfo", "EnvironmentInfo", "StageRecord", "EpochRecord",
    "Positives", "ConfidenceIntervals", "EvalMetrics", "Metrics", "Sanity", "Artifacts",
    "RunRecord", "RunStore", "new_run_id", "environment_info", "utc_now",
    "read_record", "per_class", "counts", "as_array",
]
