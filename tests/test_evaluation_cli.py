"""`bench runs evaluate`: one synthetic run's stored predictions and a small dataset index (no training)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from record_factory import complete_run, synthetic_predictions
from typer.testing import CliRunner

from bench.cli import app
from bench.data.nih import load_index
from bench.evaluation.operating import choose_thresholds
from bench.evaluation.runs import index_attributes, run_evaluation
from bench.labels import LABELS
from bench.metrics import per_class_auroc
from bench.predictions import Predictions, load_predictions, save_predictions
from bench.records import DatasetInfo, RunStore

runner = CliRunner()
HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)


def attributes_of(image_id: str) -> tuple[int, str, str]:
    """Age, sex and view of a synthetic image: sex by patient, view by follow-up, age spread over the bands."""
    patient, follow_up = (int(part) for part in image_id.removesuffix(".png").split("_"))
    return 10 + (patient * 7) % 85, "M" if patient % 2 else "F", "AP" if follow_up == 1 else "PA"


def write_index(root, predictions: list[Predictions]):
    lines = [HEADER]
    for preds in predictions:
        for image_id, patient, y in zip(preds.image_ids, preds.patient_ids, preds.y_true):
            findings = "|".join(name for name, v in zip(LABELS, y) if v) or "No Finding"
            age, sex, view = attributes_of(image_id)
            follow_up = int(image_id.removesuffix(".png").split("_")[1])
            lines.append(f"{image_id},{findings},{follow_up},{patient},{age},{sex},{view},1024,1024,0.143,0.143")
    root.mkdir(parents=True, exist_ok=True)
    (root / "Data_Entry_2017_v2020.csv").write_text("\n".join(lines) + "\n")
    return load_index(root, check_images=False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Two runs on one index: `logits` (scores strength*y + noise) and `probs` (their sigmoid);
    validation predictions on other images."""
    tmp = tmp_path_factory.mktemp("evaluate")
    store = RunStore(tmp / "results")
    logits = complete_run(store, "logit-net", strength=1.5, n_patients=80, ci=False)
    probs = complete_run(store, "prob-net", strength=1.5, n_patients=80, minutes=1, model_seed=1, ci=False)
    path = store.artifact(probs, "predictions")
    p = load_predictions(path)
    save_predictions(path, Predictions(p.image_ids, p.patient_ids, p.y_true, 1 / (1 + np.exp(-p.scores))))
    val = synthetic_predictions(500, 40, 1.5, 7)
    val = Predictions(val.image_ids, val.patient_ids, val.y_true, 1 / (1 + np.exp(-val.scores)))
    save_predictions(tmp / "val.parquet", val)
    index = write_index(tmp / "data", [load_predictions(path), val])
    info = DatasetInfo("nih", str(tmp / "data"), index.labels_file, index.labels_version, index.fingerprint)
    for r in (logits, probs):
        store.write(dataclasses.replace(r, dataset=info))
    return tmp, store, store.load(logits.run_id), store.load(probs.run_id)


def test_subgroup_auroc_is_the_auroc_of_the_subset(setup):
    tmp, store, logits, _ = setup
    result = run_evaluation(store, logits, n_resamples=50).evaluation
    preds = load_predictions(store.artifact(logits, "predictions"))
    women = np.array([attributes_of(i)[1] == "F" for i in preds.image_ids])
    expected = per_class_auroc(preds.y_true[women], preds.scores[women])
    (sex,) = (a for a in result.subgroups.attributes if a.attribute == "sex")
    (female,) = (s for s in sex.subgroups if s.name == "F")
    assert female.n_images == women.sum() == 120  # 40 of the 80 patients, 3 images each
    for k, name in enumerate(LABELS):
        if female.positives[name] >= 10 and women.sum() - female.positives[name] >= 10:
            assert female.auroc[name].value == pytest.approx(expected[k])
        else:
            assert female.auroc[name].value is None
    assert [a.attribute for a in result.subgroups.attributes] == ["view", "sex", "age"]
    assert result.calibration is None  # logits
    assert result.operating is None
    assert any(n.startswith("calibration: scores are not probabilities") for n in result.notes)


def test_attributes_follow_the_predictions_order(setup):
    tmp, _, _, _ = setup
    index = load_index(tmp / "data", check_images=False)
    attrs = index_attributes(index, ["00000003_001.png", "00000002_000.png"])
    assert list(attrs["view"]) == ["AP", "PA"]
    assert list(attrs["sex"]) == ["M", "F"]
    assert list(attrs["age"]) == ["20-39", "20-39"]  # ages 31 and 24


