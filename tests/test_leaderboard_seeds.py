"""The leaderboard over training seeds (--seeds), references spelled as --set spells overrides,
unknown-reference lists and --limit table titles: synthetic records, no training."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from record_factory import complete_run, fingerprint
from typer.testing import CliRunner

from bench.cli import app
from bench.labels import NUM_CLASSES
from bench.records import RunStore, per_class

runner = CliRunner()
BCE, EFFB3, DENSE = "chexnet", "wfocal-effb3", "wfocal-densenet121"
R = 200  # bootstrap resamples


def _seeded(store: RunStore, method: str, seed: int, **kw):
    """A complete run recorded with training seed `seed` (`kw` as record_factory.complete_run)."""
    record = dataclasses.replace(complete_run(store, method, **kw), seed=seed)
    store.write(record)
    return record


def _with_auroc(store: RunStore, record, values):
    """The record with its test AUROC replaced by `values` (14 numbers)."""
    test = dataclasses.replace(record.metrics.test, auroc=per_class(values), mean=float(np.mean(values)))
    record = dataclasses.replace(record, metrics=dataclasses.replace(record.metrics, test=test))
    store.write(record)
    return record


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """official: chexnet seeds 0-2 with hand-set AUROC, wfocal-effb3 seeds 0 and 1 (plus an older
    seed-0 run it supersedes), wfocal-densenet121 seed 0; chexnet seed 3 on another split fingerprint
    and seed 4 on real NIH data. kcv (2 folds): chexnet seeds 0 and 1 on every fold, wfocal-effb3
    seed 0 on every fold and seed 1 on fold 0 only, and a seed-2 wfocal-effb3 fold-1 run on another
    fold fingerprint."""
    root = tmp_path_factory.mktemp("seeds")
    store = RunStore(root)
    minute = iter(range(100))
    small = dict(n_patients=40, ci=False)
    for s in range(3):
        record = _seeded(store, BCE, s, strength=0.8, minutes=next(minute), model_seed=s, **small)
        _with_auroc(store, record, [0.6 + 0.1 * s + 0.01 * k for k in range(NUM_CLASSES)])
    _seeded(store, EFFB3, 0, strength=0.2, minutes=next(minute), model_seed=30, **small)  # superseded
    for s in range(2):
        _seeded(store, EFFB3, s, strength=1.4, minutes=next(minute), model_seed=10 + s, **small)
    _seeded(store, DENSE, 0, strength=1.0, minutes=next(minute), model_seed=20, **small)
    _seeded(store, BCE, 3, strength=0.8, minutes=next(minute), split_fp=fingerprint("another"), **small)
    _seeded(store, BCE, 4, strength=0.8, minutes=next(minute), kind="nih", **small)
    for fold in range(2):
        common = dict(protocol="kcv", fold=fold, n_folds=2, image_start=1000 * fold, data_seed=fold, **small)
        for s in range(2):
            _seeded(store, BCE, s, strength=0.8, minutes=next(minute), model_seed=50 + 10 * s + fold, **common)
        _seeded(store, EFFB3, 0, strength=1.4, minutes=next(minute), model_seed=70 + fold, **common)
    kcv = dict(protocol="kcv", n_folds=2, data_seed=0, **small)
    _seeded(store, EFFB3, 1, strength=1.4, minutes=next(minute), fold=0, model_seed=90, **kcv)
    _seeded(store, EFFB3, 2, strength=1.4, minutes=next(minute), fold=1, split_fp=fingerprint("other fold"), **kcv)
    return root


def _board(results, **kw):
    from leaderboard.build import build_leaderboard

    return build_leaderboard(results, **{"n_resamples": R, **kw})


def _main_official(board):
    return next(t for t in board.tables if t.protocol == "official" and len(t.columns) == 3)


def _column(table, key):
    (col,) = [c for c in table.columns if c.key == key]
    return col


def test_three_seeds_mean_and_sd_by_hand(results):
    from leaderboard.render import to_json

    board = _board(results, correction="none")
    t = _main_official(board)
    col = _column(t, BCE)
    assert col.seeds == (0, 1, 2) and col.n_seeds == 3 and col.label == "chexnet (3 seeds)"
    assert col.per_seed.shape == (3, 1, NUM_CLASSES) and col.per_fold.shape == (1, NUM_CLASSES)
    # Seed s has AUROC 0.6 + 0.1 s + 0.01 k for class k: mean 0.7 + 0.01 k, sample sd 0.1.
    np.testing.assert_allclose(col.values[:14], [0.7 + 0.01 * k for k in range(14)])
    np.testing.assert_allclose(col.seed_std, 0.1)
    # Average: per seed 0.665 + 0.1 s, so the mean is 0.765 with sd 0.1.
    assert col.values[14] == pytest.approx(0.765) and col.std[14] == pytest.approx(0.1)
    np.testing.assert_allclose(col.seed_values[:, 14], [0.665, 0.765, 0.865])
    assert col.seed_text(0) == "± 0.1000" and _column(t, DENSE).seed_text(0) == ""
    from leaderboard.render import auroc_cell

    assert (
        auroc_cell(t, col, 0, ci=False) == "0.7000 ± 0.1000" and auroc_cell(t, col, 14, ci=False) == "0.7650 ± 0.1000"
    )
    assert [len(runs) for runs in col.seed_runs] == [1, 1, 1] and col.runs == col.seed_runs[0]
    assert any("seeds per column: chexnet: 3 seeds (0, 1, 2); wfocal-densenet121: 1 seed (0);" in n for n in t.notes)
    assert any(n.startswith("1 older complete run(s)") for n in t.notes)  # effb3's superseded seed-0 run
    effb3 = _column(t, EFFB3)
    assert effb3.seeds == (0, 1) and all(r.metrics.test.mean > 0.75 for runs in effb3.seed_runs for r in runs)
    data = json.loads(to_json(board, ci=False))
    (shown,) = [c for tj in data["tables"] if tj["title"] == t.title for c in tj["columns"] if c["key"] == BCE]
    assert shown["std"]["Average"] == pytest.approx(0.1) and shown["auroc"]["Atelectasis"] == pytest.approx(0.7)


def test_seeds_of_other_split_or_dataset_fingerprints_stay_apart(results):
    board = _board(results)
    official = [t for t in board.tables if t.protocol == "official"]
    assert len(official) == 3  # two demo split fingerprints, one NIH dataset
    others = [t for t in official if t is not _main_official(board)]
    assert sorted(c.seeds for t in others for c in t.columns if c.runs) == [(3,), (4,)]
    (kcv,) = [t for t in board.tables if t.protocol == "kcv"]
    assert _column(kcv, EFFB3).seeds == (0,)  # seed 2's fold-1 run is on another fold fingerprint
    assert f"{EFFB3}: fold 1 has runs on another split fingerprint than the other methods; left out" in kcv.notes


def test_kfold_fold_means_over_seeds_and_seed_counts(results):
    (t,) = _board(results, split="kcv", reference=BCE).tables
    col = _column(t, BCE)
    assert col.seeds == (0, 1) and len(col.runs) == 2 and col.label == "chexnet (2 seeds)"
    per_seed = np.array([[list(r.metrics.test.auroc.values()) for r in runs] for runs in col.seed_runs])
    np.testing.assert_allclose(col.per_fold, per_seed.mean(axis=0))
    np.testing.assert_allclose(col.std[:14], per_seed.mean(axis=0).std(axis=0, ddof=1))  # over folds
    assert col.seed_text(0) == ""  # k-fold cells show the spread over folds
    assert f"{EFFB3}: seed 1 incomplete (folds complete: 0 of 2); not in the mean" in t.notes
    assert any(n.endswith("seeds per column: chexnet: 2 seeds (0, 1); wfocal-effb3: 1 seed (0)") for n in t.notes)
    # The interval comes from the seed bootstrap per fold.
    from leaderboard import stats
    from leaderboard.tables import PredictionCache

    cache = PredictionCache(RunStore(results), lambda m: None)
    effb3 = _column(t, EFFB3)
    folds = [([cache.get(s[f]) for s in col.seed_runs], [cache.get(effb3.runs[f])]) for f in range(2)]
    lo, hi = stats.cv_diff_interval(folds, n_resamples=R)
    (ic,) = t.improvement.columns
    np.testing.assert_allclose(ic.lo, lo)
    np.testing.assert_allclose(ic.hi, hi)
    assert ic.test == "seed-bootstrap" and ic.p is None
    assert any(
        n.startswith("intervals of every column (the reference has 2 seeds): per fold") for n in t.improvement.notes
    )


def test_seed_aware_p_values_are_bench_evaluation_seeds(results):
    from bench.evaluation.multiple import adjust_pvalues
    from bench.evaluation.seeds import seed_bootstrap_diff
    from bench.predictions import load_predictions

    store = RunStore(results)
    t = _main_official(_board(results, split="official", reference=DENSE))  # Holm by default
    imp = t.improvement
    assert [c.key for c in imp.columns] == [BCE, EFFB3] and imp.correction == "holm" and imp.n_tests == 28
    ref = load_predictions(store.artifact(_column(t, DENSE).runs[0], "predictions"))
    raw = []
    for key in (BCE, EFFB3):
        runs = [
            load_predictions(store.artifact(r[0], "predictions")).reindex(ref.image_ids)
            for r in _column(t, key).seed_runs
        ]
        res = seed_bootstrap_diff(ref.y_true, [p.scores for p in runs], [ref.scores], ref.patient_ids, n_resamples=R)
        raw.append(list(res.p.values()))
    # The seed bootstrap's p-values, corrected together (classes x columns) as DeLong's are.
    np.testing.assert_allclose(np.stack([c.p[:14] for c in imp.columns]), adjust_pvalues(np.array(raw), "holm"))
    assert all(c.test == "seed-bootstrap" and np.isnan(c.p[14]) for c in imp.columns)
    assert any(n.startswith(f"p-values of {BCE} (3 seeds), {EFFB3} (2 seeds): two-sided") for n in imp.notes)
    assert not any("smallest p-value" in n for n in imp.notes)
    from leaderboard.render import improvement_caption

    assert (
        "two-sided p-values of the paired bootstrap over patients and training seeds (normal approximation) from the"
        " stored predictions, Holm's" in improvement_caption(imp)
    )
    assert "DeLong" not in improvement_caption(imp)


def test_json_per_seed_values_sd_count_and_tests(results):
    from leaderboard.render import JSON_SCHEMA_VERSION, to_json

    board = _board(results, split="official", reference=DENSE)
    t = _main_official(board)
    data = json.loads(to_json(board, ci=False))
    assert data["schema_version"] == JSON_SCHEMA_VERSION == 4
    (tj,) = [tj for tj in data["tables"] if tj["title"] == t.title]
    shown = {c["key"]: c for c in tj["columns"]}
    bce = shown[BCE]
    # Seed s: AUROC 0.6 + 0.1 s + 0.01 k for class k, Average 0.665 + 0.1 s; sample sd 0.1.
    assert bce["n"] == 3 and len(bce["per_seed"]) == 3
    for s, per_row in enumerate(bce["per_seed"]):
        assert per_row["Atelectasis"] == pytest.approx(0.6 + 0.1 * s)
        assert per_row["Hernia"] == pytest.approx(0.6 + 0.1 * s + 0.13)
        assert per_row["Average"] == pytest.approx(0.665 + 0.1 * s)
    assert set(bce["sd"]) == set(bce["auroc"]) and all(v == pytest.approx(0.1) for v in bce["sd"].values())
    dense = shown[DENSE]
    assert dense["n"] == 1 and dense["sd"] is None and dense["per_seed"] == [dense["auroc"]]
    assert [c["test"] for c in tj["improvement"]["columns"]] == ["seed-bootstrap", "seed-bootstrap"]


def _improvement(tests: list[str], top: str):
    from leaderboard.tables import Column, Improvement, ImprovementColumn

    ref = Column("ref", "ref", np.full((1, NUM_CLASSES), 0.7))
    nan = np.full(NUM_CLASSES + 1, np.nan)
    columns = tuple(ImprovementColumn(f"c{i}", f"c{i}", nan, nan, None, None, test) for i, test in enumerate(tests))
    return Improvement(ref, columns, top, correction="holm", n_tests=28)


def test_caption_names_the_tests_used():
    from leaderboard.render import improvement_caption

    holm = "from the stored predictions, Holm's step-down correction (family-wise error rate) over 28 tests"
    assert improvement_caption(_improvement(["delong", ""], "delong")) == (
        f"Improvement over ref (AUROC percentage points; two-sided DeLong p-values {holm} (classes x columns);"
        " * p < 0.05)"
    )
    seed = "the paired bootstrap over patients and training seeds (normal approximation)"
    assert f"two-sided p-values of {seed} {holm}" in improvement_caption(_improvement(["seed-bootstrap"], "delong"))
    mixed = improvement_caption(_improvement(["seed-bootstrap", "delong"], "delong"))
    assert f"two-sided p-values of DeLong's test (single runs) and {seed} (columns of several seeds) {holm}" in mixed
    kfold = improvement_caption(_improvement(["bootstrap", "seed-bootstrap"], "bootstrap"))
    assert (
        "95% intervals of the mean difference over folds from the paired patient bootstrap (single runs) and the"
        " paired bootstrap over patients and training seeds (columns of several seeds); * interval excludes 0"
    ) in kfold
    assert "from the paired patient bootstrap; *" in improvement_caption(_improvement(["bootstrap"], "bootstrap"))


def test_seeds_latest_is_the_latest_run_per_column(results):
    from bench.metrics import delong_test
    from bench.predictions import load_predictions

    board = _board(results, seeds="latest", split="official", reference=DENSE, correction="none")
    t = _main_official(board)
    store = RunStore(results)
    for col in t.columns:
        runs = [
            r
            for r in store.find(method=col.key)
            if r.split.fingerprint == t.split_fingerprint and r.dataset == t.dataset
        ]
        newest = max(runs, key=lambda r: r.started)
        assert col.seeds == (newest.seed,) and col.label == col.key and col.runs == (newest,)
    assert not any("seeds per column" in n for n in t.notes)
    assert any(n.startswith("4 older complete run(s)") for n in t.notes)  # 2 chexnet, 2 wfocal-effb3
    ref = load_predictions(store.artifact(_column(t, DENSE).runs[0], "predictions"))
    other = load_predictions(store.artifact(_column(t, EFFB3).runs[0], "predictions")).reindex(ref.image_ids)
    np.testing.assert_allclose(t.improvement.columns[1].p[:14], delong_test(ref.y_true, other.scores, ref.scores)[2])

    # Where every column has one seed (the other two official tables), both modes give today's table.
    def shown(seeds):
        tables = [t for t in _board(results, split="official", seeds=seeds).tables if t.title != main_title]
        return [(t.title, [(c.label, c.values.tolist()) for c in t.columns], t.notes) for t in tables]

    main_title = t.title
    assert len(shown("mean")) == 2 and shown("mean") == shown("latest")


def test_all_runs_ignores_seeds(results):
    main = _main_official(_board(results))
    (every,) = [
        t for t in _board(results, all_runs=True).tables if t.split_fingerprint == main.split_fingerprint and t.demo
    ]
    assert len(every.columns) == 7 and all(c.n_seeds == 1 for c in every.columns)


def test_cli_seeds_option(results):
    args = ["leaderboard", "--results", str(results), "--split", "official", "--format", "json", "--out", "-"]
    shown = {
        mode: json.loads(runner.invoke(app, [*args, "--seeds", mode]).stdout)["tables"] for mode in ("mean", "latest")
    }
    labels = {mode: [c["label"] for t in tables for c in t["columns"]] for mode, tables in shown.items()}
    assert "chexnet (3 seeds)" in labels["mean"] and "chexnet (3 seeds)" not in labels["latest"]
    result = runner.invoke(app, [*args, "--seeds", "median"])
    assert result.exit_code == 2 and "median" in result.output


# -- references spelled as --set spells overrides; unknown-reference lists; --limit titles ---------------
def _overridden(store: RunStore, items: list[str], **kw):
    """A run of chexnet trained with `--set` items: its record's method as `bench run` writes it."""
    from bench.method import get_method
    from bench.method.overrides import apply_overrides, display_name, overrides_json
    from bench.records import MethodInfo

    applied = apply_overrides(get_method(BCE).spec, items)
    method = MethodInfo.from_spec(
        applied.spec, display_name=display_name(BCE, applied.overrides), overrides=overrides_json(applied.overrides)
    )
    record = dataclasses.replace(complete_run(store, BCE, ci=False, n_patients=40, **kw), method=method)
    store.write(record)
    return record


