"""The leaderboard from synthetic records and predictions: grouping, statistics, formats, CLI."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from record_factory import complete_run, fingerprint, minimal_record
from typer.testing import CliRunner

from bench.cli import app
from bench.labels import LABELS
from bench.records import RunStore, Sanity, as_array

runner = CliRunner()
EFFB3, DENSE, BCE = "wfocal-effb3", "wfocal-densenet121", "chexnet"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Demo runs: 3 methods on one official split (plus an older run of one of them), one run on
    another official fingerprint, a failed and a sanity-failed run; kfold5: all folds of two methods,
    3 folds of a third; one real-data weng run (published columns beside it)."""
    root = tmp_path_factory.mktemp("results")
    store = RunStore(root)
    complete_run(store, EFFB3, strength=0.2, minutes=0, model_seed=9)  # older, superseded
    for i, (method, strength) in enumerate([(BCE, 0.8), (DENSE, 1.0), (EFFB3, 1.4)]):
        complete_run(store, method, strength=strength, minutes=1 + i, model_seed=i)
    complete_run(store, EFFB3, strength=1.4, minutes=5, split_fp=fingerprint("another official"), model_seed=5)
    failed = minimal_record("20261125-190000-wfocal-effb3-official-f0-s0-dead")  # the same official split
    store.write(failed.finished("failed", error="CUDA out of memory"))
    bad = complete_run(store, "broken-net", strength=1.0, minutes=6)
    store.write(dataclasses.replace(bad, sanity=Sanity(False, "test AUROC 0.50 below 0.55")))
    for fold in range(5):
        common = dict(protocol="kfold5", fold=fold, n_folds=5, image_start=1000 * fold, data_seed=fold, ci=False)
        complete_run(store, EFFB3, strength=1.4, minutes=20 + fold, model_seed=fold, **common)
        complete_run(store, BCE, strength=0.8, minutes=30 + fold, model_seed=10 + fold, **common)
        if fold < 3:
            complete_run(store, DENSE, strength=1.0, minutes=40 + fold, model_seed=20 + fold, **common)
    complete_run(store, EFFB3, protocol="weng", kind="nih", strength=1.4, minutes=50)
    return root


def _board(results, **kw):
    from leaderboard.build import build_leaderboard

    messages = []
    board = build_leaderboard(results, warn=messages.append, **kw)
    return board, messages


def _table(board, protocol, demo):
    (t,) = [t for t in board.tables if t.protocol == protocol and t.demo == demo]
    return t


def test_official_table_values_best_ci_and_delong(results):
    from bench.metrics import delong_test

    board, messages = _board(results, ci=True, reference=BCE, correction="none")  # raw DeLong p-values
    assert messages == []
    tables = [t for t in board.tables if t.protocol == "official"]
    assert len(tables) == 2 and all(t.tag for t in tables)  # two official fingerprints: never one table
    main = next(t for t in tables if len(t.columns) == 3)
    assert [c.label for c in main.columns] == [BCE, DENSE, EFFB3]
    store = RunStore(results)
    records = {c.key: c.runs[0] for c in main.columns}
    effb3 = records[EFFB3]
    assert effb3.run_id != sorted(r.run_id for r in store.find(method=EFFB3, split="official"))[0]  # latest, not oldest
    np.testing.assert_allclose(main.columns[2].values[:14], as_array(effb3.metrics.test.auroc))
    assert main.columns[2].values[14] == pytest.approx(effb3.metrics.test.mean)
    assert main.columns[2].lo[14] == pytest.approx(effb3.metrics.test.ci.mean_lo)
    assert main.best(14) == {2}  # the strongest method wins the Average row
    # Failed and sanity-failed runs are listed beneath, never in the table.
    reasons = sorted(o.reason for o in main.other_runs)
    assert reasons == ["failed: CUDA out of memory", "sanity check failed: test AUROC 0.50 below 0.55"]
    assert any("older complete run" in n for n in main.notes)
    # DeLong p-values recomputed from the stored predictions.
    imp = main.improvement
    assert imp.test == "delong" and imp.reference.key == BCE and [c.key for c in imp.columns] == [DENSE, EFFB3]
    from bench.predictions import load_predictions

    ref = load_predictions(store.artifact(records[BCE], "predictions"))
    other = load_predictions(store.artifact(effb3, "predictions")).reindex(ref.image_ids)
    _, _, p = delong_test(ref.y_true, other.scores, ref.scores)
    np.testing.assert_allclose(imp.columns[1].p[:14], p)
    diff = (as_array(effb3.metrics.test.auroc) - as_array(records[BCE].metrics.test.auroc)) * 100
    np.testing.assert_allclose(imp.columns[1].diff[:14], diff)
    assert imp.columns[1].diff[14] == pytest.approx(diff.mean())
    assert imp.columns[1].significant(14) is False  # no p-value for the Average
    assert all(imp.columns[1].significant(k) == (p[k] < 0.05) for k in range(14))


