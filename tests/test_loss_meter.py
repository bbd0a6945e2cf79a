import math

import pytest
import torch

from bench.train.loss_meter import CUDA_READ_EVERY, LossMeter


def test_reads_come_every_n_steps_and_average_over_images():
    meter = LossMeter(every=3)
    due = [meter.add(torch.tensor(loss), n) for loss, n in [(1.0, 2), (4.0, 1), (0.5, 2)]]
    assert due == [False, False, True]
    # (1*2 + 4*1 + 0.5*2) / 5 images
    assert meter.read() == pytest.approx(7.0 / 5)
    assert meter.add(2.0, 5) is False  # a plain float from a plugin's train_step counts too
    assert meter.read() == pytest.approx(2.0)
    assert meter.mean == pytest.approx((7.0 + 10.0) / 10)


def test_a_nan_step_between_reads_makes_the_read_nan():
    meter = LossMeter(every=CUDA_READ_EVERY)
    for loss in (0.3, float("nan"), 0.2):
        meter.add(torch.tensor(loss), 4)
    assert math.isnan(meter.read())
    meter.add(torch.tensor(float("inf")), 4)
    assert math.isinf(meter.read())


def test_cpu_reads_every_step_and_bad_every_is_refused():
    assert LossMeter.for_device(torch.device("cpu")).every == 1
    assert LossMeter.for_device(torch.device("cuda")).every == CUDA_READ_EVERY
    with pytest.raises(ValueError, match="at least 1"):
        LossMeter(every=0)
