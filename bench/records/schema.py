"""The run record's schema: typed, frozen dataclasses, version 4 (`migrations` reads versions 1 to 3).

Per-class values are dicts keyed by the canonical label names; None marks a value that is not
known yet or undefined (JSON has no NaN). Records are frozen: update one with
`dataclasses.replace` (or `finished`) and `RunStore.write`. Field by field: docs/records.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any

from bench.labels import LABELS
from bench.records.migrations import upgrade
from bench.records.versions import SCHEMA_VERSION, FutureSchemaError, RecordError
from bench.schema import Check, checked, decode, encode

STATUSES: tuple[str, ...] = ("running", "complete", "failed", "interrupted")
DATASET_KINDS: tuple[str, ...] = ("demo", "nih")
RUN_KINDS: tuple[str, ...] = ("trained", "external")
METHOD_ORIGINS: tuple[str, ...] = ("built-in", "file", "entry point", "module")
# Test-time augmentation of the test scores: none, the mean over the image and its mirror, or
# the ten-crop protocol (four corners and centre and their mirrors, scores averaged).
TTA_MODES: tuple[str, ...] = ("none", "flip", "tencrop")
EXTERNAL_SOURCES: tuple[str, ...] = ("scores", "weights")  # `bench score`, `bench eval`
OPERATING_RULES: tuple[str, ...] = ("youden", "f1")  # how a threshold is chosen on validation
RATES: tuple[str, ...] = ("sensitivity", "specificity", "ppv", "npv", "f1")  # read at a threshold
# Below this test AUROC on real data a run is a failed sanity check (docs/domain.md section 6).
SANITY_MIN_AUROC = 0.55


def _one_per_label(value: Any) -> str | None:
    if set(value) == set(LABELS):
        return None
    missing = [x for x in LABELS if x not in value]
    unknown = [x for x in value if x not in LABELS]
    return f"must have one value per label (missing {missing}, unknown {unknown})"


PerClass = Annotated[dict[str, float | None], Check(_one_per_label)]  # None: undefined or not yet known
Counts = Annotated[dict[str, int], Check(_one_per_label)]  # label -> positives
MaybeCounts = Annotated[dict[str, int | None], Check(_one_per_label)]  # None: undefined


def _one_of(options: tuple[str, ...]) -> Check:
    return Check(lambda value: None if value in options else f"is {value!r}, not one of {', '.join(options)}")


class _Checked:
    def __post_init__(self) -> None:
        checked(self)


@dataclass(frozen=True)
class MethodOrigin(_Checked):
    """Where a run's method came from: built in, a plugin file (with its SHA-256 when loaded),
    an installed package's entry point (with the package's version), or a module that
    registered it."""

    kind: Annotated[str, _one_of(METHOD_ORIGINS)]
    path: str | None = None  # file
    sha256: str | None = None  # file
    package: str | None = None  # entry point: the distribution's name
    version: str | None = None  # entry point
    module: str | None = None  # module

    def text(self) -> str:
        if self.kind == "file":
            return f"file {self.path} (SHA-256 {self.sha256})"
        if self.kind == "entry point":
            return f"entry point of {self.package} {self.version}"
        if self.kind == "module":
            return f"module {self.module}"
        return self.kind


@dataclass(frozen=True)
class MethodInfo:
    name: str  # the registry name, e.g. "wfocal-effb3"
    display_name: str  # the name shown in tables; carries overrides, e.g. "wfocal-effb3[loss.beta=0.99998]"
    spec: dict[str, Any]  # the fully resolved MethodSpec as plain JSON
    overrides: dict[str, Any] = field(default_factory=dict)
    origin: MethodOrigin | None = None  # None: a record written before origins were kept

    @classmethod
    def from_spec(
        cls,
        spec: Any,
        *,
        display_name: str | None = None,
        overrides: dict | None = None,
        origin: MethodOrigin | None = None,
    ) -> MethodInfo:
        """From a MethodSpec dataclass (or a plain dict with a "name")."""
        as_dict = encode(spec)
        return cls(as_dict["name"], display_name or as_dict["name"], as_dict, dict(overrides or {}), origin)


@dataclass(frozen=True)
class SplitInfo:
    protocol: str  # "official", "kfold5", "weng", "custom:PATH"
    version: int
    fold: int
    n_folds: int
    seed: int | None  # None for protocols that draw nothing at random (weng, custom)
    fingerprint: str
    params: dict[str, Any] = field(default_factory=dict)
    allow_leakage: bool = False

    @classmethod
    def from_fold(cls, fold: Any, *, allow_leakage: bool = False) -> SplitInfo:
        """From a `splits.base.Fold`."""
        return cls(
            fold.protocol,
            fold.version,
            fold.fold,
            fold.n_folds,
            fold.seed,
            fold.fingerprint,
            encode(dict(fold.params)),
            allow_leakage,
        )


@dataclass(frozen=True)
class DatasetInfo(_Checked):
    kind: Annotated[str, _one_of(DATASET_KINDS)]
    root: str
    labels_file: str | None
    labels_version: str
    fingerprint: str

    @classmethod
    def from_index(cls, index: Any) -> DatasetInfo:
        """From a `bench.data.index.DatasetIndex`."""
        return cls(index.kind, str(index.root), index.labels_file, index.labels_version, index.fingerprint)


@dataclass(frozen=True)
class EnvironmentInfo:
    python: str
    torch: str | None
    timm: str | None
    torchxrayvision: str | None
    cuda: str | None  # the CUDA version torch was built with; None on CPU builds
    gpu: str  # GPU name, or "cpu"
    git_commit: str | None
    git_dirty: bool | None
    platform: str
    world_size: int = 1
    torch_threads: int | None = None  # CPU results depend on it (summation order)


@dataclass(frozen=True)
class StageRecord:
    index: int
    image_size: int
    batch_size: int
    epochs_planned: int
    epochs_run: int = 0
    wall_s: float | None = None
    train_images_per_s: float | None = None
    best_epoch: int | None = None
    best_val_auroc: float | None = None
    test_auroc_mean: float | None = None  # this stage's best checkpoint on the test list
    train_dropped: int = 0  # images left out of each epoch: a lone last one, or a partial batch (static shapes)
    torch_threads: tuple[int, ...] = ()  # torch's CPU threads while it trained, in order (two: resumed with another)


@dataclass(frozen=True)
class EpochRecord(_Checked):
    stage: int
    epoch: int
    train_loss: float | None  # None: not finite (the run stops on a NaN loss)
    val_loss: float | None
    val_auroc_mean: float | None
    val_auroc: PerClass
    lr: float
    wall_s: float


@dataclass(frozen=True)
class Positives(_Checked):
    train: Counts
    val: Counts
    test: Counts


@dataclass(frozen=True)
class ConfidenceIntervals(_Checked):
    lo: PerClass
    hi: PerClass
    mean_lo: float | None
    mean_hi: float | None
    level: float = 0.95
    n_resamples: int = 1000
    unit: str = "patient"


@dataclass(frozen=True)
class EvalMetrics(_Checked):
    auroc: PerClass
    auprc: PerClass
    mean: float | None  # mean AUROC over the defined classes
    n_defined: int
    ci: ConfidenceIntervals | None = None


@dataclass(frozen=True)
class Metrics:
    val: EvalMetrics | None = None
    test: EvalMetrics | None = None


@dataclass(frozen=True)
class Sanity:
    test_auroc_ok: bool
    message: str


@dataclass(frozen=True)
class Artifacts:
    predictions: str | None = None  # paths relative to the run directory
    checkpoint: str | None = None
    history: str | None = None
    # Validation predictions: a trained run's per stage (its best checkpoint's), in stage order;
    # an external run's one file, when it was given some.
    val_predictions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClassLocalization:
    """One class's box scores: shares of true boxes found at each threshold, the pointing game."""

    n_boxes: int
    n_images: int
    iou: dict[str, float]  # threshold ("0.1", "0.25", ...) -> share of boxes with IoU above it
    iobb: dict[str, float]  # the same for IoBB (intersection over the detected box)
    pointing: float  # share of images whose heatmap peak lies inside a box of the class
    mean_iou: float
    mean_iobb: float