def test_kfold_table_needs_all_folds_and_shows_mean_std(results):
    board, _ = _board(results, reference=BCE)
    (t,) = [t for t in board.tables if t.protocol == "kfold5"]
    assert t.cross_validation and t.demo and [c.key for c in t.columns] == [BCE, EFFB3]
    assert any(n.startswith(f"{DENSE}: incomplete (folds complete: 0, 1, 2 of 5)") for n in t.notes)
    col = t.columns[1]
    per_fold = np.array([as_array(r.metrics.test.auroc) for r in col.runs])
    assert [r.split.fold for r in col.runs] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(col.values[:14], per_fold.mean(axis=0))
    np.testing.assert_allclose(col.std[:14], per_fold.std(axis=0, ddof=1))
    assert col.values[14] == pytest.approx(per_fold.mean(axis=1).mean())
    from leaderboard.render import auroc_cell

    k = LABELS.index("Hernia")
    assert (
        auroc_cell(t, col, k, ci=False) == f"{100 * per_fold[:, k].mean():.2f} ± {100 * per_fold[:, k].std(ddof=1):.2f}"
    )
    imp = t.improvement
    assert imp.test == "bootstrap"
    (c,) = imp.columns
    assert c.p is None and np.all(c.lo <= c.diff) and np.all(c.diff <= c.hi)
    assert c.significant(14)  # strength 1.4 vs 0.8 over 5 folds: clearly better


def test_published_columns_only_beside_real_data(results):
    board, _ = _board(results)
    weng = _table(board, "weng", demo=False)
    assert [c.key for c in weng.columns][-1] == EFFB3
    assert sum(c.published is not None for c in weng.columns) == 7
    # Default reference on weng: the paper's Table 9 baseline; run vs published: differences only.
    assert weng.improvement.reference.key == "published:agcnn_third_party" and weng.improvement.test == "none"
    for t in board.tables:
        if t.demo:
            assert not any(c.published for c in t.columns) and t.improvement is None
    board, _ = _board(results, show_published=False)
    assert [c.key for c in _table(board, "weng", demo=False).columns] == [EFFB3]


def test_all_runs_keeps_every_complete_run(results):
    board, _ = _board(results, all_runs=True, split="official")
    main = max(board.tables, key=lambda t: len(t.columns))
    labels = [c.label for c in main.columns]
    assert len(labels) == 4 and sum(x.startswith(EFFB3 + " #") for x in labels) == 2


def _md_tables(text: str) -> list[list[str]]:
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks + ([current] if current else [])


