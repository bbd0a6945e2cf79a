"""`bench splits ...`: list, show, audit, fetch and export split protocols."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bench.cli.options import DataOption
from bench.config import data_root
from bench.errors import BenchError
from bench.ui.console import notice, out

if TYPE_CHECKING:  # pandas and sklearn load only when a command runs, keeping `bench --help` fast
    from bench.data.index import DatasetIndex
    from splits.base import Fold

group = typer.Typer(
    help="Split protocols (official, kfold5, weng, custom:PATH): list, show, audit, fetch, export.",
    no_args_is_help=True,
)

NameArgument = Annotated[
    str, typer.Argument(help="Protocol name (see `bench splits list`) or custom:PATH.", show_default=False)
]
SeedOption = Annotated[int, typer.Option("--seed", min=0, help="Seed of seeded protocols (official, kfold5).")]
ValFractionOption = Annotated[
    float, typer.Option("--val-fraction", help="Share of patients held out for validation (official, kfold5).")
]


def _folds(name: str, data: Path | None, seed: int, val_fraction: float) -> tuple[list[Fold], DatasetIndex]:
    """Every fold of split `name` and the label index (images unchecked) they were made from."""
    from bench.data.dataset import open_dataset
    from splits import resolve

    protocol = resolve(name)  # a bad name or custom folder fails before the (slower) index loads
    index = open_dataset(data_root(data), check_images=False)
    notice("images not checked (split logic needs labels only)")
    return protocol.folds(index, seed=seed, val_fraction=val_fraction), index


@group.command("list")
def list_() -> None:
    """List the split protocols with one-line descriptions.

    Example: bench splits list
    """
    from bench.ui.tables import Column, Table, row
    from splits import SPLITS

    rows = []
    for name in SPLITS.names():
        protocol = SPLITS.get(name)
        rows.append(
            row(
                protocol.usage or name,
                str(protocol.version),
                str(protocol.n_folds) if protocol.n_folds else "from files",
                "yes" if protocol.uses_seed else "no",
                protocol.description,
                SPLITS.entry(name).origin,
            )
        )
    columns = tuple(Column(h) for h in ("name", "version", "folds", "seeded", "description", "origin"))
    out.print(Table(columns, tuple(rows), title="split protocols"))


@group.command()
def show(
    name: NameArgument,
    fold: Annotated[
        int | None, typer.Option("--fold", min=0, help="Show only this fold (0-based); default: all.")
    ] = None,
    data: DataOption = None,
    seed: SeedOption = 0,
    val_fraction: ValFractionOption = 0.1,
) -> None:
    """Show images, patients and per-class positives of each list, and the fold fingerprints.

    Example: bench splits show kfold5 --fold 0 --data /data/nih
    """
    from splits import pick
    from splits.audit import audit
    from splits.report import fold_table

    folds, index = _folds(name, data, seed, val_fraction)
    if fold is not None:
        folds = [pick(folds, fold, name)]
    report = audit(folds, index, split=name)
    out.print(f"dataset {report.dataset}, labels {report.labels_version}", markup=False)
    for f in report.folds:
        out.print(fold_table(report, f))
        out.print(f"fingerprint {f.fingerprint}", soft_wrap=True)  # never wrapped: it gets copied


@group.command("audit")
def audit_(
    name: NameArgument,
    data: DataOption = None,
    seed: SeedOption = 0,
    val_fraction: ValFractionOption = 0.1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
) -> None:
    """Check a split for unknown or duplicate ids, shared images or patients between lists,
    test folds that do not partition the dataset, and classes with undefined AUROC. Exit 1 on faults.

    Example: bench splits audit custom:./my-split --data /data/nih --json
    """
    from splits.audit import audit

    folds, index = _folds(name, data, seed, val_fraction)
    report = audit(folds, index, split=name)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_audit(report)
    if not report.ok:
        raise BenchError(f"split {name!r}: {len(report.faults)} fault(s) found", exit_code=1)


def _print_audit(report) -> None:
    from rich.markup import escape

    from splits.report import checks_table, coverage_line, positives_tables

    out.print(f"dataset {report.dataset}, labels {report.labels_version}", markup=False)
    out.print(checks_table(report))
    line = coverage_line(report)
    if line is not None:
        out.print(line, markup=False)
    for table in positives_tables(report):
        out.print(table)
    for warning in report.warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    for fault in report.faults:
        out.print(f"[red]fault:[/red] {escape(fault)}")
    if report.ok:
        out.print(f"[green]no faults[/green] in {len(report.folds)} fold(s)")


@group.command()
def fetch(
    name: Annotated[str, typer.Argument(help="The split whose lists to download (only weng).", show_default=False)],
) -> None:
    """Download the weng lists (arnoweng/CheXNet, pinned commit) into the cache and verify their SHA-256.

    Example: bench splits fetch weng
    """
    from splits import weng

    if name != "weng":
        raise BenchError(f"nothing to fetch for split {name!r}", hint="only `bench splits fetch weng` downloads lists")
    dest = weng.fetch()
    out.print(f"weng lists verified and written to {dest}")


@group.command()
def export(
    name: NameArgument,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the lists into.", show_default=False)],
    data: DataOption = None,
    seed: SeedOption = 0,
    val_fraction: ValFractionOption = 0.1,
    fmt: Annotated[
        str, typer.Option("--format", help="names (one per line), arnoweng (name + 14 labels) or csv.")
    ] = "names",
    force: Annotated[bool, typer.Option("--force", help="Replace split lists already in --out.")] = False,
) -> None:
    """Write every fold's lists (train{k}, val{k}, test{k}, k from 0) and SPLIT.json, re-importable as custom:DIR.

    Example: bench splits export kfold5 --out ./kfold5-seed0 --seed 0
    """
    from splits.export import export as write

    folds, index = _folds(name, data, seed, val_fraction)
    written = write(folds, out_dir, index=index, fmt=fmt, force=force)
    out.print(f"wrote {len(written)} lists ({len(folds)} fold(s)) to {out_dir}; re-import with custom:{out_dir}")


def mount(app: typer.Typer) -> None:
    app.add_typer(group, name="splits")
