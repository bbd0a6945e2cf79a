"""`bench data check` (library report and CLI exit codes) and `open_dataset`."""

from __future__ import annotations

from test_nih_reader import BOXES, ROWS, V2020, make_root  # the tiny NIH-root builder
from typer.testing import CliRunner

from bench.cli import app
from bench.data import check as check_module
from bench.data import demo
from bench.data.dataset import open_dataset
from bench.data.nih import load_index
from bench.labels import LABELS
from splits.check import check_files, check_root

runner = CliRunner()
IDS = sorted(row[0] for row in ROWS)


def good_root(path):
    root = make_root(path, layout="nested", boxes=BOXES)
    (root / "train_val_list.txt").write_text("\n".join(IDS[:3]) + "\n")
    (root / "test_list.txt").write_text(IDS[3])
    return root


def check(root, **kw):
    return check_root(load_index(root), progress=False, **kw)


def assert_one_error_line(result, *needles):
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


def test_report_of_a_good_root(tmp_path):
    report = check(good_root(tmp_path / "nih"))
    assert report.ok and report.errors == ()
    assert (report.n_images, report.found, report.missing, report.extra) == (4, 4, 0, 0)
    assert (report.decoded, report.decode_failed, report.sizes) == (4, 0, {"8x8": 4})
    assert list(report.positives) == list(LABELS)
    assert report.positives["Cardiomegaly"] == 2 and report.positives["Hernia"] == 1
    assert report.positives["Atelectasis"] == 0
    assert report.no_finding == 1 and report.patients == 3
    assert report.views == {"PA": 3, "AP": 1}
    assert report.labels_version == "v2020"
    assert (report.boxes, report.box_images, report.box_classes) == (2, 2, {"Cardiomegaly": 1, "Infiltration": 1})
    present = {c.name: (c.protocol, c.present, c.n_ids) for c in report.split_files}
    assert present == {
        "train_val_list.txt": ("official", True, 3),
        "test_list.txt": ("official", True, 1),
        "train_list.txt": ("weng", False, 0),
        "val_list.txt": ("weng", False, 0),
    }
    assert any("no positive images for Atelectasis" in w for w in report.warnings)


def test_sample_decodes_a_subset(tmp_path):
    report = check(good_root(tmp_path / "nih"), sample=2)
    assert report.decoded == 2 and sum(report.sizes.values()) == 2
    assert check(good_root(tmp_path / "again"), sample=2).sizes == report.sizes
    assert check(tmp_path / "nih", sample=2, full=True).decoded == 4


def test_missing_corrupt_extra_and_unknown(tmp_path):
    root = good_root(tmp_path / "nih")
    (root / "images_001" / "images" / "00000002_000.png").unlink()
    (root / "images_002" / "images" / "00000001_000.png").write_bytes(b"junk")
    (root / "images_001" / "images" / "99999999_000.png").write_bytes(b"")
    (root / "weng").mkdir()
    (root / "weng" / "test_list.txt").write_text("nope.png 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n" + IDS[0] + " 0" * 14)
    report = check(root, full=True)
    assert not report.ok
    assert (report.found, report.missing, report.extra) == (3, 1, 1)
    assert (report.decoded, report.decode_failed) == (3, 1)
    assert "00000001_000.png" in report.decode_errors[0]
    weng = {c.name: c for c in report.split_files if c.protocol == "weng"}
    assert set(weng) == {"weng/train_list.txt", "weng/val_list.txt", "weng/test_list.txt"}
    assert weng["weng/test_list.txt"].unknown == ("nope.png",)
    # missing, corrupt, nope.png, and weng/ without its train and val lists (bench run refuses it too)
    assert len(report.errors) == 5
    assert sum("missing weng list" in e for e in report.errors) == 2
    assert "1 of 4 images" in report.errors[0] and "00000002_000.png" in report.errors[0]


def test_decoding_in_processes_gives_the_serial_report(tmp_path, monkeypatch):
    """One image per task, three processes: same counts, sizes and errors, in the images' order."""
    root = good_root(tmp_path / "nih")
    paths = load_index(root).frame["path"]
    for image_id in (IDS[1], IDS[3]):
        with open(paths[image_id], "wb") as f:
            f.write(b"junk")
    monkeypatch.setattr(check_module, "DECODE_CHUNK", 1)
    serial = check(root, full=True, workers=1)
    assert (serial.decoded, serial.decode_failed, sum(serial.sizes.values())) == (4, 2, 2)
    assert IDS[1] in serial.decode_errors[0] and IDS[3] in serial.decode_errors[1]
    assert check(root, full=True, workers=3) == serial


def test_an_older_demo_is_flagged(tmp_path):
    root = good_root(tmp_path / "demo")
    (root / "DEMO.json").write_text('{"generator": "cxr-bench-demo", "version": 1, "seed": 3, "size": 128}')
    report = check(root)
    assert report.ok and report.demo_version == 1
    (warning,) = [w for w in report.warnings if "generator" in w]
    assert f"generator version 1, this cxr-bench draws version {demo.VERSION}" in warning
    assert f"bench data demo --out {root} --seed 3 --size 128)" in warning


def test_stray_box_image_is_an_error(tmp_path):
    boxes = BOXES + "12345678_000.png,Mass,1,2,3,4\n"
    report = check(make_root(tmp_path / "nih", boxes=boxes))
    assert report.errors == ("1 box image(s) are not in the dataset (12345678_000.png)",)


