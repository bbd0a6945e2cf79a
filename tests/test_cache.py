"""The decode-once image cache: resume after interruption, refusals, pixels equal to PNG decoding."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal

import numpy as np
import pytest
import torch
from conftest import TINY_BACKBONE
from typer.testing import CliRunner

from bench.cli import app
from bench.data import cache as cache_module
from bench.data.cache import CHUNK_ROWS, DONE_FILE, INDEX_FILE, PIXELS_FILE, cache_folder, prepare_cache
from bench.errors import BenchError
from bench.train import engine
from bench.train.batches import CacheSource, PngSource, iterate
from bench.train.options import RunOptions

FILES = (PIXELS_FILE, DONE_FILE, INDEX_FILE)
STOP_AFTER = 100  # images decoded before the interruption
# Rows flagged done when decoding stops at image STOP_AFTER + 1: the whole chunks before it.
DONE_AT_STOP = STOP_AFTER // CHUNK_ROWS * CHUNK_ROWS


def _stopping_reader(real, stop):
    calls = {"n": 0}

    def read(path, size):
        calls["n"] += 1
        if calls["n"] > STOP_AFTER:
            stop()
        return real(path, size)

    return read


def _raise_interrupt():
    raise KeyboardInterrupt


def _killed_prepare(index, size, root):
    """In a forked child: flush after every chunk, then die by SIGKILL mid-way (no cleanup at all)."""
    cache_module.FLUSH_SECONDS = 0.0
    cache_module.read_resized = _stopping_reader(
        cache_module.read_resized, lambda: os.kill(os.getpid(), signal.SIGKILL)
    )
    prepare_cache(index, size, workers=1, progress=False, root=root)


def _done(index, size, root) -> np.ndarray:
    return np.load(cache_folder(index, size, root=root) / DONE_FILE)


@pytest.mark.parametrize(("size", "how"), [(32, "exception"), (48, "sigkill")])
def test_interrupted_then_resumed_equals_uninterrupted(demo_index, tmp_path, monkeypatch, size, how):
    straight = prepare_cache(demo_index, size, workers=2, progress=False, root=tmp_path / "straight")
    assert straight.done.all() and straight.pixels.shape == (len(demo_index.frame), size, size)

    root = tmp_path / "resumed"
    if how == "exception":
        with monkeypatch.context() as patch:
            patch.setattr(cache_module, "read_resized", _stopping_reader(cache_module.read_resized, _raise_interrupt))
            with pytest.raises(KeyboardInterrupt):
                prepare_cache(demo_index, size, workers=1, progress=False, root=root)
    else:
        child = multiprocessing.get_context("fork").Process(target=_killed_prepare, args=(demo_index, size, root))
        child.start()
        child.join(60)
        assert child.exitcode == -signal.SIGKILL
    done = _done(demo_index, size, root)
    assert done.sum() == DONE_AT_STOP and done[:DONE_AT_STOP].all()  # in-process decoding keeps order

    resumed = prepare_cache(demo_index, size, workers=2, progress=False, root=root)
    assert np.array_equal(resumed.pixels, straight.pixels)
    for name in FILES:
        assert (resumed.folder / name).read_bytes() == (straight.folder / name).read_bytes(), name


def test_cache_rows_are_the_png_pixels(demo_index, tmp_path):
    ids = list(demo_index.image_ids[::97])
    cache = prepare_cache(demo_index, 40, ids=ids, workers=1, progress=False, root=tmp_path)
    assert cache.done.sum() == len(ids)  # only the asked-for images are decoded
    paths = demo_index.frame.loc[ids, "path"].tolist()
    idx = np.arange(len(ids))[::-1]
    assert np.array_equal(CacheSource(cache, ids).read_many(idx), PngSource(paths, 40).read_many(idx))
    with pytest.raises(BenchError, match="not in the image cache"):
        cache.rows([demo_index.image_ids[1]])


def test_persistent_loader_workers_keep_order_across_epochs(demo_index, tmp_path):
    ids = list(demo_index.image_ids[:120])
    source = CacheSource(prepare_cache(demo_index, 32, ids=ids, workers=1, progress=False, root=tmp_path), ids)
    labels = demo_index.labels(ids)
    expected = source.read_many(np.arange(len(ids)))
    for epoch in range(2):
        order = np.random.default_rng(epoch).permutation(len(ids))
        got = list(iterate(source, labels, order, 16, torch.device("cpu"), workers=2))
        assert np.array_equal(np.concatenate([b.index for b in got]), order)
        assert np.array_equal(torch.cat([b.pixels for b in got]).numpy(), expected[order])
        assert np.array_equal(torch.cat([b.targets for b in got]).numpy(), labels[order])
    ((loader, _),) = source._loaders.values()  # one loader, its workers kept between epochs
    assert loader.persistent_workers and loader.num_workers == 2


def test_mismatching_fingerprint_is_refused(demo_index, tmp_path):
    ids = list(demo_index.image_ids[:8])
    cache = prepare_cache(demo_index, 32, ids=ids, workers=1, progress=False, root=tmp_path)
    meta_path = cache.folder / INDEX_FILE
    meta = json.loads(meta_path.read_text())
    meta["fingerprint"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BenchError) as info:
        prepare_cache(demo_index, 32, ids=ids, workers=1, progress=False, root=tmp_path)
    message = info.value.one_line()
    assert "another dataset" in message and "--no-cache" in message and str(cache.folder) in message


def test_damaged_rows_are_found_on_reopen(demo_index, tmp_path, monkeypatch):
    ids = list(demo_index.image_ids[:8])
    cache = prepare_cache(demo_index, 32, ids=ids, workers=1, progress=False, root=tmp_path)
    pixels = np.load(cache.folder / PIXELS_FILE, mmap_mode="r+")
    pixels[3] = 255 - pixels[3]
    pixels.flush()
    # Its checksum too: a row that matches it but not its image (the PNGs changed). A row that
    # does not match its checksum is decoded again (tests/test_faults_cache.py).
    sums = np.load(cache.folder / cache_module.SUMS_FILE)
    sums[3] = cache_module.row_sums(pixels[3:4])[0]
    np.save(cache.folder / cache_module.SUMS_FILE, sums)
    del pixels
    monkeypatch.setattr(cache_module, "VERIFY_ROWS", 8)  # check every done row
    with pytest.raises(BenchError, match="disagrees with the image"):
        prepare_cache(demo_index, 32, ids=ids, workers=1, progress=False, root=tmp_path)


def _prepare_under_stop_flag(index, root):
    """In a forked child, as inside `bench run`, where SIGTERM only sets a flag: the pool must
    still end its workers, after a normal end and after a worker's error."""
    os.setsid()  # its own process group, so a hung pool can be killed whole
    signal.signal(signal.SIGTERM, lambda *_: None)
    ids = list(index.image_ids[:100])
    prepare_cache(index, 32, ids=ids, workers=2, progress=False, root=root)
    bad = index.frame.at[ids[50], "path"]
    real = cache_module.read_resized

    def failing(path, size):
        if path == bad:
            raise ValueError("damaged")
        return real(path, size)

    cache_module.read_resized = failing
    with pytest.raises(ValueError, match="damaged"):
        prepare_cache(index, 40, ids=ids, workers=2, progress=False, root=root)


