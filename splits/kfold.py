"""`kfold5`: patient-wise 5-fold cross-validation over the whole dataset, label-stratified."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from bench.data.index import DatasetIndex
from bench.errors import BenchError
from bench.labels import LABELS
from splits.base import Lists, SplitProtocol, carve_by_patient

NO_POSITIVE = "none"


def rarest_label_strata(labels: np.ndarray) -> np.ndarray:
    """Per image, the name of its rarest positive label (rarity over these images), else 'none'."""
    counts = labels.sum(axis=0)
    order = np.argsort(counts, kind="stable")  # rarest first; ties broken by canonical order
    rank = np.empty(len(LABELS), dtype=int)
    rank[order] = np.arange(len(LABELS))
    ranked = np.where(labels.astype(bool), rank[None, :], len(LABELS))
    rarest = ranked.min(axis=1)
    names = np.array([LABELS[i] for i in order] + [NO_POSITIVE], dtype=object)
    return names[rarest]


class KFold(SplitProtocol):
    """Test = fold i of StratifiedGroupKFold(k, shuffle=True, random_state=seed), grouped by
    patient and stratified by `rarest_label_strata`. Validation = `val_fraction` of all patients,
    drawn (seeded) from the patients not in the test fold: 1/8 of them at k=5 and 0.1."""

    uses_seed = True
    uses_val_fraction = True

    def __init__(self, k: int = 5):
        self.k = k
        self.name = f"kfold{k}"
        self.n_folds = k
        self.description = (
            f"patient-wise {k}-fold cross-validation over all images, stratified by rarest label; "
            "validation = a seeded share of the non-test patients"
        )

    def build(self, index: DatasetIndex, *, seed: int, val_fraction: float) -> list[Lists]:
        within = val_fraction / (1 - 1 / self.k)  # share of the non-test patients
        if within >= 1:
            raise BenchError(f"--val-fraction {val_fraction} leaves no training patients with {self.k} folds")
        frame = index.frame
        ids = frame.index.to_numpy(dtype=object)
        patients = frame["patient_id"].to_numpy()
        if len(np.unique(patients)) < self.k:
            raise BenchError(
                f"{self.name} needs at least {self.k} patients; the dataset has {len(np.unique(patients))}"
            )
        strata = rarest_label_strata(index.labels())
        splitter = StratifiedGroupKFold(self.k, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            # A stratum with fewer members than folds (e.g. Hernia on a tiny dataset) is expected.
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            tests = [test for _, test in splitter.split(ids, strata, groups=patients)]
        folds = []
        for i, test in enumerate(tests):
            rest = np.ones(len(ids), dtype=bool)
            rest[test] = False
            train, val = carve_by_patient(ids[rest], patients[rest], within, (seed, i))
            folds.append((train, val, ids[test].tolist()))
        return folds


PROTOCOL = KFold(5)
