"""`bench leaderboard --evaluation`: the stored calibration and operating points per column, read
from hand-made evaluations attached to synthetic runs (no training), in every format."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest
from record_factory import complete_run
from typer.testing import CliRunner

from bench.cli import app
from bench.records import (
    CalibrationResult,
    ClassMean,
    Estimates,
    EvaluationRecord,
    OperatingResult,
    RuleResult,
    RunStore,
    ValidationSource,
    per_class,
)
from bench.records.schema import RATES
from leaderboard.build import build_leaderboard
from leaderboard.evaluation import ROWS, evaluation_tables, to_ui

runner = CliRunner()
SMALL = dict(n_patients=30, ci=False)
ZEROS = per_class([0.0] * 14)
COUNTS = {k: 0 for k in ZEROS}


def mean(value: float, n: int = 14) -> ClassMean:
    return ClassMean(value, None, None, n, 14)


def mean_or_none(value: float | None) -> ClassMean:
    return mean(value) if value is not None else ClassMean(None, None, None, 0, 14)


def rule(name: str, rates: dict[str, float | None]) -> RuleResult:
    rates = rates | {"npv": 0.9}
    return RuleResult(
        name, ZEROS, COUNTS, COUNTS, COUNTS, COUNTS, ZEROS, ZEROS, ZEROS, ZEROS, ZEROS,
        {k: mean_or_none(rates[k]) for k in RATES},
    )  # fmt: skip


def evaluation(ece=None, brier=None, youden=None, f1=None, ece_classes=14, notes=()) -> EvaluationRecord:
    """A hand-made evaluation: calibration when `ece` is given, operating points when `youden` is."""
    est = Estimates(ZEROS, ZEROS, ZEROS)
    calibration = None if ece is None else CalibrationResult(est, est, mean(ece, ece_classes), mean(brier), 15)
    operating = None
    if youden is not None:
        operating = OperatingResult(
            ValidationSource("val.parquet", "0" * 64, 40), (rule("youden", youden), rule("f1", f1))
        )
    return EvaluationRecord("2026-12-01T00:00:00Z", 20, 0.95, 0, None, calibration, operating, tuple(notes))


RATES_A = ({"sensitivity": 0.8, "specificity": 0.7, "ppv": 0.3, "f1": 0.42},
           {"sensitivity": 0.6, "specificity": 0.85, "ppv": None, "f1": 0.48})  # fmt: skip
RATES_B = ({"sensitivity": 0.9, "specificity": 0.5, "ppv": 0.2, "f1": 0.33},
           {"sensitivity": 0.7, "specificity": 0.75, "ppv": 0.35, "f1": 0.45})  # fmt: skip
NOT_PROBABILITIES = "calibration: scores are not probabilities: 5 of 420 lie outside [0, 1]"
NO_VALIDATION = "operating points: no validation predictions to choose thresholds on"
EVALUATIONS = {
    "alpha": [evaluation(0.05, 0.12, *RATES_A, ece_classes=13)],
    # two training seeds; the second without operating points
    "beta": [evaluation(0.04, 0.10, *RATES_B), evaluation(0.08, 0.14, notes=(NO_VALIDATION,))],
    "gamma": [None],
    "delta": [evaluation(notes=(NOT_PROBABILITIES, NO_VALIDATION))],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("evaluation") / "results")
    for i, (method, evs) in enumerate(EVALUATIONS.items()):
        for seed, ev in enumerate(evs):
            r = complete_run(store, method, minutes=10 * i + seed, model_seed=10 * i + seed, **SMALL)
            store.write(dataclasses.replace(r, seed=seed, evaluation=ev))
    return store


@pytest.fixture(scope="module")
def table(store):
    (t,) = evaluation_tables(build_leaderboard(store.results_dir))
    return t


def cells(table, key: str) -> dict:
    col = next(c for c in table.columns if c.key == key)
    return {row.key: cell for row, cell in zip(ROWS, col.cells)}


def run_ids(store, method: str) -> list[str]:
    """In start order (the run id begins with the start time): the first seed first."""
    return sorted(i for i in store.run_ids() if store.load(i).method.name == method)


def test_the_cells_are_the_stored_values(table, store):
    got = cells(table, "alpha")
    assert got["ece"].value == 0.05 and got["ece"].text() == "0.0500 (13/14)"
    assert got["brier"].value == 0.12 and got["brier"].text() == "0.1200"
    for name, rates in zip(("youden", "f1"), RATES_A):
        for rate, value in rates.items():
            assert got[f"{name} {rate}"].value == value and got[f"{name} {rate}"].n_runs == (value is not None)
    # A mean the run stores as undefined (no class defined) is "-" and said.
    assert got["f1 ppv"].text() == "-"
    (run,) = run_ids(store, "alpha")
    assert f"alpha: run {run} stores no value for max F1: PPV (no class defined)" in table.notes
    assert [row.label for row in ROWS[:3]] == ["mean ECE", "mean Brier score", "Youden's J: sensitivity"]


def test_a_column_of_two_seeds_is_their_mean_and_counts_a_missing_part(table, store):
    got = cells(table, "beta")
    assert got["ece"].value == pytest.approx((0.04 + 0.08) / 2) and got["ece"].text() == "0.0600"
    assert got["brier"].value == pytest.approx((0.10 + 0.14) / 2) and got["brier"].text() == "0.1200"
    # Only the first seed has operating points: its values alone, counted, never averaged with a gap.
    assert got["youden sensitivity"].value == 0.9 and got["youden sensitivity"].text() == "0.9000 (1/2 runs)"
    assert got["f1 specificity"].text() == "0.7500 (1/2 runs)"
    second = run_ids(store, "beta")[1]
    assert (
        f"beta (2 seeds): no operating points for run {second} (no validation predictions to choose thresholds on; add them"
        f" with: bench runs evaluate {second} --val-predictions FILE --save)"
    ) in table.notes


def test_runs_without_an_evaluation_or_a_part_show_a_dash_and_a_note(table, store):
    assert {c.text() for c in cells(table, "gamma").values()} == {"-"}
    (gamma,) = run_ids(store, "gamma")
    assert f"gamma: no stored evaluation for run {gamma} (compute it with: bench runs evaluate {gamma} --save)" in (
        table.notes
    )
    delta = cells(table, "delta")
    assert delta["ece"].text() == "-" and delta["youden f1"].text() == "-"
    (run,) = run_ids(store, "delta")
    assert f"delta: no calibration for run {run} (scores are not probabilities: 5 of 420 lie outside [0, 1])" in (
        table.notes
    )
    shown = to_ui(table)
    headers = [c.header for c in shown.columns]
    assert headers[0] == "measure" and sorted(headers[1:]) == ["alpha", "beta (2 seeds)", "delta", "gamma"]
    ece = dict(zip(headers, (c.text for c in shown.rows[0].cells)))
    assert ece == {
        "measure": "mean ECE",
        "alpha": "0.0500 (13/14)",
        "beta (2 seeds)": "0.0600",
        "gamma": "-",
        "delta": "-",
    }


def bench(store, *args):
    res = runner.invoke(app, ["leaderboard", "--results", str(store.results_dir), *map(str, args)])
    assert res.exit_code == 0, res.output
    return res.output


def test_every_format_carries_it(store, tmp_path):
    board = json.loads(bench(store, "--evaluation", "--format", "json", "--out", "-"))
    assert board["schema_version"] == 4
    ev = board["tables"][0]["evaluation"]
    assert [r["key"] for r in ev["rows"]][:3] == ["ece", "brier", "youden sensitivity"]
    beta = next(c for c in ev["columns"] if c["key"] == "beta")
    assert beta["value"]["ece"] == pytest.approx(0.06) and beta["n_runs"]["youden ppv"] == 1
    assert beta["text"]["youden ppv"] == "0.2000 (1/2 runs)" and len(beta["runs"]) == 2
    gamma = next(c for c in ev["columns"] if c["key"] == "gamma")
    assert gamma["value"]["brier"] is None and gamma["n_runs"]["brier"] == 0
    assert json.loads(bench(store, "--format", "json", "--out", "-"))["tables"][0]["evaluation"] is None

    lines = list(csv.DictReader(io.StringIO(bench(store, "--evaluation", "--format", "csv", "--out", "-"))))
    ece = {r["column"]: r for r in lines if r["section"] == "evaluation: ece"}
    assert set(ece) == {"alpha", "beta (2 seeds)", "gamma", "delta"}
    assert float(ece["alpha"]["value"]) == 0.05 and ece["alpha"]["text"] == "0.0500 (13/14)"
    assert ece["gamma"]["value"] == "" and ece["gamma"]["text"] == "-"

    title = "calibration and operating points (stored evaluations)"
    terminal = bench(store, "--evaluation", "--out", tmp_path / "board.md")
    assert "mean Brier score" in terminal and "0.9000 (1/2 runs)" in terminal  # the title wraps
    assert title in (tmp_path / "board.md").read_text()
    latex = bench(store, "--evaluation", "--format", "latex", "--out", "-")
    assert "calibration and operating points" in latex and "Youden's J: sensitivity" in latex
