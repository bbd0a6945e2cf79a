"""`official`: NIH's train_val_list.txt / test_list.txt, validation carved out by patient."""

from __future__ import annotations

from pathlib import Path

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


def files(root: Path) -> list[tuple[str, Path]]:
    """(name shown, path) of NIH's two lists, in the root."""
    root = Path(root)
    return [(name, root / name) for name in (TRAIN_VAL, TEST)]


def check_files(index: DatasetIndex):
    """`bench data check`'s look at the two lists (splits.listcheck.read_checks), and a missing
    test_list.txt beside a train_val_list.txt is a fault: the split cannot be built without it."""
    import dataclasses

    from splits.listcheck import read_checks

    checks = read_checks(PROTOCOL.name, LIST_FORMAT, files(index.root), index)
    train_val, test = checks
    if train_val.present and not test.present:
        checks[1] = dataclasses.replace(
            test,
            required=f"{index.root / TRAIN_VAL} has no {TEST} beside it: the official split needs both "
            f"(copy {TEST} from the NIH ChestX-ray14 download into {index.root})",
        )
    return tuple(checks)
