"""The whole leaderboard: tables from a results directory (or the published ones), with
improvement tables against a reference and, optionally, ROC plots."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.errors import BenchError
from bench.evaluation.multiple import Correction
from bench.records import RunStore
from leaderboard import published as pub
from leaderboard.improvement import improvement, resolve
from leaderboard.stats import N_RESAMPLES
from leaderboard.tables import Leaderboard, PredictionCache, SeedMode, Table, build_tables, published_only_tables


def build_leaderboard(
    results_dir: Path | None,
    *,
    split: str = "all",
    reference: str | None = None,
    ci: bool = False,
    show_published: bool = True,
    published_only: bool = False,
    all_runs: bool = False,
    seeds: SeedMode = "mean",
    plots_dir: Path | None = None,
    correction: Correction = "holm",
    n_resamples: int = N_RESAMPLES,
    warn=lambda message: None,
) -> Leaderboard:
    """Raises BenchError for no runs, a split without runs and an unknown reference. `correction`
    adjusts each improvement table's p-values for their number; `n_resamples` sets the bootstraps
    behind its k-fold intervals and seed comparisons."""
    if published_only:
        cache = PredictionCache(None, warn)
        tables = published_only_tables(split)
    else:
        if results_dir is None:
            raise BenchError("no results folder given", hint="pass --results, or ask for the published figures only")
        store = RunStore(results_dir)
        scan = store.scan()
        for problem in scan.problems:
            warn(problem)
        records = list(scan.records)
        if not records:
            raise BenchError(
                f"no run records in {store.runs_dir}",
                hint="train one with `bench run`, pass --results DIR, or see the paper's tables with --published-only",
            )
        protocols = sorted({r.split.protocol for r in records})
        if split != "all" and split not in protocols:
            raise BenchError(
                f"no runs on split {split!r} in {store.runs_dir}",
                hint=f"runs exist on: {', '.join(protocols)}; the paper's tables alone: --published-only",
            )
        cache = PredictionCache(store, warn)
        tables = build_tables(
            records,
            cache=cache,
            split=split,
            ci=ci,
            show_published=show_published,
            all_runs=all_runs,
            seeds=seeds,
            warn=warn,
        )
    tables = _with_improvements(tables, reference, cache, warn, correction, n_resamples)
    if plots_dir is not None:
        from leaderboard.plots import roc_plots

        tables = [replace(t, plots=roc_plots(t, plots_dir, cache)) for t in tables]
    return Leaderboard(results_dir, tuple(tables), reference)


def _with_improvements(
    tables: list[Table],
    reference: str | None,
    cache: PredictionCache,
    warn,
    correction: Correction,
    n_resamples: int,
) -> list[Table]:
    refs = []
    for t in tables:
        name = reference
        if name is None and any(c.key == pub.DEFAULT_REFERENCE.get(t.protocol) for c in t.columns):
            name = pub.DEFAULT_REFERENCE[t.protocol]  # the paper's baseline for this protocol
        refs.append(resolve(t, name) if name else None)
    if reference is not None and not any(refs):
        raise _unknown_reference(reference, tables)
    out = []
    for t, ref in zip(tables, refs):
        if ref is not None and len(t.columns) > 1:
            t = replace(t, improvement=improvement(t, ref, cache, warn, correction, n_resamples))
        elif reference is not None and ref is None:
            t = replace(t, notes=t.notes + (f"reference {reference} is not in this table: no improvement table",))
        out.append(t)
    return out


def _unknown_reference(reference: str, tables: list[Table]) -> BenchError:
    shown = sorted({c.key for t in tables for c in t.columns if not c.published})
    if reference.startswith(pub.PREFIX):
        column = pub.find_column(reference)
        if column is not None:
            return BenchError(
                f"reference {reference} ({column.table}, {column.protocol} split) is in none of these tables",
                hint=f"published columns appear beside real NIH runs on {column.protocol}, or with --published-only",
            )
        shown_protocols = sorted({t.protocol for t in tables} & set(pub.PROTOCOLS)) or list(pub.PROTOCOLS)
        choices = [c.key for p in shown_protocols for c in pub.published_columns(p)]
        return BenchError(f"unknown published column {reference!r}", hint=f"choose from: {', '.join(choices)}")
    hint = f"methods here: {', '.join(shown)}" if shown else "no methods here"
    return BenchError(
        f"unknown reference {reference!r}", hint=f"{hint}; or a published column, e.g. published:agcnn_third_party"
    )
