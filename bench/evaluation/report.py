"""Everything one run's stored predictions give beyond the mean AUROC, in one typed result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bench.evaluation.calibration import CalibrationReport, calibration, probability_problem
from bench.evaluation.common import LEVEL, N_RESAMPLES, check_inputs
from bench.evaluation.operating import OperatingReport, operating_points
from bench.evaluation.subgroups import SubgroupReport, subgroups


@dataclass(frozen=True)
class Evaluation:
    """A run's subgroups, calibration and operating points; a part that could not be computed is
    None and `notes` says why in one line each."""

    subgroups: SubgroupReport | None
    calibration: CalibrationReport | None
    operating: OperatingReport | None
    notes: tuple[str, ...] = ()


def evaluate(
    labels,
    scores,
    patient_ids,
    *,
    attributes: Mapping[str, Sequence | np.ndarray] | None = None,
    val_labels=None,
    val_scores=None,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> Evaluation:
    """The test list's evaluations; with validation scores, the operating points too, and the
    subgroups' true-positive rates at the Youden thresholds."""
    y, s, groups = check_inputs(labels, scores, patient_ids)
    notes: list[str] = []
    operating = None
    if val_labels is None or val_scores is None:
        notes.append("operating points: no validation predictions to choose thresholds on")
    else:
        operating = operating_points(val_labels, val_scores, y, s)
    report = None
    if attributes:
        thresholds = None if operating is None else operating.thresholds("youden")
        report = subgroups(
            y, s, groups, attributes, thresholds=thresholds, n_resamples=n_resamples, level=level, seed=seed
        )
    else:
        notes.append("subgroups: no view, sex or age given")
    calib = None
    problem = probability_problem(s)
    if problem:
        notes.append(f"calibration: {problem}")
    else:
        calib = calibration(y, s, groups, n_resamples=n_resamples, level=level, seed=seed)
    return Evaluation(report, calib, operating, tuple(notes))
