"""A run's life: its record from creation to complete, interrupted or failed; stop signals;
`--resume` from the last completed epoch; the test phase with each stage's best checkpoint.

A resumable checkpoint is written at each epoch's end and every epoch reseeds itself (see
bench.train.loop), so an interrupted run resumed with `--resume` ends with exactly the metrics
of an uninterrupted one (on the CPU).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.atomic import DiskFull, writable
from bench.errors import BenchError
from bench.method.overrides import display_name, overrides_json
from bench.metrics import per_class_auroc
from bench.records import RunRecord, stage_val_predictions
from bench.train import capture, checkpoint, distributed
from bench.train.batches import RunImages, has_batchnorm
from bench.train.checkpoint import RESUME_FILE, best_checkpoint
from bench.train.device import configure_backends, pick_device, warn_cpu_bf16_off_cpu
from bench.train.evaluate import TTA, Scorer, augmented_source, list_metrics, load_model, quiet_mean
from bench.train.loop import EpochResult, StageLoop, StageProgress
from bench.train.options import RunOptions
from bench.train.plan import RunPlan, plan_run
from bench.ui.console import notice, warn

HISTORY_FILE = "history.csv"
EXIT_INTERRUPTED = 130


class Interrupted(BenchError):
    exit_code = EXIT_INTERRUPTED


def resume_command(run_id: str, world_size: int) -> str:
    return f"bench run --resume {run_id}" + (f" --nproc {world_size}" if world_size > 1 else "")


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


def refuse_single_image_batches(plan: RunPlan) -> None:
    """BenchError for a stage that would train on batches of one image with a BatchNorm model
    (a batch size of 1 per process, or a training list of one image per process)."""
    import torch

    for stage, batch in enumerate(plan.batch_sizes):
        shard = -(-len(plan.lists["train"]) // plan.world_size)
        if batch > 1 and shard > 1:
            continue
        try:
            with torch.device("meta"):  # the architecture alone, without weights
                model = plan.method.build_model(stage, pretrained=False)
        except Exception:  # a plugin's model that cannot be built on the meta device
            model = plan.method.build_model(stage, pretrained=False)
        if not has_batchnorm(model):
            continue
        spec = plan.spec.stages[stage]
        per_process = f" per process ({spec.batch_size} over {plan.world_size})" if plan.world_size > 1 else ""
        what = f"batches of one image{per_process}" if batch == 1 else "a training list of one image"
        raise BenchError(
            f"stage {stage + 1} would train {plan.spec.backbone} on {what}: its BatchNorm layers cannot train on one image",
            hint="pass --batch-size 2 or more" if batch == 1 else "train on more images (a larger --limit)",
        )


class Run:
    """Set up from options (new run) or a stored record (resume), then `execute()`."""

    def __init__(
        self, options: RunOptions, *, run_id: str | None = None, world: distributed.World = distributed.SINGLE
    ):
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
        self.plan = plan_run(options)
        refuse_single_image_batches(self.plan)
        self.device = pick_device(options.device, world)
        if options.cuda_graphs:
            capture.warn_off_cuda(self.device)
        if options.cpu_bf16:
            warn_cpu_bf16_off_cpu(self.device)
        self.store = RunStore(options.results)
        self.record = self._found(run_id) if run_id else None
        if run_id and world.main:
            self._check_writable()
        self.stop = _StopFlag()
        # Only rank 0 fills a cache, while the others wait: it alone may stop the fill, so its
        # check is the local flag (the collective one would wait for ranks that cannot answer).
        self.images = RunImages(self.plan, world, stop=None if world.parallel else self.stop.check)
        self.scorer = Scorer.for_method(
            self.plan.method, self.device, world=world, workers=options.workers, check_stop=self.check_stop
        )

    def _found(self, folder: str) -> RunRecord:
        """The record in the run folder `folder`; a copied folder's record, which names the run it
        was copied from, continues as the run of its own folder (the original is left alone)."""
        record = self.store.load(folder)
        if record.run_id != folder:
            if self.world.main:
                notice(f"run folder {folder} holds a copy of run {record.run_id}: the copy continues, as run {folder}")
            record = dataclasses.replace(record, run_id=folder)
        return record

    def _check_writable(self) -> None:
        """Before any work: a resume writes its record and checkpoints into the run folder."""
        run_dir = self.store.run_dir(self.current.run_id)
        for folder in (run_dir, run_dir / "checkpoints"):
            if folder.is_dir() and not writable(folder):
                raise BenchError(
                    f"run folder {folder} is read-only: a resume writes the run's record and checkpoints there",
                    hint="make it writable, or copy the run folder into a writable results folder and resume it "
                    "there (--results)",
                )

    @property
    def current(self) -> RunRecord:
        """The record, once `execute` has created or loaded it."""
        if self.record is None:
            raise RuntimeError("the run has no record before execute() creates or loads it")
        return self.record

    @property
    def run_dir(self) -> Path:
        return self.store.run_dir(self.current.run_id)

    def _write(self, **changes) -> None:
        self.record = dataclasses.replace(self.current, **changes)
        self._save()

    def _save(self) -> None:
        if self.world.main:  # the other ranks keep the same record in memory only
            self.store.write(self.current)

    def _save_if_possible(self) -> None:
        """The final record, when the disk takes it; else the record on disk stays at its last
        good state, and the folder lock, released as the run ends, shows it as stale."""
        try:
            self._save()
        except (DiskFull, OSError):
            pass

    def _create_record(self) -> None:
        from bench.records import DatasetInfo, MethodInfo, Positives, SplitInfo, StageRecord, counts, environment_info

        plan = self.plan
        stages = tuple(  # the global batch: every rank's together
            StageRecord(index=i, image_size=s.image_size, batch_size=b * self.world.size, epochs_planned=s.epochs)
            for i, (s, b) in enumerate(zip(plan.spec.stages, plan.batch_sizes))
        )
        # Rank 0 makes the run directory; the others get its record (and run id).
        self.record = self.world.from_main(
            lambda: self.store.create(
                method=MethodInfo.from_spec(
                    plan.spec.to_dict(),
                    display_name=display_name(plan.spec.name, plan.overrides),
                    overrides=overrides_json(plan.overrides),
                    origin=plan.origin,
                ),
                split=SplitInfo.from_fold(plan.fold, allow_leakage=self.options.allow_leakage),
                dataset=DatasetInfo.from_index(plan.index),
                seed=self.options.seed,
                preset=plan.preset,
                device=str(self.device),
                environment=environment_info(world_size=self.world.size),
                stages=stages,
                invocation=self.options.to_json(),
            )
        )
        positives = {name: counts(images.labels.sum(0)) for name, images in plan.lists.items()}
        self._write(positives=Positives(**positives))

    def _start(self, fresh: bool) -> tuple[StageProgress, dict[str, Any] | None]:
        """Where training starts, and the resumable checkpoint it continues (None: a new run)."""
        progress = StageProgress()
        if fresh:
            return progress, None
        if self.current.status == "complete":
            raise BenchError(f"run {self.current.run_id} is already complete", hint="start a new run instead")
        resume = checkpoint.load_resume(self.run_dir / RESUME_FILE)
        progress.load_state_dict(resume["state"])
        self._warn_threads(progress.stage)
        # The epochs after the checkpoint's are trained again: the record keeps none of them.
        upto = (progress.stage, progress.next_epoch)
        history = tuple(h for h in self.current.history if (h.stage, h.epoch) < upto)
        self._write(status="running", ended=None, error=None, history=history)
        return progress, resume

    def _warn_threads(self, stage: int) -> None:
        """On the CPU, another thread count sums in another order: say so when a resume has one."""
        import torch

        used = self.current.stages[stage].torch_threads or (self.current.environment.torch_threads,)
        now = torch.get_num_threads()
        if self.device.type == "cpu" and used[-1] is not None and used[-1] != now and self.world.main:
            warn(
                f"run {self.current.run_id} trained stage {stage + 1} with {used[-1]} torch thread(s), this process "
                f"has {now}: its metrics can differ from an uninterrupted run's (OMP_NUM_THREADS={used[-1]} matches it)"
            )

    # -- execution -----------------------------------------------------------------------------
    def execute(self):
        fresh = self.record is None
        if fresh:
            self._create_record()
        # One process works on a run folder at a time: a crash releases the lock, so a "running"
        # record nobody holds shows as stale, and a resume of a live run is refused.
        with self.store.lock(self.current.run_id) if self.world.main else contextlib.nullcontext():
            return self._execute(fresh)

    def _execute(self, fresh: bool):
        plan = self.plan
        progress, resume = self._start(fresh)
        if not self.options.quiet:
            lists = plan.lists
            notice(
                f"run {self.current.run_id}: {plan.spec.name} on {plan.fold.key} fold {plan.fold.fold} "
                f"({len(lists['train'])}/{len(lists['val'])}/{len(lists['test'])} images), preset {plan.preset}, {self.device}"
                + (f", {self.world.size} processes" if self.world.parallel else "")
            )
        configure_backends(self.device)
        try:
            with self.stop.installed():
                for stage in range(progress.stage, len(plan.spec.stages)):
                    if stage > progress.stage:
                        progress, resume = StageProgress(stage=stage), None
                    if not progress.done:
                        loop = StageLoop(
                            plan,
                            progress,
                            device=self.device,
                            world=self.world,
                            images=self.images,
                            run_dir=self.run_dir,
                            run_id=self.current.run_id,
                            check_stop=self.check_stop,
                        )
                        if resume is not None:
                            loop.load_state_dict(resume)
                        loop.fit(self._keep_epoch)
                    self.world.barrier()  # rank 0's best checkpoint is on disk before any rank loads it
                self._test()
        except Interrupted as exc:
            self.record = dataclasses.replace(self.current, status="interrupted", error=exc.one_line())
            self._save_if_possible()
            if not (self.run_dir / RESUME_FILE).is_file():  # nothing to resume from: say so
                raise Interrupted(
                    f"run {self.current.run_id} interrupted before its first epoch ended",
                    hint=f"start it again (its options: bench runs show {self.current.run_id}); "
                    "the images cached so far are kept",
                ) from None
            raise Interrupted(
                f"run {self.current.run_id} interrupted; its last completed epoch is saved",
                hint=f"continue with: {resume_command(self.current.run_id, self.world.size)}",
            ) from None
        except DiskFull as exc:
            full = DiskFull(
                exc.message,
                hint=f"free some space there, then continue with: {resume_command(self.current.run_id, self.world.size)}",
            )
            self.record = self.current.finished("failed", error=full.one_line())
            self._save_if_possible()
            raise full from None
        except BenchError as exc:
            self.record = self.current.finished("failed", error=exc.one_line())
            self._save_if_possible()
            raise
        except BaseException as exc:
            lost = self.world.parallel and distributed.lost_peer(exc)
            message = "another process of the run stopped" if lost else f"{type(exc).__name__}: {exc}"
            self.record = self.current.finished("failed", error=message)
            self._save_if_possible()
            if lost:  # the process that stopped tells why; this one's traceback would only show the wait
                raise distributed.Abandoned(message, exit_code=1) from None
            raise
        return self.record

    def check_stop(self) -> None:
        """Stop between batches if a signal came; with several processes all stop, at the same
        batch, when any got one (none may wait in a collective the others left)."""
        if self.world.parallel:
            (stopping,) = self.world.sum(float(self.stop.signal is not None))
            if stopping and self.stop.signal is None:
                self.stop.signal = "a signal to another process"
        self.stop.check()

    def _keep_epoch(self, loop: StageLoop, result: EpochResult) -> None:
        """The epoch in the record and its history, and the checkpoint a resume continues from."""
        from bench.records import EpochRecord, per_class, write_history

        progress = loop.progress
        history = self.current.history + (
            EpochRecord(
                stage=result.stage,
                epoch=result.epoch,
                train_loss=result.train_loss,
                val_loss=result.val_loss,
                val_auroc_mean=result.val_mean.value,
                val_auroc=per_class(result.val_auroc),
                lr=result.lr,
                wall_s=result.wall_s,
            ),
        )
        stages = list(self.current.stages)
        stages[result.stage] = dataclasses.replace(
            stages[result.stage],
            epochs_run=result.epoch + 1,
            wall_s=progress.train_seconds,
            train_images_per_s=progress.train_images / max(progress.train_seconds, 1e-9),
            best_epoch=progress.best_epoch,
            best_val_auroc=progress.best_auroc,
            train_dropped=loop.dropped,
            torch_threads=_appended(stages[result.stage].torch_threads, torch.get_num_threads()),
        )
        artifacts = dataclasses.replace(self.current.artifacts, history=HISTORY_FILE)
        if result.improved:  # the loop wrote the stage's validation predictions with its best checkpoint
            val_files = (*artifacts.val_predictions[: result.stage], stage_val_predictions(result.stage))
            artifacts = dataclasses.replace(artifacts, val_predictions=val_files)
        good = self.current  # the record as of the resumable checkpoint on disk
        # The record first: should the checkpoint then fail, a resume drops the epochs the record
        # is ahead by (see `_start`); a checkpoint ahead of its record would lose them.
        try:
            self._write(history=history, stages=tuple(stages), artifacts=artifacts)
            if self.world.main:
                checkpoint.save_resume(self.run_dir / RESUME_FILE, loop.state_dict())
                write_history(history, self.run_dir / HISTORY_FILE)
        except BaseException:
            self.record = good
            raise

    def _test(self) -> None:
        """Test (and val) inference with each stage's best checkpoint; final metrics, CIs, predictions."""
        from bench.predictions import Predictions
        from bench.records import Metrics
        from bench.train.results import run_evaluation, run_result

        plan = self.plan
        test, val = plan.lists["test"], plan.lists["val"]
        last = len(plan.spec.stages) - 1
        stages = list(self.current.stages)
        for stage in range(len(plan.spec.stages)):
            path = self.run_dir / best_checkpoint(stage)
            model = load_model(plan.method, stage, path, self.device, compile=self.options.compile)
            if not self.options.quiet:
                notice(
                    f"stage {stage + 1}: best checkpoint loaded strictly ({len(model.state_dict())} tensors); testing"
                )
            tta = TTA(self.options.tta, plan.spec.stages[stage].image_size)  # validation stays plain
            test_source = augmented_source(self.images, "test", tta)
            test_scores = self.scorer.score(model, test_source, test.labels, tta=tta).scores
            stage_mean = quiet_mean(per_class_auroc(test.labels, test_scores))
            stages[stage] = dataclasses.replace(stages[stage], test_auroc_mean=stage_mean.value)
            if stage == last:
                val_source = self.images.sources(tta.image_size, ("val",))["val"]
                val_scores = self.scorer.score(model, val_source, val.labels).scores

        def finish():
            predictions = Predictions(tuple(test.ids), test.patients, test.labels, test_scores)
            result = run_result(self.run_dir, predictions, dataset_kind=plan.index.kind, seed=self.options.seed)
            if not result.sanity.test_auroc_ok:
                warn(result.sanity.message)
            artifacts = dataclasses.replace(
                self.current.artifacts,
                predictions=result.predictions,
                checkpoint=best_checkpoint(last),
                history=HISTORY_FILE,
            )
            record = dataclasses.replace(self.current, artifacts=artifacts)
            return record.finished(
                "complete",
                stages=tuple(stages),
                metrics=Metrics(val=list_metrics(val.labels, val_scores), test=result.test),
                sanity=result.sanity,
                tta=self.options.tta,
                evaluation=run_evaluation(self.store, record, plan.index),
            )

        # Every rank holds all scores; rank 0 alone saves them and computes the bootstrap.
        self.record = self.world.from_main(finish)
        self._save()


