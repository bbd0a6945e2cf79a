"""The per-split tables of calibration and operating points (`bench leaderboard --evaluation`):
each run column's mean ECE, mean Brier score and, per operating-point rule, the mean test
sensitivity, specificity, PPV and F1, read from its runs' stored evaluations (`record.evaluation`)
and never recomputed, so the table shows what `bench runs show` shows for each run.

A column of several runs (folds, training seeds) takes the mean over its runs that have the
value and counts them when some lack it; a run without an evaluation, or whose evaluation lacks
the part (scores that are not probabilities have no calibration, a run without validation
predictions no operating points), is named in a note with what computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.labels import NUM_CLASSES
from bench.records import ClassMean, EvaluationRecord, RunRecord
from bench.ui import tables as ui
from leaderboard.tables import Column, Leaderboard, Table

RULE_NAMES = {"youden": "Youden's J", "f1": "max F1"}
RATE_NAMES = {"sensitivity": "sensitivity", "specificity": "specificity", "ppv": "PPV", "f1": "F1"}


@dataclass(frozen=True)
class Row:
    key: str  # "ece", "brier" or "<rule> <rate>", e.g. "youden sensitivity"
    part: str  # "calibration" or "operating"
    label: str
    rule: str | None = None
    rate: str | None = None


ROWS: tuple[Row, ...] = (
    Row("ece", "calibration", "mean ECE"),
    Row("brier", "calibration", "mean Brier score"),
    *(
        Row(f"{rule} {rate}", "operating", f"{name}: {rate_name}", rule, rate)
        for rule, name in RULE_NAMES.items()
        for rate, rate_name in RATE_NAMES.items()
    ),
)


def stored_mean(ev: EvaluationRecord | None, row: Row) -> ClassMean | None:
    """The run's stored mean over classes for the row; None where the evaluation or its part is missing."""
    if ev is None:
        return None
    if row.part == "calibration":
        return None if ev.calibration is None else getattr(ev.calibration, f"mean_{row.key}")
    rule = None if ev.operating is None else next((r for r in ev.operating.rules if r.rule == row.rule), None)
    return None if rule is None or row.rate is None else rule.means[row.rate]


@dataclass(frozen=True)
class Cell:
    """The mean of the runs' stored means that are defined, over `n_runs` of `n_total` runs;
    `n_classes` the fewest classes one of those means covers (None: no run has the value)."""

    value: float | None
    n_runs: int
    n_total: int
    n_classes: int | None

    @classmethod
    def of(cls, means: list[ClassMean | None]) -> Cell:
        have = [m for m in means if m is not None and m.value is not None]
        if not have:
            return cls(None, 0, len(means), None)
        value = sum(m.value for m in have if m.value is not None) / len(have)
        return cls(value, len(have), len(means), min(m.n_classes for m in have))

    def text(self) -> str:
        if self.value is None:
            return "-"
        text = f"{self.value:.4f}"
        if self.n_classes is not None and self.n_classes < NUM_CLASSES:
            text += f" ({self.n_classes}/{NUM_CLASSES})"
        if self.n_runs < self.n_total:
            text += f" ({self.n_runs}/{self.n_total} runs)"
        return text


@dataclass(frozen=True, eq=False)
class EvaluationColumn:
    key: str
    label: str
    runs: tuple[str, ...]  # run ids: every fold of every training seed
    cells: tuple[Cell, ...]  # one per ROWS entry


@dataclass(frozen=True, eq=False)
class EvaluationTable:
    table: Table  # the split table it belongs to
    columns: tuple[EvaluationColumn, ...]
    notes: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.table.title


def _runs(col: Column) -> list[RunRecord]:
    return [r for runs in col.seed_runs for r in runs]


def _reason(ev: EvaluationRecord, part: str) -> str:
    """Why the evaluation lacks a part, from its own notes."""
    prefix = "calibration: " if part == "calibration" else "operating points: "
    return next((n[len(prefix) :] for n in ev.notes if n.startswith(prefix)), "not computed")


