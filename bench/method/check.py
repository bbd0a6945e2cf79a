"""What `bench methods check` and `bench run` verify about a method before anything trains.

`resolution_problems` is cheap (no model is built): every name the built-in hooks would look up
exists, every preset's image sizes suit the backbone. `check_method` then builds the model, the
loss, the optimizer and the scheduler at the smoke preset's first stage, runs one training step
on a tiny random batch, steps the scheduler once and predicts the batch. Each problem is one line.
"""

from __future__ import annotations

import difflib
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from bench.errors import BenchError
from bench.labels import NUM_CLASSES
from bench.method.base import Method
from bench.method.spec import AUGMENTATIONS, LOSS_NAMES, OPTIMIZER_PARAMS, SCHEDULES, WEIGHTINGS
from bench.method.weights import checkpoint_source, pinned_file

# The tiny batch of the check: enough images for BatchNorm, a few positives per class.
CHECK_BATCH = 4
CHECK_COUNTS = (10,) * NUM_CLASSES
CHECK_TRAIN = 100


def _known(what: str, value: str, known: Iterable[str], hook: str | None) -> str | None:
    known = list(known)
    if value in known:
        return None
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    fix = f"did you mean {close[0]!r}?" if close else f"built in: {', '.join(known)}"
    tail = f"; a plugin with its own overrides Method.{hook}" if hook else ""
    return f"{what} {value!r} is not known ({fix}{tail})"


def resolution_problems(method: Method, *, presets: bool = True) -> list[str]:
    """The names and sizes `method`'s spec uses that a run would fail on, one line each. With
    `presets`, every preset's image sizes are checked (else the resolved stages only)."""
    from bench.models import check_image_size, timm_name

    spec, hooks = method.spec, set(method.overridden())
    problems: list[str] = []

    def name_problem(problem: str | None) -> None:
        if problem:
            problems.append(problem)

    source = checkpoint_source(spec.pretrained)
    try:
        timm_name(spec.backbone, "imagenet" if source else spec.pretrained)
    except BenchError as exc:
        problems.append(f"backbone: {exc.one_line()}")
        return problems  # nothing else can be checked against a backbone that does not exist
    if source is not None and source[0] == "file" and not pinned_file(spec.pretrained)[0].is_file():
        problems.append(f"pretrained: checkpoint file {pinned_file(spec.pretrained)[0]} not found")
    if "build_loss" not in hooks:
        name_problem(_known("loss.name", spec.loss.name, LOSS_NAMES, "build_loss"))
        name_problem(_known("loss.weighting", spec.loss.weighting, WEIGHTINGS, "build_loss"))
        if spec.loss.params:
            problems.append(
                f"loss.params {', '.join(spec.loss.params)}: the built-in losses take none "
                "(a plugin's own loss reads them in its build_loss)"
            )
    if "build_optimizer" not in hooks:
        name_problem(_known("optimizer", spec.optimizer.name, OPTIMIZER_PARAMS, "build_optimizer"))
    if "build_scheduler" not in hooks:
        name_problem(_known("schedule.name", spec.schedule.name, SCHEDULES, "build_scheduler"))
        if spec.schedule.params:
            problems.append(
                f"schedule.params {', '.join(spec.schedule.params)}: the built-in schedules take none "
                "(a plugin's own schedule reads them in its build_scheduler)"
            )
    for item in spec.augmentation:
        if item not in AUGMENTATIONS:
            name_problem(_known("augmentation", item, AUGMENTATIONS, None))
            problems[-1] += "; a plugin applying its own registers it with register_augmentation"
    stages = [(p, s) for p, stages in spec.presets.items() for s in stages] if presets else []
    stages += [(spec.preset, s) for s in spec.stages]
    for size in sorted({s.image_size for _, s in stages}):
        try:
            check_image_size(spec.backbone, size)
        except BenchError as exc:
            used = sorted({p for p, s in stages if s.image_size == size})
            problems.append(f"preset {', '.join(used)}: {exc.one_line()}")
    return problems


def _origin(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages" not in f.filename]
    return f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def check_method(method: Method) -> list[str]:
    """Every problem `resolution_problems` finds; without any, the hooks built and stepped once."""
    problems = resolution_problems(method)
    if problems:
        return problems
    return _exercise(method)


def _exercise(method: Method) -> list[str]:
    import torch

    from bench.method.optim import step_scheduler

    problems: list[str] = []

    def attempt(what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except BenchError as exc:  # a plugin's hook failing says which in its message
            problems.append(exc.message if exc.message.startswith(what) else f"{what}: {exc.message}")
        except Exception as exc:  # e.g. a plugin model's forward: name the last line outside the libraries
            problems.append(f"{what}: {type(exc).__name__}: {' '.join(str(exc).split())}{_origin(exc)}")
        return None

    resolved = attempt("smoke preset", lambda: method.resolve("smoke"))
    if resolved is None:
        return problems
    stage = resolved.spec.stages[0]
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(CHECK_BATCH, 3, stage.image_size, stage.image_size, generator=generator)
    targets = (torch.rand(CHECK_BATCH, NUM_CLASSES, generator=generator) < 0.3).float()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = attempt("build_model", lambda: resolved.build_model(0, pretrained=False))
    if model is None:
        return problems
    model.eval()
    with torch.no_grad():
        logits = attempt("build_model", lambda: model(images))
    if logits is None:
        return problems
    if tuple(logits.shape) != (CHECK_BATCH, NUM_CLASSES):
        problems.append(
            f"build_model: the model maps a ({CHECK_BATCH}, 3, {stage.image_size}, {stage.image_size}) batch to "
            f"{tuple(logits.shape)}, not ({CHECK_BATCH}, {NUM_CLASSES}) logits"
        )
        return problems
    steps = (
        ("on_stage_start", lambda: resolved.on_stage_start(model, 0)),
        ("build_loss", lambda: resolved.build_loss(list(CHECK_COUNTS), CHECK_TRAIN)),
    )
    done = [attempt(what, call) for what, call in steps]
    loss_fn = done[1]
    if problems or loss_fn is None:
        return problems
    optimizer = attempt("build_optimizer", lambda: resolved.build_optimizer(model, stage))
    if optimizer is None:
        return problems
    scheduler = attempt("build_scheduler", lambda: resolved.build_scheduler(optimizer, stage))
    if scheduler is None:
        return problems
    model.train()
    attempt("on_epoch_start", lambda: resolved.on_epoch_start(model, 0, 0))
    loss = attempt("train_step", lambda: resolved.train_step(model, (images, targets), loss_fn, optimizer))
    if loss is None:
        return problems
    value = float(loss)
    if value != value or value in (float("inf"), float("-inf")):
        problems.append(f"train_step: the loss of a random batch is {value}")
    trained = [p for p in model.parameters() if p.requires_grad]
    if not trained:
        problems.append("build_model: the model has no trainable parameters")
    elif all(p.grad is None for p in trained):
        problems.append("train_step: no parameter received a gradient (did it call loss.backward()?)")
    attempt("build_scheduler", lambda: step_scheduler(scheduler, value))
    model.eval()
    with torch.no_grad():
        attempt("predict", lambda: resolved.predict(model, images))  # its guard checks the logits' shape
    return problems
