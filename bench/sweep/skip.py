"""Which runs a sweep cell already has: a cell with a complete run is skipped."""

from __future__ import annotations

from dataclasses import dataclass

from bench.records import RunRecord, RunStore

# A run in these states stopped mid-way and can continue with `bench run --resume`.
RESUMABLE = ("interrupted", "running")


@dataclass(frozen=True)
class CellKey:
    """What makes two runs the same experiment (training options such as --epochs are not part of it)."""

    display_name: str  # method and --set overrides, e.g. "wfocal-effb3[loss.beta=0.99998]"
    split_fingerprint: str
    seed: int
    preset: str
    dataset_fingerprint: str

    @classmethod
    def of(cls, record: RunRecord) -> CellKey:
        return cls(
            record.method.display_name, record.split.fingerprint, record.seed, record.preset, record.dataset.fingerprint
        )


def runs_of(records: list[RunRecord], key: CellKey) -> list[RunRecord]:
    """The records of `key`'s cell, in store order (oldest id first)."""
    return [r for r in records if CellKey.of(r) == key]


def complete_runs(store: RunStore) -> dict[CellKey, RunRecord]:
    """The newest complete run of every cell in the store."""
    return {CellKey.of(r): r for r in store.find() if r.status == "complete"}


def resumable_run(store: RunStore, key: CellKey) -> RunRecord | None:
    """The newest run of the cell that stopped before completing, if any."""
    runs = [r for r in runs_of(list(store.find()), key) if r.status in RESUMABLE]
    return runs[-1] if runs else None
