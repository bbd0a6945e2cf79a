"""The synthetic demo: NIH layout, real label rows, class coverage per split, boxes, determinism."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_DEMO_SIZE
from PIL import Image
from sklearn.model_selection import StratifiedGroupKFold
from typer.testing import CliRunner

import bench.data.demo as demo
from bench.cli import app
from bench.data.render import BOX_CLASSES, render_chest
from bench.errors import BenchError
from bench.labels import LABELS
from splits.kfold import rarest_label_strata

MIN_TEST_POSITIVES = 15
NIH_COLUMNS = [
    "Image Index",
    "Finding Labels",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
    "OriginalImage[Width",
    "Height]",
    "OriginalImagePixelSpacing[x",
    "y]",
]
# NIH's class frequencies, commonest first (docs/domain.md section 1).
NIH_ORDER = [
    "Infiltration",
    "Effusion",
    "Atelectasis",
    "Nodule",
    "Mass",
    "Pneumothorax",
    "Consolidation",
    "Pleural_Thickening",
    "Cardiomegaly",
    "Emphysema",
    "Edema",
    "Fibrosis",
    "Pneumonia",
    "Hernia",
]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _positives(index, ids) -> dict[str, int]:
    return dict(zip(LABELS, index.labels(ids).sum(axis=0).tolist()))


def test_layout_and_file_formats(demo_root):
    entries = pd.read_csv(demo_root / "Data_Entry_2017_v2020.csv", dtype=str, keep_default_na=False)
    assert list(entries.columns) == NIH_COLUMNS
    ids = entries["Image Index"].tolist()
    assert ids == sorted(ids) and 3000 <= len(ids) <= 4500
    assert sorted(p.name for p in (demo_root / "images").iterdir()) == ids
    with Image.open(demo_root / "images" / ids[0]) as image:
        assert (image.mode, image.size) == ("L", (TEST_DEMO_SIZE, TEST_DEMO_SIZE))
    assert json.loads((demo_root / "DEMO.json").read_text()) == {
        "generator": "cxr-bench-demo",
        "version": 2,
        "seed": 0,
        "size": TEST_DEMO_SIZE,
        "images": len(ids),
    }
    assert _lines(demo_root / "BBox_List_2017.csv")[0] == "Image Index,Finding Label,Bbox [x,y,w,h],,,"
    # Official lists: one name per line, a partition of the images.
    official = [_lines(demo_root / f"{n}_list.txt") for n in ("train_val", "test")]
    assert sorted(official[0] + official[1]) == ids
    # weng lists: name + 14 labels in canonical order; like arnoweng's, val/test lack a final newline.
    labels = dict(zip(ids, entries["Finding Labels"]))
    weng = []
    for name in ("train", "val", "test"):
        text = (demo_root / "weng" / f"{name}_list.txt").read_text()
        assert text.endswith("\n") == (name == "train")
        for line in text.splitlines():
            image, *flags = line.split(" ")
            assert flags == ["1" if label in labels[image].split("|") else "0" for label in LABELS]
            weng.append(image)
    assert sorted(weng) == ids


def test_rows_are_real_nih_rows(demo_root):
    """Whole patients, verbatim rows of torchxrayvision's Data_Entry_2017_v2020 copy."""
    source = pd.read_csv(demo.source_data_entry(), dtype=str, keep_default_na=False)
    entries = pd.read_csv(demo_root / "Data_Entry_2017_v2020.csv", dtype=str, keep_default_na=False)
    merged = entries.merge(source, how="left", on="Image Index", suffixes=("", "_nih"), validate="one_to_one")
    for column in NIH_COLUMNS[1:]:
        assert (merged[column] == merged[f"{column}_nih"]).all(), column
    patients = set(entries["Patient ID"])
    assert len(source[source["Patient ID"].isin(patients)]) == len(entries)
    per_patient = entries.groupby("Patient ID").size()
    assert per_patient.max() <= demo.MAX_IMAGES_PER_PATIENT
    assert entries["View Position"].isin(["PA", "AP"]).all()


