"""`bench splits ...` end to end through the CLI runner: reports, exit codes, one-line errors."""

from __future__ import annotations

import json
import shutil
import urllib.error

import pytest
from typer.testing import CliRunner

from bench.cli import app
from splits import weng

runner = CliRunner()


def bench(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and text in errors[0], result.stderr


@pytest.fixture
def labels_root(tmp_path):
    """A root with no images and no Data_Entry file: labels come from torchxrayvision's copy."""
    root = tmp_path / "nih"
    root.mkdir()
    return root


def test_list_and_help_examples():
    result = bench("splits", "list")
    assert result.exit_code == 0
    for name in ("official", "kfold5", "weng", "custom:PATH"):
        assert name in result.stdout
    for command in ("list", "show", "audit", "fetch", "export"):
        assert "Example: bench splits" in bench("splits", command, "--help").stdout


def test_weng_audit_on_reference_lists(weng_dir, labels_root):
    shutil.copytree(weng_dir, labels_root / "weng")
    result = bench("splits", "audit", "weng", "--data", labels_root, "--json")
    assert result.exit_code == 0, result.output
    assert "images not checked (split logic needs labels only)" in result.stderr
    report = json.loads(result.stdout)
    lists = report["folds"][0]["lists"]
    assert [lists[n]["images"] for n in ("train", "val", "test")] == [78_468, 11_219, 22_433]
    assert [lists[n]["patients"] for n in ("train", "val", "test")] == [21_528, 3_090, 6_187]
    assert report["ok"] is True and report["faults"] == []
    shown = bench("splits", "show", "weng", "--data", labels_root)
    assert shown.exit_code == 0 and "78,468" in shown.stdout and report["folds"][0]["fingerprint"] in shown.stdout


def test_faulty_custom_split_fails_the_audit(tmp_path, labels_root):
    folder = tmp_path / "faulty"
    folder.mkdir()
    for k in (1, 2):  # two folds with the same test list
        (folder / f"train{k}.txt").write_text("00000001_000.png\n00000002_000.png\n99999999_000.png\n")
        (folder / f"val{k}.txt").write_text("00000001_001.png\n")  # patient 1 also in train
        (folder / f"test{k}.txt").write_text("00000003_000.png\n")
    result = bench("splits", "audit", f"custom:{folder}", "--data", labels_root)
    assert result.exit_code == 1, result.output
    out = " ".join(result.stdout.split())
    assert "test lists of folds 0, 1 are identical" in out
    assert "fold 0: train and val share 1 patient (e.g. 1)" in out
    assert "fold 0: train: 1 image ids not in the dataset (e.g. 99999999_000.png)" in out
    assert "fault(s) found" in result.stderr
    as_json = bench("splits", "audit", f"custom:{folder}", "--data", labels_root, "--json")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["identical_tests"] == [[0, 1]]


def test_export_and_reimport_give_the_same_fingerprints(tmp_path, demo_root):
    out = tmp_path / "export"
    assert bench("splits", "export", "kfold5", "--out", out, "--data", demo_root, "--seed", "2").exit_code == 0
    manifest = json.loads((out / "SPLIT.json").read_text())
    assert sorted(p.name for p in out.glob("test*.txt")) == [f"test{k}.txt" for k in range(5)]
    result = bench("splits", "audit", f"custom:{out}", "--data", demo_root, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [f["fingerprint"] for f in report["folds"]] == [f["fingerprint"] for f in manifest["folds"]]
    assert manifest["split"] == "kfold5@1" and manifest["seed"] == 2
    shown = bench("splits", "show", "kfold5", "--fold", "3", "--seed", "2", "--data", demo_root)
    assert shown.exit_code == 0 and manifest["folds"][3]["fingerprint"] in shown.stdout
    assert_one_line_error(bench("splits", "show", "kfold5", "--fold", "5", "--data", demo_root), 2, "no fold 5")


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("splits", "show", "kfold6"), "unknown split 'kfold6' (did you mean 'kfold5'?)"),
        (("splits", "audit", "custom:{tmp}/empty", "--data", "{tmp}/nih"), "no split lists in"),
        (("splits", "audit", "custom:{tmp}/badformat", "--data", "{tmp}/nih"), "unknown split list format"),
        (("splits", "show", "weng", "--data", "{tmp}/partial"), "missing weng list val_list.txt, test_list.txt"),
        (("splits", "show", "weng", "--data", "{tmp}/nih"), "weng split lists not found"),
        (("splits", "fetch", "official"), "nothing to fetch"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, labels_root, monkeypatch, args, text):
    monkeypatch.setenv("CXR_BENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "badformat"
    bad.mkdir()
    for name in ("train.txt", "val.txt", "test.txt"):
        (bad / name).write_text("00000001_000.png 1 0 1\n")
    (tmp_path / "partial" / "weng").mkdir(parents=True)
    (tmp_path / "partial" / "weng" / "train_list.txt").write_text("00000001_000.png" + " 0" * 14 + "\n")
    result = bench(*(a.format(tmp=tmp_path) for a in args))
    assert_one_line_error(result, 2, text)


def test_fetch_verifies_and_writes_atomically(tmp_path, weng_dir, monkeypatch):
    monkeypatch.setenv("CXR_BENCH_CACHE", str(tmp_path))
    served = {weng.URL.format(commit=weng.COMMIT, file=f): (weng_dir / f).read_bytes() for f in weng.FILES.values()}
    monkeypatch.setattr(weng, "_download", served.__getitem__)
    result = bench("splits", "fetch", "weng")
    assert result.exit_code == 0, result.output
    dest = tmp_path / "splits" / "weng"
    assert sorted(p.name for p in dest.iterdir()) == ["test_list.txt", "train_list.txt", "val_list.txt"]
    assert weng.find_lists(tmp_path / "no-root") == dest  # the cache is the last place looked


def test_fetch_without_network_or_with_bad_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("CXR_BENCH_CACHE", str(tmp_path))

    def offline(url):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(weng, "_download", offline)
    assert_one_line_error(bench("splits", "fetch", "weng"), 2, "put train_list.txt, val_list.txt, test_list.txt")
    monkeypatch.setattr(weng, "_download", lambda url: b"not the list")
    assert_one_line_error(bench("splits", "fetch", "weng"), 2, "expected 332d49fb")
    assert not (tmp_path / "splits" / "weng").exists()
