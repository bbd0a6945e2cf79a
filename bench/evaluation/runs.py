"""One run's evaluation from what it stored: its test predictions, the dataset index it was scored
on (view, sex and age per image) and validation predictions to choose thresholds on (the run's
own, or a file given); and that evaluation in the record's form (`records.EvaluationRecord`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.index import DatasetIndex
from bench.errors import BenchError
from bench.evaluation.calibration import CalibrationReport
from bench.evaluation.common import LEVEL, N_RESAMPLES, Estimate, Mean
from bench.evaluation.operating import OperatingReport
from bench.evaluation.report import Evaluation, evaluate
from bench.evaluation.subgroups import Gap, SubgroupReport, standard_attributes
from bench.predictions import Predictions, file_sha256, load_predictions
from bench.records import (
    RATES,
    AttributeResult,
    CalibrationResult,
    ClassMean,
    Estimates,
    EvaluationRecord,
    OperatingResult,
    RuleResult,
    RunRecord,
    RunStore,
    SubgroupGap,
    SubgroupResult,
    SubgroupsResult,
    ValidationSource,
    utc_now,
)

SEED = 0  # of the resamples: an evaluation computed again reads the same intervals


@dataclass(frozen=True, eq=False)
class Validation:
    """Validation predictions and where they came from."""

    predictions: Predictions
    source: ValidationSource


@dataclass(frozen=True, eq=False)
class RunEvaluation:
    evaluation: Evaluation  # bench.evaluation's result, for the tables and plots
    record: EvaluationRecord  # the same, as the run record stores it


def run_predictions(store: RunStore, record: RunRecord) -> Predictions:
    """The run's stored test predictions; BenchError when it has none."""
    path = store.artifact(record, "predictions")
    if path is None:
        raise BenchError(
            f"run {record.run_id} has no predictions file recorded",
            hint="only a complete run stores its test predictions: finish it, or score it with `bench score`",
        )
    return load_predictions(path)


def run_index(record: RunRecord, data: Path | None = None) -> DatasetIndex:
    """The run's dataset index (its recorded root unless `data`), checked by fingerprint; no image is read."""
    from bench.data.nih import load_index

    root = Path(data) if data is not None else Path(record.dataset.root)
    if not root.is_dir():
        raise BenchError(
            f"run {record.run_id}'s dataset {root} is not there", hint="pass --data with the run's dataset root"
        )
    index = load_index(root, check_images=False)
    if index.fingerprint != record.dataset.fingerprint:
        raise BenchError(
            f"dataset {root} is not the one run {record.run_id} used (fingerprint {index.fingerprint[:12]},"
            f" run {record.dataset.fingerprint[:12]})",
            hint="pass --data with the run's dataset root",
        )
    return index


def index_attributes(index: DatasetIndex, image_ids) -> dict[str, np.ndarray]:
    """View, sex and age band per image of `image_ids`, in that order; BenchError naming an image
    the index lacks."""
    ids = list(image_ids)
    missing = [i for i in ids if i not in index.frame.index]
    if missing:
        raise BenchError(
            f"{len(missing)} predicted images are not in the dataset index {index.labels_file}, e.g. {missing[0]}",
            hint="pass --data with the dataset root the run was scored on",
        )
    rows = index.frame.loc[ids]
    return standard_attributes(rows["view"].to_numpy(), rows["sex"].to_numpy(), rows["age"].to_numpy())


def load_validation(path: Path, *, shown: str | None = None) -> Validation:
    """A validation predictions file, with its provenance (`shown`: the name the record gives
    it, by default the path)."""
    predictions = load_predictions(path)
    return Validation(predictions, ValidationSource(shown or str(path), file_sha256(path), len(predictions)))


def run_validation(store: RunStore, record: RunRecord, val_predictions: Path | None = None) -> Validation | None:
    """`val_predictions` when given, else the run's own validation predictions (a trained run's
    last stage's), else None."""
    if val_predictions is not None:
        return load_validation(val_predictions)
    path = store.final_val_predictions(record)
    if path is None:
        return None
    return load_validation(path, shown=path.relative_to(store.run_dir(record.run_id)).as_posix())


def shared_images(validation: Validation, test_ids) -> set[str]:
    return set(validation.predictions.image_ids) & set(test_ids)


def check_validation(validation: Validation, index: DatasetIndex, test_ids) -> None:
    """BenchError for validation predictions that share an image with the test list, name an
    image the index lacks, or carry other labels than the index."""
    val, source = validation.predictions, validation.source.file
    shared = shared_images(validation, test_ids)
    if shared:
        raise BenchError(
            f"{source} shares images with the test list ({len(shared)}, e.g. {min(shared)})",
            hint="thresholds must be chosen on validation images, never on the test list",
        )
    missing = [i for i in val.image_ids if i not in index.frame.index]
    if missing:
        raise BenchError(
            f"{len(missing)} images of {source} are not in the dataset index {index.labels_file}, e.g. {missing[0]}",
            hint="give validation predictions of this dataset's images",
        )
    differ = np.flatnonzero((index.labels(val.image_ids) != val.y_true).any(axis=1))
    if differ.size:
        raise BenchError(
            f"the labels of {differ.size} images of {source} differ from the dataset index's,"
            f" e.g. {val.image_ids[differ[0]]}",
            hint="write the index's labels in its true:<Label> columns (bench.predictions.save_predictions)",
        )


