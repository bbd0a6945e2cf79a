"""Class weights and the weighted binary BCE / focal loss of the paper (docs/domain.md section 4).

Weight functions take per-class positive counts from the training list and return float64
numpy arrays; `WeightedBinaryLoss` turns them into buffers. How the built-in methods combine them:
`wang-wbce` uses `wang_weights`, `cb-bce` uses `cui_weights_both` (Cui's weights on both terms),
`wfocal-*` use `class_balanced_weights`, `chexnet` and `focal-densenet121` pass no weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.labels import LABELS, NUM_CLASSES

LOSS_KINDS = ("bce", "focal")


def _class_name(k: int, n_classes: int) -> str:
    return LABELS[k] if n_classes == NUM_CLASSES else f"class {k}"


def _counts(pos_counts) -> np.ndarray:
    counts = np.asarray(pos_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"pos_counts must be a non-empty 1-D sequence of per-class counts, got shape {counts.shape}")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError(f"pos_counts must be finite and non-negative, got {counts.tolist()}")
    return counts


def _require_positive(counts: np.ndarray, what: str) -> None:
    bad = np.flatnonzero(counts <= 0)
    if bad.size:
        names = ", ".join(_class_name(int(k), counts.size) for k in bad)
        raise ValueError(f"{what} are undefined for a class with zero training positives: {names}")


def wang_weights(pos_counts: Sequence[float], total: int) -> tuple[np.ndarray, np.ndarray]:
    """Wang et al.'s weights, the paper's Eq. 1: w_pos = (P+N)/P, w_neg = (P+N)/N per class."""
    counts = _counts(pos_counts)
    if total <= 0 or np.any(counts > total):
        raise ValueError(f"total ({total}) must be positive and at least every class's positive count")
    _require_positive(counts, "Wang weights (Eq. 1)")
    negatives = total - counts
    no_neg = np.flatnonzero(negatives <= 0)
    if no_neg.size:
        names = ", ".join(_class_name(int(k), counts.size) for k in no_neg)
        raise ValueError(f"Wang weights (Eq. 1) are undefined for a class with zero training negatives: {names}")
    return total / counts, total / negatives


def effective_number_weights(pos_counts: Sequence[float], beta: float) -> np.ndarray:
    """Cui et al.'s class-balanced weights, the paper's Eq. 3, normalised to sum to C.

    alpha_k = (1 - beta) / (1 - beta**n_k); returns C * alpha / sum(alpha).
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must satisfy 0 <= beta < 1, got {beta}")
    counts = _counts(pos_counts)
    _require_positive(counts, "Class-balanced weights (Eq. 3)")
    # 1 - beta**n as -expm1(n log beta): betas like 1 - 2e-6 lose digits in the direct form.
    effective = -np.expm1(counts * np.log(beta)) if beta > 0 else np.ones_like(counts)
    alpha = (1.0 - beta) / effective
    return counts.size * alpha / alpha.sum()


