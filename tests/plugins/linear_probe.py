"""A frozen-backbone linear probe: only the classifier trains, and the backbone's BatchNorm
layers keep their statistics. Start it from another run's weights with
`--set pretrained=run:RUN_ID` (a run of the same backbone), or from ImageNet's.
"""

from __future__ import annotations

from torch import nn

from bench.method import LossSpec, Method, MethodSpec, OptimizerSpec, StageSpec, register_method


class LinearProbe(Method):
    def on_stage_start(self, model, stage_index):
        for param in model.parameters():
            param.requires_grad_(False)
        for param in model.get_classifier().parameters():  # timm models name their head
            param.requires_grad_(True)

    def on_epoch_start(self, model, stage_index, epoch):
        # The engine's model.train() put every BatchNorm in training mode: frozen ones go back.
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()

    def build_optimizer(self, model, stage):
        return super().build_optimizer([p for p in model.parameters() if p.requires_grad], stage)


register_method(
    LinearProbe(
        MethodSpec(
            name="probe-resnet18",
            description="A linear probe: ResNet-18 frozen (BatchNorm statistics too), its classifier trained with Adam",
            backbone="resnet18",
            pretrained="imagenet:tv_in1k",
            loss=LossSpec("bce"),
            optimizer=OptimizerSpec("adam", lr=1e-2),
            augmentation=(),
            presets={
                "paper": (StageSpec(224, 64, 10),),
                "demo": (StageSpec(64, 32, 5),),
                "smoke": (StageSpec(32, 8, 1),),
            },
        )
    )
)
