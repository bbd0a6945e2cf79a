"""Class weights and the weighted BCE / focal loss against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.labels import LABELS
from bench.losses import (
    WeightedBinaryLoss,
    class_balanced_weights,
    cui_weights_both,
    effective_number_weights,
    wang_weights,
)

COUNTS = [10, 100, 1000]
# docs/domain.md section 1 / the paper's Table 3: positives over all 112,120 images, LABELS order.
NIH_COUNTS = [11559, 2776, 13317, 19894, 5782, 6331, 1431, 5302, 4667, 2303, 2516, 1686, 3385, 227]


def test_wang_weights_by_hand():
    # total 2000: w_pos = 2000/P, w_neg = 2000/(2000-P)
    w_pos, w_neg = wang_weights(COUNTS, 2000)
    np.testing.assert_allclose(w_pos, [200.0, 20.0, 2.0])
    np.testing.assert_allclose(w_neg, [2000 / 1990, 2000 / 1900, 2000 / 1000])
    np.testing.assert_allclose(w_neg, [1.0050251256, 1.0526315789, 2.0], rtol=1e-10)


@pytest.mark.parametrize(
    "counts, total, match",
    [([0, 5], 10, "zero training positives: class 0"), ([10, 5], 10, "zero training negatives: class 0")],
)
def test_wang_weights_refuse_one_sided_classes(counts, total, match):
    with pytest.raises(ValueError, match=match):
        wang_weights(counts, total)


def test_effective_number_weights_by_hand():
    # beta = 0.999, 1 - beta = 0.001:
    #   0.999**10   = 0.99004488021  -> alpha = 0.001 / 0.00995511979 = 0.10045082541
    #   0.999**100  = 0.90479214711  -> alpha = 0.001 / 0.09520785289 = 0.01050333528
    #   0.999**1000 = 0.36769542477  -> alpha = 0.001 / 0.63230457523 = 0.00158151631
    #   sum = 0.11253567700; weights = 3 * alpha / sum
    w = effective_number_weights(COUNTS, 0.999)
    np.testing.assert_allclose(w, [2.6778394573, 0.2800001446, 0.0421603980], rtol=1e-8)
    assert w.sum() == pytest.approx(3.0)
    # beta = 0 is "no re-weighting": every alpha is 1.
    np.testing.assert_allclose(effective_number_weights(COUNTS, 0.0), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("beta", [1.0, -0.1, 1.5])
def test_effective_number_weights_reject_bad_beta(beta):
    with pytest.raises(ValueError, match="0 <= beta < 1"):
        effective_number_weights(COUNTS, beta)


def test_effective_number_weights_reject_zero_count():
    with pytest.raises(ValueError, match="zero training positives: class 1"):
        effective_number_weights([5, 0, 3], 0.99)


def test_effective_number_weights_precise_for_beta_near_one():
    # beta = 1 - 2e-6 (Eq. 10): 1 - beta**n ~ n * 2e-6, so alpha ~ 1/n and w ~ C * (1/n) / sum(1/n).
    w = effective_number_weights(COUNTS, 1 - 2e-6)
    inverse = np.array([1 / 10, 1 / 100, 1 / 1000])
    np.testing.assert_allclose(w, 3 * inverse / inverse.sum(), rtol=2e-3)


def test_class_balanced_weights_by_hand():
    # w_pos = 0.1 * (the effective-number weights above); w_neg = 1 - w_pos
    w_pos, w_neg = class_balanced_weights(COUNTS, 0.999)
    np.testing.assert_allclose(w_pos, [0.26778394573, 0.02800001446, 0.00421603980], rtol=1e-8)
    np.testing.assert_allclose(w_neg, [0.73221605427, 0.97199998554, 0.99578396020], rtol=1e-8)


def test_class_balanced_weights_refuse_the_papers_literal_scale_on_nih():
    # beta = 0.9998: alpha(Hernia, n=227) = 0.0002 / (1 - 0.9998**227) = 0.0002 / 0.04439 = 0.004505,
    # sum(alpha) over the 14 classes ~ 0.0104, so C * alpha / sum = 14 * 0.004505 / 0.0104 ~ 6 > 1.
    with pytest.raises(ValueError) as raised:
        class_balanced_weights(NIH_COUNTS, 0.9998, scale=1.0)
    text = str(raised.value)
    assert "Hernia (w_pos=" in text and "Pneumonia (w_pos=" in text
    assert "Atelectasis" not in text
    assert "scale=0.1" in text and "(0, 1)" in text
    w_pos, w_neg = class_balanced_weights(NIH_COUNTS, 0.9998)  # the released code's 0.1 is fine
    assert np.all((w_pos > 0) & (w_pos < 1)) and np.all((w_neg > 0) & (w_neg < 1))
    assert LABELS[int(np.argmax(w_pos))] == "Hernia"


def test_cui_weights_both_puts_the_same_weights_on_both_terms():
    w_pos, w_neg = cui_weights_both(COUNTS, 0.999)
    np.testing.assert_allclose(w_pos, effective_number_weights(COUNTS, 0.999))
    np.testing.assert_array_equal(w_pos, w_neg)


def _batch(seed=0, batch=8, classes=14):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, classes, generator=gen) * 3
    targets = (torch.rand(batch, classes, generator=gen) < 0.3).float()
    return logits, targets


def test_unit_weight_bce_is_pytorch_bce():
    logits, targets = _batch()
    loss = WeightedBinaryLoss(kind="bce")(logits, targets)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits, targets))


def test_focal_with_gamma_0_and_alpha_half_is_half_bce():
    logits, targets = _batch()
    loss = WeightedBinaryLoss(kind="focal", alpha=0.5, gamma=0.0)(logits, targets)
    torch.testing.assert_close(loss, 0.5 * F.binary_cross_entropy_with_logits(logits, targets))


def test_weighted_focal_2x2_by_hand():
    # logits 0, ln 3, -ln 3, ln 4 give p = 0.5, 0.75, 0.25, 0.8; alpha 0.25, gamma 2.
    logits = torch.tensor([[0.0, math.log(3)], [-math.log(3), math.log(4)]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss_fn = WeightedBinaryLoss(w_pos=[2.0, 1.0], w_neg=[1.0, 3.0], kind="focal", alpha=0.25, gamma=2.0)
    # (0,0) y=1: 2 * 0.25 * 0.5**2  * -ln 0.5  = 2 * 0.25 * 0.25  * 0.693147 = 0.0866434
    # (0,1) y=0: 3 * 0.75 * 0.75**2 * -ln 0.25 = 3 * 0.75 * 0.5625 * 1.386294 = 1.7545288
    # (1,0) y=0: 1 * 0.75 * 0.25**2 * -ln 0.75 = 1 * 0.75 * 0.0625 * 0.287682 = 0.0134851
    # (1,1) y=1: 1 * 0.25 * 0.2**2  * -ln 0.8  = 1 * 0.25 * 0.04   * 0.223144 = 0.0022314
    expected = (0.0866434 + 1.7545288 + 0.0134851 + 0.0022314) / 4
    assert loss_fn(logits, targets).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("kind", ["bce", "focal"])
def test_extreme_logits_give_finite_loss_and_gradients(kind):
    logits = torch.tensor([[50.0, -50.0, 50.0, -50.0] * 3 + [50.0, -50.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 0.0, 0.0, 1.0] * 3 + [0.0, 1.0]])
    loss = WeightedBinaryLoss(kind=kind, alpha=0.5, gamma=1.0)(logits, targets)
    loss.backward()
    assert torch.isfinite(loss) and torch.all(torch.isfinite(logits.grad))
    if kind == "bce":
        # 8 confidently wrong elements lose -log sigmoid(-50) = 50 each; 6 right ones ~ 0.
        assert loss.item() == pytest.approx(8 * 50 / 14, rel=1e-6)
        assert logits.grad.abs().max().item() == pytest.approx(1 / 14, rel=1e-6)


def test_bf16_autocast_computes_in_float32():
    logits, targets = _batch(batch=4)
    loss_fn = WeightedBinaryLoss(kind="focal")
    reference = loss_fn(logits.bfloat16().float(), targets)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_fn(logits.bfloat16(), targets)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, reference)


def test_weights_are_buffers_that_move_with_to():
    loss_fn = WeightedBinaryLoss(w_pos=np.full(14, 2.0), w_neg=np.ones(14), kind="focal", gamma=2.0)
    assert {name for name, _ in loss_fn.named_buffers()} == {"w_pos", "w_neg"}
    moved = loss_fn.to(torch.float64)
    assert moved.w_pos.dtype == torch.float64 and moved.w_pos.device.type == "cpu"
    assert torch.equal(moved.w_pos, torch.full((14,), 2.0, dtype=torch.float64))
    assert "kind='focal'" in repr(loss_fn) and "gamma=2.0" in repr(loss_fn)


def test_shapes_and_parameters_are_validated():
    loss_fn = WeightedBinaryLoss()
    with pytest.raises(ValueError, match=r"shape \(batch, 14\)"):
        loss_fn(torch.zeros(4, 13), torch.zeros(4, 13))
    with pytest.raises(ValueError, match="does not match"):
        loss_fn(torch.zeros(4, 14), torch.zeros(4, 13))
    with pytest.raises(ValueError, match="one weight per class"):
        WeightedBinaryLoss(w_pos=np.ones(14), w_neg=np.ones(13))
    with pytest.raises(ValueError, match="kind"):
        WeightedBinaryLoss(kind="hinge")
    with pytest.raises(ValueError, match="alpha"):
        WeightedBinaryLoss(kind="focal", alpha=1.5)
