"""Split logic on small hand-made indexes: fingerprints, list formats, custom folders, the audit."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import splits
from bench.data.index import DatasetIndex
from bench.errors import BenchError
from bench.labels import LABELS
from splits.audit import audit, leakage
from splits.base import Fold, carve_by_patient, patients_of
from splits.custom import discover
from splits.export import export
from splits.kfold import rarest_label_strata
from splits.listfiles import read_list, write_list


def make_index(root: Path, patients: dict[int, int], positives: dict[str, list[str]] | None = None) -> DatasetIndex:
    """An index with `patients[p]` images for each patient p; `positives[label]` lists positive ids."""
    ids = [f"{p:08d}_{k:03d}.png" for p, n in patients.items() for k in range(n)]
    frame = pd.DataFrame(
        {
            "patient_id": [int(i[:8]) for i in ids],
            "follow_up": [int(i[9:12]) for i in ids],
            "view": "PA",
            "age": 50,
            "sex": "M",
            "path": None,
        },
        index=pd.Index(ids, name="image_id"),
    )
    for label in LABELS:
        frame[label] = np.uint8(0)
    for label, positive_ids in (positives or {}).items():
        frame.loc[positive_ids, label] = 1
    frame = frame.sort_index()
    return DatasetIndex(root, "nih", frame, "test", "2017", "x", images_checked=False)


def fold(train, val, test, k=0, n=1) -> Fold:
    return Fold("custom", 1, k, n, None, tuple(train), tuple(val), tuple(test), {})


# -- Fold ---------------------------------------------------------------------------------
def test_fingerprint_is_sha256_of_documented_bytes_and_ignores_order_and_metadata():
    a = fold(["b.png", "a.png"], ["c.png"], [])
    expected = hashlib.sha256(b"train 2\na.png\nb.png\nval 1\nc.png\ntest 0\n").hexdigest()
    assert a.train == ("a.png", "b.png")
    assert a.fingerprint == expected
    b = Fold("official", 3, 2, 5, 7, ("a.png", "b.png"), ("c.png",), (), {"val_fraction": 0.2})
    assert b.fingerprint == expected and b.key == "official@3"
    # Moving an image between lists changes it.
    assert fold(["a.png"], ["b.png", "c.png"], []).fingerprint != expected


def test_carve_by_patient_holds_out_whole_patients_reproducibly():
    ids = [f"{p:08d}_{k:03d}.png" for p in range(1, 21) for k in range(3)]
    patients = np.array([int(i[:8]) for i in ids])
    rest, held = carve_by_patient(ids, patients, 0.1, seed=0)
    assert len(held) == 2 * 3 and len(rest) == 18 * 3  # 10% of 20 patients, all their images
    assert not {i[:8] for i in rest} & {i[:8] for i in held}
    assert carve_by_patient(ids, patients, 0.1, seed=0) == (rest, held)
    assert carve_by_patient(ids, patients, 0.1, seed=1) != (rest, held)


def test_patients_of_falls_back_to_the_name(tmp_path):
    index = make_index(tmp_path, {5: 1})
    assert patients_of(index, ["00000005_000.png", "00000042_003.png", "odd.png"]).tolist() == [5, 42, -1]


def test_rarest_label_strata():
    labels = np.zeros((4, len(LABELS)), dtype="uint8")
    labels[0, LABELS.index("Hernia")] = labels[0, LABELS.index("Effusion")] = 1
    labels[1, LABELS.index("Effusion")] = 1
    labels[2, LABELS.index("Effusion")] = labels[2, LABELS.index("Mass")] = 1
    # Counts: Effusion 3, Hernia 1, Mass 1 -> Hernia and Mass tie; canonical order puts Mass first.
    assert rarest_label_strata(labels).tolist() == ["Hernia", "Effusion", "Mass", "none"]


# -- names and registry --------------------------------------------------------------------
def test_unknown_and_incomplete_names(tmp_path):
    index = make_index(tmp_path, {1: 1})
    with pytest.raises(BenchError, match=r"unknown split 'kfold'.*did you mean 'kfold5'"):
        splits.get_folds("kfold", index)
    with pytest.raises(BenchError, match="custom:PATH"):
        splits.get_folds("custom", index)
    with pytest.raises(BenchError, match="takes no argument"):
        splits.get_folds("weng:x", index)
    assert {"official", "kfold5", "weng", "custom"} <= set(splits.SPLITS.names())


def test_get_fold_out_of_range(tmp_path):
    index = make_index(tmp_path, {p: 2 for p in range(1, 11)})
    assert splits.get_fold("kfold5", index, 4).fold == 4
    with pytest.raises(BenchError, match=r"no fold 5 .*folds 0\.\.4"):
        splits.get_fold("kfold5", index, 5)


def test_official_carves_validation_by_patient(tmp_path):
    index = make_index(tmp_path, {p: 2 for p in range(1, 21)})
    ids = list(index.image_ids)
    (tmp_path / "train_val_list.txt").write_text("\n".join(ids[:30]) + "\n")
    (tmp_path / "test_list.txt").write_text("\n".join(ids[30:]))
    f = splits.get_fold("official", index, val_fraction=0.2, seed=3)
    assert (len(f.train), len(f.val), len(f.test)) == (24, 6, 10)  # 3 of 15 train_val patients
    assert f.seed == 3 and f.params == {"val_fraction": 0.2} and f.key == "official@1"
    assert leakage(f, index) == []
    (tmp_path / "test_list.txt").unlink()
    with pytest.raises(BenchError, match="official split needs test_list.txt"):
        splits.get_folds("official", index)


# -- list formats ------------------------------------------------------------------------
def test_three_formats_read_and_write(tmp_path):
    names = ["00000001_000.png", "00000002_000.png"]
    labels = np.eye(2, len(LABELS), dtype="uint8")
    for fmt in ("names", "arnoweng", "csv"):
        path = write_list(tmp_path / f"{fmt}.txt", names, fmt=fmt, labels=labels if fmt == "arnoweng" else None)
        got = read_list(path)
        assert (got.format, got.names) == (fmt, tuple(names))
    assert read_list(tmp_path / "arnoweng.txt").labels.tolist() == labels.tolist()
    assert (tmp_path / "arnoweng.txt").read_text().splitlines()[0] == "00000001_000.png 1" + " 0" * 13
    extra = tmp_path / "extra.csv"
    extra.write_text("Patient ID,Image Index\n1,00000001_000.png\n2,00000002_000.png\n")
    assert read_list(extra).names == tuple(names)


def test_lists_from_other_editors(tmp_path):
    """A BOM, CRLF line ends, blank lines and no final newline read as plain names."""
    path = tmp_path / "list.txt"
    path.write_bytes(b"\xef\xbb\xbfa.png\r\n\r\nb.png\r\n  \nc.png")
    assert read_list(path, expect="names").names == ("a.png", "b.png", "c.png")
    with pytest.raises(BenchError, match="not found"):
        read_list(tmp_path / "missing.txt")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.png 1 0\n", "line 1 has 3 fields"),
        ("00000001_000.png\n00000001_001.png 1\n", "line 2"),
        ("name,label\nx.png,1\n", "without an 'Image Index' column"),
        ("hello\n", "line 1"),
        ("\n\n", "is empty"),
    ],
)
def test_unknown_list_formats(tmp_path, text, message):
    path = tmp_path / "train.txt"
    path.write_text(text)
    with pytest.raises(BenchError, match=message):
        read_list(path)


# -- custom folders ----------------------------------------------------------------------
def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_custom_single_and_numbered_folds(tmp_path):
    one = _write(
        tmp_path / "one",
        {"train_list.txt": "a.png\n", "val.txt": "b.png\n", "test.csv": "Image Index\nc.png\n", "notes.md": "x"},
    )
    assert [sorted(f) for f in discover(one).values()] == [["test", "train", "val"]]
    many = _write(
        tmp_path / "many", {f"{r}_{k}.txt": f"{r}{k}.png\n" for r in ("train", "val", "test") for k in (2, 10)}
    )
    index = make_index(tmp_path, {1: 1})
    folds = splits.get_folds(f"custom:{many}", index)
    assert [(f.fold, f.n_folds, f.test) for f in folds] == [(0, 2, ("test2.png",)), (1, 2, ("test10.png",))]
    assert folds[0].params == {"path": str(many)} and folds[0].seed is None


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no split lists in"),
        ({"readme.txt": "x"}, "no split lists in"),
        (
            {
                "train1.txt": "a.png",
                "val1.txt": "a.png",
                "test1.txt": "a.png",
                "train2.txt": "a.png",
                "val2.txt": "a.png",
            },
            "fold 2 has train2.txt, val2.txt but no test list",
        ),
        (
            {"train.txt": "a.png", "val.txt": "a.png", "test.txt": "a.png", "test1.txt": "a.png"},
            "mixes numbered and unnumbered",
        ),
        ({"train.txt": "a.png", "train_list.txt": "a.png", "val.txt": "a.png", "test.txt": "a.png"}, "ambiguous"),
    ],
)
def test_custom_folder_errors(tmp_path, files, message):
    folder = _write(tmp_path / "split", files)
    with pytest.raises(BenchError, match=message):
        splits.resolve(f"custom:{folder}")


def test_custom_missing_folder(tmp_path):
    with pytest.raises(BenchError, match="custom split folder not found"):
        splits.resolve(f"custom:{tmp_path / 'nope'}")


# -- audit -------------------------------------------------------------------------------
def test_audit_reports_each_fault(tmp_path):
    index = make_index(tmp_path, {p: 2 for p in range(1, 7)}, {"Hernia": ["00000005_000.png"]})
    train = ["00000001_000.png", "00000001_001.png", "00000002_000.png", "00000003_000.png", "00000099_000.png"]
    val = ["00000002_001.png", "00000004_000.png", "00000004_000.png"]
    test = ["00000005_000.png", "00000005_001.png", "00000006_000.png", "00000006_001.png"]
    folds = [fold(train, val, test, 0, 2), fold(train, val, test, 1, 2)]
    report = audit(folds, index)
    text = "\n".join(report.faults)
    assert "fold 0: train: 1 image ids not in the dataset (e.g. 00000099_000.png)" in text
    assert "fold 0: val: 1 image ids listed more than once (e.g. 00000004_000.png)" in text
    assert "fold 0: train and val share 1 patient (e.g. 2)" in text
    assert "test lists of folds 0, 1 are identical" in text
    assert "4 images are tested in more than one fold" in text
    assert "8 images are in no test list" in text
    # Hernia: 1 of 4 test images positive; every other class has no positive in test.
    assert report.folds[0].lists["test"].positives["Hernia"] == 1
    assert report.folds[0].lists["test"].undefined_auroc == LABELS[:-1]
    assert any("test: AUROC undefined" in f and "Atelectasis" in f for f in report.faults)
    assert any("val: AUROC undefined" in w for w in report.warnings)
    assert report.folds[0].unassigned == 2  # 00000003_001 and 00000004_001
    assert not report.ok and report.to_json()["ok"] is False


def test_leakage_names_images_and_patients(tmp_path):
    index = make_index(tmp_path, {1: 2, 2: 1})
    f = fold(["00000001_000.png"], ["00000002_000.png"], ["00000001_001.png", "00000002_000.png"])
    assert leakage(f, index) == [
        "train and test share 1 patient (e.g. 1)",
        "val and test share 1 image (e.g. 00000002_000.png)",
        "val and test share 1 patient (e.g. 2)",
    ]


def test_export_round_trip_keeps_fingerprints(tmp_path):
    index = make_index(tmp_path, {p: 2 for p in range(1, 31)}, {"Mass": ["00000001_000.png"]})
    folds = splits.get_folds("kfold5", index, seed=4)
    for fmt in ("names", "arnoweng", "csv"):
        out = tmp_path / fmt
        written = export(folds, out, index=index, fmt=fmt)
        assert len(written) == 15 and (out / "SPLIT.json").is_file()
        back = splits.get_folds(f"custom:{out}", index)
        assert [f.fingerprint for f in back] == [f.fingerprint for f in folds]
    with pytest.raises(BenchError, match="already holds split lists"):
        export(folds[:1], tmp_path / "names", index=index)
    export(folds[:1], tmp_path / "names", index=index, force=True)
    assert len(splits.get_folds(f"custom:{tmp_path / 'names'}", index)) == 1


# -- weng lookup ---------------------------------------------------------------------------
def _weng_files(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for role, name in zip(("train", "val", "test"), names):
        (folder / f"{role}_list.txt").write_text(f"{name}" + " 0" * 14)  # no final newline, like the originals


def test_weng_lookup_order_and_format(tmp_path, monkeypatch):
    from splits import weng

    monkeypatch.setenv("CXR_BENCH_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "root"
    index = make_index(root, {1: 1, 2: 1, 3: 1})
    ids = list(index.image_ids)
    root.mkdir()
    (root / "test_list.txt").write_text(ids[0] + "\n")  # NIH's own test list: not a weng folder
    with pytest.raises(BenchError, match="weng split lists not found"):
        splits.get_folds("weng", index)
    _weng_files(weng.cache_folder(), ids)
    assert splits.get_fold("weng", index).test == (ids[2],)
    _weng_files(root, ids[::-1])
    assert splits.get_fold("weng", index).test == (ids[0],)  # the root beats the cache
    (root / "weng").mkdir()
    (root / "weng" / "train_list.txt").write_text("\n".join(ids) + "\n")
    with pytest.raises(BenchError, match="missing weng list val_list.txt, test_list.txt"):
        splits.get_folds("weng", index)
    for role in ("val", "test"):
        (root / "weng" / f"{role}_list.txt").write_text(ids[0] + "\n")
    with pytest.raises(BenchError, match="in 'names' format, expected 'arnoweng'"):
        splits.get_folds("weng", index)
