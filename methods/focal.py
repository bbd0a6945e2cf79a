"""Focal-loss methods of Nugroho (2020): unweighted ablation and the weighted focal loss on
DenseNet-121 and TF-ported EfficientNet-B0/B3, all with Ranger (RAdam + Lookahead)."""

from __future__ import annotations

from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec
from methods.presets import presets

NUGROHO = "Nugroho, B. A. An aggregate method for thorax diseases classification (2020)."
RANGER = OptimizerSpec("ranger", lr=1e-3, params={"betas": (0.9, 0.999), "k": 5, "alpha": 0.5})
WFOCAL = LossSpec(name="focal", weighting="class_balanced", beta=0.9998, scale=0.1, alpha=0.5, gamma=1.0)
WFOCAL_EQUATIONS = "Eq. 3-6 (weights), Eq. 8 (weighted focal loss)"
RANGER_NOTE = "Ranger = RAdam + Lookahead (k 5, alpha 0.5), lr 1e-3; alpha 0.5, gamma 1 as the paper"
SCALE_NOTE = "scale 0.1: the released code's factor; the printed Eq. 5 (scale 1) gives w_neg < 0 for rare classes"
TWO_STAGE_NOTE = "stage 2 doubles the image size, halves the batch and starts from stage 1's best checkpoint"
TF_WEIGHTS_NOTE = (
    "ImageNet weights: the original TensorFlow checkpoints (timm tag aa_in1k), which Keras EfficientNet ports "
    "load as 'imagenet'; timm's default tag is Noisy Student trained with extra JFT data"
)


def _wfocal(name: str, backbone: str, pretrained: str, title: str, *paper: tuple[int, int]) -> Method:
    return Method(
        MethodSpec(
            name=name,
            description=f"{title} with the paper's weighted focal loss (beta 0.9998, scale 0.1), Ranger, two stages",
            citation=NUGROHO,
            equations=WFOCAL_EQUATIONS,
            backbone=backbone,
            pretrained=pretrained,
            # From scratch (the demo), Ranger barely moves EfficientNets whose blocks start random.
            residual_init="identity" if backbone.startswith("tf_efficientnet") else None,
            loss=WFOCAL,
            optimizer=RANGER,
            presets=presets(backbone, *paper),
            notes=(SCALE_NOTE, RANGER_NOTE, TWO_STAGE_NOTE)
            + ((TF_WEIGHTS_NOTE,) if backbone.startswith("tf_") else ()),
        )
    )


FOCAL_DENSENET121 = Method(
    MethodSpec(
        name="focal-densenet121",
        description="DenseNet-121 with unweighted focal loss (alpha 0.5, gamma 1) and Ranger: the paper's ablation",
        citation=(
            "Lin, T.-Y. et al. Focal loss for dense object detection. ICCV 2017, 2999-3007; ablation in " + NUGROHO
        ),
        equations="Eq. 2, Eq. 8 with unit weights",
        backbone="densenet121",
        pretrained="imagenet:tv_in1k",
        loss=LossSpec(name="focal", weighting="none", alpha=0.5, gamma=1.0),
        optimizer=RANGER,
        presets=presets("densenet121", (224, 32)),
        notes=(
            "single stage, 224 px, batch 32: Table 5's setting",
            RANGER_NOTE,
            "the paper's released code silently trained its weighted runs like this (docs/domain.md section 5)",
        ),
    )
)
WFOCAL_DENSENET121 = _wfocal(
    "wfocal-densenet121", "densenet121", "imagenet:tv_in1k", "DenseNet-121", (224, 32), (448, 16)
)
WFOCAL_EFFB0 = _wfocal(
    "wfocal-effb0", "tf_efficientnet_b0", "imagenet:aa_in1k", "EfficientNet-B0 (TF weights)", (224, 32), (448, 16)
)
WFOCAL_EFFB3 = _wfocal(
    "wfocal-effb3", "tf_efficientnet_b3", "imagenet:aa_in1k", "EfficientNet-B3 (TF weights)", (300, 32), (600, 16)
)
