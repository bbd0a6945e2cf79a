"""`official`: NIH's train_val_list.txt / test_list.txt, validation carved out by patient."""

from __future__ import annotations

from bench.data.index import DatasetIndex
from bench.errors import BenchError
from splits.base import Lists, SplitProtocol, carve_by_patient, patients_of
from splits.listfiles import read_list

TRAIN_VAL = "train_val_list.txt"
TEST = "test_list.txt"
LIST_FORMAT = "names"


class Official(SplitProtocol):
    name = "official"
    description = "NIH's train_val_list.txt / test_list.txt; validation = a seeded share of train_val patients"
    uses_seed = True
    uses_val_fraction = True

    def build(self, index: DatasetIndex, *, seed: int, val_fraction: float) -> list[Lists]:
        root = index.root
        missing = [name for name in (TRAIN_VAL, TEST) if not (root / name).is_file()]
        if missing:
            raise BenchError(
                f"the official split needs {' and '.join(missing)} in {root}",
                hint="copy them from the NIH ChestX-ray14 download into the dataset root",
            )
        train_val = read_list(root / TRAIN_VAL, expect=LIST_FORMAT).names
        test = read_list(root / TEST, expect=LIST_FORMAT).names
        train, val = carve_by_patient(train_val, patients_of(index, train_val), val_fraction, seed)
        return [(train, val, list(test))]


PROTOCOL = Official()
