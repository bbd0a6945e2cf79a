"""CheXNet-style DenseNet-121 BCE baselines: plain (`chexnet`) and class-balanced (`cb-bce`)."""

from __future__ import annotations

from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec
from methods.presets import presets

ADAM = OptimizerSpec("adam", lr=1e-3, params={"betas": (0.9, 0.999), "weight_decay": 0.0})
TV_WEIGHTS_NOTE = "ImageNet weights: torchvision's DenseNet-121 (timm tag tv_in1k), as CheXNet used"

CHEXNET = Method(
    MethodSpec(
        name="chexnet",
        description="DenseNet-121 with plain BCE and Adam: the CheXNet baseline as the paper reproduced it",
        citation=(
            "Rajpurkar, P. et al. CheXNet: Radiologist-level pneumonia detection on chest x-rays with deep "
            "learning. arXiv:1711.05225 (2017)."
        ),
        equations="Eq. 7 with unit weights (plain BCE)",
        backbone="densenet121",
        pretrained="imagenet:tv_in1k",
        loss=LossSpec(name="bce", weighting="none"),
        optimizer=ADAM,
        presets=presets("densenet121", (224, 16)),
        notes=(
            "Adam lr 1e-3 (betas 0.9/0.999), batch 16, 224 px, lr / 10 on a validation-loss plateau: "
            "CheXNet's settings",
            TV_WEIGHTS_NOTE,
        ),
    )
)

CB_BCE = Method(
    MethodSpec(
        name="cb-bce",
        description="DenseNet-121 with BCE weighted by Cui et al.'s class-balanced weights on both terms",
        citation=(
            "Cui, Y. et al. Class-balanced loss based on effective number of samples. CVPR 2019, 9268-9277; "
            "the 'weighted binary cross entropy' baseline of Nugroho (2020), Table 4."
        ),
        equations="Eq. 3 (Cui weights, summing to C), Eq. 7 with w_neg = w_pos",
        backbone="densenet121",
        pretrained="imagenet:tv_in1k",
        loss=LossSpec(name="bce", weighting="cb_both", beta=0.9998),
        optimizer=ADAM,
        presets=presets("densenet121", (224, 16)),
        notes=(
            "beta 0.9998 as the paper's tables",
            "Adam lr 1e-3 and batch 16: the paper trains this baseline like its CheXNet reproduction",
            TV_WEIGHTS_NOTE,
        ),
    )
)
