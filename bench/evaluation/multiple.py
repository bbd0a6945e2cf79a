"""Corrections of a table's p-values for the number of tests in it.

The family is every defined (non-NaN) p-value of the array, whatever its shape (classes x
columns); NaN stays NaN and is not counted. Holm controls the family-wise error rate (statsmodels'
implementation), Benjamini-Hochberg the false discovery rate (scipy's).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Correction = Literal["holm", "bh", "none"]
CORRECTIONS: tuple[Correction, ...] = ("holm", "bh", "none")
DESCRIPTIONS: dict[Correction, str] = {
    "holm": "Holm's step-down correction (family-wise error rate)",
    "bh": "Benjamini-Hochberg correction (false discovery rate)",
    "none": "no correction for multiple comparisons",
}


def adjust_pvalues(pvalues, method: Correction = "holm") -> np.ndarray:
    """The adjusted p-values, same shape; ValueError for an unknown method or values outside [0, 1]."""
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; choose one of {', '.join(CORRECTIONS)}")
    p = np.array(pvalues, dtype=np.float64)
    defined = ~np.isnan(p)
    if ((p[defined] < 0) | (p[defined] > 1)).any():
        raise ValueError("p-values must lie within [0, 1]")
    if method == "none" or defined.sum() == 0:
        return p
    if method == "holm":
        from statsmodels.stats.multitest import multipletests

        p[defined] = multipletests(p[defined], method="holm")[1]
    else:
        from scipy.stats import false_discovery_control

        p[defined] = false_discovery_control(p[defined], method="bh")
    return p