@dataclass(frozen=True)
class LocalizationRecord(_Checked):
    """`bench cam`'s scores of a run's heatmaps against the ground-truth boxes."""

    computed: str  # ISO 8601 UTC
    cam: Annotated[str, _one_of(("cam", "gradcam"))]
    layer: str  # what the maps come from (Grad-CAM: a module name)
    checkpoint: str  # relative to the run directory
    image_size: int  # the checkpoint's input size
    box_level: float  # heatmap level (fraction of its range) for detected boxes
    thresholds: tuple[float, ...]
    images: str  # the list scored: "test"
    n_images: int  # its images with at least one box
    classes: dict[str, ClassLocalization]  # classes with boxes among them, label order


@dataclass(frozen=True)
class SubmittedFile:
    """A scores file given to `bench score`: enough to tell later whether a file is the one scored."""

    name: str  # the file's name, without its folder
    sha256: str
    rows: int  # data rows read (every row, also those for images outside the test list)


@dataclass(frozen=True)
class WeightsFile:
    """A checkpoint given to `bench eval`."""

    name: str
    sha256: str
    key_mapping: tuple[str, ...]  # the legacy key renamings applied, in order (empty: none needed)
    tensors: int  # tensors loaded


@dataclass(frozen=True)
class Overlap:
    """What the lists an external model declares it was trained on share with the scored test list."""

    images: int  # test images in the declared training or validation list
    patients: int  # test patients with an image in the declared training or validation list


