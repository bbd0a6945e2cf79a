"""Test-time augmentation: the views taken, the scores averaged, the option refused when unknown;
a method's `predict` hook inside it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError
from bench.method import LossSpec, Method, MethodSpec, Normalisation, OptimizerSpec, StageSpec
from bench.train.batches import ArraySource
from bench.train.evaluate import TTA, Scorer, five_crop, ten_crop

NORMALISATION = Normalisation(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def scorer() -> Scorer:
    return Scorer(NORMALISATION, batch_size=4, device=torch.device("cpu"))


def images(n: int, size: int) -> ArraySource:
    return ArraySource(np.random.default_rng(0).integers(0, 256, (n, size, size), dtype=np.uint8))


def test_ten_crop_of_a_known_input_gives_the_corners_centre_and_their_mirrors():
    x = torch.arange(64.0).reshape(1, 1, 8, 8)
    crops = ten_crop(x, 6)
    assert len(crops) == 10 and all(c.shape == (1, 1, 6, 6) for c in crops)
    assert crops[0][0, 0, 0].tolist() == [0, 1, 2, 3, 4, 5]  # top left
    assert crops[1][0, 0, 0].tolist() == [2, 3, 4, 5, 6, 7]  # top right
    assert crops[2][0, 0, -1].tolist() == [56, 57, 58, 59, 60, 61]  # bottom left
    assert crops[3][0, 0, -1, -1] == 63 and crops[4][0, 0, 0, 0] == 9  # bottom right; centre from (1, 1)
    assert crops[5][0, 0, 0].tolist() == [7, 6, 5, 4, 3, 2]  # top left of the mirror image
    assert torch.equal(crops[9], five_crop(x.flip(-1), 6)[4])
    # torchvision's TenCrop, the transform the CheXNet re-implementations test with.
    from torchvision.transforms.functional import ten_crop as reference

    y = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(ten_crop(y, 5), reference(y, [5, 5])))


def test_sizes_and_unknown_modes():
    assert TTA("tencrop", 224).input_size == 256 and TTA("tencrop", 448).input_size == 512
    assert TTA("flip", 224).input_size == TTA("none", 224).input_size == 224
    with pytest.raises(BenchError, match="unknown test-time augmentation 'mirror'"):
        TTA("mirror", 224)
    result = CliRunner().invoke(app, ["run", "--method", "chexnet", "--tta", "mirror"])
    assert result.exit_code == 2 and "unknown --tta 'mirror' (use one of: none, flip, tencrop)" in result.stderr


def test_flip_on_a_mirror_invariant_model_equals_none(one_thread):
    torch.manual_seed(0)
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 14))  # blind to left and right
    source, labels = images(6, 16), np.zeros((6, 14), np.uint8)
    plain = scorer().score(model, source, labels).scores
    flipped = scorer().score(model, source, labels, tta=TTA("flip", 16)).scores
    np.testing.assert_allclose(flipped, plain, rtol=0, atol=1e-6)


def test_flip_and_tencrop_average_the_views_after_the_sigmoid(one_thread):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 14)).eval()  # sees left from right
    labels = np.zeros((5, 14), np.uint8)
    x = torch.from_numpy(images(5, 16).array).float().div(255).unsqueeze(1).expand(-1, 3, -1, -1)
    x = (x - 0.5) / 0.25
    with torch.no_grad():
        want = (torch.sigmoid(model(x)) + torch.sigmoid(model(x.flip(-1)))) / 2
    got = scorer().score(model, images(5, 16), labels, tta=TTA("flip", 16)).scores
    np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=1e-6)
    assert not np.allclose(got, scorer().score(model, images(5, 16), labels).scores, atol=1e-4)

    big = images(5, 18)  # ten-crop of 16 px views from 18 px images (16 * 256 / 224, rounded)
    x = torch.from_numpy(big.array).float().div(255).unsqueeze(1).expand(-1, 3, -1, -1)
    x = (x - 0.5) / 0.25
    with torch.no_grad():
        want = torch.stack([torch.sigmoid(model(c.contiguous())) for c in ten_crop(x, 16)]).mean(0)
    got = scorer().score(model, big, labels, tta=TTA("tencrop", 16)).scores
    np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="tencrop scoring needs images of 18 px, got 16 px"):
        scorer().score(model, images(5, 16), labels, tta=TTA("tencrop", 16))


class Negated(Method):
    """Predicts the negated logits of its model: scores 1 - sigmoid(model(x))."""

    def predict(self, model, x):
        return -model(x)


def negated() -> Negated:
    stages = (StageSpec(32, 2, 1),)
    spec = MethodSpec(
        name="negated",
        description="x",
        backbone="test_resnet",
        loss=LossSpec(),
        optimizer=OptimizerSpec("adam", lr=1e-3),
        normalisation=NORMALISATION,
        presets={"paper": stages, "demo": stages, "smoke": stages},
    )
    return Negated(spec).resolve("smoke")


def test_predict_gives_the_logits_and_the_loss_and_tta_wraps_it(one_thread):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 14)).eval()
    labels = (np.random.default_rng(1).random((5, 14)) < 0.5).astype(np.uint8)
    x = torch.from_numpy(images(5, 16).array).float().div(255).unsqueeze(1).expand(-1, 3, -1, -1)
    x = (x - 0.5) / 0.25
    hooked = Scorer.for_method(negated(), torch.device("cpu"))
    assert hooked.batch_size == 4  # the method's batch, twice: two batches of the five images
    loss_fn = nn.BCEWithLogitsLoss()
    got = hooked.score(model, images(5, 16), labels, loss_fn=loss_fn)
    with torch.no_grad():
        logits = model(x)
        want_loss = float(loss_fn(-logits, torch.from_numpy(labels).float()))
        flipped = (torch.sigmoid(-logits) + torch.sigmoid(-model(x.flip(-1)))) / 2
    np.testing.assert_allclose(got.scores, 1 - torch.sigmoid(logits).numpy(), rtol=0, atol=1e-6)
    assert got.loss == pytest.approx(want_loss, abs=1e-6)
    tta = hooked.score(model, images(5, 16), labels, tta=TTA("flip", 16)).scores
    np.testing.assert_allclose(tta, flipped.numpy(), rtol=0, atol=1e-6)


def test_predict_of_the_wrong_shape_is_one_line(one_thread):
    class Cut(Negated):
        def predict(self, model, x):
            return model(x)[:, :10]

    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 14))
    scorer = Scorer.for_method(Cut(negated().spec), torch.device("cpu"))
    line = Cut.predict.__wrapped__.__code__.co_firstlineno
    want = (
        f"predict of method 'negated' ({__file__}, line {line}) returned a tensor of shape (4, 10) for a batch "
        "of 4; it must return (4, 14) logits"
    )
    with pytest.raises(BenchError) as caught:
        scorer.score(model, images(5, 16), np.zeros((5, 14), np.uint8))
    assert caught.value.message == want
