"""The leaderboard end to end on the demo: three methods trained on `official` and one on every
fold of `kfold5` (timm's tiny test ResNet, the smoke preset), then `bench leaderboard --by view
--rank --plots DIR` in markdown and JSON renders every table with real values and writes the PNGs."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_BACKBONE
from typer.testing import CliRunner

from bench.cli import app
from bench.labels import LABELS

runner = CliRunner()
OFFICIAL = ("chexnet", "cb-bce", "wang-wbce")  # one stage each: the least training
KFOLD = "focal-densenet121"
# Every list at most this long: the test lists keep enough PA and AP films for classes with 10
# positives in each view, the train lists a few batches.
LIMIT = 400
PNG = b"\x89PNG\r\n\x1a\n"


def _label(method: str) -> str:
    return f"{method}[{','.join(TINY_BACKBONE)}]"


@pytest.fixture(scope="module")
def results(demo_root, tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("demo-board") / "results"
    common = ["--preset", "smoke", "--limit", str(LIMIT), "--batch-size", "32", "--quiet"]
    common += [*(f"--set={item}" for item in TINY_BACKBONE), "--data", str(demo_root), "--results", str(out)]
    try:
        runs = [["--method", m, "--split", "official"] for m in OFFICIAL]
        runs += [["--method", KFOLD, "--split", "kfold5", "--fold", str(f)] for f in range(5)]
        for args in runs:
            res = runner.invoke(app, ["run", *args, *common])
            assert res.exit_code == 0, res.output
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def boards(results, tmp_path_factory):
    """The leaderboard in markdown and in JSON, each with its plots folder and terminal output."""
    out = {}
    for fmt in ("md", "json"):
        folder = tmp_path_factory.mktemp(f"board-{fmt}")
        args = ["--by", "view", "--rank", "--plots", str(folder / "plots"), "--out", str(folder / f"board.{fmt}")]
        res = runner.invoke(app, ["leaderboard", "--results", str(results), "--format", fmt, *args])
        assert res.exit_code == 0, res.output
        out[fmt] = (folder / f"board.{fmt}").read_text(), folder / "plots", res.output
    return out


def test_every_table_has_real_values(boards):
    text, plots, terminal = boards["json"]
    data = json.loads(text)
    official, kfold = data["tables"]
    assert (official["protocol"], kfold["protocol"], kfold["n_folds"]) == ("official", "kfold5", 5)
    assert [c["label"] for c in official["columns"]] == sorted(_label(m) for m in OFFICIAL)
    assert [c["label"] for c in kfold["columns"]] == [_label(KFOLD)]
    assert len(kfold["columns"][0]["runs"]) == 5
    for table in (official, kfold):
        for col in table["columns"]:
            assert col["n_defined"] == len(LABELS)  # every class defined in every fold's test list
            assert all(0 < col["auroc"][label] < 1 for label in LABELS)
            assert col["origins"] == [
                {"kind": "built-in"} | dict.fromkeys(("path", "sha256", "package", "version", "module"))
            ]
        sub = table["subgroups"]
        assert sub["attribute"] == "view" and sub["subgroups"] == ["PA", "AP"]
        for col in sub["columns"]:
            for view in ("PA", "AP"):
                assert col["n_defined"][view] >= 1 and 0 < col["auroc"][view]["Average"] < 1
            assert col["gap_classes"] >= 1 and 0 <= col["gap"] < 1
    ranking = official["ranking"]
    assert ranking["blocks"] == "classes" and ranking["n_blocks"] == 14
    assert sorted(m["name"] for m in ranking["methods"]) == sorted(_label(m) for m in OFFICIAL)
    assert sum(m["mean_rank"] for m in ranking["methods"]) == pytest.approx(6)  # 1 + 2 + 3 per class
    assert ranking["critical_difference"] > 0 and 0 <= ranking["friedman_p"] <= 1
    assert kfold["ranking"] is None and "1 run column, no ranking" in terminal


def test_every_table_in_the_markdown_and_the_terminal(boards):
    text, _, terminal = boards["md"]
    for output in (text, terminal):
        assert output.count("official split, at most 400 images per list, synthetic demo data") >= 3
        assert output.count("mean test AUROC by view") == 2
        assert output.count("ranks of test AUROC over the classes") == 1
    assert text.count("ROC curves: ") == 2 and "Critical-difference diagram: [cd-official" in text


def test_the_pngs_are_written(boards):
    for fmt in ("md", "json"):
        text, plots, _ = boards[fmt]
        roc = sorted(plots.glob("*/*.png"))
        assert len(roc) == 2 * len(LABELS)  # a curve per class for each table
        (cd,) = plots.glob("cd-*.png")
        for png in (*roc, cd):
            data = png.read_bytes()
            assert len(data) > 1000 and data.startswith(PNG), png
    data = json.loads(boards["json"][0])
    assert all(len(t["plots"]) == len(LABELS) for t in data["tables"])
    assert data["tables"][0]["ranking"]["plot"] == str(cd)
