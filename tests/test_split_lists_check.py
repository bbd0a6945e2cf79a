"""Split lists checked: duplicate lines, names not in the dataset, a lone train_val_list.txt,
folder prefixes, both in `bench data check` and in `splits.validate_lists` (what a run calls)."""

from __future__ import annotations

import pytest
from test_data_check_cli import IDS, assert_one_error_line, check, good_root
from typer.testing import CliRunner

import splits
from bench.cli import app
from bench.data.nih import load_index
from bench.errors import BenchError
from splits.base import Fold
from splits.listfiles import read_list

runner = CliRunner()


def test_duplicate_lines_in_an_official_list_are_a_problem(tmp_path):
    root = good_root(tmp_path / "nih")
    (root / "train_val_list.txt").write_text("\n".join([IDS[0], IDS[1], IDS[0], IDS[2], IDS[1]]) + "\n")
    report = check(root)
    found = {c.name: c for c in report.split_files}
    assert found["train_val_list.txt"].duplicates == (IDS[0], IDS[1])
    assert f"2 duplicate line(s) in {root / 'train_val_list.txt'}, e.g. {IDS[0]}" in report.errors
    result = runner.invoke(app, ["data", "check", "--data", str(root)])
    assert_one_error_line(result, "1 problem(s)")
    assert "duplicate line(s)" in result.stdout


def test_duplicate_lines_in_a_weng_list_are_a_problem(tmp_path):
    root = good_root(tmp_path / "nih")
    (root / "weng").mkdir()
    for name, ids in (("train_list.txt", [IDS[0], IDS[0]]), ("val_list.txt", [IDS[1]]), ("test_list.txt", [IDS[3]])):
        (root / "weng" / name).write_text("".join(i + " 0" * 14 + "\n" for i in ids))
    report = check(root)
    assert report.errors == (f"1 duplicate line(s) in {root / 'weng' / 'train_list.txt'}, e.g. {IDS[0]}",)


def test_unknown_names_are_counted_with_the_first_few(tmp_path):
    root = good_root(tmp_path / "nih")
    (root / "test_list.txt").write_text("\n".join(["a.png", "b.png", IDS[3], "c.png", "d.png"]) + "\n")
    report = check(root)
    assert report.errors == (
        f"4 image name(s) of {root / 'test_list.txt'} are not in the dataset, e.g. a.png, b.png, c.png, ...",
    )


def test_train_val_list_without_test_list_is_not_ok(tmp_path):
    root = good_root(tmp_path / "nih")
    (root / "test_list.txt").unlink()
    report = check(root)
    assert not report.ok
    (error,) = report.errors
    assert "has no test_list.txt beside it" in error and "official split needs both" in error
    result = runner.invoke(app, ["data", "check", "--data", str(root)])
    assert_one_error_line(result, "1 problem(s)")
    assert "OK" not in result.stdout


def test_a_lone_weng_list_is_not_ok(tmp_path):
    root = good_root(tmp_path / "nih")
    (root / "weng").mkdir()
    (root / "weng" / "test_list.txt").write_text(IDS[3] + " 0" * 14 + "\n")
    errors = check(root).errors
    assert len(errors) == 2 and all("missing weng list" in e and "bench splits fetch weng" in e for e in errors)


def _fold(train, val=(), test=()):
    return Fold("official", 1, 0, 1, 0, tuple(train), tuple(val), tuple(test))


def test_validate_lists_raises_the_first_fault(tmp_path):
    index = load_index(good_root(tmp_path / "nih"))
    splits.validate_lists(_fold(IDS[:2], IDS[2:3], IDS[3:]), index)  # fine: silent
    with pytest.raises(BenchError) as err:
        splits.validate_lists(_fold([IDS[0], IDS[1], IDS[1]], test=["x.png"]), index)
    assert err.value.message == f"1 duplicate line(s) in the train list, e.g. {IDS[1]}"
    assert "sort -u" in err.value.hint
    with pytest.raises(BenchError) as err:
        splits.validate_lists(_fold(IDS[:2], test=["a.png", "b.png", "c.png", "d.png"]), index)
    assert err.value.message == "4 image name(s) of the test list are not in the dataset, e.g. a.png, b.png, c.png, ..."
    assert "--data" in err.value.hint and "\n" not in err.value.one_line()


def test_folder_prefixed_lines_get_a_hint_to_strip_them(tmp_path):
    path = tmp_path / "train_val_list.txt"
    path.write_text("images_001/images/00000001_000.png\nimages_001/images/00000002_000.png\n")
    with pytest.raises(BenchError) as err:
        read_list(path)
    text = err.value.one_line()
    assert "folder prefix" in text and "images_001/images/00000001_000.png" in text
    assert f"sed -i 's#.*/##' {path}" in text
    assert "every line must be like the first" not in text
    arnoweng = tmp_path / "weng.txt"
    arnoweng.write_text("images_001/images/00000001_000.png" + " 0" * 14 + "\n")
    with pytest.raises(BenchError, match="folder prefix"):
        read_list(arnoweng)
