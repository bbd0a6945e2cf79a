"""`bench leaderboard --correction`, `--by` and `--rank` on synthetic runs and a small dataset index."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from record_factory import complete_run
from test_evaluation_cli import write_index
from typer.testing import CliRunner

from bench.cli import app
from bench.evaluation.multiple import adjust_pvalues
from bench.metrics import per_class_auroc
from bench.predictions import load_predictions
from bench.records import DatasetInfo, RunStore
from leaderboard.build import build_leaderboard

runner = CliRunner()
METHODS = (("chexnet", 0.8), ("wfocal-densenet121", 1.0), ("wfocal-effb3", 1.4))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Three methods on one official split of the same 80 patients, with the index they were scored on
    (a demo dataset: no published columns beside them)."""
    tmp = tmp_path_factory.mktemp("board")
    store = RunStore(tmp / "results")
    runs = [
        complete_run(store, m, strength=s, minutes=i, model_seed=i, n_patients=80, ci=False)
        for i, (m, s) in enumerate(METHODS)
    ]
    index = write_index(tmp / "data", [load_predictions(store.artifact(runs[0], "predictions"))])
    info = DatasetInfo("demo", str(tmp / "data"), index.labels_file, index.labels_version, index.fingerprint)
    for r in runs:
        store.write(dataclasses.replace(r, dataset=info))
    return tmp


def _improvement(results, correction):
    board = build_leaderboard(results / "results", reference="chexnet", correction=correction)
    (table,) = board.tables
    return table.improvement


def test_correction_adjusts_the_table_p_values_together(results):
    raw = _improvement(results, "none")
    raw_p = np.stack([c.p for c in raw.columns])
    assert raw.correction == "none" and raw_p.shape == (2, 15) and np.isnan(raw_p[:, 14]).all()
    for method in ("holm", "bh"):
        imp = _improvement(results, method)
        assert imp.correction == method and imp.n_tests == 28  # 14 classes x 2 columns
        np.testing.assert_allclose(np.stack([c.p for c in imp.columns]), adjust_pvalues(raw_p, method))
    holm = np.stack([c.p for c in _improvement(results, "holm").columns])
    smallest = np.nanargmin(raw_p)
    assert holm.flat[smallest] == pytest.approx(min(1.0, 28 * raw_p.flat[smallest]))  # Holm's first step


def test_cli_names_the_correction(results):
    args = ["leaderboard", "--results", str(results / "results"), "--reference", "chexnet", "--out", "-"]
    res = runner.invoke(app, [*args, "--correction", "bh"])
    assert res.exit_code == 0, res.output
    assert "Benjamini-Hochberg correction (false discovery rate) over 28 tests (classes x columns)" in res.output
    res = runner.invoke(app, args)
    assert "Holm's step-down correction (family-wise error rate) over 28 tests" in res.output
    res = runner.invoke(app, [*args, "--format", "json"])
    assert json.loads(res.output)["tables"][0]["improvement"]["correction"] == "holm"
    res = runner.invoke(app, [*args, "--correction", "bonferroni"])
    assert res.exit_code == 2 and "bonferroni" in res.output


def test_by_sex_is_each_method_s_mean_auroc_in_the_subgroup(results):
    from bench.evaluation.subgroups import subgroup_aurocs
    from leaderboard.subgroups import subgroup_tables, to_ui
    from leaderboard.tables import PredictionCache

    store = RunStore(results / "results")
    board = build_leaderboard(results / "results")
    messages: list[str] = []
    (table,) = subgroup_tables(board, "sex", PredictionCache(store, messages.append), messages.append)
    assert messages == [] and table.subgroups == ("M", "F")
    assert [c.label for c in table.columns] == [m for m, _ in METHODS]
    run = board.tables[0].columns[2].runs[0]
    preds = load_predictions(store.artifact(run, "predictions"))
    male = np.array([int(i[:8]) % 2 == 1 for i in preds.image_ids])  # odd patients are men
    y, s = preds.y_true[male], preds.scores[male]
    positives = y.sum(axis=0)
    defined = (positives >= 10) & (len(y) - positives >= 10)
    expected = per_class_auroc(y[:, defined], s[:, defined]).mean()
    np.testing.assert_allclose(
        table.columns[2].aurocs, subgroup_aurocs(preds.y_true, preds.scores, np.where(male, "M", "F"), ("M", "F"))
    )
    rows = to_ui(table).texts()
    assert rows[0][0] == "M" and rows[0][3].startswith(f"{expected:.4f}")
    assert rows[2][0] == "gap"


