"""`bench methods ...`: list the registered methods, show one's full spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bench.errors import BenchError
from bench.ui.console import err, out
from bench.ui.tables import Cell, Column, Table, row

group = typer.Typer(help="Training methods (built-in and plugins): list, show, check.", no_args_is_help=True)

PluginOption = Annotated[
    list[Path] | None,
    typer.Option("--plugin", help="A plugin file to load first (repeatable).", show_default=False),
]


def _load(plugins: list[Path] | None):
    from bench.method import METHODS

    for path in plugins or ():
        METHODS.load_file(path)
    return METHODS


def _stages(stages) -> str:
    return " → ".join(str(s.image_size) for s in stages)


@group.command("list")
def list_(plugin: PluginOption = None) -> None:
    """List every method: backbone, loss, optimizer, the paper's stages and where it comes from.

    Example: bench methods list --plugin my_method.py
    """
    registry = _load(plugin)
    rows = []
    for name in registry.names():
        origin = registry.entry(name).origin
        try:
            spec = registry.get(name).spec
        except BenchError as exc:  # one broken plugin must not hide the others
            rows.append(row(name, "", Cell(f"error: {exc.one_line()}", style="red"), "", "", origin))
            continue
        loss, opt = spec.loss, spec.optimizer
        rows.append(
            row(
                name,
                spec.backbone,
                f"{loss.name} {loss.weighting}",
                f"{opt.name} {opt.lr:g}",
                _stages(spec.presets["paper"]),
                origin,
            )
        )
    # Narrow terminals wrap every column but the name, never cut them.
    columns = (
        Column("name", key=True, wrap="never"),
        *(Column(h, wrap="fold") for h in ("backbone", "loss", "optimizer", "stages", "origin")),
    )
    out.print(Table(columns, tuple(rows), title="methods (stages: the paper preset's image sizes)", frame="compact"))


@group.command("show")
def show(
    name: Annotated[
        str | None, typer.Argument(help="Method name (see `bench methods list`).", show_default=False)
    ] = None,
    plugin: PluginOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the spec as JSON (as run records store it).")] = False,
    fields: Annotated[
        bool, typer.Option("--fields", help="Print the plugin contract: every spec field and every hook.")
    ] = False,
) -> None:
    """Show a method's full spec: every preset's stages, the paper's equations, the citation;
    with --fields, what any spec may hold and what each hook gets.

    Example: bench methods show wfocal-effb3
    """
    from bench.method import METHODS, get_method

    if fields:
        _print_contract()
        return
    if name is None:
        raise BenchError("no method given", hint="pass a method name, or --fields for the contract of every method")
    method = get_method(name, plugins=plugin or ())
    spec = method.spec
    if as_json:
        out.print_json(json.dumps(spec.to_dict()))
        return
    norm = spec.normalisation
    rows = [
        ("name", spec.name),
        ("description", spec.description),
        ("citation", spec.citation or "-"),
        ("equations", spec.equations or "-"),
        ("backbone", f"{spec.backbone} (timm), 14 sigmoid outputs"),
        ("pretrained", f"{spec.pretrained} (stage 1; --no-pretrained turns it off)"),
        ("from scratch", _RESIDUAL_INIT[spec.residual_init]),
        ("loss", spec.loss.summary()),
        ("optimizer", spec.optimizer.summary()),
        ("schedule", spec.schedule.summary()),
        ("augmentation", ", ".join(spec.augmentation) + " (training only)" if spec.augmentation else "none"),
        (
            "normalisation",
            f"grey image in [0, 1] replicated to 3 channels, mean {norm.mean}, std {norm.std}",
        ),
        *(
            (f"params.{key}", f"{_value(p.value)} ({p.kind}{_choices(p.choices)})" + (f": {p.help}" if p.help else ""))
            for key, p in spec.params.items()
        ),
        ("hooks", ", ".join(method.overridden()) or "none overridden"),
        ("origin", METHODS.entry(name).origin),
    ]
    rows += [("note", note) for note in spec.notes]
    info = (Column(key=True, wrap="never"), Column(wrap="fold"))
    out.print(Table(info, tuple(row(*r) for r in rows), frame="grid"))

    presets = []
    for preset, preset_stages in spec.presets.items():
        for i, s in enumerate(preset_stages, start=1):
            cells = (s.image_size, s.batch_size, s.epochs, f"{spec.stage_lr(s):g}")
            presets.append(row(preset if i == 1 else "", str(i), *map(str, cells)))
    columns = (Column("preset"), *(Column(h, "right") for h in ("stage", "image size", "batch", "epochs", "lr")))
    out.print(Table(columns, tuple(presets), title="presets (bench run --preset NAME)"))


_RESIDUAL_INIT = {
    None: "as timm initialises the backbone",
    "identity": "residual blocks start as the identity (each branch's last BatchNorm weight 0)",
    "random": "residual branches fully random (their last BatchNorm weight 1)",
}


def _print_contract() -> None:
    from bench.method.contract import CLASSES, field_rows, hook_rows

    columns = (
        Column("field", key=True, wrap="never"),
        *(Column(h, wrap="fold") for h in ("type", "default", "allowed", "--set", "meaning")),
    )
    for cls in CLASSES:
        rows = tuple(row(r.name, r.type, r.default, r.allowed, r.set_key or "no", r.meaning) for r in field_rows(cls))
        out.print(Table(columns, rows, title=cls.__name__, frame="compact"))
    hooks = tuple(row(h.signature, h.called, h.returns, h.default) for h in hook_rows())
    hook_columns = (
        Column("hook", key=True, wrap="fold"),
        *(Column(h, wrap="words") for h in ("called", "returns", "default")),
    )
    out.print(Table(hook_columns, hooks, title="Hooks (methods of Method)", frame="compact"))


def _value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _choices(choices: tuple[str, ...]) -> str:
    return f", one of {', '.join(choices)}" if choices else ""


@group.command("check")
def check(
    name: Annotated[str, typer.Argument(help="Method name (see `bench methods list`).", show_default=False)],
    plugin: PluginOption = None,
) -> None:
    """Check a method without training it: every name its spec uses, then its hooks built at the
    smoke preset's first stage, one training step on a tiny random batch and one scheduler step.

    Prints one line per problem; exits 2 if there is any.

    Example: bench methods check asl-densenet121 --plugin my_method.py
    """
    from bench.method import get_method
    from bench.method.check import check_method

    method = get_method(name, plugins=plugin or ())
    problems = check_method(method)
    for problem in problems:
        err.print(f"[bold red]problem:[/bold red] {escape(problem)}")
    if problems:
        raise BenchError(f"method {name!r}: {len(problems)} problem(s)", hint="fix them and check again")
    out.print(
        f"method {name}: ok (spec resolved; model, loss, optimizer and scheduler built; one step taken; predict run)"
    )


def mount(app: typer.Typer) -> None:
    app.add_typer(group, name="methods")
