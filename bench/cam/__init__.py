"""Class activation maps and box scores (the paper's Table 6; Wang et al. 2017's localization).

- `maps`: `CamExtractor` (CAM for GAP + linear heads, checked against the logits; Grad-CAM otherwise).
- `scoring`: heatmap boxes, IoU / IoBB accuracy at `THRESHOLDS`, the pointing game.
- `runs`: a run's checkpoint and test list, `localize`, and the `RunRecord.localization` layout.
- `figures`, `pictures`: the PNG grids of `bench cam`.
"""

from bench.cam.maps import CAM, GRADCAM, CamBatch, CamExtractor
from bench.cam.runs import Localization, RunCam, localize, open_run, run_dataset, store_localization
from bench.cam.scoring import BOX_LEVEL, THRESHOLDS, ClassScores, heatmap_boxes, iobb, iou, peak, score_image, summarise

__all__ = [
    "BOX_LEVEL",
    "CAM",
    "GRADCAM",
    "THRESHOLDS",
    "CamBatch",
    "CamExtractor",
    "ClassScores",
    "Localization",
    "RunCam",
    "heatmap_boxes",
    "iobb",
    "iou",
    "localize",
    "open_run",
    "peak",
    "run_dataset",
    "score_image",
    "store_localization",
    "summarise",
]