def _appended(counts: tuple[int, ...], count: int) -> tuple[int, ...]:
    return counts if counts and counts[-1] == count else (*counts, count)


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
    """A stored run's folder name (its full id) and the options it was started with (`changes` applied)."""
    from bench.records import RunStore

    store = RunStore(results)
    folder = store.found_id(run_id)
    record = store.load(folder)
    if record.kind == "external":
        raise BenchError(
            f"run {folder} is external (scores of a model trained elsewhere): it has no training to resume",
            hint="score the model again with `bench score` or `bench eval`",
        )
    if not record.invocation:
        raise BenchError(f"run {folder} has no stored options to resume from")
    return folder, dataclasses.replace(RunOptions.from_json(record.invocation), results=str(results), **changes)


# Options a resume may set anew: they cannot change its results.
RESUME_FREE = ("workers", "quiet", "results")


def resume(run_id: str, *, results: str, quiet: bool = False, given: Mapping[str, tuple[str, Any]] | None = None):
    """Continue an interrupted (or failed) run from its last completed epoch. `given` holds the
    options given again (RunOptions field -> (flag, value)): --workers is taken; any other that
    differs from the stored run's is refused, as it would make the resumed run another run."""
    given = dict(given or {})
    changes: dict[str, Any] = {"quiet": quiet}
    if "workers" in given:
        changes["workers"] = given.pop("workers")[1]
    run_id, options = _stored(run_id, results, **changes)
    refuse_changes(run_id, options, given)
    return _execute(options, run_id)


