"""The NIH layout reader: both image layouts, label files, boxes, fallbacks and bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.data import nih
from bench.data.index import COLUMNS
from bench.data.nih import fingerprint, load_index, require_known, unknown_ids
from bench.errors import BenchError
from bench.labels import LABELS

V2020 = "Data_Entry_2017_v2020.csv"
V2017 = "Data_Entry_2017.csv"
HEADER_V2020 = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)
HEADER_2017 = HEADER_V2020 + ","  # NIH's 2017 file ends every line with a comma
# (image, findings, follow-up, patient, age, sex, view)
ROWS = [
    ("00000002_000.png", "No Finding", 0, 2, 81, "M", "PA"),
    ("00000001_000.png", "Cardiomegaly", 0, 1, 57, "M", "PA"),
    ("00000001_001.png", "Cardiomegaly|Emphysema", 1, 1, 58, "M", "AP"),
    ("00000003_000.png", "Hernia|Infiltration|Pleural_Thickening", 0, 3, 74, "F", "PA"),
]
BOXES = (
    "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
    "00000001_000.png,Cardiomegaly,10.5,20,30.25,40\n"
    "00000003_000.png,Infiltrate,1,2,3,4\n"
)


def write_entries(path: Path, rows=ROWS, header=HEADER_V2020) -> Path:
    lines = [header] + [f"{i},{f},{u},{p},{a},{s},{v},1024,1024,0.143,0.143" for i, f, u, p, a, s, v in rows]
    trailing = "," if header.endswith(",") else ""
    path.write_text("".join(line + (trailing if n else "") + "\n" for n, line in enumerate(lines)))
    return path


def write_png(path: Path, value: int = 100, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(path)
    return path


def make_root(root: Path, *, layout="flat", rows=ROWS, labels=V2020, skip=(), boxes=None) -> Path:
    """A tiny NIH-layout root: the rows' PNGs (minus `skip`) and a Data_Entry file."""
    root.mkdir(parents=True, exist_ok=True)
    if labels:
        write_entries(root / labels, rows, HEADER_2017 if labels == V2017 else HEADER_V2020)
    for n, row in enumerate(rows):
        if row[0] in skip:
            continue
        folder = root / "images" if layout == "flat" else root / f"images_{n % 2 + 1:03d}" / "images"
        write_png(folder / row[0], value=10 * n)
    if boxes is not None:
        (root / "BBox_List_2017.csv").write_text(boxes)
    return root


def test_flat_layout(tmp_path):
    root = make_root(tmp_path / "nih")
    index = load_index(root)
    frame = index.frame
    assert tuple(frame.columns) == COLUMNS
    assert list(frame.index) == sorted(row[0] for row in ROWS)
    assert frame.index.name == "image_id"
    assert index.kind == "nih" and index.images_checked
    assert index.labels_version == "v2020" and index.labels_file == str(root / V2020)
    assert index.boxes is None
    row = frame.loc["00000003_000.png"]
    # by key: under pandas 2, `row.view` is Series.view, not the column
    assert tuple(row[["patient_id", "follow_up", "view", "age", "sex"]]) == (3, 0, "PA", 74, "F")
    assert row.path == str(root / "images" / "00000003_000.png")
    assert [name for name in LABELS if row[name]] == ["Infiltration", "Pleural_Thickening", "Hernia"]
    assert frame[list(LABELS)].dtypes.eq(np.uint8).all()
    assert index.labels(["00000002_000.png"]).tolist() == [[0] * 14]
    assert index.labels().sum(axis=0)[LABELS.index("Cardiomegaly")] == 2
    assert index.patients().tolist() == [1, 1, 2, 3]


def test_nested_layout(tmp_path):
    root = make_root(tmp_path / "nih", layout="nested")
    paths = load_index(root).frame["path"]
    # make_root puts row n in images_00{n % 2 + 1}
    assert paths["00000002_000.png"] == str(root / "images_001" / "images" / "00000002_000.png")
    assert paths["00000001_000.png"] == str(root / "images_002" / "images" / "00000001_000.png")
    assert paths.notna().all()


def test_missing_images_are_none_not_errors(tmp_path):
    root = make_root(tmp_path / "nih", skip={"00000001_001.png"})
    paths = load_index(root).frame["path"]
    assert paths["00000001_001.png"] is None
    assert paths.notna().sum() == 3