def test_class_frequencies_follow_nih(demo_index):
    counts = _positives(demo_index, None)
    assert [counts[name] for name in NIH_ORDER] == sorted(counts.values(), reverse=True)
    assert len(set(counts.values())) == len(LABELS)  # strictly decreasing
    assert counts["Hernia"] >= 100
    no_finding = (demo_index.labels().sum(axis=1) == 0).mean()
    assert 0.35 <= no_finding <= 0.55


def test_every_test_list_covers_every_class(demo_index, demo_root):
    index = demo_index
    tests = {
        "official": _lines(demo_root / "test_list.txt"),
        "weng": [line.split()[0] for line in _lines(demo_root / "weng" / "test_list.txt")],
    }
    labels, patients = index.labels(), index.patients()
    strata = rarest_label_strata(labels)
    ids = index.image_ids.to_numpy()
    for seed in range(5):  # the kfold5 protocol with the demo's seed, and other seeds for margin
        splitter = StratifiedGroupKFold(5, shuffle=True, random_state=seed)
        for fold, (_, test) in enumerate(splitter.split(ids, strata, groups=patients)):
            tests[f"kfold seed {seed} fold {fold}"] = ids[test].tolist()
    for name, test in tests.items():
        positives = _positives(index, test)
        assert min(positives.values()) >= MIN_TEST_POSITIVES, (name, positives)
    assert 0.21 <= len(tests["official"]) / len(ids) <= 0.25
    assert 0.18 <= len(tests["weng"]) / len(ids) <= 0.22


def test_splits_are_patient_wise(demo_index, demo_root):
    patient = demo_index.frame["patient_id"]
    official = [set(patient[_lines(demo_root / f"{n}_list.txt")]) for n in ("train_val", "test")]
    assert not official[0] & official[1]
    weng = [
        set(patient[[line.split()[0] for line in _lines(demo_root / "weng" / f"{n}_list.txt")]])
        for n in ("train", "val", "test")
    ]
    assert not (weng[0] & weng[1] or weng[0] & weng[2] or weng[1] & weng[2])


def test_boxes_match_the_positives_and_lie_inside(demo_index, demo_root):
    raw = pd.read_csv(demo_root / "BBox_List_2017.csv", dtype=str)
    assert "Infiltrate" in set(raw["Finding Label"]) and "Infiltration" not in set(raw["Finding Label"])
    boxes = demo_index.boxes
    assert set(boxes["label"]) == set(BOX_CLASSES)
    frame = demo_index.frame
    boxed = set(zip(boxes["image_id"], boxes["label"]))
    positives = {(image, label) for label in BOX_CLASSES for image in frame.index[frame[label] == 1]}
    assert boxed == positives
    assert (boxes[["x", "y"]] >= 0).all().all() and (boxes[["w", "h"]] > 0).all().all()
    assert (boxes["x"] + boxes["w"] <= TEST_DEMO_SIZE + 1e-6).all()
    assert (boxes["y"] + boxes["h"] <= TEST_DEMO_SIZE + 1e-6).all()


