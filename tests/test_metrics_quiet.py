"""Undefined classes print nothing to the console; the count is in the mean, the notice one line."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from bench.metrics import MeanValue, UndefinedClassWarning, mean_defined, undefined_notice

SCRIPT = """
import math
from bench.metrics import mean_defined
mean = mean_defined([0.5, math.nan, 0.7])
print(mean.n_defined, mean.n_total, mean.undefined)
"""


def test_an_undefined_class_prints_no_warning_to_the_console():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "2 3 ('class 1',)"
    assert "UndefinedClassWarning" not in done.stderr and "undefined" not in done.stderr, done.stderr


def test_the_warning_is_still_there_for_those_who_look_and_the_notice_is_one_line():
    with pytest.warns(UndefinedClassWarning):
        mean = mean_defined([0.5, math.nan, 0.7])
    assert undefined_notice(mean, "the val list") == (
        "AUROC undefined for class 1 in the val list (no positives or no negatives): mean over 2 of 3 classes"
    )
    assert undefined_notice(MeanValue(0.8, 14, 14)) is None
