"""Every protocol on the demo dataset: clean audits and >= 15 positives per class in every test list."""

from __future__ import annotations

import pytest

import splits
from bench.labels import LABELS
from splits.audit import audit

MIN_TEST_POSITIVES = 15  # the demo's class-coverage promise


@pytest.mark.parametrize("name", ["official", "kfold5", "weng", "custom:{root}/weng"])
def test_protocol_on_demo(demo_index, name):
    folds = splits.get_folds(name.format(root=demo_index.root), demo_index)
    report = audit(folds, demo_index)
    assert report.ok, report.faults
    for fold in report.folds:
        positives = fold.lists["test"].positives
        assert min(positives[label] for label in LABELS) >= MIN_TEST_POSITIVES, (fold.fold, positives)
