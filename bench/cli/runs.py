"""`bench runs list`, `bench runs show RUN_ID` and `bench runs evaluate RUN_ID`: the run records under a
results directory."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bench.cli.options import ResultsOption
from bench.config import results_dir
from bench.labels import LABELS, NUM_CLASSES
from bench.ui.console import notice, out, warn

group = typer.Typer(help="List and inspect runs (their record.json files).", no_args_is_help=True)


def mount(app: typer.Typer) -> None:
    app.add_typer(group, name="runs")


def _mean_text(metrics) -> str:
    """A mean AUROC as "0.8312", or "0.8312 (13/14)" when some classes are undefined."""
    if metrics is None or metrics.mean is None:
        return "-"
    count = "" if metrics.n_defined == NUM_CLASSES else f" ({metrics.n_defined}/{NUM_CLASSES})"
    return f"{metrics.mean:.4f}{count}"


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _span(record) -> str:
    """ended - started, the clock time between the run's first start and its end."""
    if not record.ended:
        return "-"
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return _hms((parse(record.ended) - parse(record.started)).total_seconds())


def _duration(record) -> str:
    """The run's working time. A run interrupted and resumed keeps its first `started`, so
    ended - started would count the hours it lay stopped. Each stage's `wall_s` is its training
    time, carried over a resume (the engine stores the accumulated train seconds), so their sum
    is what the run really spent; the record holds no separate evaluation time, so the test
    phase, which runs once after the last stage, is not in it. When a stage has no wall_s
    (an older record, or a run that never trained) the span is all there is."""
    walls = [s.wall_s for s in record.stages]
    if walls and all(w is not None for w in walls):
        return _hms(sum(walls))
    return _span(record)


_STATUS_STYLE = {
    "complete": "green",
    "failed": "red",
    "interrupted": "yellow",
    "running": "cyan",
    "stale": "magenta",
}


@group.command("list")
def list_runs(
    method: Annotated[str | None, typer.Option("--method", help="Only this method (registry or display name).")] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Only this split protocol (official, kfold5, weng, ...).")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only this status: running, stale (running, but its process is gone), complete, failed or interrupted.",
        ),
    ] = None,
    results: ResultsOption = None,
) -> None:
    """List runs, oldest first, with their status and mean test AUROC.

    Example: bench runs list --split official --status complete
    """
    from rich.markup import escape

    from bench.records import RunStore
    from bench.ui.tables import Cell, Column, Table, row

    store = RunStore(results_dir(results))
    scan = store.scan(method=method, split=split, status=status)
    for problem in scan.problems:
        warn(escape(problem))
    records = scan.records
    if status == "running":  # the live ones: a record whose process is gone shows under --status stale
        records = tuple(r for r in records if store.liveness(r) == "running")
    if not records:
        notice(f"no runs match in {store.runs_dir}")
        return
    rows = []
    for r in records:
        sanity_failed = r.sanity is not None and not r.sanity.test_auroc_ok
        status_now = store.liveness(r)  # "stale": "running" in the record, but its process is gone
        state = Cell(
            status_now + (" (sanity failed)" if sanity_failed else ""),
            style="red" if sanity_failed else _STATUS_STYLE[status_now],
        )
        demo = " (demo)" if r.dataset.kind == "demo" else ""
        rows.append(
            row(
                r.run_id,
                state,
                _method_text(r),
                f"{r.split.protocol} {r.split.fold}/{r.split.n_folds}{demo}",
                _mean_text(r.metrics.test),
                _duration(r),
            )
        )
    columns = (
        Column("run id", wrap="fold"),  # narrow terminals fold the long ids rather than crop the last columns
        Column("status"),
        Column("method", wrap="fold"),
        Column("split / fold"),
        Column("test AUROC", "right"),
        Column("wall", "right"),
    )
    out.print(Table(columns, tuple(rows), title=f"Runs in {store.runs_dir}"))


