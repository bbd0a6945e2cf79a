"""The fold record and the base class every split protocol derives from."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from bench.data.index import DatasetIndex
from bench.errors import BenchError

LIST_NAMES: tuple[str, str, str] = ("train", "val", "test")
_PATIENT_IN_NAME = re.compile(r"^(\d+)_")


@dataclass(frozen=True)
class Fold:
    """Three lists of image ids (sorted on construction; duplicates kept so audits see them)."""

    protocol: str
    version: int
    fold: int  # 0-based
    n_folds: int
    seed: int | None  # None for protocols that draw nothing at random
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    params: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in LIST_NAMES:
            object.__setattr__(self, name, tuple(sorted(str(i) for i in getattr(self, name))))

    @property
    def key(self) -> str:
        return f"{self.protocol}@{self.version}"

    def lists(self) -> dict[str, tuple[str, ...]]:
        return {name: getattr(self, name) for name in LIST_NAMES}

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 hex digest of the three sorted lists, independent of protocol and params.

        Bytes hashed, UTF-8, for name in ("train", "val", "test") in this order:
        ``f"{name} {len(ids)}\\n"`` followed by ``f"{image_id}\\n"`` for each id in sorted order.
        So an exported and re-imported split keeps its fingerprint.
        """
        digest = hashlib.sha256()
        for name, ids in self.lists().items():
            digest.update(f"{name} {len(ids)}\n".encode())
            digest.update("".join(f"{i}\n" for i in ids).encode())
        return digest.hexdigest()


Lists = tuple[list[str], list[str], list[str]]


class SplitProtocol:
    """A named recipe turning a DatasetIndex into folds. Subclasses implement `build`.

    `takes_argument` protocols are named `name:ARG` (e.g. `custom:PATH`) and get it in `bind`.
    """

    name: str = ""
    version: int = 1
    description: str = ""
    n_folds: int | None = 1  # None when it depends on the input (custom lists)
    uses_seed: bool = False
    uses_val_fraction: bool = False
    takes_argument: bool = False
    usage: str | None = None  # how to name it when it takes an argument, e.g. "custom:PATH"

    def build(self, index: DatasetIndex, *, seed: int, val_fraction: float) -> list[Lists]:
        raise NotImplementedError

    def bind(self, argument: str) -> SplitProtocol:
        raise BenchError(f"split {self.name!r} takes no argument (got {self.name}:{argument})")

    def params(self, *, val_fraction: float) -> dict:
        return {"val_fraction": val_fraction} if self.uses_val_fraction else {}

    def folds(self, index: DatasetIndex, *, seed: int = 0, val_fraction: float = 0.1) -> list[Fold]:
        if self.takes_argument:
            raise BenchError(
                f"split {self.name!r} needs an argument", hint=f"write it as {self.usage or self.name + ':ARG'}"
            )
        if self.uses_val_fraction and not 0.0 < val_fraction < 1.0:
            raise BenchError(f"--val-fraction must be between 0 and 1 (got {val_fraction})")
        built = self.build(index, seed=seed, val_fraction=val_fraction)
        params = self.params(val_fraction=val_fraction)
        return [
            Fold(
                protocol=self.name,
                version=self.version,
                fold=k,
                n_folds=len(built),
                seed=seed if self.uses_seed else None,
                train=tuple(train),
                val=tuple(val),
                test=tuple(test),
                params=dict(params),
            )
            for k, (train, val, test) in enumerate(built)
        ]


def patients_of(index: DatasetIndex, image_ids) -> np.ndarray:
    """Patient id of each image: from the index, else from the name (`PPPPPPPP_FFF.png`), else -1."""
    ids = list(image_ids)
    positions = index.frame.index.get_indexer(pd.Index(ids))
    result = index.frame["patient_id"].to_numpy(dtype="int64")[positions]  # garbage where positions == -1
    for i in np.flatnonzero(positions < 0):
        match = _PATIENT_IN_NAME.match(ids[i])
        result[i] = int(match.group(1)) if match else -1
    return result


def carve_by_patient(
    image_ids, patients: np.ndarray, fraction: float, seed: int | tuple[int, ...]
) -> tuple[list[str], list[str]]:
    """Split images into (rest, held_out) with `fraction` of the patients held out, seeded."""
    ids = np.asarray(list(image_ids), dtype=object)
    unique = np.unique(patients)
    n_held = min(len(unique) - 1, max(1, round(fraction * len(unique)))) if len(unique) > 1 else 0
    held = np.random.default_rng(seed).permutation(unique)[:n_held]
    mask = np.isin(patients, held)
    return ids[~mask].tolist(), ids[mask].tolist()
