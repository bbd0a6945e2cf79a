"""The evaluation in the run record: a trained run's validation predictions (its best
checkpoint's, per stage), the record's `evaluation` (a round trip, the version-2 fixture),
`bench runs show`, and external runs' `--val-predictions`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from faults_support import LIMIT, trained_run
from record_factory import minimal_record, synthetic_predictions
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.evaluation import evaluate
from bench.evaluation.runs import Validation, evaluate_predictions, run_evaluation, to_record
from bench.evaluation.subgroups import standard_attributes
from bench.labels import LABELS
from bench.metrics import per_class_auroc
from bench.predictions import Predictions, file_sha256, load_predictions, save_predictions
from bench.records import (
    SCHEMA_VERSION,
    VAL_PREDICTIONS_FILE,
    RecordError,
    RunRecord,
    RunStore,
    ValidationSource,
    as_array,
    stage_val_predictions,
)
from bench.train import engine
from bench.train.checkpoint import RESUME_FILE
from splits import get_fold

runner = CliRunner()
FIXTURE_V2 = Path(__file__).parent / "fixtures" / "results_v2"
RUN_V2 = "20261201-161538-chexnet-backbone-test-resnet-pretrained-imagenet-official-f0-s0-d946"


def bench(*args):
    return runner.invoke(app, [str(a) for a in args])


def without_time(evaluation):
    return dataclasses.replace(evaluation, computed="")


@contextlib.contextmanager
def torch_threads(n: int):
    """CPU scores depend on the thread count (summation order): train and score again alike."""
    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def rescored_val(run_id: str, results: Path) -> np.ndarray:
    with torch_threads(1):
        return engine.rescore(run_id, results=str(results), name="val")


@pytest.fixture(scope="module")
def tiny_run(demo_root, tmp_path_factory):
    """The fault tests' smoke run of the tiny backbone (41 images per list, one thread): read only."""
    results, run_id = trained_run(demo_root, tmp_path_factory)
    return RunStore(results).load(run_id), results


def test_val_predictions_are_the_best_checkpoints_scores(tiny_run):
    record, results = tiny_run
    store = RunStore(results)
    rel = stage_val_predictions(0)
    assert rel == "checkpoints/stage1_best_val.parquet" and record.artifacts.val_predictions == (rel,)
    path = store.run_dir(record.run_id) / rel
    stored = load_predictions(path)
    assert len(stored) == LIMIT
    np.testing.assert_array_equal(stored.scores, rescored_val(record.run_id, results))
    # The test phase's own validation pass gives the record's val AUROCs: the same scores.
    np.testing.assert_array_equal(as_array(record.metrics.val.auroc), per_class_auroc(stored.y_true, stored.scores))
    ev = record.evaluation
    assert ev is not None and ev.n_resamples == 1000 and ev.seed == 0
    assert ev.operating.validation == ValidationSource(rel, file_sha256(path), LIMIT)
    assert [r.rule for r in ev.operating.rules] == ["youden", "f1"]


def test_the_stored_evaluation_is_what_runs_evaluate_computes(tiny_run):
    record, results = tiny_run
    again = run_evaluation(RunStore(results), record).record
    assert without_time(again) == without_time(record.evaluation)


