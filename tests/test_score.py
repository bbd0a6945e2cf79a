"""`bench score`: submitted score files read, checked and recorded like a trained run's test phase."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.external.submission import image_id, label_of
from bench.labels import LABELS
from bench.metrics import per_class_auroc
from bench.predictions import load_predictions
from bench.records import RunStore, as_array
from splits import get_fold

runner = CliRunner()


def bench(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def assert_one_line_error(result, text: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and text in errors[0], result.stderr


@pytest.fixture(scope="module")
def official_test(demo_index):
    """The demo's official test list: ids, labels (LABELS order) and patients."""
    fold = get_fold("official", demo_index)
    return fold.test, demo_index.labels(fold.test), demo_index.patients(fold.test)


def submission(ids, labels, *, seed: int = 0, prefix: str = "prob_", logits: bool = False) -> pd.DataFrame:
    """Scores that rank positives higher: probabilities in [0, 1], or logits."""
    rng = np.random.default_rng(seed)
    scores = np.clip(0.35 * labels + rng.random(labels.shape) * 0.65, 0, 1)
    if logits:
        scores = np.log(scores + 1e-3) - np.log(1 - scores + 1e-3)
    frame = pd.DataFrame(scores, columns=[prefix + label for label in LABELS])
    frame.insert(0, "Image Index", list(ids))
    return frame


def score(path, demo_root, results, *extra):
    return bench("score", path, "--split", "official", "--data", demo_root, "--results", results, *extra)


def no_record(results) -> bool:
    store = RunStore(results)
    return not store.run_ids()


@pytest.fixture(scope="module")
def scored(official_test, demo_root, tmp_path_factory):
    """One complete external run of a full probability submission, trained-on weng."""
    tmp = tmp_path_factory.mktemp("scored")
    ids, labels, _ = official_test
    frame = submission(ids, labels)
    path = tmp / "preds.csv"
    frame.to_csv(path, index=False)
    result = score(
        path, demo_root, tmp / "results", "--name", "my-model", "--url", "https://x.org/m", "--trained-on", "weng"
    )
    assert result.exit_code == 0, result.output
    (record,) = RunStore(tmp / "results").find()
    return record, frame, tmp / "results"


def test_label_columns_are_matched_by_name_with_affixes_and_aliases():
    assert [label_of(c) for c in ("Atelectasis", "prob_atelectasis", "PRED_Atelectasis", "score:Atelectasis")] == [
        "Atelectasis"
    ] * 4
    assert label_of("score_Pleural Thickening") == label_of("pleural_thickening_prob") == "Pleural_Thickening"
    assert label_of("infiltrate_score") == "Infiltration"  # the label canon's alias
    assert [label_of(c) for c in ("patient_id", "true:Atelectasis", "Finding Labels", "prob_")] == [None] * 4
    assert image_id("images_001/images/00000001_000.png") == "00000001_000.png"
    assert image_id("C:\\data\\00000001_000") == image_id("00000001_000.PNG") == "00000001_000.png"


def test_a_complete_submission_is_an_external_run_with_provenance(scored, official_test):
    record, frame, results = scored
    ids, labels, patients = official_test
    assert record.kind == "external" and record.status == "complete" and record.preset == "external"
    assert record.method.name == record.method.display_name == "my-model" and record.method.spec == {}
    assert record.stages == () and record.history == () and record.tta == "none"
    ext = record.external
    assert ext.source == "scores" and ext.url == "https://x.org/m" and ext.trained_on == "weng"
    assert ext.coverage.scored == ext.coverage.test == len(ids) and not ext.coverage.partial
    assert ext.scores_in_unit_interval
    assert ext.submission.name == "preds.csv" and ext.submission.rows == len(ids)
    import hashlib

    assert ext.submission.sha256 == hashlib.sha256((results.parent / "preds.csv").read_bytes()).hexdigest()
    # The trained runs' test phase: predictions, per-class metrics, patient-bootstrap intervals.
    preds = load_predictions(RunStore(results).artifact(record, "predictions"))
    assert preds.image_ids == tuple(ids) and (preds.y_true == labels).all() and (preds.patient_ids == patients).all()
    expected = per_class_auroc(labels, frame[[f"prob_{x}" for x in LABELS]].to_numpy(np.float32))
    np.testing.assert_allclose(as_array(record.metrics.test.auroc), expected, rtol=0, atol=1e-12)
    assert record.metrics.test.ci.n_resamples == 1000 and record.metrics.val is None
    assert record.sanity.test_auroc_ok  # demo data is not judged


