"""The runs under one results directory: `<results>/runs/<run_id>/record.json` plus the run's
artifacts (predictions, checkpoints, history), whose paths the record gives relative to the
run directory. The store never prints: what it could not read it returns as problems."""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.atomic import atomic_write
from bench.errors import BenchError
from bench.records import lock as run_lock
from bench.records.environment import environment_info
from bench.records.schema import (
    STATUSES,
    DatasetInfo,
    EnvironmentInfo,
    ExternalInfo,
    MethodInfo,
    RecordError,
    RunRecord,
    SplitInfo,
    StageRecord,
    utc_now,
)
from bench.schema import encode

RECORD_FILE = "record.json"
VAL_PREDICTIONS_FILE = "val_predictions.parquet"  # an external run's, given to `bench score` or `bench eval`
# What `RunStore.liveness` can say: a record's status, or "stale" for a "running" record whose
# process is gone (nobody holds its folder lock: see bench/records/lock.py).
STALE = "stale"
LIVENESS: tuple[str, ...] = (*STATUSES, STALE)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", str(text).lower()).strip("-.") or "x"


def new_run_id(method: str, split: str, fold: int, seed: int, *, now: datetime | None = None) -> str:
    """A sortable, unique id: `20261125-181500-wfocal-effb3-official-f0-s0-3fa2` (UTC time first)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{_slug(method)}-{_slug(split)}-f{int(fold)}-s{int(seed)}-{secrets.token_hex(2)}"


def stage_val_predictions(stage: int) -> str:
    """Where a trained run keeps the validation predictions of `stage`'s (0-based) best
    checkpoint: beside it, written whenever it is."""
    return f"checkpoints/stage{stage + 1}_best_val.parquet"


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


@dataclass(frozen=True)
class Scan:
    """The readable records (oldest id first) and one line per run folder that could not be read."""

    records: tuple[RunRecord, ...]
    problems: tuple[str, ...]


class RunStore:
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

    def final_val_predictions(self, record: RunRecord) -> Path | None:
        """The validation predictions of the model that scored the test list, if recorded: a
        trained run's last stage's, an external run's file."""
        files = record.artifacts.val_predictions
        if record.kind == "trained":
            last = stage_val_predictions(len(record.stages) - 1)
            return self.run_dir(record.run_id) / last if last in files else None
        return self.run_dir(record.run_id) / files[-1] if files else None

    def lock(self, run_id: str):
        """A context manager holding the folder lock of `run_id` while its process works on it
        (BenchError "run X is still running in process PID" if another process holds it)."""
        return run_lock.hold(self.run_dir(run_id))

    def is_locked(self, run_id: str) -> bool:
        return run_lock.is_held(self.run_dir(run_id))

    def liveness(self, record: RunRecord) -> str:
        """The record's status, except "stale" for a "running" record whose folder lock no
        process holds (its process crashed or was killed). A run folder without a lock file at
        all was written by a process that never locks (an older engine, or one in the moment
        between creating the record and taking the lock): there is nothing to tell by, so it
        keeps its "running"."""
        if (
            record.status == "running"
            and run_lock.lock_path(self.run_dir(record.run_id)).is_file()
            and not self.is_locked(record.run_id)
        ):
            return STALE
        return record.status

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
        kind: str = "trained",
        external: ExternalInfo | None = None,
        tta: str = "none",
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
            run_id=run_id,
            status="running",
            started=utc_now(),
            ended=None,
            error=None,
            method=method,
            split=split,
            dataset=dataset,
            seed=seed,
            preset=preset,
            device=device,
            environment=environment or environment_info(),
            stages=tuple(stages),
            invocation=encode(dict(invocation or {})),
            kind=kind,
            external=external,
            tta=tta,
        )
        try:
            self.write(record)
        except BaseException:
            with contextlib.suppress(OSError):  # the folder is still empty: a full disk leaves no half run
                self.run_dir(run_id).rmdir()
            raise
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
        return read_record(self.record_path(self.found_id(run_id)))

    def found_id(self, run_id: str) -> str:
        """The run folder `load(run_id)` reads: `run_id`, else the one folder whose name starts
        with (else contains) it. A copied folder's record may name the run it was copied from."""
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
        return run_id

    def scan(self, *, method: str | None = None, split: str | None = None, status: str | None = None) -> Scan:
        """Every readable record matching the filters given (method: registry or display name;
        split: protocol; status: the record's, so "running" matches stale runs too, and "stale"
        the running records whose process is gone: see `liveness`), and what could not be read."""
        if status == STALE:
            scan = self.scan(method=method, split=split, status="running")
            return Scan(tuple(r for r in scan.records if self.liveness(r) == STALE), scan.problems)
        if status is not None and status not in LIVENESS:
            raise BenchError(f"unknown status {status!r}", hint=f"use one of: {', '.join(LIVENESS)}")
        records, problems = [], []
        for run_id in self.run_ids():
            path = self.record_path(run_id)
            if not path.is_file():
                problems.append(f"skipping {path.parent}: no {RECORD_FILE} (a run that never started?)")
                continue
            try:
                record = read_record(path)
            except RecordError as exc:
                problems.append(f"skipping {exc.one_line()}")
                continue
            if (
                (method is None or method in (record.method.name, record.method.display_name))
                and (split is None or record.split.protocol == split)
                and (status is None or record.status == status)
            ):
                records.append(record)
        return Scan(tuple(records), tuple(problems))

    def find(
        self, *, method: str | None = None, split: str | None = None, status: str | None = None
    ) -> list[RunRecord]:
        """The readable records matching the filters (`scan` also says what could not be read)."""
        return list(self.scan(method=method, split=split, status=status).records)
