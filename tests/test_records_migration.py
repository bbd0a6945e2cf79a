"""Records of versions 1 to 3 (written by cxr-bench before schema versions 2, 3 and 4) still
load, upgraded in memory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from record_factory import minimal_record
from typer.testing import CliRunner

from bench.cli import app
from bench.records import SCHEMA_VERSION, LocalizationRecord, RecordError, RunRecord, RunStore
from bench.records.migrations import upgrade
from leaderboard.render import JSON_SCHEMA_VERSION

FIXTURE = Path(__file__).parent / "fixtures" / "results_v1"
RUN_ID = "20261201-105856-chexnet-official-f0-s0-e82d"
LOCALIZATION_V1 = {
    "format": 1,
    "computed": "2026-11-25T18:15:00Z",
    "cam": "cam",
    "layer": "forward_features",
    "checkpoint": "checkpoints/stage1_best.pt",
    "image_size": 64,
    "box_level": 0.70588,
    "thresholds": [0.1, 0.25, 0.5, 0.75],
    "images": "test",
    "n_images": 3,
    "classes": {
        "Cardiomegaly": {
            "n_boxes": 2,
            "n_images": 2,
            "iou": {"0.1": 1.0, "0.25": 0.5, "0.5": 0.0, "0.75": 0.0},
            "iobb": {"0.1": 1.0, "0.25": 1.0, "0.5": 0.5, "0.75": 0.0},
            "pointing": 0.5,
            "mean_iou": 0.3,
            "mean_iobb": 0.6,
        }
    },
}


@pytest.fixture
def v1_results(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "results")
    return tmp_path / "results"


def test_the_fixture_is_a_version_1_record_and_loads_as_the_current_version(v1_results):
    path = v1_results / "runs" / RUN_ID / "record.json"
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 1 and "kind" not in raw
    record = RunStore(v1_results).load(RUN_ID)
    assert record.schema_version == SCHEMA_VERSION == 4 and record.kind == "trained"
    assert record.evaluation is None and record.artifacts.val_predictions == ()
    assert record.status == "complete" and record.metrics.test is not None
    assert record.metrics.test.mean == pytest.approx(raw["metrics"]["test"]["mean"], abs=0)
    assert json.loads(path.read_text()) == raw  # upgraded in memory only


def test_a_version_1_run_renders_in_runs_show_and_the_leaderboard(v1_results):
    runner = CliRunner()
    shown = runner.invoke(app, ["runs", "show", RUN_ID, "--results", str(v1_results)])
    assert shown.exit_code == 0, shown.output
    assert "chexnet" in shown.stdout and "complete" in shown.stdout
    board = runner.invoke(app, ["leaderboard", "--results", str(v1_results), "--format", "json", "--out", "-"])
    assert board.exit_code == 0, board.output
    data = json.loads(board.stdout)
    assert data["schema_version"] == JSON_SCHEMA_VERSION
    (column,) = data["tables"][0]["columns"]
    assert column["runs"] == [RUN_ID]
    test = RunStore(v1_results).load(RUN_ID).metrics.test
    assert column["auroc"] == {**test.auroc, "Average": test.mean}


def test_version_1_localization_becomes_typed():
    data = minimal_record().to_json() | {"schema_version": 1, "localization": LOCALIZATION_V1}
    del data["kind"]
    record = RunRecord.from_json(data, source="old.json")
    loc = record.localization
    assert isinstance(loc, LocalizationRecord) and loc.thresholds == (0.1, 0.25, 0.5, 0.75)
    assert loc.classes["Cardiomegaly"].iobb["0.5"] == 0.5 and loc.classes["Cardiomegaly"].pointing == 0.5
    # A round trip writes the current version without the old format key.
    again = record.to_json()
    assert again["schema_version"] == 4 and "format" not in again["localization"]
    assert RunRecord.from_json(again) == record


def test_a_version_1_localization_in_an_unknown_layout_is_dropped():
    data = minimal_record().to_json() | {"schema_version": 1, "localization": {"format": 7, "scores": [1, 2]}}
    del data["kind"]
    assert RunRecord.from_json(data).localization is None


def test_a_current_record_is_validated_strictly():
    data = minimal_record().to_json() | {"localization": {**LOCALIZATION_V1}}
    with pytest.raises(RecordError, match=r"unknown field 'localization\.format'"):
        RunRecord.from_json(data, source="new.json")


def test_a_version_3_trained_run_says_it_took_onednns_depthwise_gradients():
    invocation = {"method": "wfocal-effb3", "seed": 0}
    data = minimal_record().to_json() | {"schema_version": 3, "invocation": invocation}
    record = RunRecord.from_json(data)
    assert record.invocation == {"onednn_depthwise": True, **invocation}
    assert data["invocation"] == invocation  # the parsed JSON is not changed in place
    # A resume of it keeps oneDNN's kernels: the options it decodes to say so.
    from bench.train.options import RunOptions

    assert RunOptions.from_json(record.invocation).onednn_depthwise is True
    # Records with nothing to resume are only renumbered.
    empty = RunRecord.from_json(data | {"invocation": {}})
    external = upgrade(data | {"kind": "external", "invocation": {"predictions": "p.csv"}}, "r.json")
    assert empty.invocation == {} and external["invocation"] == {"predictions": "p.csv"}
    # A version-4 record is taken as written.
    current = RunRecord.from_json(data | {"schema_version": 4})
    assert current.invocation == invocation and current.to_json()["schema_version"] == SCHEMA_VERSION == 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a JSON object, got list"),
        ({}, "field 'schema_version' is missing"),
        ({"schema_version": 0}, "schema_version 0 is not a valid version"),
        ({"schema_version": True}, "field 'schema_version' should be an integer"),
    ],
)
def test_upgrade_refuses_impossible_versions(data, message):
    with pytest.raises(RecordError, match=message):
        upgrade(data, "r.json")