def test_no_images_at_all(tmp_path):
    root = make_root(tmp_path / "nih", skip={row[0] for row in ROWS})
    with pytest.raises(BenchError) as info:
        load_index(root)
    assert str(root / "images") in info.value.message and "images_0NN" in info.value.message
    index = load_index(root, check_images=False)  # labels alone are fine
    assert not index.images_checked and index.frame["path"].isna().all()


def test_v2020_preferred_over_2017(tmp_path):
    root = make_root(tmp_path / "nih")
    old_rows = [(ROWS[0][0], "Mass", *ROWS[0][2:])] + ROWS[1:]
    write_entries(root / V2017, old_rows, HEADER_2017)
    index = load_index(root)
    assert index.labels_version == "v2020"
    assert index.frame.loc[ROWS[0][0], "Mass"] == 0
    (root / V2020).unlink()
    old = load_index(root)
    assert old.labels_version == "2017" and old.labels_file == str(root / V2017)
    assert old.frame.loc[ROWS[0][0], "Mass"] == 1
    assert old.fingerprint != index.fingerprint


def test_demo_marker(tmp_path):
    root = make_root(tmp_path / "demo")
    (root / "DEMO.json").write_text("{}")
    assert load_index(root).kind == "demo"


def test_demo_versions_are_different_datasets(tmp_path):
    """Same labels, other pixels: demo v2 redrew Cardiomegaly, so its runs must not share a table
    with v1's. v1 keeps the fingerprint its runs were recorded with."""
    found = {}
    for version in (1, 2, 3):
        root = make_root(tmp_path / f"v{version}")
        (root / "DEMO.json").write_text(f'{{"generator": "cxr-bench-demo", "version": {version}}}')
        found[version] = load_index(root).fingerprint
    plain = load_index(make_root(tmp_path / "nih")).fingerprint
    assert found[1] == plain and len({found[1], found[2], found[3]}) == 3
    labels = np.array([[1] + [0] * 13], dtype=np.uint8)
    expected = hashlib.sha256(b"a.png\0" + labels.tobytes() + b"\0v2020\0cxr-bench-demo v2").hexdigest()
    assert fingerprint(["a.png"], labels, "v2020", "cxr-bench-demo v2") == expected


def test_fingerprint_by_hand():
    labels = np.array([[1] + [0] * 13, [0] * 13 + [1]], dtype=np.uint8)
    expected = hashlib.sha256(b"a.png\nb.png\0" + labels.tobytes() + b"\0v2020").hexdigest()
    assert fingerprint(["a.png", "b.png"], labels, "v2020") == expected
    assert fingerprint(["b.png", "a.png"], labels[::-1], "v2020") == expected  # order-free
    assert fingerprint(["a.png", "b.png"], labels, "2017") != expected


def test_fingerprint_of_root_ignores_row_order_and_sees_labels(tmp_path):
    a = load_index(make_root(tmp_path / "a"))
    b = load_index(make_root(tmp_path / "b", rows=ROWS[::-1]))
    assert a.fingerprint == b.fingerprint
    changed = [(ROWS[0][0], "Nodule", *ROWS[0][2:])] + ROWS[1:]
    assert load_index(make_root(tmp_path / "c", rows=changed)).fingerprint != a.fingerprint


def test_boxes_from_root(tmp_path):
    index = load_index(make_root(tmp_path / "nih", boxes=BOXES))
    boxes = index.boxes
    assert list(boxes.columns) == ["image_id", "label", "x", "y", "w", "h"]
    assert boxes["label"].tolist() == ["Cardiomegaly", "Infiltration"]
    assert boxes.iloc[0][["x", "y", "w", "h"]].tolist() == [10.5, 20.0, 30.25, 40.0]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000001_000.png,Mass,1,2,three,4\n", "line 2"),
        ("Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000001_000.png,Tumour,1,2,3,4\n", "Tumour"),
    ],
)
def test_malformed_boxes(tmp_path, text, needle):
    root = make_root(tmp_path / "nih", boxes=text)
    with pytest.raises(BenchError) as info:
        load_index(root)
    assert "BBox_List_2017.csv" in str(info.value) and needle in str(info.value)


