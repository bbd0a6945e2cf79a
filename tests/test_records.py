"""Run records: schema round trip, validation errors, atomic writes, the store."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import subprocess
from datetime import datetime, timezone

import pytest
from record_factory import ENV, complete_run, minimal_record

from bench.errors import BenchError
from bench.labels import LABELS
from bench.records import (
    SCHEMA_VERSION,
    FutureSchemaError,
    RecordError,
    RunRecord,
    RunStore,
    environment_info,
    new_run_id,
    per_class,
    read_record,
)


def _raw(store: RunStore, record: RunRecord) -> dict:
    return json.loads(store.record_path(record.run_id).read_text())


def test_minimal_record_round_trips(tmp_path):
    store = RunStore(tmp_path)
    record = minimal_record()
    path = store.write(record)
    assert path == tmp_path / "runs" / record.run_id / "record.json"
    data = json.loads(path.read_text())
    assert (
        list(data)[0] == "schema_version"
        and data["schema_version"] == SCHEMA_VERSION == 4
        and data["kind"] == "trained"
    )
    assert data["ended"] is None and data["metrics"] == {"val": None, "test": None}
    assert store.load(record.run_id) == record


def test_full_record_round_trips(tmp_path):
    store = RunStore(tmp_path)
    record = complete_run(store, "wfocal-effb3")
    loaded = store.load(record.run_id)
    assert loaded == record
    assert loaded.metrics.test.auroc["Hernia"] == record.metrics.test.auroc["Hernia"]
    assert list(loaded.metrics.test.auroc) == list(LABELS)
    assert loaded.stages[0].train_images_per_s == 40.0 and isinstance(loaded.stages, tuple)
    assert RunRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


def test_per_class_turns_nan_into_none():
    values = per_class([0.5] * 13 + [float("nan")])
    assert values["Hernia"] is None and values["Atelectasis"] == 0.5
    with pytest.raises(ValueError, match="expected 14"):
        per_class([0.5] * 13)


def test_non_finite_values_are_written_as_null(tmp_path):
    from bench.records import EpochRecord

    epoch = EpochRecord(0, 0, float("nan"), None, None, per_class([0.5] * 14), 1e-3, 1.0)
    store = RunStore(tmp_path)
    record = minimal_record(history=(epoch,), invocation={"path": tmp_path, "sizes": (1, 2)})
    store.write(record)
    data = _raw(store, record)
    assert data["history"][0]["train_loss"] is None
    assert data["invocation"] == {"path": str(tmp_path), "sizes": [1, 2]}
    assert store.load(record.run_id).history[0].train_loss is None


def test_finished_sets_end_and_one_line_error():
    done = minimal_record().finished("failed", error="CUDA out of memory\n  at line 3")
    assert done.status == "failed" and done.error == "CUDA out of memory at line 3"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", done.ended)


def test_run_id_is_sortable_and_safe():
    t = datetime(2026, 11, 25, 18, 15, 0, tzinfo=timezone.utc)
    rid = new_run_id("wfocal-effb3", "official", 0, 0, now=t)
    assert re.fullmatch(r"20261125-181500-wfocal-effb3-official-f0-s0-[0-9a-f]{4}", rid)
    later = new_run_id("a", "official", 0, 0, now=t.replace(minute=16))
    assert sorted([later, rid]) == [rid, later]
    odd = new_run_id("wfocal-effb3[loss.beta=0.99998]", "custom:/data/My Split.csv", 2, 7, now=t)
    assert re.fullmatch(
        r"20261125-181500-wfocal-effb3-loss.beta-0.99998-custom-data-my-split.csv-f2-s7-[0-9a-f]{4}", odd
    )


def test_missing_field_is_named(tmp_path):
    store = RunStore(tmp_path)
    record = minimal_record()
    store.write(record)
    data = _raw(store, record)
    del data["split"]["fingerprint"]
    store.record_path(record.run_id).write_text(json.dumps(data))
    with pytest.raises(RecordError, match=r"record\.json: field 'split\.fingerprint' is missing"):
        store.load(record.run_id)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("seed",), "0", r"field 'seed' should be an integer, got str"),
        (("split", "allow_leakage"), 1, r"field 'split\.allow_leakage' should be true or false"),
        (("stages",), [{"index": 0}], r"field 'stages\[0\]\.image_size' is missing"),
        (("status",), "done", r"field 'status' is 'done', not one of running, complete, failed, interrupted"),
        (("dataset", "kind"), "chexpert", r"field 'dataset\.kind' is 'chexpert', not one of demo, nih"),
        (("kind",), "borrowed", r"field 'kind' is 'borrowed', not one of trained, external"),
        (("seed",), True, r"field 'seed' should be an integer, got bool True"),
        (
            ("stages",),
            [{"index": 0, "image_size": 64, "batch_size": 8, "epochs_planed": 1}],
            r"unknown field 'stages\[0\]\.epochs_planed' \(did you mean 'epochs_planned'\?\)",
        ),
        (("schema_version",), "1", r"field 'schema_version' should be an integer"),
        (("surprise",), 1, r"unknown field 'surprise'"),
    ],
)
def test_ill_typed_fields_are_refused(tmp_path, path, value, message):
    data = minimal_record().to_json()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(RecordError, match=message):
        RunRecord.from_json(data, source="x/record.json")


def test_per_class_keys_must_be_the_labels():
    data = minimal_record().to_json()
    data["positives"] = {"train": {"Atelectasis": 1}, "val": {}, "test": {}}
    with pytest.raises(
        RecordError, match=r"r: field 'positives\.train' must have one value per label \(missing \['Cardiomegaly'"
    ):
        RunRecord.from_json(data, source="r")


def test_future_schema_is_a_distinct_error(tmp_path):
    data = minimal_record().to_json() | {"schema_version": SCHEMA_VERSION + 1, "new_field": {}}
    with pytest.raises(FutureSchemaError, match=f"schema_version {SCHEMA_VERSION + 1} is newer.*upgrade cxr-bench"):
        RunRecord.from_json(data, source="r")


def test_atomic_write_survives_a_crash(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    record = minimal_record()
    store.write(record)
    before = store.record_path(record.run_id).read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        store.write(record.finished("complete"))
    # The old record is intact, and no temporary file is left beside it.
    assert store.record_path(record.run_id).read_bytes() == before
    assert [p.name for p in store.run_dir(record.run_id).iterdir()] == ["record.json"]
    # A crash on the very first write leaves no record at all (nothing that looks complete).
    other = minimal_record("20261125-180000-m-official-f0-s0-beef")
    with pytest.raises(OSError):
        store.write(other)
    assert list(store.run_dir(other.run_id).iterdir()) == []


def test_scan_returns_what_it_cannot_read_and_prints_nothing(tmp_path, capsys):
    store = RunStore(tmp_path)
    good = minimal_record("20261125-180000-m-official-f0-s0-0001")
    store.write(good)
    truncated = store.runs_dir / "20261125-180100-m-official-f0-s0-0002" / "record.json"
    truncated.parent.mkdir()
    truncated.write_text(json.dumps(good.to_json())[:100])
    future = store.runs_dir / "20261125-180200-m-official-f0-s0-0003" / "record.json"
    future.parent.mkdir()
    future.write_text(json.dumps(good.to_json() | {"schema_version": 99}))
    empty = store.runs_dir / "20261125-180300-m-official-f0-s0-0004"
    empty.mkdir()

    scan = store.scan()
    assert [r.run_id for r in scan.records] == [good.run_id]
    assert [r.run_id for r in store.find()] == [good.run_id]
    assert capsys.readouterr().err == ""
    assert len(scan.problems) == 3
    assert scan.problems[0].startswith(f"skipping {truncated}: not a readable JSON record")
    assert scan.problems[1].startswith(f"skipping {future}: schema_version 99 is newer")
    assert scan.problems[2].startswith(f"skipping {empty}: no record.json")


def test_find_filters_and_refuses_unknown_status(tmp_path):
    store = RunStore(tmp_path)
    a = minimal_record("20261125-180000-a-official-f0-s0-0001")
    b = minimal_record(
        "20261125-180100-b-weng-f0-s0-0002",
        method=dataclasses.replace(a.method, name="b", display_name="b[x=1]"),
        split=dataclasses.replace(a.split, protocol="weng"),
    ).finished("complete")
    store.write(a)
    store.write(b)
    assert [r.run_id for r in store.find(split="weng")] == [b.run_id]
    assert [r.run_id for r in store.find(method="b")] == [b.run_id]
    assert [r.run_id for r in store.find(method="b[x=1]", status="complete")] == [b.run_id]
    assert [r.run_id for r in store.find(status="running")] == [a.run_id]
    with pytest.raises(BenchError, match="unknown status 'done'"):
        store.find(status="done")


def test_load_by_prefix_and_unknown_id(tmp_path):
    store = RunStore(tmp_path)
    record = minimal_record()
    store.write(record)
    assert store.load(record.run_id[:20]) == record
    with pytest.raises(BenchError, match="no run 'nope'.*bench runs list"):
        store.load("nope")
    with pytest.raises(RecordError, match="no such record"):
        read_record(tmp_path / "missing.json")


def test_create_writes_a_running_record(tmp_path):
    store = RunStore(tmp_path)
    base = minimal_record()
    record = store.create(
        method=base.method,
        split=base.split,
        dataset=base.dataset,
        seed=3,
        preset="smoke",
        device="cpu",
        environment=ENV,
    )
    assert record.status == "running" and record.ended is None and record.seed == 3
    assert re.search(r"-m-official-f0-s3-[0-9a-f]{4}$", record.run_id)
    assert store.load(record.run_id) == record
    with pytest.raises(BenchError, match="already exists"):
        store.create(
            method=base.method,
            split=base.split,
            dataset=base.dataset,
            seed=3,
            preset="smoke",
            device="cpu",
            environment=ENV,
            run_id=record.run_id,
        )
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BenchError, match="cannot create a run directory"):
        RunStore(blocker).create(
            method=base.method,
            split=base.split,
            dataset=base.dataset,
            seed=0,
            preset="smoke",
            device="cpu",
            environment=ENV,
        )


def test_from_objects_helpers():
    from bench.records import DatasetInfo, MethodInfo, SplitInfo

    @dataclasses.dataclass(frozen=True)
    class Spec:
        name: str
        stages: tuple

    info = MethodInfo.from_spec(Spec("m", ((224, 16),)), display_name="m[x=1]", overrides={"x": 1})
    assert info.spec == {"name": "m", "stages": [[224, 16]]} and info.display_name == "m[x=1]"

    class Fold:
        protocol, version, fold, n_folds, seed, fingerprint, params = "kfold5", 1, 2, 5, 0, "ab" * 32, {"v": 0.1}

    assert SplitInfo.from_fold(Fold(), allow_leakage=True) == SplitInfo(
        "kfold5", 1, 2, 5, 0, "ab" * 32, {"v": 0.1}, True
    )

    class Index:
        kind, root, labels_file, labels_version, fingerprint = "nih", "/d", "x.csv", "2017", "f"

    assert DatasetInfo.from_index(Index()) == DatasetInfo("nih", "/d", "x.csv", "2017", "f")


def test_environment_info_and_git_fallback(monkeypatch):
    env = environment_info()
    assert env.python == platform.python_version() and env.torch is not None
    assert env.gpu == "cpu" or env.cuda is not None
    assert env.git_commit is None or re.fullmatch(r"[0-9a-f]{40}", env.git_commit)

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    env = environment_info()
    assert env.git_commit is None and env.git_dirty is None


def test_runs_cli_list_and_show(tmp_path):
    from typer.testing import CliRunner

    from bench.cli import app

    store = RunStore(tmp_path)
    running = minimal_record("20261125-180000-m-official-f0-s0-0001")
    failed = minimal_record("20261125-180100-m-weng-f0-s0-0002").finished("failed", error="out of memory")
    store.write(running)
    store.write(failed)
    runner = CliRunner()
    result = runner.invoke(app, ["runs", "list", "--results", str(tmp_path), "--status", "failed"])
    assert result.exit_code == 0, result.output
    assert "failed" in result.stdout and "running" not in result.stdout
    result = runner.invoke(app, ["runs", "list", "--results", str(tmp_path), "--split", "kfold5"])
    assert result.exit_code == 0 and "no runs match" in result.output
    result = runner.invoke(app, ["runs", "show", "0002", "--results", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["error"] == "out of memory"
    result = runner.invoke(app, ["runs", "show", running.run_id, "--results", str(tmp_path)])
    assert result.exit_code == 0 and "running" in result.stdout and "official@1 fold 0 of 1" in result.stdout
    result = runner.invoke(app, ["runs", "show", "zzz", "--results", str(tmp_path)])
    assert result.exit_code == 2 and "no run 'zzz'" in result.output and "Traceback" not in result.output
