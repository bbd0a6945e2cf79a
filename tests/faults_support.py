"""One small trained run shared by the fault tests (trained once per test session), and copies
of it for a test to damage."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TINY_BACKBONE

from bench.records import RunRecord, RunStore
from bench.train.options import RunOptions

# 41 images per list: the smoke preset's batches of 8 leave a last batch of one image.
LIMIT = 41
_TRAINED: dict[Path, tuple[Path, str]] = {}


def run_options(demo_root: Path, results: Path, **changes) -> RunOptions:
    base = dict(
        method="chexnet",
        data=str(demo_root),
        results=str(results),
        preset="smoke",
        limit=LIMIT,
        pretrained=False,
        overrides=TINY_BACKBONE,
        quiet=True,
    )
    return RunOptions(**(base | changes))


def trained_run(demo_root: Path, tmp_path_factory) -> tuple[Path, str]:
    """(results folder, run id) of a complete run, trained on first use; copy it before changing it."""
    if demo_root not in _TRAINED:
        import torch

        from bench.train import engine

        results = tmp_path_factory.mktemp("faults-results")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the machine is shared: more threads only wait for each other
        try:
            record = engine.run(run_options(demo_root, results))
        finally:
            torch.set_num_threads(threads)
        _TRAINED[demo_root] = (results, record.run_id)
    return _TRAINED[demo_root]


def copy_run(source: tuple[Path, str], results: Path, *, run_id: str | None = None, **changes) -> RunRecord:
    """A copy of the run `source` in `results` (under `run_id`, default the same id), its record
    changed by `changes` (e.g. status="interrupted")."""
    results_from, source_id = source
    run_id = run_id or source_id
    store = RunStore(results)
    shutil.copytree(RunStore(results_from).run_dir(source_id), store.run_dir(run_id))
    record = dataclasses.replace(store.load(run_id), **changes)
    # Written into the copy's folder, whatever run the record names (a copied folder's names the original).
    store.record_path(run_id).write_text(json.dumps(record.to_json(), indent=2) + "\n")
    return record


def interrupted(record: RunRecord) -> dict:
    """Changes that make a complete record the one an interrupt during its test phase left."""
    from bench.records import Artifacts, Metrics

    return dict(
        status="interrupted",
        ended=None,
        metrics=Metrics(),
        sanity=None,
        artifacts=dataclasses.replace(Artifacts(), history=record.artifacts.history),
    )


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """`folder` and what it holds read-only for the block: by file modes, or (root ignoring
    them) as a read-only bind mount of itself; skips the test where neither is possible."""
    if os.geteuid() != 0:
        paths = [folder, *folder.rglob("*")]
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(modes[p] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        try:
            yield folder
        finally:
            for p in reversed(paths):
                p.chmod(modes[p])
        return
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], check=False, capture_output=True)
    if mounted.returncode:
        pytest.skip("root ignores file modes, and this machine refuses a bind mount to make a folder read-only")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield folder
    finally:
        # Lazily: a memory map or a traceback of the test may still hold a file open in it.
        subprocess.run(["umount", "--lazy", str(folder)], check=True)
