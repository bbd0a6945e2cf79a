"""The paper's tables shipped as package data, and Table 9 recomputed from Table 8."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from conftest import SHARED_REFERENCE
from typer.testing import CliRunner

from bench.cli import app
from bench.labels import LABELS
from leaderboard import published as pub
from leaderboard.build import build_leaderboard

runner = CliRunner()


def test_shipped_csvs_are_the_reference_copies():
    if not (SHARED_REFERENCE / "published").is_dir():
        pytest.skip(f"the reference transcriptions are not beside this checkout ({SHARED_REFERENCE / 'published'})")
    for name in (
        "table4_official.csv",
        "table5_weng_focal_ablation.csv",
        "table7_kfold5.csv",
        "table8_weng.csv",
        "table9_improvement.csv",
    ):
        shipped = resources.files("leaderboard").joinpath("published", name).read_bytes()
        assert shipped == (SHARED_REFERENCE / "published" / name).read_bytes(), name


def test_columns_by_protocol():
    official = pub.published_columns("official")
    assert [c.name for c in official][:2] == ["wang2017", "yao2018"] and len(official) == 8
    wang = pub.find_column("published:wang2017")
    assert wang.values[LABELS.index("Hernia")] == 0.872 and wang.text[LABELS.index("Hernia")] == "0.872"
    assert wang.average == 0.745 and wang.label == "wang2017 (published)"
    # Table 5 rows are ordered by AUROC in the paper; mapped by name here. Its val columns are left out.
    weng = {c.name: c for c in pub.published_columns("weng")}
    assert "focal_densenet121_val" not in weng and weng["focal_densenet121_test"].values[0] == 0.8079
    kfold = {c.name: c for c in pub.published_columns("kfold5")}
    eff = kfold["wfocal_effb3_two_stage"]
    assert eff.values[LABELS.index("Hernia")] == pytest.approx(0.92) and eff.std[
        LABELS.index("Hernia")
    ] == pytest.approx(0.013)
    assert eff.text[-1] == "85.3" and eff.std_text[-1] == "0.6"
    assert pub.published_columns("custom:x") == ()


def test_table9_reproduced_from_table8():
    board = build_leaderboard(None, split="weng", published_only=True, reference="published:agcnn_third_party")
    (table,) = board.tables
    imp = table.improvement
    assert imp.reference.key == "published:agcnn_third_party" and imp.test == "none"
    column = next(c for c in imp.columns if c.key == "published:wfocal_effb3_stage2")
    expected = pub.table9_improvement()
    for k, label in enumerate(LABELS):
        assert abs(column.diff[k] - expected[label]) <= 0.01 + 1e-9, label
    assert abs(column.diff[-1] - expected["Average"]) <= 0.01 + 1e-9
    assert column.p is None and column.lo is None


def test_published_only_cli_weng_has_the_default_reference():
    result = runner.invoke(
        app, ["leaderboard", "--published-only", "--split", "weng", "--format", "json", "--out", "-"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (table,) = data["tables"]
    assert table["published_only"] and table["other_runs"] == []
    assert all(c["published"] and c["runs"] == [] for c in table["columns"])
    assert table["improvement"]["reference"] == "published:agcnn_third_party"
    hernia = next(c for c in table["improvement"]["columns"] if c["key"] == "published:wfocal_effb3_stage2")
    assert hernia["diff_points"]["Hernia"] == pytest.approx(3.45)


def test_published_only_all_protocols_markdown(tmp_path):
    out = tmp_path / "board.md"
    result = runner.invoke(app, ["leaderboard", "--published-only", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for heading in (
        "## official split: published figures (Table 4)",
        "## weng split: published figures (Table 5, Table 8)",
        "## kfold5 split: published figures (Table 7)",
    ):
        assert heading in text
    assert "Improvement over baltruschat2019 (published)" in text and "83.3 ± 0.7" in text
    assert "Synthetic demo data" not in text


def test_unknown_published_split_and_column():
    result = runner.invoke(app, ["leaderboard", "--published-only", "--split", "chexpert"])
    assert result.exit_code == 2 and "no published tables for split 'chexpert'" in result.output
    result = runner.invoke(app, ["leaderboard", "--published-only", "--split", "weng", "--reference", "published:nope"])
    assert result.exit_code == 2
    assert "unknown published column 'published:nope'" in result.output
    assert "published:agcnn_third_party" in result.output and "Traceback" not in result.output