def _missing_notes(col: Column) -> list[str]:
    """One line per run lacking its evaluation or a part of it, naming the command that computes it."""
    runs = _runs(col)
    notes = []
    unevaluated = [r.run_id for r in runs if r.evaluation is None]
    if unevaluated:
        one = unevaluated[0] if len(unevaluated) == 1 else "RUN_ID"
        notes.append(
            f"{col.label}: no stored evaluation for run{'s' if len(unevaluated) > 1 else ''} {', '.join(unevaluated)}"
            f" (compute it with: bench runs evaluate {one} --save{' for each' if len(unevaluated) > 1 else ''})"
        )
    for r in runs:
        ev = r.evaluation
        if ev is None:
            continue
        undefined = [row.label for row in ROWS if (m := stored_mean(ev, row)) is not None and m.value is None]
        if undefined:
            notes.append(f"{col.label}: run {r.run_id} stores no value for {', '.join(undefined)} (no class defined)")
        if ev.calibration is None:
            notes.append(f"{col.label}: no calibration for run {r.run_id} ({_reason(ev, 'calibration')})")
        if ev.operating is None:
            notes.append(
                f"{col.label}: no operating points for run {r.run_id} ({_reason(ev, 'operating')}; add them with:"
                f" bench runs evaluate {r.run_id} --val-predictions FILE --save)"
            )
    return notes


def _column(col: Column) -> EvaluationColumn:
    runs = _runs(col)
    cells = tuple(Cell.of([stored_mean(r.evaluation, row) for r in runs]) for row in ROWS)
    return EvaluationColumn(col.key, col.label, tuple(r.run_id for r in runs), cells)


def _bins_text(columns: list[Column]) -> str:
    bins = sorted(
        {
            r.evaluation.calibration.n_bins
            for c in columns
            for r in _runs(c)
            if r.evaluation and r.evaluation.calibration
        }
    )
    if not bins:
        return "equal-mass bins"
    several = " (the runs differ)" if len(bins) > 1 else ""
    return f"{', '.join(map(str, bins))} equal-mass bins{several}"


def _table(t: Table, columns: list[Column]) -> EvaluationTable:
    notes = [
        "read from each run's stored evaluation (bench runs show RUN_ID), never recomputed: the means over the"
        f" defined classes of the ECE ({_bins_text(columns)}) and Brier score of the test scores, and of the test"
        " sensitivity, specificity, PPV and F1 at each class's threshold chosen on validation predictions by"
        f" Youden's J or maximum F1; (n/{NUM_CLASSES}) counts the classes when a mean covers fewer (the fewest"
        " among a column's runs)",
    ]
    if any(len(_runs(c)) > 1 for c in columns):
        notes.append(
            "a column of several runs (folds, training seeds): the mean over its runs that have the value;"
            " (k/n runs) counts them when some lack it"
        )
    if len(columns) < len(t.columns):
        notes.append("published columns carry no evaluation: not shown")
    for c in columns:
        notes += _missing_notes(c)
    return EvaluationTable(t, tuple(_column(c) for c in columns), tuple(notes))


def evaluation_tables(board: Leaderboard) -> list[EvaluationTable]:
    """One table per split table with run columns (published columns have no evaluation)."""
    out = []
    for t in board.tables:
        columns = [c for c in t.columns if c.published is None and c.runs]
        if columns:
            out.append(_table(t, columns))
    return out


def to_ui(table: EvaluationTable) -> ui.Table:
    """The measures down (calibration, then each rule's rates), one column per method."""
    ends = {"brier", *(f"{rule} {list(RATE_NAMES)[-1]}" for rule in RULE_NAMES)}
    body = tuple(
        ui.row(
            row.label, *(c.cells[i].text() for c in table.columns), end_section=row.key in ends and i < len(ROWS) - 1
        )
        for i, row in enumerate(ROWS)
    )
    return ui.Table(
        (ui.Column("measure", key=True), *(ui.Column(c.label, "right") for c in table.columns)),
        body,
        title=f"{table.title}: calibration and operating points (stored evaluations)",
        caption="means over classes; - where no run of the column has the value (see the notes)",
        footnotes=table.notes,
    )
