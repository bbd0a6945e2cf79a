"""One benchmark run: stages of training, validation each epoch, test inference, the record.

Every epoch reseeds its shuffling, flips and torch RNG from (seed, stage, epoch), and a
resumable checkpoint is written at each epoch's end, so an interrupted run resumed with
`--resume` ends with exactly the metrics of an uninterrupted one (on the CPU).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.ui.console import err, notice, warn
from bench.errors import BenchError
from bench.labels import LABELS
from bench.method.overrides import apply_overrides, display_name, overrides_json
from bench.train import batches, checkpoint, distributed
from bench.train.device import autocast, configure_backends, pick_device, place_model
from bench.train.loss_meter import LossMeter
from bench.train.options import RunOptions, default_preset
from bench.train.seeding import derive_seed, seed_everything, torch_generator

RESUME_FILE = "checkpoints/last.pt"
PREDICTIONS_FILE = "predictions.parquet"
HISTORY_FILE = "history.csv"
EXIT_INTERRUPTED = 130
# Epochs without a better mean validation AUROC before a stage stops early.
DEFAULT_PATIENCE = 5


def best_checkpoint(stage: int) -> str:
    return f"checkpoints/stage{stage + 1}_best.pt"


class Interrupted(BenchError):
    exit_code = EXIT_INTERRUPTED


def resume_command(run_id: str, world_size: int) -> str:
    return f"bench run --resume {run_id}" + (f" --nproc {world_size}" if world_size > 1 else "")


class RunFailed(BenchError):
    exit_code = 1


def _mean_quietly(auroc: np.ndarray):
    """Mean AUROC over defined classes without the per-call warning (epoch lines show the count)."""
    from bench.metrics import mean_defined

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mean_defined(auroc)


# -- interruption ----------------------------------------------------------------------------
class _StopFlag:
    """Set by SIGINT/SIGTERM; checked between batches so a stop never tears a checkpoint."""

    def __init__(self) -> None:
        self.signal: str | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum, _frame):
            self.signal = signal.Signals(signum).name

        for s in previous:
            signal.signal(s, handler)
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def check(self) -> None:
        if self.signal is not None:
            raise Interrupted(f"run interrupted by {self.signal}")


# -- the run ---------------------------------------------------------------------------------
def resolve_method(method, options: RunOptions, preset: str):
    """(method, overrides): `preset`'s stages after --epochs/--batch-size/--image-size and --lr,
    then the `--set` overrides."""
    method = method.resolve(preset, epochs=options.epochs, batch_size=options.batch_size, image_size=options.image_size)
    if options.lr is not None:
        stages = tuple(dataclasses.replace(s, lr=options.lr) for s in method.spec.stages)
        method = method.with_spec(dataclasses.replace(method.spec, stages=stages))
    spec, overrides = apply_overrides(method.spec, options.overrides)
    return method.with_spec(spec), overrides


def limit_fold(fold, limit: int):
    """The fold with at most `limit` images per list: a new fingerprint, so such runs get
    their own leaderboard table. A seeded sample, not the first ids (a few patients only)."""
    if limit < 1:
        raise BenchError(f"--limit must be at least 1, got {limit}")
    # Seed 0, not the training seed: runs with different seeds keep one subset (one fingerprint).
    rng = np.random.default_rng(derive_seed(0, "order"))
    lists = {
        name: tuple(rng.choice(ids, size=min(limit, len(ids)), replace=False).tolist()) if ids else ()
        for name, ids in fold.lists().items()
    }
    return dataclasses.replace(fold, **lists, params={**fold.params, "limit": limit})


@dataclass
class _StageState:
    """What a resumable checkpoint holds besides model/optimizer/scheduler tensors."""

    stage: int = 0
    next_epoch: int = 0
    best_auroc: float = -1.0
    best_epoch: int = -1
    since_best: int = 0
    done: bool = False
    train_seconds: float = 0.0
    train_images: int = 0


class Run:
    """Set up from options (new run) or a stored record (resume), then `execute()`."""

    def __init__(self, options: RunOptions, *, run_id: str | None = None, world: distributed.World = distributed.SINGLE):
        from bench.data.dataset import open_dataset
        from bench.method import get_method
        from bench.records import RunStore

        if run_id is None:
            options = dataclasses.replace(options, world_size=world.size)
        elif options.world_size != world.size:
            # Each rank's batches and flips depend on the world size: a resume must replay them.
            raise BenchError(
                f"run {run_id} was trained by {options.world_size} process(es), not {world.size}",
                hint=f"continue with: {resume_command(run_id, options.world_size)}",
            )
        self.options, self.world = options, world
        method = get_method(options.method, plugins=options.plugins)
        self.index = open_dataset(Path(options.data) if options.data else None, quiet=options.quiet)
        self.fold = self._fold()
        self.preset = default_preset(options.preset, self.index.kind)
        self.method, self.overrides = resolve_method(method, options, self.preset)
        self.spec = self.method.spec
        self.pretrained = options.pretrained if options.pretrained is not None else self.index.kind == "nih"
        self.patience = options.patience if options.patience is not None else DEFAULT_PATIENCE
        self.device = pick_device(options.device, world)
        self.batch_sizes = tuple(
            distributed.rank_batch(s.batch_size, world, per_rank=options.per_rank_batch) for s in self.spec.stages
        )
        self.store = RunStore(options.results)
        if options.limit is not None:
            self.fold = limit_fold(self.fold, options.limit)
        self.lists = {name: self._list(getattr(self.fold, name)) for name in ("train", "val", "test")}
        self.record = self.store.load(run_id) if run_id else None
        self.stop = _StopFlag()

    # -- setup helpers ---------------------------------------------------------------------
    def _fold(self):
        from splits import get_fold
        from splits.audit import leakage

        fold = get_fold(
            self.options.split,
            self.index,
            fold=self.options.fold,
            seed=self.options.split_seed,
            val_fraction=self.options.val_fraction,
        )
        faults = leakage(fold, self.index)
        if faults and not self.options.allow_leakage:
            raise BenchError(
                f"split {self.options.split} fold {self.options.fold} leaks: {faults[0]}",
                hint="fix the split (see `bench splits audit`) or pass --allow-leakage to run anyway",
            )
        return fold

    def _list(self, ids: tuple[str, ...]) -> dict:
        ids = list(ids)
        frame = self.index.frame.loc[ids]
        missing = frame.index[frame["path"].isna()]
        if len(missing):
            raise BenchError(
                f"{len(missing)} image(s) of the split are missing from {self.index.root}, e.g. {missing[0]}",
                hint="run `bench data check` and restore the images",
            )
        return {
            "ids": ids,
            "paths": frame["path"].tolist(),
            "labels": frame[list(LABELS)].to_numpy(np.uint8),
            "patients": frame["patient_id"].to_numpy(),
        }

    @property
    def run_dir(self) -> Path:
        return self.store.run_dir(self.record.run_id)

    def _write(self, **changes) -> None:
        self.record = dataclasses.replace(self.record, **changes)
        self._save()

    def _save(self) -> None:
        if self.world.main:  # the other ranks keep the same record in memory only
            self.store.write(self.record)

    def _create_record(self) -> None:
        from bench.records import DatasetInfo, MethodInfo, Positives, SplitInfo, StageRecord, counts, environment_info

        stages = tuple(  # the global batch: every rank's together
            StageRecord(index=i, image_size=s.image_size, batch_size=b * self.world.size, epochs_planned=s.epochs)
            for i, (s, b) in enumerate(zip(self.spec.stages, self.batch_sizes))
        )
        # Rank 0 makes the run directory; the others get its record (and run id).
        self.record = self.world.from_main(
            lambda: self.store.create(
                method=MethodInfo.from_spec(
                    self.spec.to_dict(),
                    display_name=display_name(self.spec.name, self.overrides),
                    overrides=overrides_json(self.overrides),
                ),
                split=SplitInfo.from_fold(self.fold, allow_leakage=self.options.allow_leakage),
                dataset=DatasetInfo.from_index(self.index),
                seed=self.options.seed,
                preset=self.preset,
                device=str(self.device),
                environment=environment_info(world_size=self.world.size),
                stages=stages,
                invocation=self.options.to_json(),
            )
        )
        positives = {k: counts(v["labels"].sum(0)) for k, v in self.lists.items()}
        self._write(positives=Positives(**positives))

    # -- execution -----------------------------------------------------------------------------
    def execute(self):
        if self.record is None:
            self._create_record()
            state = _StageState()
        else:
            state = self._resume_state()
            self._write(status="running", ended=None, error=None)
        if not self.options.quiet:
            notice(
                f"run {self.record.run_id}: {self.spec.name} on {self.fold.key} fold {self.fold.fold} "
                f"({len(self.lists['train']['ids'])}/{len(self.lists['val']['ids'])}/"
                f"{len(self.lists['test']['ids'])} images), preset {self.preset}, {self.device}"
                + (f", {self.world.size} processes" if self.world.parallel else "")
            )
        configure_backends(self.device)
        try:
            with self.stop.installed():
                for stage in range(state.stage, len(self.spec.stages)):
                    if stage > state.stage:
                        state = _StageState(stage=stage)
                    self._train_stage(state)
                    self.world.barrier()  # rank 0's best checkpoint is on disk before any rank loads it
                self._evaluate()
        except Interrupted as exc:
            self._write(status="interrupted", error=exc.one_line())
            raise Interrupted(
                f"run {self.record.run_id} interrupted; its last completed epoch is saved",
                hint=f"continue with: {resume_command(self.record.run_id, self.world.size)}",
            ) from None
        except BenchError as exc:
            self.record = self.record.finished("failed", error=exc.one_line())
            self._save()
            raise
        except BaseException as exc:
            lost = self.world.parallel and distributed.lost_peer(exc)
            message = "another process of the run stopped" if lost else f"{type(exc).__name__}: {exc}"
            self.record = self.record.finished("failed", error=message)
            self._save()
            if lost:  # the process that stopped tells why; this one's traceback would only show the wait
                raise distributed.Abandoned(message, exit_code=1) from None
            raise
        return self.record

    def _resume_state(self) -> _StageState:
        if self.record.status == "complete":
            raise BenchError(f"run {self.record.run_id} is already complete", hint="start a new run instead")
        path = self.run_dir / RESUME_FILE
        self._resume = checkpoint.load_resume(path)
        return _StageState(**self._resume["state"])

    def _build(self, stage: int):
        spec = self.spec.stages[stage]
        model = self.method.build_model(stage, pretrained=self.pretrained and stage == 0)
        if stage > 0:
            n = checkpoint.load_weights(model, self.run_dir / best_checkpoint(stage - 1))
            if not self.options.quiet:
                notice(f"stage {stage + 1}: initialised from stage {stage}'s best checkpoint ({n} tensors)")
        place_model(model, self.device, compile=self.options.compile)
        train = self.lists["train"]
        loss_fn = self.method.build_loss(train["labels"].sum(0), len(train["ids"])).to(self.device)
        optimizer = self.method.build_optimizer(model.parameters(), spec)
        scheduler = self.method.build_scheduler(optimizer)
        return model, loss_fn, optimizer, scheduler

    def _sources(self, stage: int, names: tuple[str, ...]) -> dict:
        size = self.spec.stages[stage].image_size
        cache = None if self.options.no_cache else self._cache(size)
        return {
            name: batches.open_source(
                self.lists[name]["paths"], size, label=f"{name} images", quiet=self.options.quiet,
                cache=cache, ids=self.lists[name]["ids"],
            )
            for name in names
        }

    def _cache(self, size: int):
        """The image cache at `size` with every image of the run's lists, decoded on first need."""
        from bench.data.cache import prepare_cache

        caches = getattr(self, "_caches", None)
        if caches is None:
            caches = self._caches = {}
        if size not in caches:
            ids = [i for name in ("train", "val", "test") for i in self.lists[name]["ids"]]
            # Rank 0 decodes; the others then find the rows done (or, with a cache folder of
            # their own on another node, fill it one at a time under the cache's lock).
            with self.world.main_first():
                caches[size] = prepare_cache(
                    self.index, size, ids=ids, workers=self.options.workers or None, progress=not self.options.quiet
                )
        return caches[size]

    def _train_stage(self, state: _StageState) -> None:
        from bench.metrics import per_class_auroc
        from bench.records import EpochRecord, per_class, write_history

        stage = state.stage
        spec = self.spec.stages[stage]
        if state.done:
            return
        seed_everything(derive_seed(self.options.seed, stage, "init"))
        model, loss_fn, optimizer, scheduler = self._build(stage)
        if getattr(self, "_resume", None) is not None and self._resume["state"]["stage"] == stage:
            model.load_state_dict(self._resume["model"], strict=True)
            optimizer.load_state_dict(self._resume["optimizer"])
            scheduler.load_state_dict(self._resume["scheduler"])
            self._resume = None
        model = distributed.data_parallel(model, self.world, self.device)
        sources = self._sources(stage, ("train", "val"))
        train = self.lists["train"]
        for epoch in range(state.next_epoch, spec.epochs):
            started = time.perf_counter()
            train_loss, seconds = self._train_epoch(model, loss_fn, optimizer, sources["train"], stage, epoch)
            state.train_seconds += seconds
            state.train_images += len(train["ids"])
            self.world.sync_buffers(model)
            scores, val_loss = self._predict(model, sources["val"], self.lists["val"]["labels"], loss_fn)
            auroc = per_class_auroc(self.lists["val"]["labels"], scores)
            mean = _mean_quietly(auroc)
            scheduler.step(val_loss)
            lr = optimizer.param_groups[0]["lr"]
            improved = mean.value > state.best_auroc
            if improved:
                state.best_auroc, state.best_epoch, state.since_best = mean.value, epoch, 0
                if self.world.main:
                    checkpoint.save_weights(model, self.run_dir / best_checkpoint(stage), self._manifest(stage, epoch, mean.value))
            else:
                state.since_best += 1
            state.next_epoch = epoch + 1
            state.done = state.next_epoch >= spec.epochs or (self.patience is not None and state.since_best >= self.patience)
            history = self.record.history + (
                EpochRecord(
                    stage=stage, epoch=epoch, train_loss=train_loss, val_loss=val_loss,
                    val_auroc_mean=mean.value, val_auroc=per_class(auroc), lr=lr,
                    wall_s=time.perf_counter() - started,
                ),
            )
            stages = list(self.record.stages)
            stages[stage] = dataclasses.replace(
                stages[stage], epochs_run=epoch + 1, wall_s=state.train_seconds,
                train_images_per_s=state.train_images / max(state.train_seconds, 1e-9),
                best_epoch=state.best_epoch, best_val_auroc=state.best_auroc,
            )
            if self.world.main:
                checkpoint.save_resume(
                    self.run_dir / RESUME_FILE,
                    {
                        "state": dataclasses.asdict(state),
                        "model": checkpoint.plain_state_dict(model),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                    },
                )
            if self.world.main:
                write_history(history, self.run_dir / HISTORY_FILE)
            self._write(history=history, stages=tuple(stages), artifacts=dataclasses.replace(self.record.artifacts, history=HISTORY_FILE))
            if not self.options.quiet:
                mark = " *" if improved else ""
                err.print(
                    f"stage {stage + 1} epoch {epoch + 1}/{spec.epochs}: train loss {train_loss:.4f}  "
                    f"val loss {val_loss:.4f}  val AUROC {mean}{mark}  lr {lr:.2g}"
                )
            if state.done:
                if state.next_epoch < spec.epochs and not self.options.quiet:
                    notice(f"early stop: no better val AUROC for {self.patience} epochs")
                break
            self._check_stop()

    def _manifest(self, stage: int, epoch: int, val_auroc: float) -> dict:
        return {
            "format": "cxr-bench-checkpoint/1",
            "run_id": self.record.run_id,
            "method": self.spec.name,
            "backbone": self.spec.backbone,
            "labels": list(LABELS),
            "split_fingerprint": self.fold.fingerprint,
            "dataset_fingerprint": self.index.fingerprint,
            "labels_version": self.index.labels_version,
            "stage": stage,
            "epoch": epoch,
            "image_size": self.spec.stages[stage].image_size,
            "normalisation": {"mean": list(self.spec.normalisation.mean), "std": list(self.spec.normalisation.std), "channels": 3},
            "val_auroc_mean": val_auroc,
            "torch": torch.__version__,
        }

    def _input(self, pixels: torch.Tensor, flip: torch.Tensor | None) -> torch.Tensor:
        norm = self.spec.normalisation
        return batches.to_input(pixels, mean=norm.mean, std=norm.std, flip=flip, channels_last=self.device.type == "cuda")

    def _train_epoch(self, model, loss_fn, optimizer, source, stage: int, epoch: int) -> tuple[float, float]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        spec = self.spec.stages[stage]
        train = self.lists["train"]
        torch.manual_seed(derive_seed(self.options.seed, stage, epoch, "torch"))
        order = np.random.default_rng(derive_seed(self.options.seed, stage, epoch, "order")).permutation(len(train["ids"]))
        order = distributed.shard(order, self.world)
        flips = torch_generator(derive_seed(self.options.seed, stage, epoch, "flip"))
        hflip = "hflip" in self.spec.augmentation
        batch_size, ranks, rank = self.batch_sizes[stage], self.world.size, self.world.rank
        model.train()
        meter, images, started = LossMeter.for_device(self.device, self.world), 0, time.perf_counter()
        n_batches = -(-len(order) // batch_size)
        columns = (
            TextColumn("stage {task.fields[stage]} epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  {task.fields[ips]:.0f} img/s"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err, disable=self.options.quiet, transient=True) as progress:
            task = progress.add_task("train", total=n_batches, stage=stage + 1, epoch=f"{epoch + 1}/{spec.epochs}", loss=0.0, ips=0.0)
            batch_iter = batches.iterate(source, train["labels"], order, batch_size, self.device, workers=self.options.workers)
            for step, batch in enumerate(batch_iter, start=1):
                # This rank's share of the global batch's flips: an image flips as it would in one
                # process with that global batch.
                flip = torch.rand(len(batch.index) * ranks, generator=flips)[rank::ranks] < 0.5 if hflip else None
                x = self._input(batch.pixels, flip)
                with autocast(self.device):
                    loss = self.method.train_step(model, (x, batch.targets), loss_fn, optimizer)
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
                    progress.update(task, loss=meter.mean)
                progress.update(task, advance=1, ips=images * ranks / max(time.perf_counter() - started, 1e-9))
                if due or not self.world.parallel:
                    self._check_stop()
        return meter.mean, time.perf_counter() - started

    @torch.no_grad()
    def _predict(self, model, source, labels: np.ndarray, loss_fn=None) -> tuple[np.ndarray, float | None]:
        """Sigmoid scores for every row of a list (in order) and the mean loss if asked; with several
        processes each scores its shard of the list and every one gets all rows."""
        model = distributed.unwrap(model)  # no DDP forward: it would synchronise for gradients
        model.eval()
        order = distributed.shard(np.arange(len(source)), self.world)
        batch_size = max(s.batch_size for s in self.spec.stages) * 2
        scores, total = [], 0.0
        for batch in batches.iterate(source, labels, order, batch_size, self.device, workers=self.options.workers):
            x = self._input(batch.pixels, None)
            with autocast(self.device):
                logits = model(x).float()
            if self.world.parallel:
                scores.append((batch.index, logits.cpu().numpy()))  # scored once merged
            else:
                if loss_fn is not None:
                    total += float(loss_fn(logits, batch.targets)) * len(batch.index)
                scores.append(torch.sigmoid(logits).cpu().numpy())
            self._check_stop()
        if self.world.parallel:
            return self._merged(scores, labels, loss_fn)
        out = np.concatenate(scores).astype(np.float32) if scores else np.zeros((0, len(LABELS)), np.float32)
        return out, (total / max(len(order), 1) if loss_fn is not None else None)

    def _merged(self, parts: list, labels: np.ndarray, loss_fn=None) -> tuple[np.ndarray, float | None]:
        """Every rank's (rows, logits) batches as the whole list's scores and mean loss. Every rank
        computes them from the same numbers, so the ranks' schedules and early stops agree."""
        rows = np.concatenate([r for r, _ in parts]) if parts else np.zeros(0, np.int64)
        logits = np.concatenate([v for _, v in parts]) if parts else np.zeros((0, len(LABELS)), np.float32)
        merged = distributed.merge_rows(len(labels), self.world.gather((rows, logits)))
        merged = torch.from_numpy(merged).to(self.device)
        loss = None
        if loss_fn is not None:
            loss = float(loss_fn(merged, torch.from_numpy(labels.astype(np.float32)).to(self.device)))
        return torch.sigmoid(merged).cpu().numpy().astype(np.float32), loss

    def _check_stop(self) -> None:
        """Stop between batches if a signal came; with several processes all stop, at the same
        batch, when any got one (none may wait in a collective the others left)."""
        if self.world.parallel:
            (stopping,) = self.world.sum(float(self.stop.signal is not None))
            if stopping and self.stop.signal is None:
                self.stop.signal = "a signal to another process"
        self.stop.check()

    def _best_model(self, stage: int) -> torch.nn.Module:
        model = self.method.build_model(stage, pretrained=False)
        n = checkpoint.load_weights(model, self.run_dir / best_checkpoint(stage))
        place_model(model, self.device, compile=self.options.compile)
        if not self.options.quiet:
            notice(f"stage {stage + 1}: best checkpoint loaded strictly ({n} tensors); testing")
        return model

    def _evaluate(self) -> None:
        """Test (and val) inference with each stage's best checkpoint; final metrics, CIs, predictions."""
        from bench.metrics import bootstrap_ci, mean_defined, per_class_auprc, per_class_auroc
        from bench.predictions import save_predictions
        from bench.records import SANITY_MIN_AUROC, Artifacts, ConfidenceIntervals, EvalMetrics, Metrics, Sanity, per_class

        def metrics(name: str, scores: np.ndarray, with_ci: bool) -> EvalMetrics:
            y = self.lists[name]["labels"]
            auroc = per_class_auroc(y, scores)
            mean = mean_defined(auroc)
            ci = None
            if with_ci:
                boot = bootstrap_ci(y, scores, self.lists[name]["patients"], seed=self.options.seed)
                ci = ConfidenceIntervals(
                    lo=per_class(boot.lo), hi=per_class(boot.hi), mean_lo=boot.mean_lo, mean_hi=boot.mean_hi,
                    level=boot.level, n_resamples=boot.n_resamples,
                )
            return EvalMetrics(
                auroc=per_class(auroc), auprc=per_class(per_class_auprc(y, scores)),
                mean=mean.value, n_defined=mean.n_defined, ci=ci,
            )

        last = len(self.spec.stages) - 1
        stages = list(self.record.stages)
        for stage in range(len(self.spec.stages)):
            model = self._best_model(stage)
            sources = self._sources(stage, ("val", "test") if stage == last else ("test",))
            test_scores, _ = self._predict(model, sources["test"], self.lists["test"]["labels"])
            stage_mean = _mean_quietly(per_class_auroc(self.lists["test"]["labels"], test_scores))
            stages[stage] = dataclasses.replace(stages[stage], test_auroc_mean=stage_mean.value)
            if stage == last:
                val_scores, _ = self._predict(model, sources["val"], self.lists["val"]["labels"])

        def finish():
            test = self.lists["test"]
            save_predictions(self.run_dir / PREDICTIONS_FILE, test["ids"], test["patients"], test["labels"], test_scores)
            final = Metrics(val=metrics("val", val_scores, False), test=metrics("test", test_scores, True))
            ok = self.index.kind != "nih" or (final.test.mean or 0.0) >= SANITY_MIN_AUROC
            sanity = Sanity(
                test_auroc_ok=ok,
                message="ok" if ok else f"mean test AUROC {final.test.mean:.4f} < {SANITY_MIN_AUROC}: a broken run, not a result",
            )
            if not ok:
                warn(sanity.message)
            return self.record.finished(
                "complete",
                stages=tuple(stages),
                metrics=final,
                sanity=sanity,
                artifacts=Artifacts(predictions=PREDICTIONS_FILE, checkpoint=best_checkpoint(last), history=HISTORY_FILE),
            )

        # Every rank holds all scores; rank 0 alone saves them and computes the bootstrap.
        self.record = self.world.from_main(finish)
        self._save()


def run(options: RunOptions):
    """Start a new run; returns its complete record."""
    return _execute(options)


def _execute(options: RunOptions, run_id: str | None = None):
    """The run in this process, or in this process's rank of a torchrun world."""
    world = distributed.detect()
    with distributed.process_group(world, pick_device(options.device, world)):
        # Setup fails alike on every rank (or on one only): either way rank 0 alone reports it.
        run = world.together(lambda: Run(options, run_id=run_id, world=world))
        return run.execute()


def _stored(run_id: str, results: str, **changes) -> tuple[str, RunOptions]:
    """A stored run's full id and the options it was started with (`changes` applied)."""
    from bench.records import RunStore

    record = RunStore(results).load(run_id)
    if not record.invocation:
        raise BenchError(f"run {record.run_id} has no stored options to resume from")
    return record.run_id, dataclasses.replace(RunOptions.from_json(record.invocation), results=str(results), **changes)


def resume(run_id: str, *, results: str, quiet: bool = False):
    """Continue an interrupted (or failed) run from its last completed epoch."""
    run_id, options = _stored(run_id, results, quiet=quiet)
    return _execute(options, run_id)


def rescore(run_id: str, *, results: str, name: str = "test") -> np.ndarray:
    """A stored run's `name` list scored again by its last stage's best checkpoint, in this one
    process (what a multi-process evaluation must equal)."""
    run_id, options = _stored(run_id, results, quiet=True, world_size=1)
    run = Run(options, run_id=run_id)
    last = len(run.spec.stages) - 1
    source = run._sources(last, (name,))[name]
    return run._predict(run._best_model(last), source, run.lists[name]["labels"])[0]
