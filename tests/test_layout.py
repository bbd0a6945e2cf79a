"""Memory layout: models and their inputs are channels_last on every device, in training and scoring."""

from __future__ import annotations

import numpy as np
import torch

from bench.method import get_method
from bench.train.batches import ArraySource, to_input
from bench.train.device import place_input, place_model
from bench.train.evaluate import TTA, Scorer

CPU = torch.device("cpu")
CHANNELS_LAST = torch.channels_last


def test_inputs_are_channels_last_with_the_same_values():
    pixels = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    norm = get_method("chexnet").spec.normalisation
    flip = torch.tensor([True, False, True])
    x = place_input(pixels, norm, flip=flip)
    assert x.shape == (3, 3, 8, 8) and x.is_contiguous(memory_format=CHANNELS_LAST)
    # By hand: the first image mirrored, scaled to [0, 1], then normalised per channel.
    mean, std = torch.tensor(norm.mean).view(3, 1, 1), torch.tensor(norm.std).view(3, 1, 1)
    expected = (pixels[0].flip(-1).float() / 255 - mean) / std
    torch.testing.assert_close(x[0], expected, rtol=1e-6, atol=1e-6)
    assert torch.equal(x[1], to_input(pixels[1:2], mean=norm.mean, std=norm.std)[0])


def test_models_are_placed_channels_last_on_the_cpu():
    model = place_model(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 1)), CPU)
    weights = [p for p in model.parameters() if p.dim() == 4]
    assert len(weights) == 2 and all(w.is_contiguous(memory_format=CHANNELS_LAST) for w in weights)
    assert set(model.state_dict()) == {"0.weight", "0.bias", "1.weight", "1.bias"}  # keys stay plain


def test_the_scorer_feeds_channels_last_batches_and_views():
    seen = []

    def predict(model, x):
        seen.append(x.is_contiguous(memory_format=CHANNELS_LAST))
        return model(x)

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 14, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    scorer = Scorer(get_method("chexnet").spec.normalisation, 4, CPU, predict=predict)
    source = ArraySource(np.random.default_rng(0).integers(0, 256, (6, 16, 16), dtype=np.uint8))
    labels = np.zeros((6, 14), np.float32)
    plain = scorer.score(model, source, labels).scores
    flipped = scorer.score(model, source, labels, tta=TTA("flip", 16)).scores
    assert seen == [True] * (2 + 4)  # two batches, then two views of each
    assert plain.shape == flipped.shape == (6, 14) and not np.array_equal(plain, flipped)
