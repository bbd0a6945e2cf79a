"""Shared fixtures: an isolated cache, the demo dataset, the real label index, weng lists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Under pytest-xdist each of the two workers trains on one thread: two 2-thread workers on the
# 2-core machine slow torch down several-fold. Set before torch is imported; subprocesses inherit it.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
# Rich sizes tables from the terminal, which an xdist worker lacks (and CI's differs): one width
# for every test, set before bench.ui creates its consoles.
os.environ["COLUMNS"] = "200"

REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO.parent / "shared" / "reference"
WENG_DIR = SHARED_REFERENCE / "weng-split"
# Tests render the demo at a small size: same labels, patients and splits, faster to write.
TEST_DEMO_SIZE = 64
# timm's tiny test ResNet (BatchNorm, total stride 32) in place of a method's backbone: tests of the
# engine's mechanics (records, resume, signals, faults) train it in seconds; tests of a method's
# own model keep its backbone.
TINY_BACKBONE = ("backbone=test_resnet", "pretrained=imagenet")


# The files that take longest, longest first: pytest-xdist hands files to the two workers in this
# order (--no-loadscope-reorder), so no long file starts last while the other worker sits idle.
LONGEST_FILES = (
    "test_cam_fine.py",
    "test_sweep.py",
    "test_splits_real.py",
    "test_quality.py",
    "test_learnability.py",
    "test_cam.py",
    "test_distributed.py",
    "test_run.py",
    "test_cache.py",
)


def pytest_collection_modifyitems(items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep tests out of the user's cache and results; nothing leaks between runs."""
    saved = {k: os.environ.get(k) for k in ("CXR_BENCH_CACHE", "CXR_BENCH_DATA", "CXR_BENCH_RESULTS")}
    os.environ["CXR_BENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.pop("CXR_BENCH_DATA", None)
    os.environ.pop("CXR_BENCH_RESULTS", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """The synthetic demo dataset at the test size, generated once per test session: the xdist
    workers share one copy in their common temporary folder (the first to take the lock writes it;
    the demo is read-only to every test). It is rendered in one process (the test workers keep both
    cores busy), and test_demo compares the CLI's parallel rendering with it byte for byte."""
    from filelock import FileLock

    from bench.data.demo import generate_demo, is_demo_root

    if "PYTEST_XDIST_WORKER" not in os.environ:
        return generate_demo(
            tmp_path_factory.mktemp("demo") / "demo", seed=0, size=TEST_DEMO_SIZE, progress=False, workers=1
        )
    shared = tmp_path_factory.getbasetemp().parent / "demo"
    with FileLock(f"{shared}.lock"):
        if not is_demo_root(shared):
            generate_demo(shared, seed=0, size=TEST_DEMO_SIZE, progress=False, workers=1)
    return shared


@pytest.fixture(scope="session")
def demo_index(demo_root):
    from bench.data.nih import load_index

    return load_index(demo_root)


@pytest.fixture(scope="session")
def real_label_index(tmp_path_factory):
    """The real 112,120-image label index (torchxrayvision's copy), no images."""
    from bench.data.nih import load_index

    return load_index(tmp_path_factory.mktemp("labels-only"), check_images=False)


@pytest.fixture(scope="session")
def weng_dir() -> Path:
    if not WENG_DIR.is_dir():
        pytest.skip(f"reference weng lists not found at {WENG_DIR}")
    return WENG_DIR


@pytest.fixture
def one_thread():
    """Model-building tests on one torch thread: the 2-core machine is shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
