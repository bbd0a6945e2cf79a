"""Heatmaps and box scores: known-answer models, hand-computed scores, a trained run on the demo, bad input."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from cam_support import _localized, _trained_and_random
from torch import nn
from typer.testing import CliRunner

from bench.cam import CAM, GRADCAM, CamExtractor, heatmap_boxes, iobb, iou, peak, score_image, summarise
from bench.cam.scoring import ImageScore, normalise, upsample
from bench.cli import app
from bench.labels import LABELS

# -- known-answer models ---------------------------------------------------------------------------
BRIGHT, DARK = LABELS.index("Mass"), LABELS.index("Effusion")
SQUARE = (4, 20, 8, 8)  # x, y, w, h in a 32 x 32 image


def square_image() -> torch.Tensor:
    """(1, 3, 32, 32): grey 0.2 with a bright (1.0) square at SQUARE."""
    x = torch.full((1, 3, 32, 32), 0.2)
    sx, sy, w, h = SQUARE
    x[:, :, sy : sy + h, sx : sx + w] = 1.0
    return x


def _detector() -> nn.Conv2d:
    """Channel 0 fires on bright 3x3 neighbourhoods (mean > 0.5), channel 1 on dark ones."""
    conv = nn.Conv2d(3, 2, 3, padding=1, padding_mode="replicate")
    with torch.no_grad():
        conv.weight[0].fill_(1 / 27)
        conv.weight[1].fill_(-1 / 27)
        conv.bias.copy_(torch.tensor([-0.5, 0.5]))
    return conv


def _head() -> nn.Linear:
    """Class BRIGHT reads channel 0, class DARK channel 1, the others nothing."""
    fc = nn.Linear(2, len(LABELS))
    with torch.no_grad():
        fc.weight.zero_()
        fc.bias.fill_(-1.0)
        fc.weight[BRIGHT, 0] = 4.0
        fc.weight[DARK, 1] = 4.0
    return fc


class TimmLike(nn.Module):
    """forward_features -> global pooling -> linear, with timm's method names."""

    def __init__(self, pool: nn.Module | None = None):
        super().__init__()
        self.conv, self.pool, self.fc = _detector(), pool or nn.AdaptiveAvgPool2d(1), _head()

    def forward_features(self, x):
        return torch.relu(self.conv(x))

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(self.pool(self.forward_features(x)).flatten(1))


def plain_model() -> nn.Module:
    """No forward_features: only Grad-CAM applies."""
    return nn.Sequential(_detector(), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), _head())


def _inside(point, box) -> bool:
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


@pytest.mark.parametrize(
    ("make", "method"),
    [(TimmLike, CAM), (plain_model, GRADCAM), (lambda: TimmLike(nn.AdaptiveMaxPool2d(1)), GRADCAM)],
    ids=["gap-linear-cam", "no-forward-features-gradcam", "max-pool-head-gradcam"],
)
def test_heatmap_peak_lies_in_the_bright_square(make, method):
    extractor = CamExtractor(make())
    batch = extractor(square_image(), [BRIGHT, DARK])
    assert extractor.method == method
    assert batch.maps.shape == (1, 2, 32, 32)
    bright, dark = batch.maps[0]
    assert _inside(peak(bright, 32), SQUARE)
    assert not _inside(peak(dark, 32), SQUARE)  # the other class's row of weights looks elsewhere
    # The thresholded heatmap box is the square, give or take the 3x3 filter's reach.
    (box,) = heatmap_boxes(normalise(bright))
    assert iobb(SQUARE, box) == 1.0 and iou(box, SQUARE) > 0.5


def test_cam_reproduces_the_logits_of_a_timm_densenet():
    """CAM averaged over positions plus the bias is the model's logit: the right layer's weights."""
    import timm

    torch.manual_seed(0)
    model = timm.create_model("densenet121", pretrained=False, num_classes=len(LABELS)).eval()
    x = torch.randn(2, 3, 64, 64)
    extractor = CamExtractor(model)
    batch = extractor(x, list(range(len(LABELS))))
    assert (extractor.method, extractor.layer) == (CAM, "forward_features")
    assert batch.maps.shape == (2, 14, 2, 2)
    with torch.no_grad():
        logits = model(x).numpy()
    bias = model.get_classifier().bias.detach().numpy()
    np.testing.assert_allclose(batch.maps.mean(axis=(2, 3)) + bias, logits, rtol=1e-4, atol=1e-4)


