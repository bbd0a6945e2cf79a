"""A fine CAM (the small stride-8 CNN of tests/plugins/cam_cnn.py, trained at 96 px on a 128 px demo)
points at the demo's strong signatures; in a file of its own so its training runs beside the
other localization tests' (the suite gives each file to one worker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cam_support import _localized, _pooled, _summary, _trained_and_random

from bench.cam import CAM

CAM_CNN = Path(__file__).parent / "plugins" / "cam_cnn.py"
CAM_TRAINING = dict(method="cam-cnn", split="official", preset="demo", plugins=(str(CAM_CNN),))


@pytest.fixture(scope="module")
def cam_cnn_scores(tmp_path_factory):
    from bench.data.demo import generate_demo

    demo = generate_demo(tmp_path_factory.mktemp("demo128") / "demo", seed=0, size=128, progress=False)
    return _localized(_trained_and_random(demo, tmp_path_factory.mktemp("cam-cnn-results"), **CAM_TRAINING))


def test_a_fine_cam_points_at_the_strong_signatures_far_above_chance(cam_cnn_scores):
    """Cardiomegaly, nodules and masses: the trained maps' peaks land in their boxes far more often
    than a random init's, whose maps follow image brightness rather than any finding."""
    trained, rand = cam_cnn_scores
    assert trained.cam == CAM and trained.image_size == 96
    summary = _summary(trained, rand)
    print(summary)
    # The pointing game, not thresholded boxes: with several findings in one image, the largest
    # thresholded region is often another finding's. The margins hold for training seeds 0-3,
    # whose trained-minus-random pointing was Cardiomegaly +0.62 to +0.75, Nodule+Mass +0.10 to
    # +0.20, all classes +0.29 to +0.35.
    heart_t, heart_r = (x.classes["Cardiomegaly"].pointing for x in cam_cnn_scores)
    assert heart_t >= heart_r + 0.3, summary
    small_t, small_r = (_pooled(x, ("Nodule", "Mass"), lambda s: s.pointing) for x in cam_cnn_scores)
    assert small_t >= small_r + 0.08, summary
    point_t, point_r = (np.mean([s.pointing for s in x.classes.values()]) for x in cam_cnn_scores)
    assert point_t >= point_r + 0.25, summary
