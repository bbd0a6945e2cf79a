"""`bench leaderboard --rank-blocks`: the folds and the training seeds as the Friedman test's
blocks (checked against scikit-posthocs and scipy), and plugin methods' provenance footnotes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from record_factory import complete_run
from typer.testing import CliRunner

from bench.cli import app
from bench.records import RunStore, as_array
from bench.records.schema import MethodOrigin
from leaderboard.build import build_leaderboard
from leaderboard.ranking import rank_tables

runner = CliRunner()
METHODS = (("chexnet", 0.6), ("wfocal-densenet121", 1.0), ("wfocal-effb3", 1.5))
SMALL = dict(n_patients=30, ci=False)


def _mean_auroc(record) -> float:
    return float(np.mean(as_array(record.metrics.test.auroc)))


def _library(values: np.ndarray):
    """scipy's Friedman test and scikit-posthocs' Nemenyi p-values on (blocks, methods)."""
    import scikit_posthocs
    from scipy.stats import friedmanchisquare

    return friedmanchisquare(*values.T), scikit_posthocs.posthoc_nemenyi_friedman(values).to_numpy()


def _check_against_library(ranked, values: np.ndarray) -> None:
    (statistic, p), nemenyi = _library(values)
    r = ranked.ranking
    assert r.friedman_statistic == pytest.approx(statistic) and r.friedman_p == pytest.approx(p)
    labels = [next(c.label for c in ranked.table.columns if c.key == k) for k in ranked.keys]
    order = [labels.index(m.name) for m in r.methods]
    np.testing.assert_allclose(np.array(r.nemenyi_p), nemenyi[np.ix_(order, order)], rtol=1e-12)


@pytest.fixture(scope="module")
def kfold(tmp_path_factory):
    """Three methods on every fold of kfold5 (synthetic demo runs, one seed)."""
    store = RunStore(tmp_path_factory.mktemp("kfold") / "results")
    for fold in range(5):
        common = dict(protocol="kfold5", fold=fold, n_folds=5, image_start=1000 * fold, data_seed=fold, **SMALL)
        for i, (m, s) in enumerate(METHODS):
            complete_run(store, m, strength=s, minutes=10 * i + fold, model_seed=10 * i + fold, **common)
    return store


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """Three methods on official, each with training seeds 0, 1 and 2."""
    store = RunStore(tmp_path_factory.mktemp("seeds") / "results")
    for i, (m, s) in enumerate(METHODS):
        for seed in range(3):
            r = complete_run(
                store, m, strength=s + 0.2 * seed, minutes=10 * i + seed, model_seed=10 * i + seed, **SMALL
            )
            store.write(dataclasses.replace(r, seed=seed))
    return store


def test_folds_are_the_blocks_of_a_kfold_table(kfold):
    board = build_leaderboard(kfold.results_dir)
    messages: list[str] = []
    (ranked,) = rank_tables(board, messages.append)  # auto: folds on a k-fold table
    assert messages == [] and ranked.blocks == "folds"
    assert ranked.block_labels == tuple(f"fold {f}" for f in range(5))
    # Each fold's value: the column's mean test AUROC in that fold (every class is defined).
    by_hand = np.array(
        [[_mean_auroc(r) for r in kfold.find(method=m) if r.split.fold == f] for f in range(5) for m, _ in METHODS]
    ).reshape(5, 3)
    keys = [c.key for c in board.tables[0].columns]
    np.testing.assert_allclose(ranked.values, by_hand[:, [[m for m, _ in METHODS].index(k) for k in keys]])
    assert ranked.ranking.n_blocks == 5
    _check_against_library(ranked, ranked.values)
    assert ranked.ranking.methods[0].name == "wfocal-effb3"

    (classes,) = rank_tables(board, messages.append, blocks="classes")
    assert classes.blocks == "classes" and classes.ranking.n_blocks == 14
    np.testing.assert_allclose(classes.values, np.stack([c.values[:14] for c in board.tables[0].columns], axis=1))


def test_seeds_are_the_blocks_when_asked(seeded):
    board = build_leaderboard(seeded.results_dir)
    assert [c.n_seeds for c in board.tables[0].columns] == [3, 3, 3]
    messages: list[str] = []
    (auto,) = rank_tables(board, messages.append)
    assert auto.blocks == "classes"  # a single split: the classes unless the seeds are asked for
    (ranked,) = rank_tables(board, messages.append, blocks="seeds")
    assert messages == [] and ranked.blocks == "seeds" and ranked.block_labels == ("seed 0", "seed 1", "seed 2")
    keys = list(ranked.keys)
    by_hand = np.array([[_mean_auroc(r) for r in sorted(seeded.find(method=k), key=lambda r: r.seed)] for k in keys]).T
    np.testing.assert_allclose(ranked.values, by_hand)
    _check_against_library(ranked, ranked.values)
    assert "the seeds every column was run with: 0, 1, 2" in ranked.notes[0]


def test_blocks_that_do_not_apply_are_one_warning(kfold, seeded):
    messages: list[str] = []
    assert rank_tables(build_leaderboard(seeded.results_dir), messages.append, blocks="folds") == []
    assert rank_tables(build_leaderboard(kfold.results_dir), messages.append, blocks="seeds") == []
    assert "no ranking (a single split has no folds to rank over" in messages[0]
    assert "1 training seed(s) common to every column; ranking over seeds needs 2 or more" in messages[1]


def test_cli_rank_blocks(kfold, tmp_path):
    args = ["leaderboard", "--results", str(kfold.results_dir), "--rank", "--format", "json", "--out", "-"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    ranking = json.loads(res.output)["tables"][0]["ranking"]
    assert ranking["blocks"] == "folds" and ranking["n_blocks"] == 5
    res = runner.invoke(app, [*args[:-4], "--rank-blocks", "classes", "--out", str(tmp_path / "b.md")])
    assert res.exit_code == 0, res.output
    assert "ranks of test AUROC over the classes" in (tmp_path / "b.md").read_text()
    res = runner.invoke(app, [*args, "--rank-blocks", "patients"])
    assert res.exit_code == 2 and "patients" in res.output
    res = runner.invoke(app, ["leaderboard", "--results", str(kfold.results_dir), "--rank-blocks", "folds"])
    assert res.exit_code == 2 and "--rank-blocks folds without --rank ranks nothing" in res.output


ORIGINS = {
    "my-loss": MethodOrigin("file", path="/plugins/my_loss.py", sha256="ab" * 32),
    "probe": MethodOrigin("entry point", package="cxr-probe", version="1.2.0"),
}


@pytest.fixture(scope="module")
def plugins(tmp_path_factory):
    """A built-in method and two plugins (a file and an entry point) on official."""
    store = RunStore(tmp_path_factory.mktemp("plugins") / "results")
    for i, m in enumerate(("chexnet", *ORIGINS)):
        r = complete_run(store, m, strength=1.0, minutes=i, model_seed=i, **SMALL)
        origin = ORIGINS.get(m, MethodOrigin("built-in"))
        store.write(dataclasses.replace(r, method=dataclasses.replace(r.method, origin=origin)))
    return store


FILE_NOTE = f"my-loss: method from file /plugins/my_loss.py (SHA-256 {'ab' * 32})"
ENTRY_NOTE = "probe: method from entry point of cxr-probe 1.2.0"


def test_plugin_origins_are_footnotes_in_every_format(plugins, tmp_path):
    base = ["leaderboard", "--results", str(plugins.results_dir)]
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "b.md")])
    assert res.exit_code == 0, res.output
    assert f"plugin: {FILE_NOTE}" in res.output and f"plugin: {ENTRY_NOTE}" in res.output  # the terminal
    assert "chexnet: method" not in res.output
    md = (tmp_path / "b.md").read_text()
    assert f"Methods from plugins:\n\n- {FILE_NOTE}\n- {ENTRY_NOTE}\n" in md
    tex = runner.invoke(app, [*base, "--format", "latex", "--out", "-"]).output
    assert r"{\footnotesize probe: method from entry point of cxr-probe 1.2.0\par}" in tex
    assert r"file /plugins/my\_loss.py" in tex
    data = json.loads(runner.invoke(app, [*base, "--format", "json", "--out", "-"]).output)
    (t,) = data["tables"]
    origins = {c["key"]: c["origins"] for c in t["columns"]}
    assert origins == {
        "chexnet": [
            {"kind": "built-in", "path": None, "sha256": None, "package": None, "version": None, "module": None}
        ],
        "my-loss": [dataclasses.asdict(ORIGINS["my-loss"])],
        "probe": [dataclasses.asdict(ORIGINS["probe"])],
    }
    assert t["origin_notes"] == [FILE_NOTE, ENTRY_NOTE]


def test_a_column_whose_runs_differ_in_origin_lists_each(plugins, tmp_path):
    from leaderboard.render import origin_notes

    board = build_leaderboard(plugins.results_dir)
    (table,) = board.tables
    col = next(c for c in table.columns if c.key == "my-loss")
    other = MethodOrigin("file", path="/plugins/my_loss.py", sha256="cd" * 32)
    changed = dataclasses.replace(col.runs[0], method=dataclasses.replace(col.runs[0].method, origin=other))
    two = dataclasses.replace(col, seed_runs=(col.runs, (changed,)))
    notes = origin_notes(dataclasses.replace(table, columns=(two,)))
    assert notes == [
        f"my-loss: method from file /plugins/my_loss.py (SHA-256 {'ab' * 32}); file /plugins/my_loss.py"
        f" (SHA-256 {'cd' * 32}) (2 different origins among its runs)"
    ]


def test_a_column_of_several_seeds_shows_their_std(seeded):
    from leaderboard.render import auroc_table

    board = build_leaderboard(seeded.results_dir)
    (table,) = board.tables
    shown = auroc_table(table, ci=False)
    assert shown.caption.endswith("±: sample std over training seeds. Best per row in bold.")
    col = table.columns[0]
    by_hand = np.std([_mean_auroc(r) for r in seeded.find(method=col.key)], ddof=1)
    assert shown.texts()[14][1] == f"{col.values[14]:.4f} ± {by_hand:.4f}"


def test_published_columns_are_not_ranked(tmp_path):
    store = RunStore(tmp_path / "results")
    for i, (m, s) in enumerate(METHODS):
        complete_run(store, m, kind="nih", strength=s, minutes=i, model_seed=i, **SMALL)
    board = build_leaderboard(store.results_dir)
    (table,) = board.tables
    assert sum(c.published is not None for c in table.columns) == 8  # the paper's Table 4 beside real runs
    (ranked,) = rank_tables(board, print)
    assert sorted(ranked.keys) == sorted(m for m, _ in METHODS) and ranked.values.shape == (14, 3)
    assert "published columns are not ranked: they enter no statistic" in ranked.notes

    messages: list[str] = []
    assert rank_tables(build_leaderboard(None, published_only=True, split="official"), messages.append) == []
    assert messages == [
        "official split: published figures (Table 4): published figures only, no ranking (published"
        " columns enter no statistic)"
    ]
