"""Open the configured dataset: an NIH-layout root, or the built-in synthetic demo."""

from __future__ import annotations

from pathlib import Path

from bench.data.index import DatasetIndex
from bench.data.nih import load_index
from bench.ui.console import notice


def open_dataset(root: str | Path | None, *, check_images: bool = True, quiet: bool = False) -> DatasetIndex:
    """The index of `root`; None means the demo dataset (generated on first use)."""
    if root is None:
        from bench.data.demo import ensure_demo  # the generator is heavy; import it only when needed

        root = ensure_demo()
        if not quiet:
            notice(
                f"Using the built-in synthetic demo dataset ({root}); "
                "pass --data or set CXR_BENCH_DATA for NIH ChestX-ray14."
            )
    return load_index(root, check_images=check_images)
