"""Stage presets of the built-in methods. Demo values live here, one entry per backbone.

"paper": the paper's image sizes and batches, up to 25 epochs per stage (early stopping ends
sooner). "demo": the synthetic demo dataset on a 2-core CPU, weights off, a few minutes per
method; from-scratch EfficientNets learn slowly, so they get a higher stage-1 lr. "smoke": one
tiny epoch per stage at the smallest size the backbones take, on at most PRESET_LIMITS["smoke"]
images per list (seconds per stage). Every preset of a method has as many stages as its paper
preset; stage 2 starts from stage 1's best checkpoint.
"""

from __future__ import annotations

from bench.method import StageSpec

PAPER_EPOCHS = 25

# lr None = the method's optimizer lr (Adam/Ranger 1e-3, SGD 0.01).
DEMO: dict[tuple[str, int], tuple[StageSpec, ...]] = {
    ("resnet50", 1): (StageSpec(64, 32, 5),),
    ("densenet121", 1): (StageSpec(64, 32, 5),),
    ("densenet121", 2): (StageSpec(64, 32, 3), StageSpec(96, 16, 2)),
    # From scratch, EfficientNets barely move at Ranger's 1e-3; 3e-2 learns within the budget once
    # their residual blocks start as the identity (spec.residual_init; B3's mean AUROC after 4
    # epochs at 64 px went from ~0.60 to ~0.82). A 64 px model needs a few steps at a real
    # learning rate to adapt to a new size. B3 is the main job, sized for 5 minutes on a slow
    # 2-core CPU (docs/performance.md, "The main job"): its stage 2 stays at 64 px, where the
    # last blocks' maps are 2x2 (any larger size makes them 3x3 and an image 15-30% dearer), and
    # fine-tunes stage 1's best checkpoint at a tenth of the learning rate.
    ("tf_efficientnet_b0", 2): (StageSpec(64, 32, 6, lr=3e-2), StageSpec(96, 16, 2, lr=3e-3)),
    ("tf_efficientnet_b3", 2): (StageSpec(64, 32, 2, lr=3e-2), StageSpec(64, 32, 1, lr=3e-3)),
}


def paper_stages(*stages: tuple[int, int]) -> tuple[StageSpec, ...]:
    """The paper's (image size, batch) per stage, each up to PAPER_EPOCHS epochs."""
    return tuple(StageSpec(size, batch, PAPER_EPOCHS) for size, batch in stages)


# The smallest input of every built-in backbone: their total stride (bench.models.min_image_size).
SMOKE_SIZE = 32


def smoke_stages(n_stages: int) -> tuple[StageSpec, ...]:
    """One epoch per stage at SMOKE_SIZE, batch 8; each later stage doubles the size (a stage 2
    must see larger images) and halves the batch."""
    return tuple(StageSpec(SMOKE_SIZE * 2**i, max(1, 8 // 2**i), 1) for i in range(n_stages))


def presets(backbone: str, *paper: tuple[int, int]) -> dict[str, tuple[StageSpec, ...]]:
    """All three presets of a built-in method from its paper stages."""
    return {
        "paper": paper_stages(*paper),
        "demo": DEMO[(backbone, len(paper))],
        "smoke": smoke_stages(len(paper)),
    }