# Atelectasis also shrinks its lung (volume loss), which shows outside the opacity's box.
@pytest.mark.parametrize("name", [n for n in BOX_CLASSES if n != "Atelectasis"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_holds_the_finding(name, seed):
    """The same chest with and without a finding differs only inside the finding's boxes."""
    size = 96
    plain = render_chest([], size=size, rng=np.random.default_rng(seed)).image.astype(int)
    rendered = render_chest([name], size=size, rng=np.random.default_rng(seed))
    diff = rendered.image.astype(int) - plain
    inside = np.zeros(diff.shape, dtype=bool)
    for box in rendered.boxes:
        assert box.label == name and 0 <= box.x < box.x + box.w <= size and 0 <= box.y < box.y + box.h <= size
        inside[int(box.y) : int(np.ceil(box.y + box.h)), int(box.x) : int(np.ceil(box.x + box.w))] = True
    assert not diff[~inside].any()
    assert np.abs(diff[inside]).mean() > 1


def test_cardiomegaly_brightens_the_middle_of_its_box():
    """An enlarged heart is also denser, a signature inside its box that a CAM can point at, not
    only a change of outline (demo v1 drew only the outline, and no CAM found it)."""
    rises = []
    for seed in range(8):
        plain = render_chest([], size=96, rng=np.random.default_rng(seed)).image.astype(int)
        rendered = render_chest(["Cardiomegaly"], size=96, rng=np.random.default_rng(seed))
        (box,) = rendered.boxes
        rows = slice(int(box.y + 0.3 * box.h), int(box.y + 0.7 * box.h))
        middle = rows, slice(int(box.x + 0.3 * box.w), int(box.x + 0.7 * box.w))
        rise = rendered.image.astype(int)[middle] - plain[middle]
        assert rise.min() > 0
        rises.append(rise.mean())
    assert np.median(rises) > 10, rises


def test_same_seed_gives_identical_files_and_the_cli_writes_them(demo_root, tmp_path):
    """The CLI's generation with the shared test demo's seed and size is byte-identical to it,
    though here the CLI renders in three processes and the shared demo in one."""
    args = ["--out", str(tmp_path / "b"), "--seed", "0", "--size", str(TEST_DEMO_SIZE), "--workers", "3"]
    result = CliRunner().invoke(app, ["data", "demo", *args])
    assert result.exit_code == 0, result.output
    assert "bench data check --data" in result.output
    files = sorted(p.relative_to(demo_root) for p in demo_root.rglob("*") if p.is_file())
    assert len(files) > 1000
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for path in files:
        assert (demo_root / path).read_bytes() == (tmp_path / "b" / path).read_bytes(), path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no partial directories left


def test_seed_changes_sample_and_images(demo_root):
    plan0, plan1 = demo.plan_demo(0), demo.plan_demo(1)
    assert plan0.image_ids != plan1.image_ids
    png, _ = demo.render_demo_image(plan0, 0, TEST_DEMO_SIZE)
    assert png == (demo_root / "images" / plan0.image_ids[0]).read_bytes()
    shared = sorted(set(plan0.image_ids) & set(plan1.image_ids))[0]
    other, _ = demo.render_demo_image(plan1, plan1.image_ids.index(shared), TEST_DEMO_SIZE)
    assert other != (demo_root / "images" / shared).read_bytes()


def test_refuses_to_overwrite_other_data(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(BenchError, match="refusing to overwrite"):
        demo.generate_demo(tmp_path / "mine", size=32, progress=False)
    with pytest.raises(BenchError, match="out of range"):
        demo.generate_demo(tmp_path / "new", size=2048, progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing(plan, i, size):
        calls.append(i)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return demo.encode_png(np.zeros((size, size), np.uint8)), ()

    monkeypatch.setattr(demo, "render_demo_image", failing)
    with pytest.raises(KeyboardInterrupt):
        demo.generate_demo(tmp_path / "demo", size=32, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_replaces_an_older_demo_in_place(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "DEMO.json").write_text(json.dumps({"generator": "cxr-bench-demo", "version": 1, "seed": 9, "size": 32}))
    (out / "stale.txt").write_text("old")
    new = tmp_path / "new"
    new.mkdir()
    (new / "DEMO.json").write_text(json.dumps({"generator": "cxr-bench-demo", "version": 1, "seed": 0, "size": 32}))
    demo._move_into_place(new, out)
    assert sorted(p.name for p in out.iterdir()) == ["DEMO.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_ensure_demo_generates_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CXR_BENCH_CACHE", str(tmp_path))
    made = []

    def fake_generate(out, **kwargs):
        made.append((out, kwargs))
        out.mkdir(parents=True)
        (out / "DEMO.json").write_text(json.dumps({"generator": "cxr-bench-demo", "version": 1}))
        return out

    monkeypatch.setattr(demo, "generate_demo", fake_generate)
    root = tmp_path / f"demo-v{demo.VERSION}"
    assert demo.ensure_demo() == root
    assert demo.ensure_demo() == root
    assert made == [(root, {"progress": True})]


@pytest.mark.parametrize("name", BOX_CLASSES)
def test_each_box_class_renders_one_box(name):
    rendered = render_chest([name], size=64, rng=np.random.default_rng(1))
    assert rendered.image.dtype == np.uint8 and rendered.image.shape == (64, 64)
    assert {box.label for box in rendered.boxes} == {name}
    assert render_chest([], size=64, rng=np.random.default_rng(1)).boxes == ()


@pytest.mark.benchmark
def test_generation_speed_at_256(benchmark):
    """At least 100 images/s at 256x256 on one core (rendering + PNG encoding)."""
    from threadpoolctl import threadpool_limits

    plan = demo.plan_demo(0)
    images = iter(range(len(plan.image_ids)))
    with threadpool_limits(limits=1):
        benchmark.pedantic(lambda: demo.render_demo_image(plan, next(images), 256), rounds=300, iterations=1)
    assert benchmark.stats.stats.mean < 1 / 100


# The arnoweng lists' and NIH's official list sizes (docs/domain.md section 3).
WENG_SIZES = {"train": 78_468, "val": 11_219, "test": 22_433}
OFFICIAL_SIZES = {"train_val": 86_524, "test": 25_596}


@pytest.fixture(scope="module")
def full_plan():
    return demo.plan_demo(0, full=True)


def test_full_plan_keeps_every_nih_row_in_patient_wise_lists_of_nih_sizes(full_plan):
    source, _ = demo._read_source()
    assert full_plan.image_ids == sorted(source["Image Index"])
    assert len(full_plan.image_ids) == 112_120
    patient = full_plan.rows["Patient ID"].to_numpy()
    for assignment, sizes in ((full_plan.weng, WENG_SIZES), (full_plan.official, OFFICIAL_SIZES)):
        for name, size in sizes.items():
            assert abs((assignment == name).sum() - size) <= 0.001 * size, name
        groups = [set(patient[assignment == name]) for name in sizes]
        assert sum(len(g) for g in groups) == len(set().union(*groups))  # no patient in two lists
    # Every class is spread over the weng lists in proportion: its test share within 2 points of 20%.
    test_share = full_plan.labels[full_plan.weng == "test"].sum(axis=0) / full_plan.labels.sum(axis=0)
    assert np.all(np.abs(test_share - 0.2) < 0.02), dict(zip(LABELS, test_share.round(3)))


def test_full_plan_renders_the_samples_images_identically(full_plan):
    sample = demo.plan_demo(0)
    position = {image_id: i for i, image_id in enumerate(full_plan.image_ids)}
    for i in (0, 1234, len(sample.image_ids) - 1):
        image_id = sample.image_ids[i]
        assert demo.render_demo_image(sample, i, 32) == demo.render_demo_image(full_plan, position[image_id], 32)


def test_cli_writes_a_full_root_marked_as_such(tmp_path, monkeypatch, full_plan):
    """The writing path of --full, on the full plan's first 300 rows (all 112,120 would take
    minutes): DEMO.json says full, the lists hold exactly the plan's images."""
    asked = []

    def first_rows(seed, *, full=False):
        asked.append(full)
        keep = slice(0, 300)
        return dataclasses.replace(
            full_plan,
            rows=full_plan.rows.iloc[keep],
            labels=full_plan.labels[keep],
            official=full_plan.official[keep],
            weng=full_plan.weng[keep],
        )

    monkeypatch.setattr(demo, "plan_demo", first_rows)
    out = tmp_path / "full"
    result = CliRunner().invoke(app, ["data", "demo", "--full", "--out", str(out), "--size", "32", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert asked == [True]
    assert "full-length synthetic dataset (300 images, 32x32, seed 0)" in " ".join(result.output.split())
    meta = json.loads((out / "DEMO.json").read_text())
    assert (meta["full"], meta["images"], meta["size"]) == (True, 300, 32)
    listed = _lines(out / "train_val_list.txt") + _lines(out / "test_list.txt")
    assert sorted(listed) == full_plan.image_ids[:300] == sorted(p.name for p in (out / "images").iterdir())


def test_cli_refuses_full_without_out(tmp_path, monkeypatch):
    monkeypatch.setenv("CXR_BENCH_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["data", "demo", "--full"])
    assert result.exit_code == 2
    assert "--full needs --out" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "cache").exists()