def test_cli_good_root(tmp_path):
    result = runner.invoke(app, ["data", "check", "--data", str(good_root(tmp_path / "nih"))])
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout and "Hernia" in result.stdout and "train_val_list.txt" in result.stdout


def test_cli_nonexistent_root():
    result = runner.invoke(app, ["data", "check", "--data", "/nonexistent"])
    assert_one_error_line(result, "/nonexistent", "does not exist", "--data")


def test_cli_root_without_images(tmp_path):
    root = make_root(tmp_path / "nih", skip=set(IDS))
    assert_one_error_line(runner.invoke(app, ["data", "check", "--data", str(root)]), "no images under")


def test_cli_malformed_data_entry(tmp_path):
    root = make_root(tmp_path / "nih")
    (root / V2020).write_text("Image Index,Patient ID\n")
    result = runner.invoke(app, ["data", "check", "--data", str(root)])
    assert_one_error_line(result, str(root / V2020), "missing column")


def test_cli_corrupt_png_with_full(tmp_path):
    root = make_root(tmp_path / "nih")
    (root / "images" / IDS[0]).write_bytes(b"\x89PNG\r\n\x1a\n")
    result = runner.invoke(app, ["data", "check", "--data", str(root), "--full", "--workers", "2"])
    assert_one_error_line(result, "1 problem(s)", IDS[0])
    assert "problem:" in result.stdout


def test_split_files_are_read_as_their_protocols_read_them(tmp_path):
    """A list `bench run` would refuse is a problem here too, not a count of names."""
    root = good_root(tmp_path / "nih")
    (root / "weng").mkdir()
    (root / "weng" / "val_list.txt").write_text(IDS[0] + " 0" * 14 + "\n" + IDS[1] + " 0 1\n")
    for name in ("train_list.txt", "test_list.txt"):  # the other two, fine (a lone list is a fault of its own)
        (root / "weng" / name).write_text(IDS[2] + " 0" * 14 + "\n")
    (root / "test_list.txt").write_text(IDS[3] + " 0" * 14 + "\n")  # arnoweng lines in an official list
    report = check(root)
    found = {c.name: c for c in report.split_files}
    assert "line 2" in found["weng/val_list.txt"].problem and found["weng/val_list.txt"].n_ids == 0
    assert "expected 'names'" in found["test_list.txt"].problem
    assert found["train_val_list.txt"].problem is None and found["train_val_list.txt"].n_ids == 3
    assert len(report.errors) == 2 and not report.ok
    result = runner.invoke(app, ["data", "check", "--data", str(root)])
    assert_one_error_line(result, "2 problem(s)", "test_list.txt", "expected 'names'")
    assert "unreadable" in result.stdout


def test_the_dataset_check_knows_split_files_only_from_the_split_protocols(tmp_path):
    """bench.data's check reads no split file; splits.check reads each protocol's and hands them over."""
    root = good_root(tmp_path / "nih")
    (root / "test_list.txt").write_text("ghost.png\n")
    alone = check_module.check_dataset(load_index(root), progress=False)
    assert alone.ok and alone.split_files == ()
    official = check_files("official", load_index(root))
    assert [(c.name, c.unknown) for c in official] == [("train_val_list.txt", ()), ("test_list.txt", ("ghost.png",))]
    assert check_files("weng", load_index(root))[0].present is False
    assert check(root).split_files[:2] == official


def test_cli_unknown_split_names(tmp_path):
    root = good_root(tmp_path / "nih")
    (root / "test_list.txt").write_text("ghost.png\r\n")
    result = runner.invoke(app, ["data", "check", "--data", str(root)])
    assert_one_error_line(result, "test_list.txt", "ghost.png")


def test_cli_help_has_an_example():
    result = runner.invoke(app, ["data", "check", "--help"])
    assert result.exit_code == 0 and "Example: bench data check --data" in result.output


def test_open_dataset_with_a_root_is_silent(tmp_path, capsys):
    index = open_dataset(make_root(tmp_path / "nih"))
    assert index.kind == "nih" and len(index.frame) == 4
    assert capsys.readouterr().err == ""


def test_open_dataset_without_a_root_uses_the_demo(tmp_path, monkeypatch, capsys):
    root = make_root(tmp_path / "demo")
    monkeypatch.setattr(demo, "ensure_demo", lambda: root, raising=False)
    assert open_dataset(None).root == root
    err = capsys.readouterr().err
    assert f"Using the built-in synthetic demo dataset ({root})" in err and "CXR_BENCH_DATA" in err
    open_dataset(None, quiet=True)
    assert capsys.readouterr().err == ""


def test_cli_on_the_demo(demo_root):
    result = runner.invoke(app, ["data", "check", "--data", str(demo_root), "--sample", "20"])
    assert result.exit_code == 0, result.output
    assert f"(demo v{demo.VERSION})" in result.stdout and "warning" not in result.stdout
    report = check_root(load_index(demo_root), sample=5, progress=False)
    assert report.kind == "demo" and report.ok and report.demo_version == demo.VERSION
    assert all(count > 0 for count in report.positives.values())
    assert all(c.present for c in report.split_files)
    assert sum(report.sizes.values()) == 5
