"""The label canon: order, spellings met in the wild, and `Finding Labels` cells."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.labels import LABELS, NO_FINDING, NUM_CLASSES, canonical, index_of, parse_finding_labels

# docs/domain.md section 2, typed out independently of bench.labels.
PAPER_ORDER = (
    "Atelectasis, Cardiomegaly, Effusion, Infiltration, Mass, Nodule, Pneumonia, Pneumothorax, "
    "Consolidation, Edema, Emphysema, Fibrosis, Pleural_Thickening, Hernia"
).split(", ")


def test_order_is_the_papers():
    assert list(LABELS) == PAPER_ORDER
    assert NUM_CLASSES == 14
    assert NO_FINDING not in LABELS


@pytest.mark.parametrize("name", PAPER_ORDER)
def test_canonical_names_map_to_themselves(name):
    assert canonical(name) == name
    assert canonical(f"  {name.upper()} ") == name


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("Infiltrate", "Infiltration"),  # BBox_List_2017.csv
        ("infiltrate", "Infiltration"),
        ("Pleural Thickening", "Pleural_Thickening"),
        ("pleural-thickening", "Pleural_Thickening"),
        ("pleural_thickening", "Pleural_Thickening"),
    ],
)
def test_aliases(alias, name):
    assert canonical(alias) == name


@pytest.mark.parametrize("bad", ["No Finding", "Cardiomegally", "", "Lung Opacity"])
def test_unknown_names_are_refused_with_the_valid_ones(bad):
    with pytest.raises(BenchError) as info:
        canonical(bad)
    assert repr(bad) in info.value.message
    assert "Atelectasis" in info.value.hint and "Hernia" in info.value.hint
    assert info.value.exit_code == 2


def test_index_of():
    assert index_of("Atelectasis") == 0
    assert index_of("Infiltrate") == 3
    assert index_of("Pleural Thickening") == 12
    assert index_of("Hernia") == 13


def test_parse_finding_labels():
    assert parse_finding_labels("No Finding") == []
    assert parse_finding_labels("") == []
    assert parse_finding_labels("Cardiomegaly") == ["Cardiomegaly"]
    assert parse_finding_labels("Cardiomegaly|Emphysema") == ["Cardiomegaly", "Emphysema"]
    assert parse_finding_labels("Infiltrate|Pleural Thickening") == ["Infiltration", "Pleural_Thickening"]
    with pytest.raises(BenchError):
        parse_finding_labels("Mass|Tumour")
