"""Weight averaging through `predict`: the model carries an exponential moving average of its
weights, updated after every optimizer step in `train_step`, and every scoring (validation,
the test phase, `bench eval`) predicts with the average. The average is part of the model's
state dict, so checkpoints, resumed runs and later stages keep it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec, Param, StageSpec, register_method


class Averaged(nn.Module):
    """A network and the moving average of its weights; `forward` is the network's own."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.ema = copy.deepcopy(net).requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def update(self, decay: float) -> None:
        for avg, now in zip(self.ema.state_dict().values(), self.net.state_dict().values()):
            if avg.is_floating_point():  # weights and BatchNorm statistics
                avg.lerp_(now, 1 - decay)
            else:  # BatchNorm's batch count
                avg.copy_(now)


class EMAMethod(Method):
    def build_model(self, stage_index=0, pretrained=True):
        return Averaged(super().build_model(stage_index, pretrained))

    def train_step(self, model, batch, loss_fn, optimizer):
        loss = super().train_step(model, batch, loss_fn, optimizer)
        getattr(model, "module", model).update(self.params["ema_decay"])  # `module`: the model inside DDP
        return loss

    def predict(self, model, x):
        return model.ema(x)


register_method(
    EMAMethod(
        MethodSpec(
            name="ema-resnet18",
            description="ResNet-18 with plain BCE and Adam, scored with an exponential moving average of its weights",
            backbone="resnet18",
            pretrained="imagenet:tv_in1k",
            loss=LossSpec("bce"),
            optimizer=OptimizerSpec("adam", lr=1e-3),
            params={"ema_decay": Param(0.99, help="the average's weight on its previous value at each step")},
            presets={
                "paper": (StageSpec(224, 32, 25),),
                "demo": (StageSpec(64, 32, 5),),
                "smoke": (StageSpec(32, 8, 1),),
            },
        )
    )
)