def test_cli_renders_the_tables_and_notes(setup):
    tmp, store, logits, _ = setup
    args = ["runs", "evaluate", logits.run_id[:22], "--results", str(tmp / "results"), "--no-ci", "--resamples", "50"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    for title in ("AUROC by view", "AUROC by sex", "AUROC by age", "PA (n=160)", "AP (n=80)"):
        assert title in res.output
    assert "calibration: scores are not probabilities" in res.output
    assert "operating points: no validation predictions" in res.output
    assert "Calibration" not in res.output


def test_cli_calibration_operating_points_and_plot(setup):
    tmp, store, _, probs = setup
    args = ["runs", "evaluate", probs.run_id, "--results", str(tmp / "results"), "--no-ci", "--resamples", "100"]
    res = runner.invoke(app, [*args, "--val-predictions", str(tmp / "val.parquet"), "--plots", str(tmp / "figs")])
    assert res.exit_code == 0, res.output
    assert "Calibration" in res.output and "Operating points: Youden's J" in res.output
    png = tmp / "figs" / f"{probs.run_id}-reliability.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_operating_points_are_chosen_on_the_validation_predictions(setup):
    tmp, store, _, probs = setup
    val = load_predictions(tmp / "val.parquet")
    result = run_evaluation(store, probs, val_predictions=tmp / "val.parquet", n_resamples=20).evaluation
    youden = result.operating.thresholds("youden")
    np.testing.assert_allclose(youden, choose_thresholds(val.y_true, val.scores, "youden"))
    assert result.subgroups.thresholds["Atelectasis"] == pytest.approx(youden[0])


def test_errors_are_one_line(setup):
    tmp, store, logits, _ = setup
    results = ["--results", str(tmp / "results")]
    res = runner.invoke(app, ["runs", "evaluate", logits.run_id, *results, "--data", str(tmp / "nowhere")])
    assert res.exit_code == 2 and "is not there" in res.output and "Traceback" not in res.output
    other = tmp / "other"
    write_index(other, [synthetic_predictions(0, 5, 1.0, 0)])
    res = runner.invoke(app, ["runs", "evaluate", logits.run_id, *results, "--data", str(other)])
    assert res.exit_code == 2 and "is not the one run" in res.output
    test_file = store.artifact(logits, "predictions")
    res = runner.invoke(app, ["runs", "evaluate", logits.run_id, *results, "--val-predictions", str(test_file)])
    assert res.exit_code == 2 and "shares images" in res.output


def test_unwritable_plots_folder_is_one_line(setup):
    tmp, _, _, probs = setup
    blocker = tmp / "a-file"
    blocker.write_text("not a folder")
    res = runner.invoke(
        app,
        [
            "runs",
            "evaluate",
            probs.run_id,
            "--results",
            str(tmp / "results"),
            "--resamples",
            "50",
            "--plots",
            str(blocker / "figs"),
        ],
    )
    assert res.exit_code == 2 and "cannot write" in res.output and "--plots" in res.output
    assert "Calibration" in res.output  # the tables were printed before the plot failed
    res = runner.invoke(app, ["runs", "evaluate", probs.run_id, "--results", str(tmp / "results"), "--resamples", "0"])
    assert res.exit_code == 2 and "--resamples" in res.output


def test_json_decodes_to_the_evaluation(setup):
    import json

    from bench.evaluation import Evaluation
    from bench.schema import decode

    tmp, store, logits, _ = setup
    args = ["runs", "evaluate", logits.run_id, "--results", str(tmp / "results"), "--resamples", "30", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["run_id"] == logits.run_id
    assert (
        decode(Evaluation, data["evaluation"], source="json")
        == run_evaluation(store, logits, n_resamples=30).evaluation
    )


def test_save_stores_the_evaluation_and_a_second_load_reads_the_same(setup, tmp_path):
    import shutil

    from bench.evaluation.runs import run_evaluation
    from bench.predictions import file_sha256

    tmp, store, _, probs = setup
    copy = RunStore(tmp_path / "results")
    shutil.copytree(store.run_dir(probs.run_id), copy.run_dir(probs.run_id))
    val = tmp / "val.parquet"
    args = ["runs", "evaluate", probs.run_id, "--results", str(tmp_path / "results"), "--resamples", "20"]
    res = runner.invoke(app, [*args, "--val-predictions", str(val), "--save"])
    assert res.exit_code == 0, res.output
    assert "stored the evaluation in" in res.output
    saved = copy.load(probs.run_id).evaluation
    assert saved.n_resamples == 20 and saved.notes == ()
    assert saved.operating.validation.file == str(val) and saved.operating.validation.sha256 == file_sha256(val)
    again = run_evaluation(copy, copy.load(probs.run_id), val_predictions=val, n_resamples=20).record
    assert dataclasses.replace(again, computed=saved.computed) == saved
    (sex,) = (a for a in saved.subgroups.attributes if a.attribute == "sex")
    (female,) = (g for g in sex.subgroups if g.name == "F")
    assert female.n_images == 120
    # Everything else in the record is as it was.
    assert dataclasses.replace(copy.load(probs.run_id), evaluation=None) == probs


def test_save_of_a_run_without_predictions_or_dataset_is_one_line_and_writes_nothing(setup, tmp_path):
    from record_factory import minimal_record

    tmp, store, logits, _ = setup
    results = tmp_path / "results"
    running = RunStore(results)
    running.write(minimal_record())
    before = running.record_path(minimal_record().run_id).read_bytes()
    res = runner.invoke(app, ["runs", "evaluate", minimal_record().run_id, "--results", str(results), "--save"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    (line,) = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert "has no predictions file recorded" in line and "finish it, or score it with `bench score`" in line
    assert running.record_path(minimal_record().run_id).read_bytes() == before
    args = ["runs", "evaluate", logits.run_id, "--results", str(tmp / "results"), "--save"]
    res = runner.invoke(app, [*args, "--data", str(tmp / "nowhere")])
    assert res.exit_code == 2 and "is not there" in res.output and "pass --data" in res.output
    assert store.load(logits.run_id).evaluation is None
