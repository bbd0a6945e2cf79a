"""A small CNN whose class activation maps can resolve the demo's findings.

At the demo's sizes DenseNet-121's last feature map is 2x2 or 3x3, too coarse to point at a
20-pixel nodule; this network downsamples by 8 only, so at 96 px its CAM has 12x12 cells.
It is a timm model (registered here) ending in global average pooling and a linear head,
so `bench cam` draws exact CAMs from it.
"""

from __future__ import annotations

from timm.models import register_model
from torch import nn

from bench.labels import NUM_CLASSES
from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec, StageSpec, register_method


def _conv(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class CamCnn(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv(3, w, 2), _conv(w, 2 * w, 2), _conv(2 * w, 2 * w, 1), _conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w, 1)
        )
        self.fc = nn.Linear(4 * w, num_classes)
        self.feature_info = [dict(num_chs=4 * w, reduction=8, module="features")]  # what timm models declare

    def forward_features(self, x):
        return self.features(x)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def forward(self, x):
        return self.fc(self.forward_features(x).mean(dim=(2, 3)))


@register_model
def cam_cnn(pretrained: bool = False, num_classes: int = NUM_CLASSES, **timm_kwargs) -> CamCnn:
    if pretrained:
        raise ValueError("cam_cnn has no pretrained weights")
    return CamCnn(num_classes=num_classes)  # timm's pretrained_cfg etc. do not apply


SPEC = MethodSpec(
    name="cam-cnn",
    description="A 5-layer CNN with stride 8 and a GAP + linear head: CAMs at 1/8 of the input size",
    citation="Zhou, B. et al. Learning deep features for discriminative localization. CVPR 2016.",
    backbone="cam_cnn",
    pretrained="imagenet",
    loss=LossSpec(name="bce"),
    optimizer=OptimizerSpec("adam", lr=1e-3),
    presets={
        "paper": (StageSpec(224, 32, 25),),
        "demo": (StageSpec(96, 32, 6),),  # on the demo rendered at 128 px
        "smoke": (StageSpec(64, 8, 1),),
    },
)

register_method(Method(SPEC))