# -- box scores against hand-computed numbers -------------------------------------------------------
def test_iou_and_iobb_by_hand():
    assert iou((0, 0, 4, 4), (2, 2, 4, 4)) == pytest.approx(4 / 28)  # 2x2 overlap, union 16 + 16 - 4
    assert iobb((0, 0, 4, 4), (2, 2, 4, 4)) == pytest.approx(4 / 16)  # over the detected box
    assert iobb((0, 0, 10, 10), (2, 2, 2, 2)) == 1.0 and iou((0, 0, 10, 10), (2, 2, 2, 2)) == pytest.approx(0.04)
    assert iou((0, 0, 2, 2), (5, 5, 2, 2)) == 0.0 and iobb((0, 0, 2, 2), (2, 0, 2, 2)) == 0.0  # apart, touching


def test_heatmap_boxes_cover_each_connected_region():
    heat = np.zeros((10, 10), np.float32)
    heat[1:3, 1:4] = 1.0
    heat[6:9, 7] = 0.8
    heat[4, 5] = 0.5  # below 180/255
    assert sorted(heatmap_boxes(heat)) == [(1.0, 1.0, 3.0, 2.0), (7.0, 6.0, 1.0, 3.0)]
    heat[3, 4] = 0.9  # touches the first region diagonally: 8-connected, one box
    assert (1.0, 1.0, 4.0, 3.0) in heatmap_boxes(heat)
    assert heatmap_boxes(normalise(np.ones((4, 4)))) == []  # a constant map detects nothing


def test_peak_is_the_largest_cell_centre_in_input_pixels():
    assert peak(np.array([[0.0, 1.0], [0.0, 0.0]]), 64) == (48.0, 16.0)
    assert peak(np.full((3, 3), 2.0), 96) is None  # a constant map has no peak: never a hit
    assert upsample(np.arange(4.0).reshape(2, 2), 4).shape == (4, 4)


def test_score_image_and_summary_by_hand():
    native = np.zeros((8, 8), np.float32)
    native[2:5, 3:6] = 1.0
    s = score_image("a.png", "Mass", native, 8, [(3, 2, 3, 3), (0, 6, 2, 2)])
    assert s.detected == ((3.0, 2.0, 3.0, 3.0),) and s.best_iou == (1.0, 0.0) and s.best_iobb == (1.0, 0.0)
    assert s.peak == (3.5, 2.5) and s.hit
    a = ImageScore("a", "Mass", (), ((0, 0, 1, 1),), (0.3,), (0.6,), None, True)
    b = ImageScore("b", "Mass", (), ((0, 0, 1, 1),) * 2, (0.05, 0.6), (0.2, 0.8), None, False)
    got = summarise([a, b])
    assert (got.n_boxes, got.n_images, got.pointing) == (3, 2, 0.5)
    assert got.iou == pytest.approx({0.1: 2 / 3, 0.25: 2 / 3, 0.5: 1 / 3, 0.75: 0.0})
    assert got.iobb == pytest.approx({0.1: 1.0, 0.25: 2 / 3, 0.5: 2 / 3, 0.75: 1 / 3})
    assert got.mean_iou == pytest.approx(0.95 / 3) and got.mean_iobb == pytest.approx(1.6 / 3)
    assert got.to_json()["iobb"]["0.25"] == pytest.approx(2 / 3)


# -- `bench cam` on a run of the paper's network --------------------------------------------------
# One epoch of DenseNet-121 on 200 demo images at 64 px: the commands' mechanics (grids, scores,
# the leaderboard table, comparisons, errors) on the paper's backbone, in seconds. That trained
# heatmaps localize better than a random init is shown by tests/test_cam_fine.py, on a network
# whose maps are fine enough to point at the demo's findings (DenseNet-121's are 2x2 at 64 px).
TRAINING = dict(method="chexnet", split="official", preset="smoke", image_size=64, batch_size=32, epochs=1, limit=200)


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def runs(demo_root, tmp_path_factory):
    """(store, trained record, random-init twin), in a results directory of their own."""
    return _trained_and_random(demo_root, tmp_path_factory.mktemp("cam-results"), **TRAINING)


@pytest.fixture(scope="module")
def scores(runs):
    return _localized(runs)


