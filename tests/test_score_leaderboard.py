"""External runs in the leaderboard: columns under the fingerprint rules, marks, provenance footnotes."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.labels import LABELS
from bench.records import RunStore
from leaderboard.build import build_leaderboard
from leaderboard.render import to_markdown
from splits import get_fold

runner = CliRunner()


def bench(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})


@pytest.fixture(scope="module")
def board_results(demo_root, demo_index, tmp_path_factory):
    """Four external runs on the demo's official test list (one partial), plus the first one
    copied as a trained run and as a trained run with flip TTA."""
    tmp = tmp_path_factory.mktemp("board")
    results = tmp / "results"
    ids = get_fold("official", demo_index).test
    labels = demo_index.labels(ids)
    for k, (name, extra) in enumerate(
        [
            ("a", ("--trained-on", "weng", "--url", "https://a.example/model")),
            ("b", ()),
            ("c", ("--trained-on", "official")),
            ("d", ("--allow-partial",)),
        ]
    ):
        rng = np.random.default_rng(k)
        frame = pd.DataFrame(0.3 * labels + rng.random(labels.shape), columns=list(LABELS))
        frame.insert(0, "image_id", list(ids))
        if name == "d":
            frame = frame.iloc[10:]
        frame.to_csv(tmp / f"{name}.csv", index=False)
        result = bench("score", tmp / f"{name}.csv", "--data", demo_root, "--results", results, "--name", name, *extra)
        assert result.exit_code == 0, result.output
    store = RunStore(results)
    (a,) = store.find(method="a")
    for suffix, tta in (("0001", "none"), ("0002", "flip")):
        trained = dataclasses.replace(
            a, run_id=a.run_id[:-4] + suffix, kind="trained", external=None, tta=tta, started="2030-01-01T00:00:00Z"
        )
        shutil.copytree(store.run_dir(a.run_id), store.run_dir(trained.run_id))
        store.write(trained)
    return results


def test_external_runs_are_columns_with_marks_beside_trained_ones(board_results):
    board = build_leaderboard(board_results, reference="c")
    full, partial = sorted(board.tables, key=lambda t: -len(t.columns))
    assert full.split_fingerprint != partial.split_fingerprint  # the partial run has a table of its own
    labels = [c.label for c in full.columns]
    assert labels == ["a", "a (external) [OVERLAP]", "a [tta flip]", "b (external) [unverified]", "c (external)"]
    assert [c.label for c in partial.columns] == ["d (external) [partial, unverified]"]
    # The reference is an external run; DeLong tests against it from the stored predictions.
    imp = full.improvement
    assert imp.reference.key == "c (external)" and imp.test == "delong"
    assert all(c.p is not None and np.isfinite(c.p[:14]).all() for c in imp.columns)


def test_markdown_footnotes_give_provenance(board_results, demo_root):
    board = build_leaderboard(board_results)
    text = to_markdown(board, ci=False)
    assert text.count("External models:") == 2
    line = next(x for x in text.splitlines() if x.startswith("- a (external) [OVERLAP]:"))
    test = set((demo_root / "test_list.txt").read_text().split())
    seen = {
        row.split()[0]
        for name in ("train_list.txt", "val_list.txt")
        for row in (demo_root / "weng" / name).read_text().splitlines()
        if row.strip()
    }
    assert "https://a.example/model" in line and "scores file a.csv" in line
    assert f"share {len(test & seen):,} test images" in line and f"coverage {len(test):,} of {len(test):,}" in line
    assert "- b (external) [unverified]: " in text and "trained on unknown (unverified)" in text
    assert f"coverage {len(test) - 10:,} of {len(test):,} test images (partial)" in text
    assert "c (external): " in text and "trained on official (no overlap with the test list)" in text


def test_json_and_terminal_say_which_columns_are_external(board_results, tmp_path):
    out = tmp_path / "board.json"
    result = bench("leaderboard", "--results", board_results, "--format", "json", "--out", out)
    assert result.exit_code == 0, result.output
    assert "external: a (external) [OVERLAP]: scores file a.csv" in " ".join(result.output.split())
    table = max(json.loads(out.read_text())["tables"], key=lambda t: len(t["columns"]))
    kinds = {c["key"]: (c["kind"], c["tta"]) for c in table["columns"]}
    assert kinds["a"] == ("trained", "none") and kinds["a [tta flip]"] == ("trained", "flip")
    ext = next(c["external"] for c in table["columns"] if c["key"] == "a (external)")
    assert ext[0]["trained_on"] == "weng" and ext[0]["overlap"]["images"] > 0