@group.command("show")
def show(
    run_id: Annotated[
        str, typer.Argument(help="A run id (or a unique prefix of one), as `bench runs list` prints it.")
    ],
    results: ResultsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Show one run's record: setup, environment, stages, per-class metrics, artifacts.

    Example: bench runs show 20261125-181500-wfocal-effb3-official-f0-s0-3fa2
    """
    from bench.records import RunStore

    store = RunStore(results_dir(results))
    record = store.load(run_id)
    if as_json:
        out.print_json(json.dumps(record.to_json()))
        return
    _print_record(record, store)


@group.command("evaluate")
def evaluate(
    run_id: Annotated[
        str, typer.Argument(help="A run id (or a unique prefix of one), as `bench runs list` prints it.")
    ],
    results: ResultsOption = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The run's dataset root, if it moved; default: the root its record names."),
    ] = None,
    val_predictions: Annotated[
        Path | None,
        typer.Option(
            "--val-predictions",
            help="Predictions on validation images (the predictions parquet format) to choose thresholds on.",
        ),
    ] = None,
    plots: Annotated[
        Path | None, typer.Option("--plots", help="Write the reliability diagram PNG into this folder.")
    ] = None,
    ci: Annotated[bool, typer.Option("--ci/--no-ci", help="Show 95% patient-bootstrap intervals.")] = True,
    resamples: Annotated[
        int, typer.Option("--resamples", min=1, help="Patient-bootstrap resamples behind the intervals.")
    ] = 1000,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the evaluation as JSON (bench.evaluation's dataclasses) instead.")
    ] = False,
    save: Annotated[
        bool, typer.Option("--save", help="Store the evaluation in the run's record (`bench runs show` shows it).")
    ] = False,
) -> None:
    """Evaluate one run beyond its mean AUROC, from its stored predictions and the dataset index:
    AUROC by view, sex and age band with the gaps, calibration (probability scores only) and
    operating points (Youden's J and maximum F1) chosen on validation predictions: the run's own
    (a trained run's last stage's), or --val-predictions.

    Example: bench runs evaluate 20261125-181500-wfocal-effb3-official-f0-s0-3fa2 --plots figures
    """
    import dataclasses

    from rich.markup import escape

    from bench.evaluation.runs import run_evaluation
    from bench.evaluation.tables import evaluation_tables
    from bench.records import RunStore
    from bench.ui.tables import rich_notes

    store = RunStore(results_dir(results))
    folder = store.found_id(run_id)
    # A copied run folder's record names the run it was copied from: this folder's files are read and written.
    record = dataclasses.replace(store.load(folder), run_id=folder)
    evaluated = run_evaluation(store, record, data=data, val_predictions=val_predictions, n_resamples=resamples)
    result = evaluated.evaluation
    if save:
        with store.lock(folder):  # not while a resume or `bench cam` writes the record
            store.write(dataclasses.replace(store.load(folder), run_id=folder, evaluation=evaluated.record))
        notice(f"stored the evaluation in {store.record_path(folder)}")
    if as_json:
        from bench.schema import encode

        out.print_json(json.dumps({"run_id": record.run_id, "evaluation": encode(result)}))
        return
    out.print(escape(f"{record.run_id}: {_method_text(record)}, test AUROC {_mean_text(record.metrics.test)}"))
    for table in evaluation_tables(result, ci=ci):
        out.print(table)
    if result.notes:
        out.print(rich_notes(result.notes))
    if plots is not None:
        if result.calibration is None:
            warn("no reliability diagram: the run's scores are not probabilities")
        else:
            from bench.evaluation.plots import reliability_png

            path = plots / f"{record.run_id}-reliability.png"
            notice(f"wrote {reliability_png(result.calibration, path, title=record.method.display_name)}")


def _method_text(r) -> str:
    """The method's name, marked when its scores come from elsewhere or were test-time augmented."""
    marks = (["external"] if r.kind == "external" else []) + ([f"tta {r.tta}"] if r.tta != "none" else [])
    return r.method.display_name + (f" ({', '.join(marks)})" if marks else "")


def _status_text(r, store) -> str:
    status = store.liveness(r)
    if status == "stale":
        return (
            f"stale: the record says running, but no process holds the run's lock "
            f"(it crashed or was killed; continue it with: bench run --resume {r.run_id})"
        )
    return status + (f": {r.error}" if r.error else "")


def _print_record(r, store) -> None:
    from bench.records.provenance import provenance
    from bench.ui.tables import Column, Table, row

    env = r.environment
    if r.kind == "external":
        model = [("model", f"{r.method.display_name} (external: trained elsewhere)"), *provenance(r)]
        if r.method.spec:  # `bench eval`: the architecture came from a method
            model.insert(1, ("method", r.method.name))
    else:
        model = [
            ("method", f"{r.method.display_name} (registry name {r.method.name})"),
            ("overrides", ", ".join(f"{k}={v}" for k, v in r.method.overrides.items()) or "none"),
            ("method origin", r.method.origin.text() if r.method.origin else "not recorded"),
        ]
    if r.tta != "none":
        model.append(("test-time augmentation", r.tta))
    rows = [
        ("run", r.run_id),
        ("status", _status_text(r, store)),
        ("started / ended", f"{r.started} / {r.ended or '-'} ({_span(r)}; working time {_duration(r)})"),
        *model,
        (
            "split",
            f"{r.split.protocol}@{r.split.version} fold {r.split.fold} of {r.split.n_folds}, split seed "
            f"{r.split.seed}, fingerprint {r.split.fingerprint[:16]}"
            + (", LEAKAGE ALLOWED" if r.split.allow_leakage else ""),
        ),
        (
            "dataset",
            f"{r.dataset.kind} at {r.dataset.root}, labels {r.dataset.labels_version}, "
            f"fingerprint {r.dataset.fingerprint[:16]}",
        ),
        ("seed / preset / device", f"{r.seed} / {r.preset} / {r.device}"),
        (
            "environment",
            f"python {env.python}, torch {env.torch}, timm {env.timm}, torchxrayvision "
            f"{env.torchxrayvision}, cuda {env.cuda}, gpu {env.gpu}, world size {env.world_size}",
        ),
        ("git", f"{env.git_commit or 'unknown'}" + (" (dirty)" if env.git_dirty else "")),
        ("test AUROC", _mean_text(r.metrics.test)),
        ("val AUROC", _mean_text(r.metrics.val)),
    ]
    if r.sanity is not None:
        rows.append(("sanity", ("ok: " if r.sanity.test_auroc_ok else "FAILED: ") + r.sanity.message))
    for name in ("predictions", "checkpoint", "history"):
        path = store.artifact(r, name)
        if path is not None:
            rows.append((name, f"{path}" + ("" if path.exists() else " (missing)")))
    val_files = [store.run_dir(r.run_id) / f for f in r.artifacts.val_predictions]
    if val_files:
        rows.append(("val predictions", ", ".join(f"{p}" + ("" if p.exists() else " (missing)") for p in val_files)))
    summary = Table((Column(key=True), Column()), tuple(row(key, str(value)) for key, value in rows), frame="grid")
    out.print(summary)

    if r.stages:
        headers = ("stage", "size", "batch", "epochs", "wall s", "train img/s", "best epoch", "best val AUROC")
        stages = tuple(
            row(
                str(s.index + 1),
                str(s.image_size),
                str(s.batch_size),
                f"{s.epochs_run}/{s.epochs_planned}",
                _num(s.wall_s, ".0f"),
                _num(s.train_images_per_s, ".1f"),
                _num(s.best_epoch, "d"),
                _num(s.best_val_auroc, ".4f"),
            )
            for s in r.stages
        )
        out.print(Table(tuple(Column(h, "right") for h in headers), stages, title="Stages"))

    test, val = r.metrics.test, r.metrics.val
    if test is not None or val is not None:
        columns = []
        if val is not None:
            columns.append(("val AUROC", val.auroc))
        if test is not None:
            columns += [("test AUROC", test.auroc), ("test AUPRC", test.auprc)]
            if test.ci is not None:
                pct = f"{test.ci.level:.0%}"
                columns.append((f"{pct} CI ({test.ci.unit})", None))
        if r.positives is not None:
            columns.append(("test positives", r.positives.test))
        per = []
        for label in LABELS:
            cells = []
            for name, values in columns:
                if values is None:
                    cells.append(f"[{_num(test.ci.lo[label], '.4f')}, {_num(test.ci.hi[label], '.4f')}]")
                else:
                    cells.append(_num(values[label], "d" if name == "test positives" else ".4f"))
            per.append(row(label, *cells))
        header = (Column("pathology"), *(Column(name, "right") for name, _ in columns))
        out.print(Table(header, tuple(per), title="Per-class metrics"))
    print_evaluation(r)


def _num(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_evaluation(r) -> None:
    """The record's evaluation, compactly: per attribute each subgroup's mean AUROC and the gap,
    the mean ECE and Brier score, the operating points' mean rates; or one line saying how to
    compute it."""
    from bench.ui.tables import Column, Table, rich_notes, row

    ev = r.evaluation
    if ev is None:
        out.print(f"evaluation: none stored (compute it with: bench runs evaluate {r.run_id} --save)", markup=False)
        return
    rows = [("computed", f"{ev.computed}, {ev.n_resamples} patient-bootstrap resamples, {ev.level:.0%} intervals")]
    if ev.subgroups is not None:
        for a in ev.subgroups.attributes:
            means = ", ".join(f"{g.name} {g.mean.text()}" for g in a.subgroups)
            rows.append((f"AUROC by {a.attribute}", f"{means}; {_gap_text(a.mean_gap, a.mean_gap_classes)}"))
    if ev.calibration is not None:
        c = ev.calibration
        rows.append(
            (
                "calibration",
                f"mean ECE {c.mean_ece.text()}{_interval(c.mean_ece)}, "
                f"mean Brier {c.mean_brier.text()}{_interval(c.mean_brier)} ({c.n_bins} equal-mass bins)",
            )
        )
    if ev.operating is not None:
        v = ev.operating.validation
        rows.append(("thresholds chosen on", f"{v.file} ({v.images} images, SHA-256 {v.sha256[:12]})"))
        for rule in ev.operating.rules:
            rates = ", ".join(f"{_RATE_NAMES[k]} {m.text()}" for k, m in rule.means.items())
            rows.append((_RULE_NAMES.get(rule.rule, rule.rule), f"test {rates}"))
    out.print(
        Table(
            (Column(key=True), Column()),
            tuple(row(key, value) for key, value in rows),
            title="Evaluation (means over classes)",
            frame="compact",
            show_header=False,
        )
    )
    if ev.notes:
        out.print(rich_notes(ev.notes))


_RULE_NAMES = {"youden": "Youden's J", "f1": "maximum F1"}
_RATE_NAMES = {"sensitivity": "sensitivity", "specificity": "specificity", "ppv": "PPV", "npv": "NPV", "f1": "F1"}


def _interval(mean) -> str:
    return "" if mean.lo is None or mean.hi is None else f" [{mean.lo:.4f}, {mean.hi:.4f}]"


def _gap_text(gap, n_classes: int) -> str:
    if gap.value is None:
        return "gap undefined (no class is defined in every subgroup)"
    return f"gap {gap.best} - {gap.worst} {gap.value:+.4f}{_interval(gap)} over {n_classes} classes"