def test_worker_pool_ends_under_a_stop_flag_handler(demo_index, tmp_path):
    child = multiprocessing.get_context("fork").Process(target=_prepare_under_stop_flag, args=(demo_index, tmp_path))
    child.start()
    child.join(60)
    if child.is_alive():
        os.killpg(child.pid, signal.SIGKILL)
        pytest.fail("prepare_cache hung: its pool workers ignored SIGTERM")
    assert child.exitcode == 0


def test_prepare_cli(demo_root, demo_index):
    result = CliRunner().invoke(app, ["data", "prepare", "--data", str(demo_root), "--size", "32", "--workers", "2"])
    assert result.exit_code == 0, result.output
    n = len(demo_index.frame)
    assert f"{n} of {n} images" in result.output
    assert (cache_folder(demo_index, 32) / PIXELS_FILE).is_file()  # in the (test session's) user cache


def test_training_from_cache_and_from_pngs_agree(demo_root, tmp_path):
    # 40 px: a size no other test caches, so the run decodes with its worker pool.
    base = dict(
        method="chexnet",
        data=str(demo_root),
        preset="smoke",
        image_size=40,
        limit=200,
        overrides=TINY_BACKBONE,
        quiet=True,
    )
    cached = engine.run(RunOptions(**base, results=str(tmp_path / "a")))
    direct = engine.run(RunOptions(**base, results=str(tmp_path / "b"), no_cache=True))
    assert cached.invocation["no_cache"] is False and direct.invocation["no_cache"] is True
    assert [h.train_loss for h in cached.history] == [h.train_loss for h in direct.history]
    assert cached.metrics.test.auroc == direct.metrics.test.auroc
