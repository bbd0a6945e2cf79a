"""Leaderboard tables from run records (and their stored predictions) plus published columns.

Rules: runs share a table only when split and dataset fingerprints match; k-fold
runs (n_folds > 1) are grouped across folds by (protocol, version, split seed, params, dataset
fingerprint), each fold checked against the others' split fingerprint; the latest complete run
per (column, split fingerprint, fold) is used unless `all_runs`, a column being a method's
display name, its test-time augmentation, and whether the run is external, and with
`seeds="mean"` the latest per training seed too, the column averaging its seeds (on k-fold
tables the seeds with every fold); failed, interrupted, running
and sanity-failed runs are listed beneath, never averaged; published columns appear only
beside real NIH data, in a table of their own protocol.

The improvement tables' values live here too (leaderboard.improvement computes them), so a
Table can hold its improvement table without the two modules importing each other.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from bench.errors import BenchError
from bench.evaluation.multiple import Correction
from bench.labels import LABELS
from bench.predictions import Predictions, load_predictions
from bench.records import DatasetInfo, EvalMetrics, RunRecord, RunStore, as_array
from bench.records.provenance import has_overlap
from leaderboard import published as pub

ROWS: tuple[str, ...] = (*LABELS, "Average")
SIGNIFICANCE = 0.05
SeedMode = Literal["mean", "latest"]  # runs of one column differing only in training seed: averaged, or the latest


def _summary(per_fold: np.ndarray) -> np.ndarray:
    """(15,) of a (k, 14) AUROC array: per class the mean over the folds defining it, then the
    Average (the mean over folds of each fold's mean over its defined classes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN classes stay NaN
        per_class = np.nanmean(per_fold, axis=0)
        folds = _fold_averages(per_fold)
        average = float(np.nanmean(folds)) if np.isfinite(folds).any() else float("nan")
    return np.append(per_class, average)


def _fold_averages(per_fold: np.ndarray) -> np.ndarray:
    defined = np.isfinite(per_fold)
    sums = np.where(defined, per_fold, 0.0).sum(axis=1)
    n = defined.sum(axis=1)
    return np.divide(sums, n, out=np.full(len(n), np.nan), where=n > 0)


@dataclass(frozen=True, eq=False)
class Column:
    """One method's (or one published column's) test AUROC per class, on the AUROC scale.

    Runs of one column that differ only in their training seed are averaged (`--seeds mean`):
    `seed_runs` holds every averaged run, (seeds, folds), seeds in ascending order, and
    `per_seed` their AUROC, (seeds, folds, 14); `per_fold` is its mean over the seeds (NaN for a
    class that any seed leaves undefined: the seeds share the fold's test list). `runs` are the
    lowest seed's, in fold order. A column of one seed has `seed_runs == (runs,)`; a published
    one has neither.
    """

    key: str  # method display name (with a run suffix under all_runs), or "published:<name>"
    label: str  # header text
    per_fold: np.ndarray  # (k, 14) AUROC per fold (k = 1 outside k-fold); NaN = undefined
    runs: tuple[RunRecord, ...] = ()  # fold order
    published: pub.PublishedColumn | None = None
    lo: np.ndarray | None = None  # (15,) CI bounds: 14 classes, then Average (single runs)
    hi: np.ndarray | None = None
    seed_runs: tuple[tuple[RunRecord, ...], ...] = ()  # (seeds, folds)
    per_seed: np.ndarray | None = None  # (seeds, k, 14)

    def __post_init__(self) -> None:
        if self.runs and not self.seed_runs:  # frozen: set through object
            object.__setattr__(self, "seed_runs", (self.runs,))
        if self.seed_runs and self.per_seed is None:
            object.__setattr__(self, "per_seed", self.per_fold[None])

    @property
    def method(self) -> str | None:
        return self.runs[0].method.name if self.runs else None

    @property
    def seeds(self) -> tuple[int, ...]:
        """The training seeds averaged, ascending (empty for a published column)."""
        return tuple(runs[0].seed for runs in self.seed_runs)

    @property
    def n_seeds(self) -> int:
        return len(self.seed_runs)

    @property
    def values(self) -> np.ndarray:
        """(15,) point values: per-class mean over folds, then the Average."""
        values = _summary(self.per_fold)
        if self.published is not None:
            values[-1] = self.published.average  # as printed, not recomputed
        return values

    @property
    def average(self) -> float:
        return float(self.values[-1])

    @property
    def fold_averages(self) -> np.ndarray:
        """(k,) mean over the classes defined in each fold."""
        return _fold_averages(self.per_fold)

    @property
    def n_defined(self) -> int:
        """Classes defined in every fold (the Average's "(13/14)" count)."""
        return int(np.isfinite(self.per_fold).all(axis=0).sum())

    @property
    def folds_defined(self) -> np.ndarray:
        """(14,) how many folds define each class."""
        return np.isfinite(self.per_fold).sum(axis=0)

    @property
    def std(self) -> np.ndarray | None:
        """(15,) the spread beside the values: on k-fold tables the sample std over folds (ddof=1),
        on a single split the sample std over seeds (None for one seed); or the published std."""
        if self.published is not None:
            return None if self.published.std is None else np.array(self.published.std)
        if len(self.per_fold) < 2:
            return self.seed_std
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per_class = np.nanstd(self.per_fold, axis=0, ddof=1)
            average = np.nanstd(self.fold_averages, ddof=1)
        return np.append(per_class, average)

    @property
    def seed_values(self) -> np.ndarray | None:
        """(seeds, 15) each seed's values, summarised over its folds as `values` is."""
        if self.per_seed is None:
            return None
        return np.stack([_summary(p) for p in self.per_seed])

    @property
    def seed_std(self) -> np.ndarray | None:
        """(15,) sample std over seeds (ddof=1) of `seed_values`; None below two seeds."""
        per_seed = self.seed_values
        if per_seed is None or len(per_seed) < 2:
            return None
        return np.std(per_seed, axis=0, ddof=1)

    def seed_text(self, row: int) -> str:
        """The spread over seeds a cell shows after its value, "± 0.0123" (the header says how many
        seeds); "" for one seed, and on k-fold tables, whose cells show the spread over folds."""
        std = self.seed_std
        if std is None or len(self.per_fold) > 1 or not np.isfinite(std[row]):
            return ""
        return f"± {std[row]:.4f}"


@dataclass(frozen=True, eq=False)
class ImprovementColumn:
    key: str
    label: str
    diff: np.ndarray  # (15,) AUROC points x100: 14 classes, then the Average
    p: np.ndarray | None = None  # (15,) DeLong p-values (single split; the Average has none)
    lo: np.ndarray | None = None  # (15,) bootstrap interval of the difference, points (k-fold)
    hi: np.ndarray | None = None
    test: str = ""  # this column's: "delong", "bootstrap" (k-fold), "seed-bootstrap" (several seeds); "" none

    def significant(self, row: int) -> bool:
        if self.p is not None:
            return bool(self.p[row] < SIGNIFICANCE)  # NaN compares False
        if self.lo is not None and self.hi is not None:
            return bool(self.lo[row] > 0 or self.hi[row] < 0)
        return False


@dataclass(frozen=True, eq=False)
class Improvement:
    reference: Column
    columns: tuple[ImprovementColumn, ...]
    test: str  # "delong", "bootstrap" or "none": what the run-vs-run cells carry
    notes: tuple[str, ...] = ()
    correction: Correction = "none"  # of the p-values (bench.evaluation.multiple)
    n_tests: int = 0  # the p-values the correction counted (defined ones, classes x columns)


@dataclass(frozen=True)
class OtherRun:
    record: RunRecord
    reason: str  # e.g. "failed: CUDA out of memory", "running", "sanity check failed: ..."


@dataclass(frozen=True, eq=False)
class Table:
    protocol: str
    n_folds: int  # > 1: a cross-validation table (mean +- std over folds, x100)
    demo: bool
    columns: tuple[Column, ...]
    dataset: DatasetInfo | None = None  # of the runs (None: published only)
    split_fingerprint: str | None = None  # single-split tables
    fold_fingerprints: tuple[str, ...] = ()  # cross-validation tables, fold order
    seed: int | None = None
    other_runs: tuple[OtherRun, ...] = ()
    notes: tuple[str, ...] = ()
    tag: str = ""  # told apart from other tables of the same protocol, e.g. "split 92b9e119"
    limit: int | None = None  # runs on a subset of each list (`bench run --limit`), as the split records it
    improvement: Improvement | None = None
    plots: dict[str, Path] = field(default_factory=dict)  # label -> PNG

    @property
    def cross_validation(self) -> bool:
        return self.n_folds > 1

    def _dataset(self) -> DatasetInfo:
        if self.dataset is None:
            raise ValueError(f"the {self.protocol} table holds published figures only: it has no dataset")
        return self.dataset

    def _split_fingerprint(self) -> str:
        if self.split_fingerprint is None:
            raise ValueError(f"the {self.protocol} table has no split fingerprint")
        return self.split_fingerprint

    @property
    def published_only(self) -> bool:
        return self.dataset is None

    @property
    def title(self) -> str:
        if self.published_only:
            tables = sorted({c.published.table for c in self.columns if c.published})
            return f"{self.protocol} split: published figures ({', '.join(tables)})"
        kind = "synthetic demo data" if self.demo else "NIH ChestX-ray14"
        cv = f", {self.n_folds}-fold cross-validation (split seed {self.seed})" if self.cross_validation else ""
        tag = f" ({self.tag})" if self.tag else ""
        subset = f", at most {self.limit} images per list" if self.limit is not None else ""
        return f"{self.protocol} split{cv}{subset}, {kind}{tag}"

    @property
    def subtitle(self) -> str:
        if self.published_only:
            return "Published test AUROC, as printed (Nugroho 2020)."
        ds = self._dataset()
        fp = (
            f"fold split fingerprints {', '.join(f[:10] for f in self.fold_fingerprints)}"
            if self.cross_validation
            else f"split fingerprint {self._split_fingerprint()[:12]}"
        )
        what = "test AUROC x100, mean ± std over folds (sample std)" if self.cross_validation else "test AUROC"
        return f"{what}; {fp}; dataset fingerprint {ds.fingerprint[:12]}, labels {ds.labels_version}."

    @property
    def slug(self) -> str:
        """A file-name-safe id of the table (for plot folders)."""
        if self.published_only:
            return f"{self.protocol}-published"
        fp = f"s{self.seed}" if self.cross_validation else self._split_fingerprint()[:8]
        demo = "-demo" if self.demo else ""
        return re.sub(r"[^A-Za-z0-9.-]+", "-", f"{self.protocol}-{fp}-{self._dataset().fingerprint[:8]}{demo}")

    def best(self, row: int) -> set[int]:
        """Columns holding the row's best value at the displayed precision (4 decimals of AUROC)."""
        values = [round(float(c.values[row]), 4) for c in self.columns]
        finite = [v for v in values if np.isfinite(v)]
        if len(self.columns) < 2 or not finite:
            return set()
        return {i for i, v in enumerate(values) if v == max(finite)}


@dataclass(frozen=True, eq=False)
class Leaderboard:
    results_dir: Path | None
    tables: tuple[Table, ...]
    reference: str | None = None


class PredictionCache:
    """Loads each run's predictions once; a missing or bad file warns and gives None."""

    def __init__(self, store: RunStore | None, warn):
        self._cache: dict[str, Predictions | None] = {}
        self.store, self.warn = store, warn

    def get(self, record: RunRecord) -> Predictions | None:
        if record.run_id not in self._cache:
            path = self.store.artifact(record, "predictions") if self.store else None
            preds = None
            if path is None:
                self.warn(f"run {record.run_id} has no predictions file recorded")
            else:
                try:
                    preds = load_predictions(path)
                except BenchError as exc:
                    self.warn(f"run {record.run_id}: {exc.one_line()}")
            self._cache[record.run_id] = preds
        return self._cache[record.run_id]


# -- grouping -----------------------------------------------------------------------------------
def group_key(r: RunRecord) -> tuple:
    ds = r.dataset.fingerprint
    params = json.dumps(r.split.params, sort_keys=True)  # e.g. a subset limit recorded with the split
    if r.split.n_folds > 1:
        return ("cv", r.split.protocol, r.split.version, r.split.n_folds, r.split.seed, params, ds)
    return ("single", r.split.protocol, r.split.fingerprint, params, ds)


def column_key(r: RunRecord) -> str:
    """The column a run belongs to: its method's display name, its test-time augmentation, and
    whether it is external (a model trained elsewhere never shares a column with a trained one)."""
    key = r.method.display_name + (f" [tta {r.tta}]" if r.tta != "none" else "")
    return key + (" (external)" if r.kind == "external" else "")


def column_label(key: str, runs: Iterable[RunRecord]) -> str:
    """The header: the key, and an external column's marks: "partial" (part of the test list
    scored), "OVERLAP" (its declared training lists share test images or patients) or
    "unverified" (it declared none)."""
    externals = [r.external for r in runs if r.external is not None]
    if not externals:
        return key
    marks = []
    if any(e.coverage.partial for e in externals):
        marks.append("partial")
    if any(has_overlap(e) for e in externals):
        marks.append("OVERLAP")
    elif not all(e.verified for e in externals):
        marks.append("unverified")
    return f"{key} [{', '.join(marks)}]" if marks else key


def run_order(r: RunRecord) -> tuple:
    return (r.started, r.run_id)


def exclusion(r: RunRecord) -> str | None:
    """Why a run cannot be a result, or None."""
    if r.status != "complete":
        return f"{r.status}: {r.error}" if r.error else r.status
    if r.sanity is not None and not r.sanity.test_auroc_ok:
        return f"sanity check failed: {r.sanity.message}"
    if r.metrics.test is None:
        return "complete but without test metrics"
    return None


def _protocol_rank(protocol: str) -> int:
    return pub.PROTOCOLS.index(protocol) if protocol in pub.PROTOCOLS else len(pub.PROTOCOLS)


def _published_allowed(table_protocol: str, n_folds: int, demo: bool) -> tuple[pub.PublishedColumn, ...]:
    if demo or table_protocol not in pub.PROTOCOLS:
        return ()
    if (table_protocol == "kfold5") != (n_folds == 5):
        return ()
    return pub.published_columns(table_protocol)


def _published_column(col: pub.PublishedColumn) -> Column:
    return Column(col.key, col.label, np.array([col.values]), published=col)


def _run_column(key: str, seed_runs: list[list[RunRecord]], ci: bool, cache: PredictionCache, warn) -> Column:
    """A column of runs, (seeds, folds): AUROC averaged over the seeds; an interval only for a
    column of a single run."""
    per_seed = np.array([[as_array(_test_metrics(r).auroc) for r in runs] for runs in seed_runs])
    lo = hi = None
    if ci and per_seed.shape[:2] == (1, 1):
        lo, hi = _interval(seed_runs[0][0], cache, warn)
    label = column_label(key, [r for runs in seed_runs for r in runs])
    if len(seed_runs) > 1:
        label += f" ({len(seed_runs)} seeds)"
    return Column(
        key,
        label,
        per_seed.mean(axis=0),
        tuple(seed_runs[0]),
        lo=lo,
        hi=hi,
        seed_runs=tuple(tuple(runs) for runs in seed_runs),
        per_seed=per_seed,
    )


def _test_metrics(record: RunRecord) -> EvalMetrics:
    if record.metrics.test is None:
        raise ValueError(f"run {record.run_id} has no test metrics (only complete runs make columns)")
    return record.metrics.test


def _interval(record: RunRecord, cache: PredictionCache, warn) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The 95% patient-bootstrap interval: the record's, else recomputed from its predictions."""
    stored = _test_metrics(record).ci
    if stored is not None:
        return (
            np.append(as_array(stored.lo), np.nan if stored.mean_lo is None else stored.mean_lo),
            np.append(as_array(stored.hi), np.nan if stored.mean_hi is None else stored.mean_hi),
        )
    preds = cache.get(record)
    if preds is None:
        warn(f"run {record.run_id}: no stored interval and no predictions; shown without CI")
        return None, None
    from leaderboard.stats import auroc_interval

    return auroc_interval(preds)


def _cv_columns(
    runs: list[RunRecord], n_folds: int, all_runs: bool, seeds: SeedMode
) -> tuple[dict[str, list[list[RunRecord]]], list[str], tuple[str, ...]]:
    """Per method with every fold complete, its runs (seeds, folds); notes; the folds' fingerprints."""
    by_method: dict[str, dict[int, list[RunRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        name = f"{column_key(r)} (seed {r.seed})" if all_runs else column_key(r)
        by_method[name][r.split.fold].append(r)
    # Every fold's split fingerprint must agree across methods: take the most common (latest on ties).
    fold_fp: dict[int, str] = {}
    for fold in range(n_folds):
        fps = [r for folds in by_method.values() for r in folds.get(fold, [])]
        if fps:
            counted = Counter(r.split.fingerprint for r in fps)
            latest = {r.split.fingerprint: run_order(r) for r in sorted(fps, key=run_order)}
            fold_fp[fold] = max(counted, key=lambda fp: (counted[fp], latest[fp]))
    notes: list[str] = []
    chosen: dict[str, list[list[RunRecord]]] = {}
    for name in sorted(by_method):
        same: dict[int, list[RunRecord]] = {}
        for fold, candidates in by_method[name].items():
            same[fold] = [r for r in candidates if r.split.fingerprint == fold_fp.get(fold)]
            if len(same[fold]) < len(candidates):
                notes.append(
                    f"{name}: fold {fold} has runs on another split fingerprint than the other methods; left out"
                )
        if seeds == "mean" and not all_runs:
            by_seed = _complete_seeds(name, same, n_folds, notes)
            if by_seed:
                chosen[name] = by_seed
                continue
        picked = {fold: max(rs, key=run_order) for fold, rs in same.items() if rs}
        if len(picked) == n_folds:
            chosen[name] = [[picked[f] for f in range(n_folds)]]
            mixed = sorted({r.seed for r in picked.values()})
            if seeds == "mean" and len(mixed) > 1:
                notes.append(
                    f"{name}: no training seed has every fold; the latest run per fold is shown"
                    f" (seeds {', '.join(map(str, mixed))})"
                )
        else:
            done = ", ".join(str(f) for f in sorted(picked)) or "none"
            notes.append(f"{name}: incomplete (folds complete: {done} of {n_folds}); not shown")
    fingerprints = tuple(fold_fp.get(f, "?") for f in range(n_folds))
    return chosen, notes, fingerprints


def _complete_seeds(
    name: str, by_fold: dict[int, list[RunRecord]], n_folds: int, notes: list[str]
) -> list[list[RunRecord]]:
    """Per training seed with a run on every fold, its latest run per fold (seeds ascending); a
    note for each seed left out. Empty when no seed has every fold."""
    latest: dict[int, dict[int, RunRecord]] = defaultdict(dict)
    for fold, candidates in by_fold.items():
        for r in sorted(candidates, key=run_order):  # later runs replace earlier ones
            latest[r.seed][fold] = r
    complete = [s for s in sorted(latest) if len(latest[s]) == n_folds]
    if complete:
        for s in sorted(set(latest) - set(complete)):
            done = ", ".join(str(f) for f in sorted(latest[s]))
            notes.append(f"{name}: seed {s} incomplete (folds complete: {done} of {n_folds}); not in the mean")
    return [[latest[s][f] for f in range(n_folds)] for s in complete]


def _single_columns(good: list[RunRecord], all_runs: bool, seeds: SeedMode) -> list[tuple[str, list[list[RunRecord]]]]:
    """(key, runs per seed) per column of a single-split table: the latest run per column, or
    under `seeds="mean"` per column and training seed; every run under `all_runs`."""
    if all_runs:
        return [
            (f"{column_key(r)} #{r.run_id[-4:]}", [[r]]) for r in sorted(good, key=lambda r: (column_key(r), r.run_id))
        ]
    latest: dict[str, dict[int, RunRecord]] = defaultdict(dict)
    for r in good:  # oldest first, so later runs replace earlier ones
        latest[column_key(r)][r.seed if seeds == "mean" else 0] = r
    return [(key, [[latest[key][s]] for s in sorted(latest[key])]) for key in sorted(latest)]


def build_tables(
    records: Iterable[RunRecord],
    *,
    cache: PredictionCache,
    split: str = "all",
    ci: bool = False,
    show_published: bool = True,
    all_runs: bool = False,
    seeds: SeedMode = "mean",
    warn=lambda message: None,
) -> list[Table]:
    """One table per comparable group of runs (improvement and plots are added later)."""
    groups: dict[tuple, list[RunRecord]] = defaultdict(list)
    for r in records:
        if split in ("all", r.split.protocol):
            groups[group_key(r)].append(r)
    tables = []
    for runs in groups.values():
        runs.sort(key=run_order)
        newest = runs[-1]
        demo = newest.dataset.kind == "demo"
        good = [r for r in runs if exclusion(r) is None]
        others = tuple(OtherRun(r, reason) for r in runs if (reason := exclusion(r)) is not None)
        notes: list[str] = []
        columns: list[Column] = []
        n_folds = newest.split.n_folds
        fold_fps: tuple[str, ...] = ()
        if n_folds > 1:
            chosen, notes, fold_fps = _cv_columns(good, n_folds, all_runs, seeds)
            columns = [_run_column(name, seed_runs, ci, cache, warn) for name, seed_runs in chosen.items()]
        else:
            picked = _single_columns(good, all_runs, seeds)
            hidden = len(good) - sum(len(seed_runs) for _, seed_runs in picked)
            if hidden:
                notes.append(f"{hidden} older complete run(s) of the same methods hidden (--all-runs shows them)")
            columns = [_run_column(key, seed_runs, ci, cache, warn) for key, seed_runs in picked]
        notes += _seed_notes(columns, n_folds > 1, ci)
        published = _published_allowed(newest.split.protocol, n_folds, demo) if show_published else ()
        tables.append(
            Table(
                protocol=newest.split.protocol,
                n_folds=n_folds,
                demo=demo,
                columns=tuple(_published_column(c) for c in published) + tuple(columns),
                dataset=newest.dataset,
                split_fingerprint=None if n_folds > 1 else newest.split.fingerprint,
                fold_fingerprints=fold_fps,
                seed=newest.split.seed,
                other_runs=others,
                notes=tuple(notes),
                limit=newest.split.params.get("limit"),
            )
        )
    # Newest group first within a protocol, real data before the demo (sorts are stable).
    tables.sort(key=_latest_start, reverse=True)
    tables.sort(key=lambda t: (t.demo, _protocol_rank(t.protocol), t.protocol))
    _note_split_siblings(tables)
    return tables


def _seed_notes(columns: list[Column], cross_validation: bool, ci: bool) -> list[str]:
    """How many training seeds each column averages, when any averages several."""
    if all(c.n_seeds < 2 for c in columns):
        return []
    counts = "; ".join(
        f"{c.key}: {c.n_seeds} seed{'s' if c.n_seeds > 1 else ''} ({', '.join(map(str, c.seeds))})" for c in columns
    )
    if cross_validation:
        return [f"each fold's AUROC is the mean over the column's training seeds; seeds per column: {counts}"]
    interval = "; intervals are those of single runs only" if ci else ""
    return [
        "a column of several training seeds shows their mean ± the sample std over seeds"
        f"{interval}; seeds per column: {counts}"
    ]


def _latest_start(t: Table) -> str:
    # A table of incomplete k-fold runs only has neither columns nor excluded runs.
    started = [r.started for c in t.columns for runs in c.seed_runs for r in runs]
    return max(started + [o.record.started for o in t.other_runs], default="")


def _note_split_siblings(tables: list[Table]) -> None:
    """Say so when one protocol appears in several tables of one title (different split or dataset
    fingerprints; tables of different --limit subsets have titles of their own)."""
    count = Counter((t.protocol, t.demo, t.limit) for t in tables)
    for i, t in enumerate(tables):
        if count[(t.protocol, t.demo, t.limit)] > 1:
            note = (
                f"{count[(t.protocol, t.demo, t.limit)]} {t.protocol} tables: their runs used different split or dataset"
                " fingerprints, so they are not comparable with each other"
            )
            fp = t.fold_fingerprints[0] if t.cross_validation else t._split_fingerprint()
            tag = f"split {fp[:8]}, dataset {t._dataset().fingerprint[:8]}"
            tables[i] = replace(t, notes=t.notes + (note,), tag=tag)


def published_only_tables(split: str = "all") -> list[Table]:
    """The paper's tables per protocol, no runs (`--published-only`)."""
    protocols = pub.PROTOCOLS if split == "all" else (split,)
    if split != "all":
        pub.check_protocol(split)
    return [
        Table(
            protocol=p,
            n_folds=5 if p == "kfold5" else 1,
            demo=False,
            columns=tuple(_published_column(c) for c in pub.published_columns(p)),
        )
        for p in protocols
    ]
