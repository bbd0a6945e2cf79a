"""A backbone swap: ResNet-18 with plain BCE, AdamW and a cosine schedule after a warm-up epoch.

A spec and nothing else: `backbone` is any timm model name, and the built-in hooks build it with
a 14-logit head, the loss, the optimizer and the schedule the spec names.
"""

from __future__ import annotations

from bench.method import LossSpec, MethodSpec, OptimizerSpec, ScheduleSpec, StageSpec, register_method

register_method(
    MethodSpec(
        name="resnet18-bce",
        description="ResNet-18 with plain BCE, AdamW (weight decay 0.05) and cosine decay after one warm-up epoch",
        backbone="resnet18",
        pretrained="imagenet:tv_in1k",
        loss=LossSpec("bce"),
        optimizer=OptimizerSpec("adamw", lr=1e-3, params={"weight_decay": 0.05}),
        schedule=ScheduleSpec("cosine", warmup_epochs=1),
        presets={
            "paper": (StageSpec(image_size=224, batch_size=32, epochs=20),),
            "demo": (StageSpec(image_size=64, batch_size=32, epochs=5),),
            "smoke": (StageSpec(image_size=32, batch_size=8, epochs=1),),
        },
    )
)