@dataclass(frozen=True)
class Coverage:
    scored: int  # test images with a score
    test: int  # images in the split's test list
    ignored: int = 0  # submitted rows for images outside the test list

    @property
    def partial(self) -> bool:
        return self.scored < self.test


@dataclass(frozen=True)
class ExternalInfo(_Checked):
    """Provenance of an external run: where its scores came from and what its model saw."""

    source: Annotated[str, _one_of(EXTERNAL_SOURCES)]
    description: str | None
    url: str | None
    trained_on: str  # a split ("official", "weng", "kfold5:K", "custom:PATH") or "unknown"
    overlap: Overlap | None  # None when trained_on is "unknown": nothing to check against
    coverage: Coverage
    scores_in_unit_interval: bool  # every score in [0, 1]: probabilities (calibration needs them)
    submission: SubmittedFile | None = None  # source "scores"
    weights: WeightsFile | None = None  # source "weights"

    @property
    def verified(self) -> bool:
        """Whether the training lists are known, so that an overlap could be checked."""
        return self.overlap is not None


# -- evaluation beyond the mean AUROC -----------------------------------------------------------
# The record's form of bench.evaluation's results (which sit above records in the layers):
# per-class values as label-keyed dicts, as everywhere in the record, and no reliability bins
# (the diagram is drawn from the predictions, by `bench runs evaluate --plots`).


@dataclass(frozen=True)
class ClassMean:
    """A mean over classes with its interval, over `n_classes` of `n_total` classes."""

    value: float | None
    lo: float | None
    hi: float | None
    n_classes: int
    n_total: int

    def text(self) -> str:
        shown = "-" if self.value is None else f"{self.value:.4f}"
        return shown if self.n_classes == self.n_total else f"{shown} ({self.n_classes}/{self.n_total})"


@dataclass(frozen=True)
class Estimates(_Checked):
    """Per class: a value and its interval; all three None where the value is undefined."""

    value: PerClass
    lo: PerClass
    hi: PerClass


@dataclass(frozen=True)
class SubgroupGap:
    """The best subgroup's value minus the worst's, with the interval of that difference; None
    where fewer than two subgroups are defined."""

    best: str | None
    worst: str | None
    value: float | None
    lo: float | None
    hi: float | None


PerClassGaps = Annotated[dict[str, SubgroupGap], Check(_one_per_label)]


@dataclass(frozen=True)
class SubgroupResult(_Checked):
    name: str
    n_images: int
    n_patients: int
    positives: Counts
    auroc: Estimates
    mean: ClassMean  # over the classes defined in this subgroup
    tpr: Estimates | None = None  # at the Youden thresholds; None without operating points


@dataclass(frozen=True)
class AttributeResult(_Checked):
    attribute: str  # "view", "sex" or "age"
    subgroups: tuple[SubgroupResult, ...]
    unassigned: int  # images in none of the subgroups
    auroc_gap: PerClassGaps
    mean_gap: SubgroupGap  # of the subgroups' means over the classes defined in every one
    mean_gap_classes: int
    tpr_gap: PerClassGaps | None = None


@dataclass(frozen=True)
class SubgroupsResult:
    attributes: tuple[AttributeResult, ...]
    min_cases: int  # fewer positives or negatives for a class: the subgroup is undefined for it
    thresholds: PerClass | None = None  # the Youden thresholds the TPRs are read at


@dataclass(frozen=True)
class CalibrationResult:
    ece: Estimates
    brier: Estimates
    mean_ece: ClassMean
    mean_brier: ClassMean
    n_bins: int


def _rate_means(value: Any) -> str | None:
    return None if tuple(value) == RATES else f"must hold the rates {', '.join(RATES)}, in that order"


@dataclass(frozen=True)
class RuleResult(_Checked):
    """One rule's validation thresholds and the test list's counts and rates at them."""

    rule: Annotated[str, _one_of(OPERATING_RULES)]
    threshold: PerClass
    tp: MaybeCounts
    fp: MaybeCounts
    tn: MaybeCounts
    fn: MaybeCounts
    sensitivity: PerClass
    specificity: PerClass
    ppv: PerClass
    npv: PerClass
    f1: PerClass
    means: Annotated[dict[str, ClassMean], Check(_rate_means)]  # rate -> its mean over the defined classes


@dataclass(frozen=True)
class ValidationSource:
    """The validation predictions thresholds were chosen on."""

    file: str  # relative to the run directory when it is the run's own, else as given
    sha256: str
    images: int


@dataclass(frozen=True)
class OperatingResult:
    validation: ValidationSource
    rules: tuple[RuleResult, ...]


