"""An external run's provenance as text: one wording for `bench runs show`, `bench score` /
`bench eval` and the leaderboard's footnotes."""

from __future__ import annotations

from bench.records.schema import ExternalInfo, RunRecord


def trained_on_text(ext: ExternalInfo) -> str:
    """ "weng (shares 17,920 test images and 1,901 test patients)", "official (no overlap)" or
    "unknown (unverified)"."""
    if ext.overlap is None:
        return f"{ext.trained_on} (unverified)"
    if not ext.overlap.images and not ext.overlap.patients:
        return f"{ext.trained_on} (no overlap with the test list)"
    return (
        f"{ext.trained_on} (OVERLAP: its training and validation lists share {ext.overlap.images:,} test images"
        f" and {ext.overlap.patients:,} test patients)"
    )


def has_overlap(ext: ExternalInfo) -> bool:
    return ext.overlap is not None and bool(ext.overlap.images or ext.overlap.patients)


def coverage_text(ext: ExternalInfo) -> str:
    c = ext.coverage
    text = f"{c.scored:,} of {c.test:,} test images" + (" (partial)" if c.partial else "")
    return text + (f"; {c.ignored:,} rows outside the test list ignored" if c.ignored else "")


def source_text(ext: ExternalInfo) -> str:
    if ext.submission is not None:
        f = ext.submission
        return f"scores file {f.name} ({f.rows:,} rows, SHA-256 {f.sha256[:16]})"
    if ext.weights is not None:
        w = ext.weights
        mapping = ", ".join(w.key_mapping) if w.key_mapping else "none"
        return f"weights {w.name} ({w.tensors:,} tensors, SHA-256 {w.sha256[:16]}; key mapping: {mapping})"
    return ext.source


def provenance(record: RunRecord) -> list[tuple[str, str]]:
    """(field, text) rows of an external run's provenance; empty for a trained run."""
    ext = record.external
    if ext is None:
        return []
    rows = [("source", source_text(ext))]
    if ext.description:
        rows.append(("description", ext.description))
    if ext.url:
        rows.append(("url", ext.url))
    rows += [
        ("trained on", trained_on_text(ext)),
        ("coverage", coverage_text(ext)),
        ("scores", "probabilities, all in [0, 1]" if ext.scores_in_unit_interval else "not all in [0, 1] (logits?)"),
    ]
    return rows
