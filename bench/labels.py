"""The label canon: the 14 ChestX-ray14 findings in the order used everywhere in cxr-bench.

The order is the CheXNet line of work's (and the paper's tables'). Other libraries order
differently (NIH's README, torchxrayvision), so always map by name through `canonical`.
"""

from __future__ import annotations

from bench.errors import BenchError

LABELS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
NUM_CLASSES = len(LABELS)
NO_FINDING = "No Finding"

# Spellings met in the wild: NIH's box file says "Infiltrate", prose and some CSVs say
# "Pleural Thickening"; keys are compared case-insensitively.
ALIASES: dict[str, str] = {
    "infiltrate": "Infiltration",
    "pleural thickening": "Pleural_Thickening",
    "pleural-thickening": "Pleural_Thickening",
    "pleural_thickening": "Pleural_Thickening",
}
_BY_KEY = {name.lower(): name for name in LABELS} | ALIASES


def canonical(name: str) -> str:
    """The canonical spelling of a finding name; raises BenchError for an unknown one."""
    key = name.strip().lower()
    if key in _BY_KEY:
        return _BY_KEY[key]
    raise BenchError(
        f"unknown finding {name!r}",
        hint=f"use one of: {', '.join(LABELS)}",
    )


def index_of(name: str) -> int:
    """Column index of a finding in the canonical order."""
    return LABELS.index(canonical(name))


def parse_finding_labels(text: str) -> list[str]:
    """Canonical names in an NIH `Finding Labels` cell (`A|B` or `No Finding`)."""
    text = str(text).strip()
    if not text or text == NO_FINDING:
        return []
    return [canonical(part) for part in text.split("|") if part.strip()]
