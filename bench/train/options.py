"""What a run was asked to do: the options of `bench run`, stored in the record for `--resume`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.schema import decode, encode

PRESETS = ("paper", "demo", "smoke")


@dataclass(frozen=True)
class RunOptions:
    method: str
    split: str = "official"
    fold: int = 0
    seed: int = 0
    split_seed: int = 0
    val_fraction: float = 0.1
    data: str | None = None  # None: the built-in demo dataset
    results: str = "results"
    preset: str | None = None  # None: "demo" on demo data, "paper" on NIH data
    epochs: int | None = None
    batch_size: int | None = None
    image_size: int | None = None  # stage 1's size; later stages keep their ratio to it
    lr: float | None = None
    limit: int | None = None  # at most this many images per list (smoke tests)
    patience: int | None = None  # early stopping on mean val AUROC; None: the method's
    device: str = "auto"
    pretrained: bool | None = None  # None: on for NIH data, off for the demo
    allow_leakage: bool = False
    workers: int = 0
    no_cache: bool = False  # read PNGs instead of the decode-once image cache
    compile: bool = False  # torch.compile the model (CUDA only)
    static_shapes: bool = False  # every training batch full: an epoch leaves out its last partial batch
    cuda_graphs: bool = False  # the training forward and backward as CUDA graphs (implies static shapes)
    onednn_depthwise: bool = False  # CPU depthwise weight gradients from oneDNN alone (bench.train.depthwise)
    cpu_bf16: bool = False  # bf16 autocast in the CPU training step; scoring stays float32
    per_rank_batch: bool = False  # each process takes the whole batch (else the batch is split)
    world_size: int = 1  # processes that train the run; set by the engine, a resume must match
    plugins: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()  # `--set KEY=VALUE` items, applied to the resolved spec
    tta: str = "none"  # test-time augmentation of the test phase (bench.records.TTA_MODES)
    quiet: bool = False

    def __post_init__(self) -> None:
        from bench.errors import BenchError
        from bench.records import TTA_MODES

        if self.tta not in TTA_MODES:
            raise BenchError(f"unknown --tta {self.tta!r}", hint=f"use one of: {', '.join(TTA_MODES)}")
        refuse_graphs_with_compile(cuda_graphs=self.cuda_graphs, compile=self.compile)
        if self.cuda_graphs and self.world_size > 1:
            # DDP's gradient hooks fire inside the graphed backward: capturing them needs DDP's
            # own static-graph setup, which this engine does not do.
            raise BenchError(
                f"--cuda-graphs trains in one process, not {self.world_size}",
                hint="leave out --nproc (or torchrun), or train without --cuda-graphs",
            )

    @property
    def static_batches(self) -> bool:
        """Whether every training batch holds exactly the batch size (--static-shapes, or implied by --cuda-graphs)."""
        return self.static_shapes or self.cuda_graphs

    def to_json(self) -> dict[str, Any]:
        return encode(self)

    @classmethod
    def from_json(cls, data: Any, *, source: str = "run options") -> RunOptions:
        return decode(cls, data, source=source)


def refuse_graphs_with_compile(*, cuda_graphs: bool, compile: bool) -> None:
    """BenchError for --cuda-graphs with --compile (in a run or a measurement)."""
    from bench.errors import BenchError

    if cuda_graphs and compile:
        raise BenchError(
            "--cuda-graphs and --compile cannot be combined: each takes over the model's forward",
            hint="pass one of them",
        )


def default_preset(preset: str | None, dataset_kind: str) -> str:
    """The preset a run uses: the one asked for, else "demo" on demo data and "paper" on NIH data."""
    return preset or ("demo" if dataset_kind == "demo" else "paper")
