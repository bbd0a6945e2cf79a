"""Learning-rate schedules and the built-in optimizers: each schedule epoch by epoch, and the
engine's step rule (ReduceLROnPlateau with the validation loss, every other scheduler without an argument)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR

from bench.errors import BenchError
from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec, ScheduleSpec, SpecError, StageSpec
from bench.method.optim import build_optimizer, build_scheduler, step_scheduler

LR = 1e-3


def _lrs(schedule: ScheduleSpec, epochs: int, losses=None) -> list[float]:
    """The lr each of `epochs` epochs trains at, stepping as the engine does after each."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    scheduler = build_scheduler(optimizer, schedule, epochs=epochs)
    seen = []
    for epoch in range(epochs):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        step_scheduler(scheduler, 1.0 if losses is None else losses[epoch])
    return seen


def test_plateau_cuts_after_patience_epochs_without_a_lower_loss():
    lrs = _lrs(ScheduleSpec("plateau", factor=0.1, patience=1), 5, losses=[1.0, 0.9, 0.95, 0.96, 0.5])
    assert lrs == pytest.approx([LR, LR, LR, LR, LR * 0.1])


def test_cosine_with_warmup_by_hand():
    # 5 epochs, 1 warm-up: 1/2, then cos from 1 to 0 over epochs 1..4 (t = 0, 1/3, 2/3, 1).
    lrs = _lrs(ScheduleSpec("cosine", warmup_epochs=1), 5)
    expected = [0.5, 1.0, 0.5 * (1 + math.cos(math.pi / 3)), 0.5 * (1 + math.cos(2 * math.pi / 3)), 0.0]
    assert lrs == pytest.approx([LR * f for f in expected])
    floor = _lrs(ScheduleSpec("cosine", min_lr=1e-4), 3)
    assert floor == pytest.approx([1e-3, 1e-4 + 0.9e-3 * 0.5, 1e-4])


def test_step_onecycle_and_constant():
    assert _lrs(ScheduleSpec("step", factor=0.5, step_epochs=2), 5) == pytest.approx([LR, LR, LR / 2, LR / 2, LR / 4])
    cycle = _lrs(ScheduleSpec("onecycle", pct_start=0.25), 8)
    peak = cycle.index(max(cycle))
    assert max(cycle) == pytest.approx(LR) and 0 < peak < 7
    assert cycle[0] == pytest.approx(LR / 25)  # OneCycleLR's start: max_lr / div_factor
    assert all(a < b for a, b in zip(cycle[:peak], cycle[1 : peak + 1]))
    assert all(a > b for a, b in zip(cycle[peak:-1], cycle[peak + 1 :]))
    assert _lrs(ScheduleSpec("constant"), 3) == [LR] * 3


def test_a_plugin_cosine_scheduler_moves_under_the_engine_step():
    """A scheduler stepped with the validation loss as PyTorch's epoch argument stays at its
    start (the lr 0.00098-0.00099 for 4 epochs); the engine's step moves it, without a warning."""
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    scheduler = CosineAnnealingLR(optimizer, T_max=4)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(4):
            optimizer.step()
            step_scheduler(scheduler, 0.98)
            lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([LR * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(1, 5)], abs=1e-12)


def test_method_schedule_spans_the_stage_and_resumes():
    stage = StageSpec(32, 8, 4)
    spec = MethodSpec(
        name="cos",
        description="x",
        backbone="resnet18",
        loss=LossSpec(),
        optimizer=OptimizerSpec("adam", lr=LR),
        schedule=ScheduleSpec("cosine"),
        presets={"paper": (stage,), "demo": (stage,), "smoke": (stage,)},
    )
    method = Method(spec)
    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = method.build_optimizer(params, stage)
    scheduler = method.build_scheduler(optimizer, stage)
    for _ in range(2):
        optimizer.step()
        step_scheduler(scheduler, 1.0)
    state = scheduler.state_dict()
    # A resumed stage rebuilds the scheduler and loads its state: the next lr is the same.
    again = method.build_optimizer(params, stage)
    rebuilt = method.build_scheduler(again, stage)
    rebuilt.load_state_dict(state)
    optimizer.step()
    again.step()
    step_scheduler(scheduler, 1.0)
    step_scheduler(rebuilt, 1.0)
    assert again.param_groups[0]["lr"] == pytest.approx(optimizer.param_groups[0]["lr"])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # epoch 3 of 4: the end of the decay


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"factor": 1.5}, "schedule.factor must be in (0, 1)"),
        ({"warmup_epochs": -1}, "schedule.warmup_epochs must be >= 0"),
        ({"name": "Cosine Annealing"}, "schedule.name 'Cosine Annealing' is not valid"),
        ({"pct_start": 1.0}, "schedule.pct_start must be in (0, 1)"),
    ],
)
def test_bad_schedules_are_refused(changes, message):
    with pytest.raises(SpecError) as info:
        ScheduleSpec(**changes)
    assert message in info.value.one_line()


def test_unknown_schedule_without_a_hook_is_an_error():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    with pytest.raises(BenchError, match="schedule 'warmcos' is not built in"):
        build_scheduler(optimizer, ScheduleSpec("warmcos"), epochs=3)


def test_adamw_and_nesterov_sgd_are_built_in():
    params = [torch.nn.Parameter(torch.zeros(3))]
    adamw = build_optimizer(OptimizerSpec("adamw", lr=3e-4), params)
    assert isinstance(adamw, torch.optim.AdamW)
    assert (adamw.param_groups[0]["weight_decay"], adamw.param_groups[0]["lr"]) == (0.01, 3e-4)
    sgd = build_optimizer(OptimizerSpec("sgd", lr=0.1, params={"nesterov": True}), params)
    assert isinstance(sgd, torch.optim.SGD)
    assert (sgd.param_groups[0]["nesterov"], sgd.param_groups[0]["momentum"]) == (True, 0.9)
