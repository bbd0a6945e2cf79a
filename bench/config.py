"""Where things live. Precedence everywhere: command-line option > environment > default."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

DATA_ENV = "CXR_BENCH_DATA"
RESULTS_ENV = "CXR_BENCH_RESULTS"
CACHE_ENV = "CXR_BENCH_CACHE"
DEFAULT_RESULTS = Path("results")


def data_root(option: Path | None = None) -> Path | None:
    """The dataset root, or None for the built-in synthetic demo dataset."""
    if option is not None:
        return Path(option)
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else None


def results_dir(option: Path | None = None) -> Path:
    if option is not None:
        return Path(option)
    env = os.environ.get(RESULTS_ENV)
    return Path(env) if env else DEFAULT_RESULTS


def cache_dir() -> Path:
    """The user cache (demo dataset, fetched split lists, image caches)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path(user_cache_dir("cxr-bench"))
