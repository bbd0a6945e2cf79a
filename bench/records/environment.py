"""What a run ran on: versions, accelerator, the project's git state. Unknowns are None, never an error."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

from bench.records.schema import EnvironmentInfo


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    repo = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def environment_info(*, world_size: int = 1, torch_used: bool = True) -> EnvironmentInfo:
    """With `torch_used` false (a run that computed nothing with torch, such as `bench score`),
    torch is not imported: its CUDA build, GPU and thread count are then not recorded."""
    cuda, gpu, threads = None, "cpu", None
    try:
        if torch_used:
            import torch

            cuda, threads = torch.version.cuda, torch.get_num_threads()
            if torch.cuda.is_available():
                gpu = torch.cuda.get_device_name(0)
    except Exception:  # a broken torch install must not stop a record from being written
        pass
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return EnvironmentInfo(
        python=platform.python_version(),
        torch=_version("torch"),
        timm=_version("timm"),
        torchxrayvision=_version("torchxrayvision"),
        cuda=cuda,
        gpu=gpu,
        git_commit=commit.strip() if commit else None,
        git_dirty=None if status is None else bool(status.strip()),
        platform=platform.platform(),
        world_size=world_size,
        torch_threads=threads,
    )
