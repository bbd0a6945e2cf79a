"""One run's evaluation: its parts, its notes, the schema round trip and the PNG writers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.evaluation import Evaluation, evaluate
from bench.evaluation.calibration import calibration
from bench.evaluation.plots import DPI, critical_difference_figure, critical_difference_png, reliability_png
from bench.evaluation.ranking import Ranking, rank_methods
from bench.evaluation.subgroups import standard_attributes
from bench.schema import decode, encode

PNG = b"\x89PNG\r\n\x1a\n"


def _scored(n=300, seed=0):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 120, n)
    y = (rng.random((n, 14)) < 0.25).astype(np.int8)
    y[:, 13] = 0
    y[:12, 13] = 1  # Hernia: 12 positives, too few in any subgroup
    s = 1 / (1 + np.exp(-(rng.normal(size=(n, 14)) + 1.5 * y - 1)))
    attributes = standard_attributes(
        rng.choice(["PA", "AP"], n), rng.choice(["M", "F"], n), rng.integers(10, 95, n).astype(float)
    )
    return y, s, groups, attributes


def test_evaluate_computes_every_part_and_round_trips_through_the_schema():
    y, s, groups, attributes = _scored()
    result = evaluate(y, s, groups, attributes=attributes, val_labels=y, val_scores=s, n_resamples=20)
    assert result.notes == ()
    assert [a.attribute for a in result.subgroups.attributes] == ["view", "sex", "age"]
    assert list(result.subgroups.thresholds.values()) == result.operating.thresholds("youden").tolist()
    pa = result.subgroups.attributes[0].subgroups[0]
    assert pa.auroc["Hernia"].value is None and pa.mean.n_classes == 13  # undefined, and said so
    assert len(pa.tpr) == 14 and result.calibration.mean_ece.n_classes == 14
    text = json.dumps(encode(result))
    assert "NaN" not in text
    assert decode(Evaluation, json.loads(text), source="evaluation.json") == result


def test_logits_and_missing_validation_are_notes_not_errors():
    y, s, groups, _ = _scored(seed=1)
    result = evaluate(y, np.log(s / (1 - s)), groups)
    assert result.calibration is None and result.operating is None and result.subgroups is None
    assert len(result.notes) == 3
    assert result.notes[0] == "operating points: no validation predictions to choose thresholds on"
    assert result.notes[2].startswith("calibration: scores are not probabilities: ")


def test_reliability_and_critical_difference_pngs(tmp_path):
    y, s, groups, _ = _scored(seed=2)
    report = calibration(y, s, groups, n_resamples=5)
    path = reliability_png(report, tmp_path / "plots" / "reliability.png", title="demo run")
    assert path.read_bytes().startswith(PNG)
    ranking = rank_methods(np.random.default_rng(0).random((14, 4)), ["a", "b", "c", "d"])
    cd = critical_difference_png(ranking, tmp_path / "cd.png")
    assert cd.read_bytes().startswith(PNG)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cd.png", "plots", "reliability.png"]  # no temporaries
    assert decode(Ranking, json.loads(json.dumps(encode(ranking))), source="ranking") == ranking


def test_critical_difference_figure_wraps_a_long_title_and_fits_long_names(tmp_path):
    names = [
        "chexnet[optimizer.lr=0.0003,loss.name=focal] [tta hflip]",
        "b",
        "wfocal-densenet121[model.image_size=512]",
    ]
    ranking = rank_methods(np.random.default_rng(0).random((14, 3)), names)
    title = "official split, at most 300 images per list, synthetic demo data, split 92b9e119, " * 3
    fig = critical_difference_figure(ranking, title=title.strip())
    renderer = fig.canvas.get_renderer()
    (heading,) = fig.texts
    lines = heading.get_text().split("\n")
    assert len(lines) >= 2 and " ".join(lines).startswith(title.strip() + ": mean rank over 14 blocks")
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert all(any(name in label for label in labels) for name in names)  # whole names, none cut
    inside = fig.bbox.padded(0.5)  # every text's box (title, names, CD) within the figure
    for text in [heading, *fig.axes[0].texts]:
        box = text.get_window_extent(renderer)
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1, text
    drawn = fig.get_tightbbox(renderer)  # inches: the tick labels and lines too
    width, height = fig.get_size_inches()
    assert drawn.x0 >= 0 and drawn.y0 >= 0 and drawn.x1 <= width and drawn.y1 <= height
    png = critical_difference_png(ranking, tmp_path / "cd.png", title=title.strip())
    from PIL import Image

    assert Image.open(png).size == (round(width * DPI), round(height * DPI))


def test_evaluate_checks_its_inputs():
    y, s, groups, attributes = _scored(n=40)
    with pytest.raises(ValueError, match="patient ids"):
        evaluate(y, s, groups[:5])
    with pytest.raises(ValueError, match="level"):
        evaluate(y, s, groups, attributes=attributes, level=1.5)
