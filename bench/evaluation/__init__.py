"""Evaluation beyond the mean AUROC, computed from arrays of stored predictions: subgroups,
calibration, operating points, seed aggregation, multiple-comparison corrections and rankings.

Functions take numpy arrays (labels and scores (n, C), patient ids, attribute values per image),
never the dataset index or files, and return frozen dataclasses that bench.schema round-trips.
"""

from bench.evaluation.report import Evaluation, evaluate

__all__ = ["Evaluation", "evaluate"]
