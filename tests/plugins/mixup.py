"""Mixup in `train_step`: each batch is mixed with a shuffled copy of itself, images and labels
alike, with lambda ~ Beta(alpha, alpha). `mixup_alpha` is a typed method param
(`--set params.mixup_alpha=0.2`), and "mixup" a registered augmentation, so the record names it.
"""

from __future__ import annotations

import torch

from bench.method import (
    LossSpec,
    Method,
    MethodSpec,
    OptimizerSpec,
    Param,
    StageSpec,
    register_augmentation,
    register_method,
)

MIXUP = register_augmentation("mixup", "mixup of image pairs and their labels, lambda ~ Beta(alpha, alpha)")


class MixupMethod(Method):
    def train_step(self, model, batch, loss_fn, optimizer):
        images, targets = batch[0], batch[1]  # (B, 3, H, W) normalised and flipped; (B, 14) float32
        alpha = self.params["mixup_alpha"]
        # torch's generator: the engine reseeds it every epoch, so a resumed run mixes alike.
        lam = torch.distributions.Beta(alpha, alpha).sample().item()
        perm = torch.randperm(len(images), device=images.device)
        mixed = lam * images + (1 - lam) * images[perm]
        soft = lam * targets + (1 - lam) * targets[perm]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(mixed), soft)
        loss.backward()
        optimizer.step()
        return loss.detach()


register_method(
    MixupMethod(
        MethodSpec(
            name="mixup-resnet18",
            description="ResNet-18 with plain BCE and Adam, trained on mixup batches",
            citation="Zhang, H. et al. mixup: Beyond empirical risk minimization. ICLR 2018.",
            backbone="resnet18",
            pretrained="imagenet:tv_in1k",
            loss=LossSpec("bce"),
            optimizer=OptimizerSpec("adam", lr=1e-3),
            augmentation=("hflip", MIXUP),
            params={"mixup_alpha": Param(0.4, help="Beta(alpha, alpha) of the mixing weight")},
            presets={
                "paper": (StageSpec(224, 32, 25),),
                "demo": (StageSpec(64, 32, 5),),
                "smoke": (StageSpec(32, 8, 1),),
            },
        )
    )
)
