"""`bench score`: a file of an external model's scores on a split's test list, as a run record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.external.submission import Submission, read_submission
from bench.external.target import UNKNOWN, Target, declared_fold, open_target, overlap
from bench.records import Coverage, ExternalInfo, MethodInfo, RunRecord, SubmittedFile, environment_info


@dataclass(frozen=True)
class ScoreOptions:
    file: Path
    split: str
    name: str
    results: Path
    fold: int = 0
    data: Path | None = None  # None: the demo dataset
    description: str | None = None
    url: str | None = None
    trained_on: str = UNKNOWN
    allow_partial: bool = False
    split_seed: int = 0
    val_fraction: float = 0.1
    val_predictions: Path | None = None  # validation predictions to choose thresholds on
    quiet: bool = False

    def invocation(self) -> dict:
        """What the record keeps of the command, to score the file again."""
        return {
            "command": "score",
            "file": str(self.file),
            "split": self.split,
            "fold": self.fold,
            "data": None if self.data is None else str(self.data),
            "name": self.name,
            "trained_on": self.trained_on,
            "allow_partial": self.allow_partial,
            "split_seed": self.split_seed,
            "val_fraction": self.val_fraction,
            "val_predictions": None if self.val_predictions is None else str(self.val_predictions),
        }


def check_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise BenchError("the model needs a --name", hint="pass --name NAME: the column it gets in the leaderboard")
    return name


def covered(sub: Submission, target: Target, *, allow_partial: bool) -> Target:
    """The target the submission is scored on: the whole test list, or with `allow_partial` the
    images it has rows for; BenchError for missing rows otherwise."""
    if not sub.missing:
        return target
    n, total = len(sub.missing), len(target.ids)
    if not sub.ids:
        raise BenchError(
            f"none of the {sub.rows:,} rows of {sub.path} is an image of the {target.split} test list "
            f"(ids in the file: {', '.join(sub.ignored_examples)}; in the test list: {', '.join(target.ids[:3])})",
            hint="check the image id column and --split",
        )
    if not allow_partial:
        shown = ", ".join(sub.missing[:5]) + (", ..." if n > 5 else "")
        raise BenchError(
            f"{n:,} of the {total:,} test images have no row in {sub.path} ({shown})",
            hint="score every image of the test list, or pass --allow-partial to score the rows present"
            " (the run then gets a table of its own)",
        )
    return target.covering(sub.ids)


def merged_by_float32(scores: np.ndarray) -> list[int]:
    """Columns in which storing the scores as float32 (as every run's predictions are) makes
    distinct scores equal, so their ranks, and AUROC, could change."""
    return [
        k
        for k in range(scores.shape[1])
        if len(np.unique(scores[:, k])) != len(np.unique(scores[:, k].astype(np.float32)))
    ]


def score_file(options: ScoreOptions, *, notice: Callable[[str], None] = lambda message: None) -> RunRecord:
    """Read, validate and score `options.file`; the complete external record. Every refusal is a
    BenchError raised before the run folder exists."""
    check_name(options.name)
    target = open_target(
        options.split,
        fold=options.fold,
        data=options.data,
        split_seed=options.split_seed,
        val_fraction=options.val_fraction,
        quiet=options.quiet,
    )
    return score_on(target, options, notice=notice)


def score_on(
    target: Target, options: ScoreOptions, *, notice: Callable[[str], None] = lambda message: None
) -> RunRecord:
    """`score_file` once the test list is known: the declared training lists, the file read and
    checked, the record written."""
    from bench.external.runs import read_validation, record_external
    from bench.labels import LABELS

    name = check_name(options.name)
    declared = declared_fold(options.trained_on, target.index, scored=target)
    validation = read_validation(options.val_predictions, target)
    sub = read_submission(options.file, target.ids)
    scored = covered(sub, target, allow_partial=options.allow_partial)
    if sub.ignored:
        notice(f"{sub.ignored:,} row(s) of {sub.path.name} for images outside the {options.split} test list ignored")
    if sub.missing:
        notice(f"partial: {len(sub.ids):,} of {len(target.ids):,} test images scored")
    merged = merged_by_float32(sub.scores)
    if merged:
        notice(
            f"scores of {', '.join(LABELS[k] for k in merged)} differ below float32 precision: stored as float32,"
            " some become ties"
        )
    external = ExternalInfo(
        source="scores",
        description=options.description,
        url=options.url,
        trained_on=options.trained_on.strip(),
        overlap=overlap(declared, scored),
        coverage=Coverage(scored=len(sub.ids), test=len(target.ids), ignored=sub.ignored),
        scores_in_unit_interval=sub.in_unit_interval,
        submission=SubmittedFile(name=sub.path.name, sha256=sub.sha256, rows=sub.rows),
    )
    return record_external(
        options.results,
        target=scored,
        scores=sub.scores,
        external=external,
        method=MethodInfo(name=name, display_name=name, spec={}),
        environment=environment_info(torch_used=False),
        invocation=options.invocation(),
        validation=validation,
    )
