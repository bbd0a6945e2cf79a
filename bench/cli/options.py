"""Options shared by several commands (so every command spells them the same way)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bench.config import DATA_ENV, RESULTS_ENV, data_root, results_dir
from bench.errors import BenchError
from bench.ui.console import notice

if TYPE_CHECKING:
    from bench.train.options import RunOptions

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        envvar=DATA_ENV,
        help=f"NIH ChestX-ray14 root (or ${DATA_ENV}); default: the built-in synthetic demo dataset.",
        show_default=False,
    ),
]
ResultsOption = Annotated[
    Path | None,
    typer.Option(
        "--results",
        envvar=RESULTS_ENV,
        help=f"Results directory (or ${RESULTS_ENV}); default: ./results.",
        show_default=False,
    ),
]


# Training options of `bench run`, passed through by `bench sweep` (and some by `bench perf`).
PresetOption = Annotated[
    str | None, typer.Option(help="paper, demo or smoke; default: demo on demo data, paper on NIH data.")
]
EpochsOption = Annotated[int | None, typer.Option(help="Epochs per stage (overrides the preset).")]
BatchSizeOption = Annotated[int | None, typer.Option(help="Stage 1 batch size; later stages keep their ratio.")]
ImageSizeOption = Annotated[int | None, typer.Option(help="Stage 1 image size; later stages keep their ratio.")]
LrOption = Annotated[float | None, typer.Option(help="Learning rate for every stage (overrides the method's).")]
LimitOption = Annotated[int | None, typer.Option(help="Use at most N images per list (quick checks).")]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
DecodeWorkersOption = Annotated[
    int | None, typer.Option("--workers", min=1, help="Decoding processes (default: min(4, CPUs)).", show_default=False)
]
PretrainedOption = Annotated[
    bool | None,
    typer.Option(
        "--pretrained/--no-pretrained",
        help="ImageNet weights; default on for NIH data, off for the demo.",
        show_default=False,
    ),
]
PluginOption = Annotated[
    list[Path] | None, typer.Option("--plugin", help="A plugin file that registers methods (repeatable).")
]
SplitSeedOption = Annotated[int, typer.Option(help="Seed of the split protocol (validation carve-out, k-fold).")]
ValFractionOption = Annotated[
    float, typer.Option(help="Share of train_val patients held out for validation (official).")
]
PatienceOption = Annotated[int | None, typer.Option(help="Early stopping: epochs without a better mean val AUROC.")]
AllowLeakageOption = Annotated[
    bool, typer.Option(help="Run even if train/val/test share images or patients (recorded).")
]
WorkersOption = Annotated[
    int,
    typer.Option(
        help="Loader worker processes (0: load in this process); they also fill the image cache (0: min(4, CPUs))."
    ),
]
NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Read the PNGs instead of the decode-once image cache.")
]
CompileOption = Annotated[bool, typer.Option("--compile", help="torch.compile the model (CUDA only).")]
StaticShapesOption = Annotated[
    bool,
    typer.Option(
        "--static-shapes",
        help="Train on full batches only: each epoch leaves out its last partial batch (changes results; recorded).",
    ),
]
CudaGraphsOption = Annotated[
    bool,
    typer.Option(
        "--cuda-graphs",
        help="Capture the training forward and backward as CUDA graphs (CUDA only; implies --static-shapes).",
    ),
]
OnednnDepthwiseOption = Annotated[
    bool,
    typer.Option(
        "--onednn-depthwise",
        help="On the CPU, take every depthwise weight gradient from oneDNN's own kernels (slower; the same"
        " gradients up to rounding).",
    ),
]
CpuBf16Option = Annotated[
    bool,
    typer.Option(
        "--cpu-bf16",
        help="On the CPU, train under bf16 autocast (pays on CPUs with AMX or AVX-512-BF16; changes results;"
        " scoring stays float32).",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a field of the method spec, KEY=VALUE (repeatable), e.g. --set loss.beta=0.99998"
        " --set stages.0.epochs=10 --set optimizer.params.fused=true.",
    ),
]
TtaOption = Annotated[
    str,
    typer.Option(
        "--tta",
        help="Test-time augmentation of the test scores: none, flip (the image and its mirror) or tencrop (resized"
        " to 256/224 of the test size, the four corners and centre and their mirrors); scores averaged after the sigmoid.",
    ),
]
PerRankBatchOption = Annotated[
    bool,
    typer.Option(
        "--per-rank-batch", help="With several processes, give each the whole batch instead of a share of it."
    ),
]


# Command-line parameters that RunOptions holds under another name.
RUN_FIELDS = {"set_": "overrides", "plugin": "plugins"}


def run_options(params: dict[str, Any], *, resolve: bool, **fixed: Any) -> RunOptions:
    """The RunOptions of a command's training options (its `ctx.params`; parameters that are not
    run options are left out), with `fixed` fields on top. `resolve` makes the data, results and
    plugin paths absolute, for runs started from another folder (sweep cells)."""
    import dataclasses

    from bench.train.options import RunOptions

    def path(p: Path) -> str:
        return str(p.resolve() if resolve else p)

    names = {f.name for f in dataclasses.fields(RunOptions)}
    values = {RUN_FIELDS.get(k, k): v for k, v in params.items() if RUN_FIELDS.get(k, k) in names}
    root = data_root(values.get("data"))
    values.update(
        data=path(root) if root else None,
        results=path(results_dir(values.get("results"))),
        plugins=tuple(path(p) for p in values.get("plugins") or ()),
        overrides=tuple(values.get("overrides") or ()),
    )
    values.update(fixed)
    return RunOptions(**values)


def write_output(path: Path, text: str) -> None:
    """Write a report file atomically (parents created); an unwritable path is a one-line error."""
    from bench.atomic import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)
    except OSError as exc:
        raise BenchError(f"cannot write {path}: {exc.strerror or exc}", hint="pass a writable --out FILE") from None
    notice(f"wrote {path}")