@dataclass(frozen=True)
class EvaluationRecord:
    """Subgroups, calibration and operating points of the test predictions; a part that could
    not be computed is None, with a line in `notes` saying why."""

    computed: str  # ISO 8601 UTC
    n_resamples: int  # patient-bootstrap resamples behind every interval
    level: float
    seed: int  # of the resamples
    subgroups: SubgroupsResult | None
    calibration: CalibrationResult | None
    operating: OperatingResult | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunRecord(_Checked):
    run_id: str
    status: Annotated[str, _one_of(STATUSES)]
    started: str  # ISO 8601 UTC, e.g. "2026-11-25T18:15:00Z"
    ended: str | None
    error: str | None  # one line, for failed runs
    method: MethodInfo
    split: SplitInfo
    dataset: DatasetInfo
    seed: int
    preset: str
    device: str
    environment: EnvironmentInfo
    stages: tuple[StageRecord, ...] = ()
    history: tuple[EpochRecord, ...] = ()
    positives: Positives | None = None
    metrics: Metrics = Metrics()
    sanity: Sanity | None = None
    artifacts: Artifacts = Artifacts()
    localization: LocalizationRecord | None = None  # filled by `bench cam`
    invocation: dict[str, Any] = field(default_factory=dict)  # the run's options, for --resume
    kind: Annotated[str, _one_of(RUN_KINDS)] = "trained"  # "external": scores of a model trained elsewhere
    external: ExternalInfo | None = None  # provenance of an external run
    tta: Annotated[str, _one_of(TTA_MODES)] = "none"  # test-time augmentation of the test scores
    evaluation: EvaluationRecord | None = None  # None: not evaluated (`bench runs evaluate RUN_ID --save`)
    schema_version: int = SCHEMA_VERSION

    def finished(self, status: str, *, error: str | None = None, **changes: Any) -> RunRecord:
        """A copy with a final status, the end time now, and `changes` applied."""
        if error is not None:
            error = " ".join(str(error).split())
        return dataclasses.replace(self, status=status, ended=utc_now(), error=error, **changes)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (lists, not tuples)."""
        data = encode(self)
        # schema_version first, so a human (or an old reader) sees it at the top.
        return {"schema_version": data.pop("schema_version"), **data}

    @classmethod
    def from_json(cls, data: Any, *, source: str = "record") -> RunRecord:
        """Validate, upgrade older versions in memory, and convert; RecordError names the first bad field."""
        return decode(cls, upgrade(data, source), source=source, error=RecordError)


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def per_class(values: Any) -> dict[str, float | None]:
    """A length-14 sequence (canonical order; NaN = undefined) as a label -> value dict."""
    seq = list(values)
    if len(seq) != len(LABELS):
        raise ValueError(f"expected {len(LABELS)} values, got {len(seq)}")
    return {label: (None if v is None or v != v else float(v)) for label, v in zip(LABELS, seq)}


def counts(values: Any) -> dict[str, int]:
    """A length-14 sequence of positive counts as a label -> count dict."""
    seq = [int(v) for v in values]
    if len(seq) != len(LABELS):
        raise ValueError(f"expected {len(LABELS)} counts, got {len(seq)}")
    return dict(zip(LABELS, seq))


def as_array(values: dict[str, float | None]):
    """A label -> value dict as a float array in canonical order (NaN where None)."""
    import numpy as np

    return np.array([np.nan if values.get(x) is None else values[x] for x in LABELS], dtype=float)


__all__ = [
    "SCHEMA_VERSION",
    "STATUSES",
    "DATASET_KINDS",
    "RUN_KINDS",
    "TTA_MODES",
    "EXTERNAL_SOURCES",
    "OPERATING_RULES",
    "RATES",
    "SANITY_MIN_AUROC",
    "RecordError",
    "FutureSchemaError",
    "MethodInfo",
    "MethodOrigin",
    "SplitInfo",
    "DatasetInfo",
    "EnvironmentInfo",
    "StageRecord",
    "EpochRecord",
    "Positives",
    "ConfidenceIntervals",
    "EvalMetrics",
    "Metrics",
    "Sanity",
    "Artifacts",
    "ClassLocalization",
    "LocalizationRecord",
    "SubmittedFile",
    "WeightsFile",
    "Overlap",
    "Coverage",
    "ExternalInfo",
    "ClassMean",
    "Estimates",
    "SubgroupGap",
    "SubgroupResult",
    "AttributeResult",
    "SubgroupsResult",
    "CalibrationResult",
    "RuleResult",
    "ValidationSource",
    "OperatingResult",
    "EvaluationRecord",
    "RunRecord",
    "utc_now",
    "per_class",
    "counts",
    "as_array",
]