def evaluate_predictions(
    test: Predictions,
    index: DatasetIndex,
    validation: Validation | None = None,
    *,
    n_resamples: int = N_RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
    leaked: bool = False,
) -> RunEvaluation:
    """`evaluate` on test predictions, with the index's attributes and, from `validation`, the
    operating points; and the same in the record's form. With `leaked` (a split run with
    --allow-leakage), validation predictions sharing images with the test list choose no
    thresholds, and a note says so; else they are refused."""
    attributes = index_attributes(index, test.image_ids)
    leak_note = None
    shared = set() if validation is None or not leaked else shared_images(validation, test.image_ids)
    if validation is not None and shared:
        leak_note = (
            f"operating points: {validation.source.file} shares {len(shared)} images with the test list"
            " (the split allows leakage), so no thresholds are chosen on it"
        )
        validation = None
    val = None
    if validation is not None:
        check_validation(validation, index, test.image_ids)
        val = validation.predictions
    result = evaluate(
        test.y_true,
        test.scores,
        test.patient_ids,
        attributes=attributes,
        val_labels=None if val is None else val.y_true,
        val_scores=None if val is None else val.scores,
        n_resamples=n_resamples,
        level=level,
        seed=seed,
    )
    if leak_note is not None:  # in place of "no validation predictions"
        notes = tuple(leak_note if n.startswith("operating points:") else n for n in result.notes)
        result = dataclasses.replace(result, notes=notes)
    source = None if validation is None else validation.source
    return RunEvaluation(result, to_record(result, validation=source, n_resamples=n_resamples, level=level, seed=seed))


def run_evaluation(
    store: RunStore,
    record: RunRecord,
    *,
    data: Path | None = None,
    val_predictions: Path | None = None,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> RunEvaluation:
    """A stored run's evaluation: its test predictions, its dataset index and `val_predictions`
    (default: the run's own validation predictions, when it stored any)."""
    test = run_predictions(store, record)
    index = run_index(record, data)
    validation = run_validation(store, record, val_predictions)
    leaked = val_predictions is None and record.split.allow_leakage  # a file given is refused
    return evaluate_predictions(test, index, validation, n_resamples=n_resamples, seed=seed, leaked=leaked)


# -- the record's form ---------------------------------------------------------------------------
def to_record(
    result: Evaluation, *, validation: ValidationSource | None, n_resamples: int, level: float, seed: int
) -> EvaluationRecord:
    """`result` as the run record stores it (per-class dicts; no reliability bins)."""
    operating = None
    if result.operating is not None:
        if validation is None:
            raise ValueError("operating points need the validation predictions' source")
        operating = _operating(result.operating, validation)
    return EvaluationRecord(
        computed=utc_now(),
        n_resamples=n_resamples,
        level=level,
        seed=seed,
        subgroups=None if result.subgroups is None else _subgroups(result.subgroups),
        calibration=None if result.calibration is None else _calibration(result.calibration),
        operating=operating,
        notes=result.notes,
    )


def _estimates(values: dict[str, Estimate]) -> Estimates:
    return Estimates(
        value={k: e.value for k, e in values.items()},
        lo={k: e.lo for k, e in values.items()},
        hi={k: e.hi for k, e in values.items()},
    )


def _mean(mean: Mean) -> ClassMean:
    return ClassMean(mean.value, mean.lo, mean.hi, mean.n_classes, mean.n_total)


def _gap(gap: Gap) -> SubgroupGap:
    return SubgroupGap(gap.best, gap.worst, gap.value, gap.lo, gap.hi)


def _subgroups(report: SubgroupReport) -> SubgroupsResult:
    attributes = tuple(
        AttributeResult(
            attribute=a.attribute,
            subgroups=tuple(
                SubgroupResult(
                    name=g.name,
                    n_images=g.n_images,
                    n_patients=g.n_patients,
                    positives=dict(g.positives),
                    auroc=_estimates(g.auroc),
                    mean=_mean(g.mean),
                    tpr=_estimates(g.tpr) if g.tpr else None,
                )
                for g in a.subgroups
            ),
            unassigned=a.unassigned,
            auroc_gap={k: _gap(v) for k, v in a.auroc_gap.items()},
            mean_gap=_gap(a.mean_gap),
            mean_gap_classes=a.mean_gap_classes,
            tpr_gap={k: _gap(v) for k, v in a.tpr_gap.items()} if a.tpr_gap else None,
        )
        for a in report.attributes
    )
    return SubgroupsResult(attributes, report.min_cases, dict(report.thresholds) or None)


def _calibration(report: CalibrationReport) -> CalibrationResult:
    return CalibrationResult(
        ece=_estimates({k: c.ece for k, c in report.per_class.items()}),
        brier=_estimates({k: c.brier for k, c in report.per_class.items()}),
        mean_ece=_mean(report.mean_ece),
        mean_brier=_mean(report.mean_brier),
        n_bins=report.n_bins,
    )


def _operating(report: OperatingReport, validation: ValidationSource) -> OperatingResult:
    def column(points, name: str) -> dict:
        return {k: getattr(c, name) for k, c in points.per_class.items()}

    rules = tuple(
        RuleResult(
            rule=points.rule,
            threshold=column(points, "threshold"),
            tp=column(points, "tp"),
            fp=column(points, "fp"),
            tn=column(points, "tn"),
            fn=column(points, "fn"),
            **{rate: column(points, rate) for rate in RATES},
            means={rate: _mean(getattr(points, rate)) for rate in RATES},
        )
        for points in report.rules
    )
    return OperatingResult(validation, rules)