def test_cli_by_age_prints_and_writes_markdown(results):
    out_md = results / "board.md"
    args = ["leaderboard", "--results", str(results / "results"), "--by", "age", "--out", str(out_md)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "mean test AUROC by age" in res.output and "60-79" in res.output
    assert "mean test AUROC by age" in out_md.read_text()
    res = runner.invoke(app, [*args[:-2], "--by", "height"])
    assert res.exit_code == 2 and "height" in res.output


def test_by_without_the_dataset_warns(results, tmp_path):
    import shutil

    moved = tmp_path / "results"
    shutil.copytree(results / "results", moved)
    store = RunStore(moved)
    for r in store.scan().records:
        store.write(dataclasses.replace(r, dataset=dataclasses.replace(r.dataset, root=str(tmp_path / "gone"))))
    res = runner.invoke(app, ["leaderboard", "--results", str(moved), "--by", "view", "--out", str(tmp_path / "b.md")])
    assert res.exit_code == 0, res.output
    assert "is not there" in res.output and "no subgroup tables" in res.output


def test_rank_over_the_classes_and_the_cd_diagram(results, tmp_path):
    from bench.evaluation.ranking import rank_methods
    from leaderboard.ranking import rank_tables, to_ui

    board = build_leaderboard(results / "results")
    messages: list[str] = []
    (ranked,) = rank_tables(board, messages.append)
    assert messages == [] and ranked.plot is None
    r = ranked.ranking
    values = np.stack([c.values[:14] for c in board.tables[0].columns], axis=1)
    assert r == rank_methods(values, [m for m, _ in METHODS])
    assert r.n_blocks == 14 and sum(m.mean_rank for m in r.methods) == pytest.approx(6)  # 1 + 2 + 3 per class
    assert r.methods[0].name == "wfocal-effb3"  # the strongest scores
    texts = to_ui(ranked).texts()
    assert [t[0] for t in texts] == [m.name for m in r.methods] and texts[0][2] == ""

    (drawn,) = rank_tables(board, messages.append, tmp_path / "figs")
    assert drawn.plot == tmp_path / "figs" / "cd-official-split-synthetic-demo-data.png"
    assert drawn.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The command (without --plots, which would draw the 14 ROC curves too).
    res = runner.invoke(
        app, ["leaderboard", "--results", str(results / "results"), "--rank", "--out", str(tmp_path / "b.md")]
    )
    assert res.exit_code == 0, res.output
    assert "ranks of test AUROC over the classes" in res.output and "critical difference" in res.output


def _nan(x):
    return np.nan if x is None else x


def test_by_and_rank_in_csv_json_and_latex(results, tmp_path):
    """The --by and --rank tables reach every format, with the values of the tables behind them."""
    import csv
    import io

    from bench.evaluation.ranking import rank_methods
    from bench.labels import LABELS
    from leaderboard.subgroups import subgroup_tables
    from leaderboard.tables import PredictionCache

    board = build_leaderboard(results / "results")
    (sub,) = subgroup_tables(board, "sex", PredictionCache(RunStore(results / "results"), print), print)
    values = np.stack([c.values[:14] for c in board.tables[0].columns], axis=1)
    expected = rank_methods(values, [m for m, _ in METHODS])
    args = ["leaderboard", "--results", str(results / "results"), "--by", "sex", "--rank", "--out", "-"]

    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["schema_version"] == 4
    (t,) = data["tables"]
    assert t["subgroups"]["attribute"] == "sex" and t["subgroups"]["subgroups"] == ["M", "F"]
    for c, col in zip(t["subgroups"]["columns"], sub.columns, strict=True):
        assert c["key"] == col.key
        for g, name in enumerate(("M", "F")):
            per_class = [_nan(c["auroc"][name][label]) for label in LABELS]
            np.testing.assert_allclose(per_class, col.aurocs[g])
            defined = np.isfinite(col.aurocs[g])
            assert c["n_defined"][name] == defined.sum()
            assert c["auroc"][name]["Average"] == pytest.approx(col.aurocs[g][defined].mean())
        common = np.isfinite(col.aurocs).all(axis=0)
        means = col.aurocs[:, common].mean(axis=1)
        assert c["gap"] == pytest.approx(means.max() - means.min()) and c["gap_classes"] == common.sum()
    r = t["ranking"]
    assert r["blocks"] == "classes" and r["block_labels"] == list(LABELS) and r["n_blocks"] == 14
    assert [m["name"] for m in r["methods"]] == [m.name for m in expected.methods]
    assert [m["mean_rank"] for m in r["methods"]] == pytest.approx([m.mean_rank for m in expected.methods])
    assert r["friedman_p"] == pytest.approx(expected.friedman_p)
    np.testing.assert_allclose(r["nemenyi_p"], expected.nemenyi_p)
    np.testing.assert_allclose(r["values"], values)

    res = runner.invoke(app, [*args, "--format", "csv"])
    assert res.exit_code == 0, res.output
    lines = list(csv.DictReader(io.StringIO(res.output)))
    female = {
        x["column"]: float(x["value"])
        for x in lines
        if x["section"] == "auroc by sex: F" and x["pathology"] == "Average"
    }
    assert female == pytest.approx({c["label"]: c["auroc"]["F"]["Average"] for c in t["subgroups"]["columns"]})
    ranks = {x["column"]: float(x["value"]) for x in lines if x["section"] == "rank over classes"}
    assert ranks == pytest.approx({m.name: m.mean_rank for m in expected.methods})
    best, second = expected.methods[0].name, expected.methods[1].name
    (pair,) = [x for x in lines if x["section"] == f"nemenyi p over classes: vs {second}" and x["column"] == best]
    assert float(pair["p_value"]) == pytest.approx(expected.nemenyi_p[0][1], rel=1e-5)
    (friedman,) = [x for x in lines if x["section"] == "friedman over classes"]
    assert float(friedman["value"]) == pytest.approx(expected.friedman_statistic, rel=1e-5)
    (cd,) = [x for x in lines if x["section"] == "critical difference over classes"]
    assert float(cd["value"]) == pytest.approx(expected.critical_difference, rel=1e-5)

    res = runner.invoke(app, [*args, "--format", "latex"])
    assert res.exit_code == 0, res.output
    assert "mean test AUROC by sex}" in res.output and "ranks of test AUROC over the classes." in res.output
    assert f"{expected.methods[0].mean_rank:.2f}" in res.output
    assert "markdown only" not in res.output