def test_reference_accepts_any_spelling_of_an_override(tmp_path):
    store = RunStore(tmp_path)
    tuned = _overridden(store, ["optimizer.lr=3e-4"], minutes=0, strength=1.0)
    assert tuned.method.display_name == "chexnet[optimizer.lr=0.0003]"
    both = _overridden(store, ["optimizer.lr=2e-4", "loss.name=focal"], minutes=1, strength=1.2)
    _overridden(store, [], minutes=2, strength=0.8)
    for spelling in ("chexnet[optimizer.lr=0.0003]", "chexnet[optimizer.lr=3e-4]", "chexnet[optimizer.lr = 3.0E-4]"):
        (t,) = _board(tmp_path, reference=spelling).tables
        assert t.improvement.reference.key == "chexnet[optimizer.lr=0.0003]", spelling
    key = both.method.display_name
    assert key == "chexnet[loss.name=focal,optimizer.lr=0.0002]"
    (t,) = _board(tmp_path, reference="chexnet[optimizer.lr=2e-4,loss.name=focal]").tables
    assert t.improvement.reference.key == key
    # chexnet's own learning rate changes nothing, as --set optimizer.lr=1e-3 would not.
    (t,) = _board(tmp_path, reference="chexnet[optimizer.lr=1e-3]").tables
    assert t.improvement.reference.key == BCE
    from bench.errors import BenchError

    for wrong in ("chexnet[optimizer.lr=1e-4]", "chexnet[loss.name=focal]", "chexnet[optimizer.lrr=3e-4]"):
        with pytest.raises(BenchError, match="unknown reference"):
            _board(tmp_path, reference=wrong)