def class_balanced_weights(
    pos_counts: Sequence[float], beta: float, scale: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's weights, Eq. 4-6: w_pos = scale * C * alpha_k / sum(alpha), w_neg = 1 - w_pos.

    The paper prints scale 1, which gives w_pos > 1 (so w_neg < 0) for rare classes; the
    released code's extra factor 0.1 keeps every weight in (0, 1). Weights outside (0, 1)
    raise ValueError.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    w_pos = scale * effective_number_weights(pos_counts, beta)
    w_neg = 1.0 - w_pos
    bad = np.flatnonzero((w_pos <= 0) | (w_pos >= 1))  # w_neg = 1 - w_pos is then in (0, 1) too
    if bad.size:
        listed = ", ".join(
            f"{_class_name(int(k), w_pos.size)} (w_pos={w_pos[k]:.4g}, w_neg={w_neg[k]:.4g})" for k in bad
        )
        raise ValueError(
            f"class-balanced weights (Eq. 4-6) with beta={beta}, scale={scale} fall outside (0, 1) for {listed}; "
            "a weight >= 1 makes w_neg = 1 - w_pos <= 0, which rewards confident false positives. "
            "The paper's released code uses scale=0.1, which keeps every weight in (0, 1)"
        )
    return w_pos, w_neg


def cui_weights_both(pos_counts: Sequence[float], beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the class-balanced BCE baseline (`cb-bce`): Cui's Eq. 3 weights on both terms."""
    w = effective_number_weights(pos_counts, beta)
    return w, w.copy()


def _weight_buffer(weights, name: str, n_classes: int) -> torch.Tensor:
    if weights is None:
        return torch.ones(n_classes, dtype=torch.float32)
    tensor = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    if tensor.ndim != 1 or tensor.numel() != n_classes:
        raise ValueError(f"{name} must have one weight per class ({n_classes}), got shape {tuple(tensor.shape)}")
    if not torch.all(torch.isfinite(tensor)) or torch.any(tensor < 0):
        raise ValueError(f"{name} must be finite and non-negative, got {tensor.tolist()}")
    return tensor


class WeightedBinaryLoss(nn.Module):
    """Per-class weighted binary BCE or focal loss over logits (the paper's Eq. 7-8, both terms).

    L = mean over batch and classes of w_pos*y*l_pos(p) + w_neg*(1-y)*l_neg(p), where for
    "bce" l_pos = -log p, l_neg = -log(1-p), and for "focal"
    l_pos = -alpha*(1-p)**gamma*log p, l_neg = -(1-alpha)*p**gamma*log(1-p).
    Weights default to ones (14 classes); they are buffers and move with `.to(device)`.
    """

    w_pos: torch.Tensor  # buffers, registered in __init__
    w_neg: torch.Tensor

    def __init__(self, w_pos=None, w_neg=None, kind: str = "bce", alpha: float = 0.5, gamma: float = 1.0):
        super().__init__()
        if kind not in LOSS_KINDS:
            raise ValueError(f"kind must be one of {LOSS_KINDS}, got {kind!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if not gamma >= 0.0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        given = [w for w in (w_pos, w_neg) if w is not None]
        n_classes = len(np.asarray(given[0]).reshape(-1)) if given else NUM_CLASSES
        self.kind, self.alpha, self.gamma = kind, float(alpha), float(gamma)
        self.register_buffer("w_pos", _weight_buffer(w_pos, "w_pos", n_classes))
        self.register_buffer("w_neg", _weight_buffer(w_neg, "w_neg", n_classes))

    @property
    def num_classes(self) -> int:
        return self.w_pos.numel()

    def extra_repr(self) -> str:
        text = f"kind={self.kind!r}, classes={self.num_classes}"
        if self.kind == "focal":
            text += f", alpha={self.alpha}, gamma={self.gamma}"
        return text

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(f"logits must have shape (batch, {self.num_classes}), got {tuple(logits.shape)}")
        if targets.shape != logits.shape:
            raise ValueError(f"targets shape {tuple(targets.shape)} does not match logits shape {tuple(logits.shape)}")
        # Always float32, also under bf16 autocast: log-probabilities of confident logits
        # need the mantissa.
        with torch.autocast(device_type=logits.device.type, enabled=False):
            x, y = logits.float(), targets.float()
            log_p, log_q = F.logsigmoid(x), F.logsigmoid(-x)  # log p, log(1-p)
            l_pos, l_neg = -log_p, -log_q
            if self.kind == "focal":
                # (1-p)**gamma = exp(gamma*log(1-p)): finite gradients even where p rounds to 0 or 1.
                l_pos = self.alpha * torch.exp(self.gamma * log_q) * l_pos
                l_neg = (1.0 - self.alpha) * torch.exp(self.gamma * log_p) * l_neg
            loss = self.w_pos * y * l_pos + self.w_neg * (1.0 - y) * l_neg
            return loss.mean()