def _pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_is_valid_and_demo_is_separate(results, tmp_path):
    out = tmp_path / "LEADERBOARD.md"
    plots = tmp_path / "plots"
    result = runner.invoke(
        app,
        [
            "leaderboard",
            "--results",
            str(results),
            "--split",
            "official",
            "--ci",
            "--reference",
            BCE,
            "--out",
            str(out),
            "--plots",
            str(plots),
        ],
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    blocks = _md_tables(text)
    assert len(blocks) >= 4  # 2 tables, 1 improvement table, 1 list of runs not shown
    for block in blocks:
        header, separator, *rows = block
        n = _pipes(header)
        assert all(_pipes(line) == n for line in block), block[0]
        assert re.fullmatch(r"\|(\s*:?-{3,}:?\s*\|)+", separator)
        assert separator.count("|") == n
    assert text.index("## Synthetic demo data") < text.index("### official split")
    assert "(published)" not in text
    assert re.search(r"\*\*0\.\d{4} \[0\.\d{4}, 0\.\d{4}\]\*\*", text)  # bold best with its CI
    assert "(p=" in text or "(p<0.001)" in text
    links = re.findall(r"\]\((plots/[^)]+\.png)\)", text)  # relative to the markdown file
    assert len(links) == 28  # 14 classes x 2 official tables
    for link in links:
        assert (out.parent / link).resolve().is_file()


def test_formats_csv_json_latex(results, tmp_path):
    result = runner.invoke(
        app, ["leaderboard", "--results", str(results), "--format", "json", "--out", "-", "--reference", BCE]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    kfold = next(t for t in data["tables"] if t["protocol"] == "kfold5")
    assert kfold["improvement"]["test"] == "bootstrap" and kfold["columns"][0]["std"]["Average"] > 0
    out = tmp_path / "board.csv"
    result = runner.invoke(app, ["leaderboard", "--results", str(results), "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "table,section,pathology,column,published,value,std,lo,hi,p_value,flag,text"
    assert any(",auroc,Hernia,agcnn_third_party (published),1,0.9064," in line for line in lines)
    out = tmp_path / "board.tex"
    result = runner.invoke(app, ["leaderboard", "--results", str(results), "--format", "latex", "--out", str(out)])
    assert result.exit_code == 0
    tex = out.read_text()
    assert "\\begin{tabular}" in tex and "\\textbf{" in tex and "Pleural\\_Thickening" in tex and "$\\pm$" in tex


def test_default_out_file_and_rich_output(results):
    result = runner.invoke(app, ["leaderboard", "--results", str(results), "--split", "kfold5"])
    assert result.exit_code == 0, result.output
    assert (results / "leaderboard" / "LEADERBOARD.md").is_file()
    assert "kfold5 split, 5-fold cross-validation" in result.stdout and "Synthetic demo data" in result.stdout


def test_bad_input(results, tmp_path):
    result = runner.invoke(app, ["leaderboard", "--results", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no run records in" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["leaderboard", "--results", str(results), "--reference", "resnet9000", "--out", "-"])
    assert result.exit_code == 2 and "unknown reference 'resnet9000'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["leaderboard", "--results", str(results), "--split", "chexpert", "--out", "-"])
    assert result.exit_code == 2 and "no runs on split 'chexpert'" in result.output
    result = runner.invoke(
        app,
        [
            "leaderboard",
            "--results",
            str(results),
            "--out",
            "-",
            "--reference",
            "published:agcnn_third_party",
            "--split",
            "official",
        ],
    )
    assert result.exit_code == 2 and "is in none of these tables" in result.output


def test_corrupt_record_is_skipped_and_the_rest_renders(results, tmp_path):
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    bad = copy / "runs" / "20261125-235959-x-official-f0-s0-0bad" / "record.json"
    bad.parent.mkdir()
    bad.write_text('{"schema_version": 1, "run_id": ')
    result = runner.invoke(app, ["leaderboard", "--results", str(copy), "--split", "weng", "--out", "-"])
    assert result.exit_code == 0
    assert f"skipping {bad}: not a readable JSON record" in result.stderr
    assert "## weng split" in result.stdout


def test_undefined_class_gives_a_counted_average(tmp_path):
    from bench.metrics import per_class_auroc
    from bench.predictions import load_predictions, save_predictions

    store = RunStore(tmp_path)
    record = complete_run(store, EFFB3, ci=False)
    path = store.artifact(record, "predictions")
    preds = load_predictions(path)
    y = preds.y_true.copy()
    y[:, LABELS.index("Hernia")] = 0  # no positives: Hernia's AUROC is undefined
    save_predictions(path, dataclasses.replace(preds, y_true=y))
    auroc = per_class_auroc(y, preds.scores)
    test = dataclasses.replace(
        record.metrics.test,
        auroc=dict(zip(LABELS, [None if np.isnan(v) else v for v in auroc])),
        mean=float(np.nanmean(auroc)),
        n_defined=13,
    )
    store.write(dataclasses.replace(record, metrics=dataclasses.replace(record.metrics, test=test)))
    board, _ = _board(tmp_path, ci=True)
    (t,) = board.tables
    from leaderboard.render import auroc_cell

    col = t.columns[0]
    assert auroc_cell(t, col, LABELS.index("Hernia"), ci=True) == "n/a"
    cell = auroc_cell(t, col, 14, ci=True)
    assert cell.startswith(f"{np.nanmean(auroc):.4f} [") and cell.endswith("(13/14)")