def test_unknown_reference_lists_every_name_whole(tmp_path):
    store = RunStore(tmp_path)
    names = [f"m{i}" for i in range(8)]
    for i, name in enumerate(names):
        complete_run(store, name, minutes=i, ci=False, n_patients=20)
    _overridden(store, ["optimizer.lr=3e-4"], minutes=20)
    result = runner.invoke(app, ["leaderboard", "--results", str(tmp_path), "--reference", "m99", "--out", "-"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    listed = result.output.split("methods here: ")[1].split(";")[0]
    assert listed.split(", ") == ["chexnet[optimizer.lr=0.0003]", *names]


def test_limit_runs_get_a_table_title_of_their_own(tmp_path):
    store = RunStore(tmp_path)
    complete_run(store, BCE, ci=False, n_patients=20)
    subset = complete_run(store, BCE, ci=False, n_patients=20, minutes=1, split_fp=fingerprint("subset"))
    split = dataclasses.replace(subset.split, params={**subset.split.params, "limit": 300})
    store.write(dataclasses.replace(subset, split=split))
    titles = sorted(t.title for t in _board(tmp_path).tables)
    assert titles == [
        "official split, at most 300 images per list, synthetic demo data",
        "official split, synthetic demo data",
    ]
    assert not any(t.tag for t in _board(tmp_path).tables)  # the titles tell them apart