def test_trained_on_counts_what_the_declared_lists_share_with_the_test_list(scored, demo_root, demo_index):
    """weng's train and validation lists of the demo against its official test list, counted here
    from the list files themselves."""
    record, _, _ = scored
    test = set((demo_root / "test_list.txt").read_text().split())
    seen = set()
    for name in ("train_list.txt", "val_list.txt"):
        seen |= {line.split()[0] for line in (demo_root / "weng" / name).read_text().splitlines() if line.strip()}
    images = test & seen
    patients = {int(i.split("_")[0]) for i in test} & {int(i.split("_")[0]) for i in seen}
    assert images and record.external.overlap.images == len(images)
    assert record.external.overlap.patients == len(patients)


def test_runs_list_and_show_show_external_runs_and_resume_refuses_them(scored):
    record, _, results = scored
    listed = bench("runs", "list", "--results", results)
    assert listed.exit_code == 0 and "my-model (external)" in listed.output
    shown = bench("runs", "show", record.run_id, "--results", results)
    assert shown.exit_code == 0
    text = " ".join(shown.output.split())
    assert "trained on weng (OVERLAP:" in text and "https://x.org/m" in text and "preds.csv" in text
    again = bench("run", "--resume", record.run_id, "--results", results)
    assert_one_line_error(again, "is external")


def test_logits_rows_outside_the_test_list_and_shuffled_columns(official_test, demo_root, demo_index, tmp_path):
    ids, labels, _ = official_test
    frame = submission(ids, labels, logits=True, prefix="score_")
    outside = [i for i in demo_index.image_ids[:50] if i not in set(ids)][:7]
    extra = frame.iloc[: len(outside)].copy()
    extra["Image Index"] = outside
    frame = pd.concat([frame, extra]).sample(frac=1, random_state=1)
    frame = frame[list(frame.columns[::-1])]
    frame.to_parquet(tmp_path / "logits.parquet", index=False)
    result = score(tmp_path / "logits.parquet", demo_root, tmp_path / "r", "--name", "logit-model")
    assert result.exit_code == 0, result.output
    assert "7 row(s) of logits.parquet for images outside the official test list ignored" in result.stderr
    (record,) = RunStore(tmp_path / "r").find()
    assert not record.external.scores_in_unit_interval
    assert record.external.coverage.ignored == 7 and record.external.submission.rows == len(ids) + 7
    assert record.external.overlap is None and record.external.trained_on == "unknown"


def test_partial_submission_needs_allow_partial_and_gets_its_own_fingerprint(
    scored, official_test, demo_root, tmp_path
):
    full, _, _ = scored
    ids, labels, _ = official_test
    frame = submission(ids, labels).drop(index=[3, 10, 11, 12, 20, 30, 40])
    frame.to_csv(tmp_path / "part.csv", index=False)
    refused = score(tmp_path / "part.csv", demo_root, tmp_path / "r", "--name", "p")
    assert_one_line_error(refused, f"7 of the {len(ids):,} test images have no row")
    assert f"{ids[3]}, {ids[10]}, {ids[11]}, {ids[12]}, {ids[20]}, ..." in refused.stderr
    assert no_record(tmp_path / "r")
    result = score(tmp_path / "part.csv", demo_root, tmp_path / "r", "--name", "p", "--allow-partial")
    assert result.exit_code == 0, result.output
    (record,) = RunStore(tmp_path / "r").find()
    assert (record.external.coverage.scored, record.external.coverage.test) == (len(ids) - 7, len(ids))
    assert record.split.fingerprint != full.split.fingerprint and record.split.protocol == "official"
    assert len(load_predictions(RunStore(tmp_path / "r").artifact(record, "predictions"))) == len(ids) - 7


def _bad(frame: pd.DataFrame, change) -> pd.DataFrame:
    frame = frame.astype({c: object for c in frame.columns})
    change(frame)
    return frame


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda f: f.__setitem__("Image Index", [*f["Image Index"][:-1], f["Image Index"][0]]),
            "line 970, column Image Index: image",
        ),
        (lambda f: f.loc.__setitem__((4, "prob_Mass"), "nan"), "line 6, column prob_Mass: a NaN score"),
        (lambda f: f.loc.__setitem__((5, "prob_Edema"), "-inf"), "line 7, column prob_Edema: an infinite score"),
        (lambda f: f.loc.__setitem__((6, "prob_Hernia"), "high"), "line 8, column prob_Hernia: 'high' is not a number"),
        (lambda f: f.loc.__setitem__((7, "prob_Nodule"), ""), "line 9, column prob_Nodule: an empty cell"),
        (lambda f: f.__setitem__("Mass", f["prob_Mass"]), "columns prob_Mass and Mass are both scores of Mass"),
        (
            lambda f: f.pop("prob_Fibrosis"),
            "no score column for Fibrosis (columns found: Image Index, prob_Atelectasis",
        ),
        (lambda f: setattr(f, "columns", ["id", *f.columns[1:]]), "has no image id column (columns found: 'id'"),
        (
            lambda f: setattr(f, "columns", [f.columns[0], *(f"x{c}" for c in f.columns[1:])]),
            "no column is named for a label",
        ),
        (lambda f: f.__setitem__("Image Index", [f"nope{i}" for i in range(len(f))]), "none of the 969 rows"),
    ],
    ids=[
        "duplicate",
        "nan",
        "inf",
        "text",
        "empty",
        "two-columns",
        "missing-label",
        "no-id",
        "no-label",
        "no-test-ids",
    ],
)
def test_bad_submissions_are_one_line_errors_leaving_no_run(change, message, official_test, demo_root, tmp_path):
    ids, labels, _ = official_test
    path = tmp_path / "bad.csv"
    _bad(submission(ids, labels), change).to_csv(path, index=False)
    result = score(path, demo_root, tmp_path / "r", "--name", "bad")
    assert_one_line_error(result, message)
    assert no_record(tmp_path / "r")