def refuse_changes(run_id: str, options: RunOptions, given: Mapping[str, tuple[str, Any]]) -> None:
    """BenchError naming the options of `given` that differ from the stored `options`."""
    stored = options.to_json()
    differ = [
        f"{flag} {_shown(value)} (stored: {_shown(stored.get(field))})"
        for field, (flag, value) in given.items()
        if field not in RESUME_FREE and not _same(field, stored.get(field), value)
    ]
    if differ:
        raise BenchError(
            f"--resume continues run {run_id} with its stored options, and {'; '.join(differ)} "
            f"{'differs' if len(differ) == 1 else 'differ'} from them",
            hint=f"leave {'it' if len(differ) == 1 else 'them'} out (a resume may change only "
            f"{', '.join('--' + f for f in RESUME_FREE)}), or start a new run with {'it' if len(differ) == 1 else 'them'}",
        )


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def _same(field: str, stored: Any, given: Any) -> bool:
    if field == "data" and stored is not None and given is not None:
        return Path(stored).resolve() == Path(given).resolve()
    return _plain(stored) == _plain(given)


def _shown(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def rescore(run_id: str, *, results: str, name: str = "test") -> np.ndarray:
    """A stored run's `name` list scored again by its last stage's best checkpoint, in this one
    process (what a multi-process evaluation must equal)."""
    from bench.records import RunStore

    run_id, options = _stored(run_id, results, quiet=True, world_size=1)
    plan = plan_run(options)
    device = pick_device(options.device)
    last = len(plan.spec.stages) - 1
    path = RunStore(results).run_dir(run_id) / best_checkpoint(last)
    model = load_model(plan.method, last, path, device, compile=options.compile)
    source = RunImages(plan, distributed.SINGLE).sources(plan.spec.stages[last].image_size, (name,))[name]
    scorer = Scorer.for_method(plan.method, device, workers=options.workers)
    return scorer.score(model, source, plan.lists[name].labels).scores