def test_bench_cam_writes_grids_scores_and_the_leaderboard_table(runs, scores, tmp_path):
    store, record, twin = runs
    done = cli("cam", record.run_id, "--results", store.results_dir, "--images", "2", "--device", "cpu", "-q")
    assert done.exit_code == 0, done.output
    loc = store.load(record.run_id).localization
    expected = scores[0].to_record()
    assert dataclasses.replace(loc, computed="") == dataclasses.replace(expected, computed="")
    assert loc.cam == "cam" and loc.thresholds == (0.1, 0.25, 0.5, 0.75)
    assert list(loc.classes) == [c for c in LABELS if c in loc.classes]
    folder = store.run_dir(record.run_id) / "cam"
    assert sorted(p.stem for p in folder.glob("*.png")) == sorted(loc.classes)
    assert "IoBB>0.5" in (folder / "localization.md").read_text()

    assert (
        cli("cam", twin.run_id, "--results", store.results_dir, "--images", "1", "--classes", "Mass", "-q").exit_code
        == 0
    )
    board = cli(
        "leaderboard", "--results", store.results_dir, "--localization", "--out", tmp_path / "loc.json", "--format=json"
    )
    assert board.exit_code == 0, board.output
    (table,) = json.loads((tmp_path / "loc.json").read_text())["tables"]
    assert [c["method"] for c in table["columns"]] == ["chexnet", "chexnet-random-init"]
    heart = table["rows"]["Cardiomegaly"]["chexnet"]
    stored = loc.classes["Cardiomegaly"]
    assert heart == {"iobb_0.5": stored.iobb["0.5"], "pointing": stored.pointing}
    assert "Mean" in table["rows"]
    md = cli("leaderboard", "--results", store.results_dir, "--localization", "--out", "-")
    assert md.exit_code == 0 and "| Cardiomegaly" in md.output and "chexnet-random-init" in md.output


def test_compare_draws_the_runs_on_the_same_images(runs, tmp_path):
    store, record, twin = runs
    both = (record.run_id, twin.run_id)
    done = cli(
        "cam", "--compare", *both, "-c", "Cardiomegaly,Mass", "--results", store.results_dir, "--out", tmp_path, "-q"
    )
    assert done.exit_code == 0, done.output
    assert [p.name for p in tmp_path.glob("*.png")] == [f"compare-{record.run_id[-4:]}-rand.png"]


# -- bad input -----------------------------------------------------------------------------------------
def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_bad_input_gives_one_line_errors(runs, demo_root, tmp_path):
    from bench.cam import run_dataset
    from bench.predictions import load_predictions
    from bench.records import Artifacts

    store, record, _ = runs
    failed = dataclasses.replace(record, run_id=record.run_id[:-4] + "fail", status="failed", artifacts=Artifacts())
    store.write(failed)
    r = store.results_dir
    _one_line_error(cli("cam", failed.run_id, "--results", r), "has no checkpoint")
    _one_line_error(
        cli("cam", record.run_id, "--results", r, "--classes", "Emphysema"), "Emphysema has no ground-truth boxes"
    )
    _one_line_error(cli("cam", record.run_id, "--results", r, "--classes", "Lung cancer"), "unknown finding")
    _one_line_error(cli("cam", record.run_id, "--results", r, "--image", "99999999_000.png"), "not in dataset")
    _one_line_error(cli("cam", record.run_id, "--results", r, "--images", "0"), "at least 1")
    _one_line_error(cli("cam", record.run_id, "--results", r, "--compare"), "two or more")
    _one_line_error(cli("cam", "no-such-run", "--results", r), "no run")
    _one_line_error(cli("leaderboard", "--results", tmp_path, "--localization"), "has localization scores")

    # An image without boxes: named alone it is an error; with a class it is drawn, with a warning.
    boxed = set(run_dataset(record).boxes["image_id"])
    plain = next(i for i in load_predictions(store.artifact(record, "predictions")).image_ids if i not in boxed)
    _one_line_error(cli("cam", record.run_id, "--results", r, "--image", plain), "none of the images named")
    drawn = cli(
        "cam", record.run_id, "--results", r, "--image", plain, "-c", "Cardiomegaly", "--out", tmp_path / "one", "-q"
    )
    assert drawn.exit_code == 0 and "has no ground-truth box" in drawn.output
    assert (tmp_path / "one" / "Cardiomegaly.png").is_file()

    # A dataset without a box file, and a checkpoint that went missing.
    bare = tmp_path / "bare"
    shutil.copytree(demo_root, bare, ignore=shutil.ignore_patterns("images", "BBox_List_2017.csv"))
    (bare / "images").symlink_to(demo_root / "images")
    _one_line_error(cli("cam", record.run_id, "--results", r, "--data", bare), "has no ground-truth boxes")
    shutil.copytree(store.run_dir(record.run_id), store.run_dir(record.run_id[:-4] + "gone"))
    store.write(dataclasses.replace(record, run_id=record.run_id[:-4] + "gone"))
    (store.run_dir(record.run_id[:-4] + "gone") / record.artifacts.checkpoint).unlink()
    _one_line_error(cli("cam", record.run_id[:-4] + "gone", "--results", r), "checkpoint", "is missing")