def test_a_resumed_run_rewrites_them_with_its_best_checkpoint(tiny_run, tmp_path):
    record, results = tiny_run
    store = RunStore(tmp_path)
    shutil.copytree(RunStore(results).run_dir(record.run_id), store.run_dir(record.run_id))
    run_dir = store.run_dir(record.run_id)
    # Back to the start of its only epoch (from the weights it ended with), with validation
    # predictions of another model: the epoch's new best checkpoint brings its own.
    resume = torch.load(run_dir / RESUME_FILE, weights_only=True)
    resume["state"] |= {"next_epoch": 0, "done": False, "best_auroc": -1.0, "best_epoch": -1}
    torch.save(resume, run_dir / RESUME_FILE)
    old = load_predictions(run_dir / stage_val_predictions(0))
    save_predictions(
        run_dir / stage_val_predictions(0), Predictions(old.image_ids, old.patient_ids, old.y_true, old.scores * 0)
    )
    store.write(dataclasses.replace(record, status="interrupted", ended=None, evaluation=None))
    with torch_threads(1):
        result = bench("run", "--resume", record.run_id, "--results", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    done = store.load(record.run_id)
    path = run_dir / stage_val_predictions(0)
    np.testing.assert_array_equal(load_predictions(path).scores, rescored_val(record.run_id, tmp_path))
    assert done.evaluation.operating.validation.sha256 == file_sha256(path)


@pytest.fixture(scope="module")
def synthetic_evaluation():
    """An evaluation of synthetic probabilities on 80 patients (3 images each), with attributes
    and validation predictions: bench.evaluation's result and the record's form."""
    test = synthetic_predictions(0, 80, 1.5, 0)
    val = synthetic_predictions(500, 40, 1.5, 1)
    probs = lambda p: 1 / (1 + np.exp(-p.scores))  # noqa: E731
    n = len(test)
    attributes = standard_attributes(
        np.where(np.arange(n) % 3 == 0, "AP", "PA"),
        np.where(test.patient_ids % 2 == 0, "F", "M"),
        (test.patient_ids * 7) % 90,
    )
    result = evaluate(
        test.y_true,
        probs(test),
        test.patient_ids,
        attributes=attributes,
        val_labels=val.y_true,
        val_scores=probs(val),
        n_resamples=20,
    )
    source = ValidationSource("val.parquet", "0" * 64, len(val))
    return result, to_record(result, validation=source, n_resamples=20, level=0.95, seed=0)


def test_a_record_with_an_evaluation_round_trips_and_keeps_the_values(synthetic_evaluation):
    result, stored = synthetic_evaluation
    record = minimal_record(evaluation=stored)
    text = json.dumps(record.to_json(), allow_nan=False)
    assert RunRecord.from_json(json.loads(text)) == record
    sex = result.subgroups.attributes[1]
    stored_sex = stored.subgroups.attributes[1]
    assert stored_sex.attribute == sex.attribute == "sex"
    for group, kept in zip(sex.subgroups, stored_sex.subgroups):
        assert kept.mean.value == group.mean.value and kept.mean.n_classes == group.mean.n_classes
        assert kept.auroc.lo == {k: e.lo for k, e in group.auroc.items()}
        assert kept.tpr.value == {k: e.value for k, e in group.tpr.items()}
    assert stored_sex.mean_gap.value == sex.mean_gap.value
    assert stored.calibration.ece.value == {k: c.ece.value for k, c in result.calibration.per_class.items()}
    assert stored.calibration.mean_brier.value == result.calibration.mean_brier.value
    youden = stored.operating.rules[0]
    np.testing.assert_array_equal(as_array(youden.threshold), result.operating.thresholds("youden"))
    assert youden.means["f1"].value == result.operating.rules[0].f1.value
    assert stored.subgroups.thresholds == result.subgroups.thresholds


def test_an_ill_typed_evaluation_names_its_field(synthetic_evaluation):
    _, stored = synthetic_evaluation
    data = minimal_record(evaluation=stored).to_json()
    data["evaluation"]["operating"]["rules"][0]["rule"] = "best"
    with pytest.raises(RecordError, match=r"field 'evaluation\.operating\.rules\[0\]\.rule' is 'best'"):
        RunRecord.from_json(data, source="r.json")


def test_runs_show_prints_the_evaluation_compactly(tiny_run):
    record, results = tiny_run
    shown = runner.invoke(app, ["runs", "show", record.run_id, "--results", str(results)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    ev = record.evaluation
    assert "Evaluation (means over classes)" in shown.output
    for a in ev.subgroups.attributes:
        line = next(x for x in shown.output.splitlines() if f"AUROC by {a.attribute}" in x)
        for g in a.subgroups:
            assert f"{g.name} {g.mean.text()}" in line
    c = ev.calibration
    assert f"mean ECE {c.mean_ece.value:.4f} [{c.mean_ece.lo:.4f}, {c.mean_ece.hi:.4f}]" in shown.output
    youden = next(x for x in shown.output.splitlines() if "Youden's J" in x)
    assert f"sensitivity {ev.operating.rules[0].means['sensitivity'].text()}" in youden
    assert f"thresholds chosen on  {stage_val_predictions(0)} ({LIMIT} images" in shown.output


@pytest.fixture
def v2_results(tmp_path):
    shutil.copytree(FIXTURE_V2, tmp_path / "results")
    return tmp_path / "results"


def test_a_version_2_run_loads_without_an_evaluation_and_says_how_to_compute_it(v2_results):
    path = v2_results / "runs" / RUN_V2 / "record.json"
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 2 and "evaluation" not in raw and "val_predictions" not in raw["artifacts"]
    record = RunStore(v2_results).load(RUN_V2)
    assert record.schema_version == SCHEMA_VERSION == 4
    assert record.evaluation is None and record.artifacts.val_predictions == ()
    assert record.metrics.test.mean == raw["metrics"]["test"]["mean"]
    shown = bench("runs", "show", RUN_V2, "--results", v2_results)
    assert shown.exit_code == 0, shown.output
    assert f"evaluation: none stored (compute it with: bench runs evaluate {RUN_V2} --save)" in shown.output
    assert json.loads(path.read_text()) == raw  # upgraded in memory only


def test_runs_evaluate_save_stores_the_evaluation_of_a_version_2_run(v2_results, demo_root):
    args = ["runs", "evaluate", RUN_V2, "--results", v2_results, "--data", demo_root, "--resamples", "100"]
    result = bench(*args, "--save")
    assert result.exit_code == 0, result.output
    store = RunStore(v2_results)
    raw = json.loads(store.record_path(RUN_V2).read_text())
    assert raw["schema_version"] == 4 and raw["evaluation"]["n_resamples"] == 100
    saved = store.load(RUN_V2).evaluation
    again = run_evaluation(store, store.load(RUN_V2), data=demo_root, n_resamples=100).record
    assert without_time(saved) == without_time(again)
    assert saved.operating is None
    assert saved.notes == ("operating points: no validation predictions to choose thresholds on",)
    shown = bench("runs", "show", RUN_V2, "--results", v2_results)
    assert "AUROC by sex" in shown.output and "note: operating points: no validation predictions" in shown.output


@pytest.fixture(scope="module")
def official(demo_index):
    return get_fold("official", demo_index)


def write_scores(folder: Path, demo_index, fold) -> tuple[Path, Path]:
    """A CSV of probability scores for 120 images of the official test list (scored with
    --allow-partial, to keep the test short), and validation predictions on its val list."""
    import pandas as pd

    rng = np.random.default_rng(0)
    ids = fold.test[:120]
    labels = demo_index.labels(ids)
    frame = pd.DataFrame(np.clip(0.35 * labels + 0.65 * rng.random(labels.shape), 0, 1), columns=list(LABELS))
    frame.insert(0, "Image Index", list(ids))
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "scores.csv", index=False)
    val_labels = demo_index.labels(fold.val)
    val = Predictions(
        tuple(fold.val),
        demo_index.patients(fold.val),
        val_labels,
        np.clip(0.35 * val_labels + 0.65 * rng.random(val_labels.shape), 0, 1),
    )
    return folder / "scores.csv", save_predictions(folder / "val.parquet", val)


def score_args(scores, demo_root, results) -> list:
    """`bench score` of `scores` on the demo's official split, into `results`."""
    return ["score", scores, "--split", "official", "--data", demo_root, "--results", results, "--allow-partial", "-q"]


def test_bench_score_keeps_its_val_predictions_and_evaluates_with_them(demo_root, demo_index, official, tmp_path):
    scores, val = write_scores(tmp_path, demo_index, official)
    results = tmp_path / "results"
    common = score_args(scores, demo_root, results)
    result = bench(*common, "--name", "with-val", "--val-predictions", val)
    assert result.exit_code == 0, result.output
    assert "Evaluation (means over classes)" in result.output and "Youden's J" in result.output
    (record,) = RunStore(results).find()
    kept = RunStore(results).run_dir(record.run_id) / VAL_PREDICTIONS_FILE
    assert kept.read_bytes() == val.read_bytes()
    assert record.artifacts.val_predictions == (VAL_PREDICTIONS_FILE,)
    ev = record.evaluation
    assert ev.operating.validation == ValidationSource(VAL_PREDICTIONS_FILE, file_sha256(val), len(official.val))
    assert ev.calibration is not None and ev.notes == ()
    assert without_time(run_evaluation(RunStore(results), record).record) == without_time(ev)


def test_bench_score_refuses_val_predictions_on_test_images_before_writing(demo_root, demo_index, official, tmp_path):
    scores, _ = write_scores(tmp_path, demo_index, official)
    results = tmp_path / "results"
    common = score_args(scores, demo_root, results)
    test_preds = Predictions(
        tuple(official.test[:20]),
        demo_index.patients(official.test[:20]),
        demo_index.labels(official.test[:20]),
        np.full((20, len(LABELS)), 0.5),
    )
    bad = save_predictions(tmp_path / "bad.parquet", test_preds)
    result = bench(*common, "--name", "bad", "--val-predictions", bad)
    assert result.exit_code == 2 and "shares images with the test list" in result.output
    assert "Traceback" not in result.output and not RunStore(results).run_ids()
    wrong = Predictions(
        tuple(official.val[:20]),
        demo_index.patients(official.val[:20]),
        1 - demo_index.labels(official.val[:20]),
        np.full((20, len(LABELS)), 0.5),
    )
    result = bench(*common, "--name", "bad", "--val-predictions", save_predictions(tmp_path / "wrong.parquet", wrong))
    assert result.exit_code == 2 and "differ from the dataset index's" in result.output
    assert not RunStore(results).run_ids()


def test_validation_sharing_test_images_is_a_note_only_where_the_split_allows_leakage(demo_index):
    store = RunStore(FIXTURE_V2)
    test = load_predictions(store.artifact(store.load(RUN_V2), "predictions"))
    leaky = Validation(test.reindex(test.image_ids[:30]), ValidationSource("val.parquet", "0" * 64, 30))
    result = evaluate_predictions(test, demo_index, leaky, n_resamples=10, leaked=True)
    assert result.record.operating is None
    assert result.record.notes == (
        "operating points: val.parquet shares 30 images with the test list (the split allows leakage),"
        " so no thresholds are chosen on it",
    )
    with pytest.raises(BenchError, match="val.parquet shares images with the test list"):
        evaluate_predictions(test, demo_index, leaky, n_resamples=10)
