"""Heatmaps of a 14-logit model: CAM where the network is exactly features -> global average
pooling -> linear layer, Grad-CAM otherwise.

The choice is checked, not assumed: CAM is used only if the linear layer's weights applied to
the mean of `forward_features` reproduce the model's own logits on the first batch (so a CAM
is never drawn from the wrong layer's weights; docs/domain.md section 6). Grad-CAM weights the
last layer with a spatial output (the last module, in execution order, that returns a
(B, C, h, w) tensor with h * w > 1) by the spatial mean of each class logit's gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

CAM = "cam"
GRADCAM = "gradcam"
METHODS = (CAM, GRADCAM)


@dataclass(frozen=True)
class CamBatch:
    maps: np.ndarray  # (B, K, h, w) float32 at the target layer's resolution; CAM is signed, Grad-CAM >= 0
    logits: np.ndarray  # (B, 14) float32, the model's logits


def linear_head(model: nn.Module) -> nn.Linear | None:
    """The model's linear classifier if it has timm's `forward_features` / `get_classifier` pair."""
    get_classifier = getattr(model, "get_classifier", None)
    if not callable(getattr(model, "forward_features", None)) or not callable(get_classifier):
        return None
    head = get_classifier()
    return head if isinstance(head, nn.Linear) else None


def _forward_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # timm's method, found by `linear_head`; nn.Module's stubs type unknown attributes as Tensor | Module.
    return cast(Callable[[torch.Tensor], torch.Tensor], model.forward_features)(x)


def _pooled_logits(head: nn.Linear, features: torch.Tensor) -> torch.Tensor:
    return nn.functional.linear(features.float().mean(dim=(2, 3)), head.weight.float(), head.bias)


class CamExtractor:
    """Class activation maps of `model` (put in eval mode). `method` ("cam" or "gradcam") and
    `layer` (what the maps come from) are set by the first call."""

    def __init__(self, model: nn.Module):
        self.model = model.eval()
        self.method: str | None = None
        self.layer: str | None = None
        self._module: nn.Module | None = None

    def __call__(self, x: torch.Tensor, classes: Sequence[int]) -> CamBatch:
        if self.method is None:
            self._choose(x)
        if self.method == CAM:
            return self._cam(x, list(classes))
        return self._gradcam(x, list(classes))

    # -- choice ----------------------------------------------------------------------------------
    def _choose(self, x: torch.Tensor) -> None:
        head = linear_head(self.model)
        if head is not None:
            with torch.no_grad():
                features = _forward_features(self.model, x)
                logits = self.model(x).float()
            if features.ndim == 4 and features.shape[1] == head.in_features:
                tolerance = 1e-3 * (1.0 + float(logits.abs().max()))
                if torch.allclose(_pooled_logits(head, features), logits, rtol=1e-3, atol=tolerance):
                    self.method, self.layer = CAM, "forward_features"
                    return
        self.method = GRADCAM
        self.layer, self._module = self._last_spatial_module(x)

    def _last_spatial_module(self, x: torch.Tensor) -> tuple[str, nn.Module]:
        fired: list[str] = []

        def hook(name: str):
            def record(_module, _inputs, output) -> None:
                if isinstance(output, torch.Tensor) and output.ndim == 4 and output.shape[2] * output.shape[3] > 1:
                    fired.append(name)

            return record

        modules = dict(self.model.named_modules())
        handles = [m.register_forward_hook(hook(name)) for name, m in modules.items() if name]
        try:
            with torch.no_grad():
                self.model(x[:1])
        finally:
            for h in handles:
                h.remove()
        if not fired:
            from bench.errors import BenchError

            raise BenchError(
                f"cannot draw heatmaps for {type(self.model).__name__}: no layer has a spatial (B, C, h, w) output",
                hint="CAM and Grad-CAM need a convolutional feature map; use a larger image size or a CNN backbone",
            )
        return fired[-1], modules[fired[-1]]

    # -- the two methods ---------------------------------------------------------------------------
    def _cam(self, x: torch.Tensor, classes: list[int]) -> CamBatch:
        head = linear_head(self.model)
        if head is None:
            raise RuntimeError(f"CAM needs a linear classifier head; {type(self.model).__name__} has none")
        with torch.no_grad():
            features = _forward_features(self.model, x).float()
            weights = head.weight.float()[classes]  # (K, C)
            maps = torch.einsum("kc,bchw->bkhw", weights, features)
            logits = _pooled_logits(head, features)
        return CamBatch(maps.cpu().numpy(), logits.cpu().numpy())

    def _gradcam(self, x: torch.Tensor, classes: list[int]) -> CamBatch:
        captured: list[torch.Tensor] = []
        if self._module is None:
            raise RuntimeError("Grad-CAM has no target layer: the extractor chose no layer (call it, not _gradcam)")
        handle = self._module.register_forward_hook(lambda _m, _i, output: captured.append(output))
        try:
            with torch.enable_grad():
                # An input that needs gradients keeps the graph even if every weight is frozen.
                logits = self.model(x.detach().requires_grad_(True)).float()
                activation = captured[-1]
                maps = []
                for i, k in enumerate(classes):
                    (grad,) = torch.autograd.grad(logits[:, k].sum(), activation, retain_graph=i < len(classes) - 1)
                    alpha = grad.float().mean(dim=(2, 3), keepdim=True)
                    maps.append(torch.relu((alpha * activation.float()).sum(dim=1)).detach())
        finally:
            handle.remove()
        return CamBatch(torch.stack(maps, dim=1).cpu().numpy(), logits.detach().cpu().numpy())