def test_root_errors(tmp_path):
    with pytest.raises(BenchError, match="does not exist"):
        load_index(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BenchError, match="is not a directory"):
        load_index(tmp_path / "file")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "the file is empty"),
        (HEADER_V2020 + "\n", "no rows"),
        ("Image Index,Patient ID\n00000001_000.png,1\n", "'Finding Labels'"),
        (HEADER_V2020 + "\n00000001_000.png,Cardiomegally,0,1,57,M,PA,1,1,1,1\n", "'Cardiomegally'"),
        (HEADER_V2020 + "\n00000001_000.png,Mass,0,one,57,M,PA,1,1,1,1\n", "'Patient ID' 'one'"),
        (HEADER_V2020 + "\n00000001_000.png,Mass,0,1,57,M,PA,1,1,1,1" * 2, "listed twice"),
        ('Image Index,Finding Labels\n"unterminated,Mass\n', "malformed labels file"),
    ],
)
def test_malformed_data_entry(tmp_path, content, needle):
    root = make_root(tmp_path / "nih", labels=None)
    (root / V2020).write_text(content)
    with pytest.raises(BenchError) as info:
        load_index(root)
    text = str(info.value)
    assert str(root / V2020) in text and needle in text
    assert "\n" not in text


def test_binary_data_entry(tmp_path):
    root = make_root(tmp_path / "nih", labels=None)
    (root / V2020).write_bytes(b"\xff\xfe\x00\x81" * 50)
    with pytest.raises(BenchError, match="malformed labels file"):
        load_index(root)


def test_old_age_format(tmp_path):
    rows = [(*ROWS[1][:4], "058Y", *ROWS[1][5:])]
    assert load_index(make_root(tmp_path / "nih", rows=rows)).frame["age"].tolist() == [58]


def test_no_labels_anywhere(tmp_path, monkeypatch):
    monkeypatch.setattr(nih, "txv_data_dir", lambda: None)
    with pytest.raises(BenchError, match="torchxrayvision"):
        load_index(make_root(tmp_path / "nih", labels=None))


def test_torchxrayvision_fallback(real_label_index):
    index = real_label_index
    frame = index.frame
    assert index.labels_version == "v2020 (torchxrayvision)"
    assert index.labels_file == "torchxrayvision:Data_Entry_2017_v2020.csv.gz"
    assert len(frame) == 112_120 and frame.index.is_monotonic_increasing
    assert frame["patient_id"].nunique() == 30_805
    assert frame["view"].value_counts().to_dict() == {"PA": 67_310, "AP": 44_810}
    positives = dict(zip(LABELS, index.labels().sum(axis=0).tolist()))
    assert positives["Hernia"] == 227
    assert positives["Infiltration"] == 19_894
    assert positives["Atelectasis"] == 11_559
    assert positives["Pneumonia"] == 1_431
    assert int((index.labels().sum(axis=1) == 0).sum()) == 60_361  # No Finding
    assert frame.loc["00000001_001.png", ["Cardiomegaly", "Emphysema"]].tolist() == [1, 1]
    boxes = index.boxes
    assert len(boxes) == 984 and boxes["image_id"].nunique() == 880
    assert boxes["label"].nunique() == 8 and "Infiltration" in set(boxes["label"])


def test_torchxrayvision_fallback_needs_no_local_labels(tmp_path):
    index = load_index(tmp_path, check_images=False)
    assert len(index.frame) == 112_120 and index.labels_version == "v2020 (torchxrayvision)"


def test_box_file_of_txv_not_used_with_local_labels(tmp_path):
    assert load_index(make_root(tmp_path / "nih")).boxes is None


def test_unknown_ids(tmp_path):
    index = load_index(make_root(tmp_path / "nih"))
    ids = ["x.png", "00000001_000.png", "y.png"]
    assert unknown_ids(ids, index) == ["x.png", "y.png"]
    assert unknown_ids([], index) == []
    require_known(["00000001_000.png"], index, source="list.txt")
    with pytest.raises(BenchError) as info:
        require_known(ids, index, source="list.txt")
    assert "2 image name(s) in list.txt" in str(info.value) and "x.png, y.png" in str(info.value)


def test_path_column_is_object_with_none(tmp_path):
    frame = load_index(make_root(tmp_path / "nih"), check_images=False).frame
    assert frame["path"].dtype == object and frame["path"].tolist() == [None] * 4
    assert isinstance(frame, pd.DataFrame)
