"""Read-only files are one line each, said before any work: `bench cam` on a read-only run
folder (and with --out, which takes the pictures and the scores), `--resume` of one, a
read-only prebuilt image cache (used as it is when it holds every image), an unwritable demo cache."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from faults_support import copy_run, read_only, trained_run
from typer.testing import CliRunner

from bench.cli import app
from bench.data.cache import cache_folder, prepare_cache
from bench.errors import BenchError
from bench.records import RunStore

# Training and scoring on one torch thread: the machine is shared.
pytestmark = pytest.mark.usefixtures("one_thread")


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _one_line(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    text = " ".join(result.output.split())
    for needle in needles:
        assert needle in text, text
    return text


@pytest.fixture(scope="module")
def trained(demo_root, tmp_path_factory):
    return trained_run(demo_root, tmp_path_factory)


def test_bench_cam_on_a_read_only_run_folder_needs_out_and_writes_there(trained, tmp_path):
    record = copy_run(trained, tmp_path / "results")
    store = RunStore(tmp_path / "results")
    run_dir = store.run_dir(record.run_id)
    before = store.record_path(record.run_id).read_bytes()
    with read_only(run_dir):
        started = time.monotonic()
        _one_line(_cli("cam", record.run_id, "--results", store.results_dir), f"run folder {run_dir} is read-only")
        assert time.monotonic() - started < 5  # said before the model is loaded and scored
        out = tmp_path / "pictures"
        result = _cli("cam", record.run_id, "--results", store.results_dir, "--out", out, "--images", "1", "-q")
        assert result.exit_code == 0, result.output
        assert "the run folder is read-only: scores written to" in " ".join(result.output.split())
    scores = json.loads((out / "localization.json").read_text())
    assert scores["images"] == "test" and scores["n_images"] >= 1 and scores["classes"]
    assert (out / "localization.md").is_file() and list(out.glob("*.png"))
    assert store.record_path(record.run_id).read_bytes() == before
    assert not (run_dir / "cam").exists()
    ro_out = tmp_path / "ro-out"
    ro_out.mkdir()
    with read_only(ro_out):
        _one_line(
            _cli("cam", record.run_id, "--results", store.results_dir, "--out", ro_out),
            f"output folder {ro_out} is read-only",
        )


def test_a_resume_of_a_read_only_run_folder_is_refused_first(trained, tmp_path):
    record = copy_run(trained, tmp_path, status="interrupted", ended=None)
    store = RunStore(tmp_path)
    before = store.record_path(record.run_id).read_bytes()
    with read_only(store.run_dir(record.run_id)):
        _one_line(
            _cli("run", "--resume", record.run_id, "--results", tmp_path, "-q"),
            f"run folder {store.run_dir(record.run_id)} is read-only",
            "--results",
        )
    assert store.record_path(record.run_id).read_bytes() == before


def test_a_read_only_cache_is_used_as_it_is_and_refused_when_it_lacks_images(demo_index, tmp_path):
    ids = demo_index.image_ids[:6]
    made = prepare_cache(demo_index, 16, ids=ids, workers=1, progress=False, root=tmp_path)
    expected = np.array(made.pixels[made.rows(ids)])
    folder = cache_folder(demo_index, 16, root=tmp_path)
    with read_only(folder):
        cache = prepare_cache(demo_index, 16, ids=ids[:4], workers=1, progress=False, root=tmp_path)
        np.testing.assert_array_equal(np.asarray(cache.pixels[cache.rows(ids[:4])]), expected[:4])
        with pytest.raises(BenchError) as info:
            prepare_cache(demo_index, 16, ids=demo_index.image_ids[:8], workers=1, progress=False, root=tmp_path)
    line = info.value.one_line()
    assert f"the image cache {folder} is read-only and lacks 2 of the images asked for" in line
    assert "--no-cache" in line
    empty = cache_folder(demo_index, 24, root=tmp_path)
    empty.mkdir(parents=True)
    with read_only(empty), pytest.raises(BenchError, match="is read-only and holds no cache yet"):
        prepare_cache(demo_index, 24, ids=ids, workers=1, progress=False, root=tmp_path)


def test_an_unwritable_demo_cache_is_one_line(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("CXR_BENCH_CACHE", str(cache))
    with read_only(cache):
        result = _cli("data", "check")
    _one_line(result, f"cannot write the demo dataset to {cache}", "CXR_BENCH_CACHE", "--data")
