"""One stage of training, epoch by epoch: early stopping on mean validation AUROC, the
method's learning-rate schedule stepped after each validation, the best checkpoint and its
validation predictions (the scores of that validation pass).

Every epoch reseeds its shuffling, flips and torch RNG from (seed, stage, epoch), so a stage
continued from its `state_dict` replays exactly the epochs an uninterrupted one trains.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bench.errors import BenchError
from bench.method.optim import step_scheduler
from bench.metrics import MeanValue, per_class_auroc
from bench.predictions import Predictions, save_predictions
from bench.records import stage_val_predictions
from bench.train import batches, capture, checkpoint, distributed
from bench.train.device import place_input, place_model, training_step
from bench.train.evaluate import Scorer, load_model, quiet_mean
from bench.train.loss_meter import LossMeter
from bench.train.seeding import derive_seed, seed_everything, torch_generator
from bench.ui.console import err, notice
from bench.ui.progress import progress_bar

if TYPE_CHECKING:
    from bench.train.plan import RunPlan


class RunFailed(BenchError):
    exit_code = 1


@dataclass
class StageProgress:
    """How far a stage has come: what a resumable checkpoint holds besides the tensors."""

    stage: int = 0
    next_epoch: int = 0
    best_auroc: float = -1.0
    best_epoch: int = -1
    since_best: int = 0
    done: bool = False
    train_seconds: float = 0.0
    train_images: int = 0

    def state_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        unknown = set(state) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"not stage progress fields: {sorted(unknown)}")
        for name, value in state.items():
            setattr(self, name, value)


@dataclass(frozen=True)
class EpochResult:
    stage: int
    epoch: int
    train_loss: float
    val_loss: float
    val_auroc: np.ndarray  # per class, LABELS order
    val_mean: MeanValue
    lr: float
    improved: bool  # a new best: its weights are the stage's best checkpoint now
    wall_s: float


class StageLoop:
    """The model, loss, optimizer and scheduler of `progress.stage`, built on construction
    (from the previous stage's best checkpoint after the first); `fit` trains the epochs left."""

    def __init__(
        self,
        plan: RunPlan,
        progress: StageProgress,
        *,
        device: torch.device,
        world: distributed.World,
        images: batches.RunImages,
        run_dir: Path,
        run_id: str,
        check_stop: Callable[[], None],
    ):
        self.plan, self.progress = plan, progress
        self.device, self.world, self.images = device, world, images
        self.run_dir, self.run_id, self.check_stop = run_dir, run_id, check_stop
        self.stage = progress.stage
        self.spec = plan.spec.stages[self.stage]
        self.quiet = plan.options.quiet
        self.scorer = Scorer.for_method(
            plan.method, device, world=world, workers=plan.options.workers, check_stop=check_stop
        )
        seed_everything(derive_seed(plan.options.seed, self.stage, "init"))
        self.model = self._build_model()
        plan.method.on_stage_start(self.model, self.stage)
        train = plan.lists["train"]
        self.loss_fn = plan.method.build_loss(train.labels.sum(0), len(train)).to(device)
        # Each process's share of the training list, and how much of it an epoch leaves out.
        self.shard_size = len(distributed.shard(np.arange(len(train)), world))
        self.kept = batches.trained_count(
            self.shard_size, plan.batch_sizes[self.stage], static=plan.options.static_batches
        )
        self.dropped = (self.shard_size - self.kept) * world.size
        # --cuda-graphs captures on the first training batch: after model.train() and the
        # method's epoch hook, so the graphs record the modes the method trains in.
        self.captured = False
        self.optimizer = plan.method.build_optimizer(self.model, self.spec)
        self.scheduler = plan.method.build_scheduler(self.optimizer, self.spec)

    def _build_model(self) -> torch.nn.Module:
        plan, stage = self.plan, self.stage
        if stage == 0:
            model = plan.method.build_model(stage, pretrained=plan.pretrained)
            return place_model(model, self.device, compile=plan.options.compile)
        path = self.run_dir / checkpoint.best_checkpoint(stage - 1)
        model = load_model(plan.method, stage, path, self.device, compile=plan.options.compile)
        if not self.quiet:
            notice(
                f"stage {stage + 1}: initialised from stage {stage}'s best checkpoint ({len(model.state_dict())} tensors)"
            )
        return model

    def state_dict(self) -> dict[str, Any]:
        return {
            "state": self.progress.state_dict(),
            "model": checkpoint.plain_state_dict(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            # Not restored (every epoch reseeds torch); kept so a checkpoint shows where it stopped.
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from `state_dict()`'s output; before `fit`."""
        self.progress.load_state_dict(state["state"])
        self.model.load_state_dict(state["model"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def fit(self, on_epoch_end: Callable[[StageLoop, EpochResult], None]) -> None:
        """Train from `progress.next_epoch` until the planned epochs or an early stop; after each
        epoch `on_epoch_end` keeps it (the loop's `state_dict` is then that epoch's end)."""
        plan, progress, stage = self.plan, self.progress, self.stage
        model = distributed.data_parallel(self.model, self.world, self.device)
        sources = self.images.sources(self.spec.image_size, ("train", "val"))
        val = plan.lists["val"]
        if self.dropped and not self.quiet:
            last = self.shard_size - self.kept
            flag = "--cuda-graphs" if plan.options.cuda_graphs else "--static-shapes"
            why = (
                f"{flag} keeps every training batch at {plan.batch_sizes[stage]}"
                if plan.options.static_batches
                else "BatchNorm cannot train on one image"
            )
            notice(
                f"stage {stage + 1}: the last training batch of each epoch would hold {last} image(s); it is left out "
                f"({self.dropped} image(s) per epoch, others each epoch: {why})"
            )
        for epoch in range(progress.next_epoch, self.spec.epochs):
            started = time.perf_counter()
            train_loss, seconds = self.train_epoch(model, sources["train"], epoch)
            progress.train_seconds += seconds
            progress.train_images += len(plan.lists["train"]) - self.dropped
            self.world.sync_buffers(model)
            scores, val_loss = self.scorer.score(model, sources["val"], val.labels, loss_fn=self.loss_fn)
            assert val_loss is not None  # scored with the loss function
            auroc = per_class_auroc(val.labels, scores)
            mean = quiet_mean(auroc)
            step_scheduler(self.scheduler, val_loss)
            lr = self.optimizer.param_groups[0]["lr"]
            improved = mean.value > progress.best_auroc
            if improved:
                progress.best_auroc, progress.best_epoch, progress.since_best = mean.value, epoch, 0
                if self.world.main:
                    manifest = checkpoint.manifest(plan, self.run_id, stage, epoch, mean.value)
                    checkpoint.save_weights(model, self.run_dir / checkpoint.best_checkpoint(stage), manifest)
                    # After its checkpoint: a crash between the two leaves the resumable state
                    # before this epoch, whose replay writes both again.
                    save_predictions(
                        self.run_dir / stage_val_predictions(stage),
                        Predictions(tuple(val.ids), val.patients, val.labels, scores),
                    )
            else:
                progress.since_best += 1
            progress.next_epoch = epoch + 1
            progress.done = progress.next_epoch >= self.spec.epochs or progress.since_best >= plan.patience
            on_epoch_end(
                self,
                EpochResult(
                    stage=stage,
                    epoch=epoch,
                    train_loss=train_loss,
                    val_loss=val_loss,
                    val_auroc=auroc,
                    val_mean=mean,
                    lr=lr,
                    improved=improved,
                    wall_s=time.perf_counter() - started,
                ),
            )
            if not self.quiet:
                mark = " *" if improved else ""
                err.print(
                    f"stage {stage + 1} epoch {epoch + 1}/{self.spec.epochs}: train loss {train_loss:.4f}  "
                    f"val loss {val_loss:.4f}  val AUROC {mean}{mark}  lr {lr:.2g}"
                )
            if progress.done:
                if progress.next_epoch < self.spec.epochs and not self.quiet:
                    notice(f"early stop: no better val AUROC for {plan.patience} epochs")
                break
            self.check_stop()

    def train_epoch(self, model: torch.nn.Module, source, epoch: int) -> tuple[float, float]:
        """One pass over this process's shard of the training list: (mean loss, seconds)."""
        plan, stage, seed = self.plan, self.stage, self.plan.options.seed
        train = plan.lists["train"]
        torch.manual_seed(derive_seed(seed, stage, epoch, "torch"))
        order = np.random.default_rng(derive_seed(seed, stage, epoch, "order")).permutation(len(train))
        order = distributed.shard(order, self.world)[: self.kept]
        flips = torch_generator(derive_seed(seed, stage, epoch, "flip"))
        hflip = "hflip" in plan.spec.augmentation
        batch_size, ranks, rank = plan.batch_sizes[stage], self.world.size, self.world.rank
        model.train()
        plan.method.on_epoch_start(self.model, stage, epoch)
        meter, images, started = LossMeter.for_device(self.device, self.world), 0, time.perf_counter()
        n_batches = -(-len(order) // batch_size)
        with progress_bar(
            f"stage {stage + 1} epoch {epoch + 1}/{self.spec.epochs}",
            n_batches,
            enabled=not self.quiet,
            status="loss {task.fields[loss]:.4f}  {task.fields[ips]:.0f} img/s",
            loss=0.0,
            ips=0.0,
        ) as bar:
            batch_iter = batches.iterate(
                source, train.labels, order, batch_size, self.device, workers=plan.options.workers
            )
            for step, batch in enumerate(batch_iter, start=1):
                # This rank's share of the global batch's flips: an image flips as it would in one
                # process with that global batch.
                flip = torch.rand(len(batch.index) * ranks, generator=flips)[rank::ranks] < 0.5 if hflip else None
                x = place_input(batch.pixels, plan.spec.normalisation, flip=flip)
                if plan.options.cuda_graphs and not self.captured:
                    capture.graph_model(self.model, x, self.device)
                    self.captured = True
                with training_step(
                    self.device,
                    cache=not plan.options.cuda_graphs,
                    onednn_depthwise=plan.options.onednn_depthwise,
                    cpu_bf16=plan.options.cpu_bf16,
                ):
                    loss = plan.method.train_step(model, (x, batch.targets), self.loss_fn, self.optimizer)
                images += len(batch.index)
                # Every rank reads at the same steps: one NaN verdict, one epoch mean, one stop.
                due = meter.add(loss, len(batch.index)) or step == n_batches
                if due:
                    value = meter.read()
                    if not np.isfinite(value):
                        raise RunFailed(
                            f"loss became {value} at stage {stage + 1} epoch {epoch + 1}; the last good checkpoint is kept",
                            hint="lower the learning rate (--lr) or check the images with `bench data check --full`",
                        )
                    bar.update(loss=meter.mean)
                bar.advance(1, ips=images * ranks / max(time.perf_counter() - started, 1e-9))
                if due or not self.world.parallel:
                    self.check_stop()
        return meter.mean, time.perf_counter() - started
