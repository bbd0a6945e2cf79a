"""Benchmarks: the PNG decode + resize loader against the image-cache loader, 1024 px PNGs to 224.

Run with: pytest tests/benchmarks -m benchmark --benchmark-only -n 0 -p no:cacheprovider
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.data.cache import prepare_cache
from bench.data.nih import load_index
from bench.perf import render_demo_subset
from bench.train.batches import CacheSource, PngSource, iterate

N_IMAGES, SOURCE, TARGET, BATCH = 32, 1024, 224, 16  # NIH's resolution to the paper's input size


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The demo's first images rendered at 1024 px, and their cache at 224 px."""
    tmp = tmp_path_factory.mktemp("loader")
    index = load_index(render_demo_subset(tmp / "demo", N_IMAGES, size=SOURCE))
    ids = list(index.image_ids)
    cache = prepare_cache(index, TARGET, progress=False, root=tmp / "cache")
    labels = index.labels(ids)
    return PngSource(index.frame["path"].tolist(), TARGET), CacheSource(cache, ids), labels


def _epoch(source, labels) -> np.ndarray:
    order = np.random.default_rng(0).permutation(len(source))
    batches = list(iterate(source, labels, order, BATCH, torch.device("cpu")))
    return torch.cat([b.pixels for b in batches]).numpy()[np.argsort(order)]


@pytest.mark.benchmark
def test_png_loader_1024_to_224(benchmark, sources):
    png, _, labels = sources
    pixels = benchmark.pedantic(_epoch, args=(png, labels), rounds=3)
    assert pixels.shape == (N_IMAGES, TARGET, TARGET)


@pytest.mark.benchmark
def test_cache_loader_1024_to_224(benchmark, sources):
    png, cached, labels = sources
    pixels = benchmark(_epoch, cached, labels)
    assert np.array_equal(pixels, png.read_many(np.arange(N_IMAGES)))  # the same pixels, decoded once


@pytest.mark.benchmark
def test_label_index_from_the_torchxrayvision_copy(benchmark, tmp_path):
    """The 112,120-row index from the labels inside the torchxrayvision wheel (no local labels file)."""
    index = benchmark.pedantic(load_index, args=(tmp_path,), kwargs={"check_images": False}, rounds=3)
    assert len(index.frame) == 112_120