@pytest.mark.parametrize(
    "trained_on, message",
    [("kfold5", "has 5 folds: say which one"), ("nosuch", "nosuch"), ("kfold5:9", "no fold 9")],
)
def test_bad_trained_on_is_refused_before_anything_is_written(trained_on, message, official_test, demo_root, tmp_path):
    ids, labels, _ = official_test
    submission(ids, labels).to_csv(tmp_path / "s.csv", index=False)
    result = score(tmp_path / "s.csv", demo_root, tmp_path / "r", "--name", "m", "--trained-on", trained_on)
    assert_one_line_error(result, message)
    assert no_record(tmp_path / "r")


def test_kfold_trained_on_counts_fold_k(demo_index):
    """Scored on official, declared trained on kfold5 fold 1: its train+val lists hold every demo
    image outside its own test fold, so the overlap is the official test images outside that fold."""
    from bench.external.target import Target, declared_fold, overlap

    target = Target(demo_index, get_fold("official", demo_index), "official")
    fold = get_fold("kfold5", target.index, fold=1)
    expected = len(set(target.ids) - set(fold.test))
    assert overlap(declared_fold("kfold5:1", target.index), target).images == expected > 0


def test_labels_only_root_is_enough_on_weng(demo_root, demo_index, tmp_path):
    """No images: the Data_Entry file and the weng lists; the dataset fingerprint is the demo's."""
    root = tmp_path / "labels-only"
    root.mkdir()
    for name in ("Data_Entry_2017_v2020.csv", "DEMO.json"):
        shutil.copy(demo_root / name, root / name)
    shutil.copytree(demo_root / "weng", root / "weng")
    ids = get_fold("weng", demo_index).test
    submission(ids, demo_index.labels(ids)).to_csv(tmp_path / "w.csv", index=False)
    result = bench(
        "score", tmp_path / "w.csv", "--split", "weng", "--data", root, "--results", tmp_path / "r", "--name", "w"
    )
    assert result.exit_code == 0, result.output
    (record,) = RunStore(tmp_path / "r").find()
    assert record.dataset.fingerprint == demo_index.fingerprint and record.split.protocol == "weng"
    assert json.loads(RunStore(tmp_path / "r").record_path(record.run_id).read_text())["kind"] == "external"


@pytest.fixture(scope="module")
def smoke_run(demo_root, tmp_path_factory):
    """One tiny trained run on the demo (the smoke preset, 40 images per list), tested with flip TTA."""
    from bench.train import engine
    from bench.train.options import RunOptions

    results = tmp_path_factory.mktemp("trained")
    options = RunOptions(
        method="chexnet", data=str(demo_root), results=str(results), preset="smoke", limit=40, tta="flip", quiet=True
    )
    return engine.run(options), results


def test_a_trained_runs_exported_predictions_score_to_its_aurocs(smoke_run, demo_root, tmp_path):
    """The run's predictions.parquet as a CSV of prob_ columns, rows and columns shuffled: the
    same per-class AUROCs; and the parquet itself, read as it is."""
    record, results = smoke_run
    assert record.tta == "flip" and record.invocation["tta"] == "flip"
    parquet = RunStore(results).artifact(record, "predictions")
    preds = load_predictions(parquet)
    frame = pd.DataFrame(preds.scores, columns=[f"prob_{x}" for x in LABELS])
    frame.insert(0, "image_id", list(preds.image_ids))
    frame = frame.sample(frac=1, random_state=3)[list(np.random.default_rng(3).permutation(frame.columns))]
    frame.to_csv(tmp_path / "exported.csv", index=False)
    for path in (tmp_path / "exported.csv", parquet):
        out = tmp_path / path.suffix[1:]
        result = score(path, demo_root, out, "--name", "exported", "--allow-partial")
        assert result.exit_code == 0, result.output
        (external,) = RunStore(out).find()
        np.testing.assert_allclose(
            as_array(external.metrics.test.auroc), as_array(record.metrics.test.auroc), rtol=0, atol=1e-12
        )
        assert external.external.coverage.scored == len(preds) == 40
