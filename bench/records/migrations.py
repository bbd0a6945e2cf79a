"""Older record versions, upgraded in memory before validation (files on disk are never rewritten).

`MIGRATIONS[v]` turns a version-v record (parsed JSON) into a version-(v+1) one. Version 1 had
no `kind` (every run was trained) and kept `bench cam`'s scores as a free-form dict with a
`"format": 1` key; version 2 types them (`schema.LocalizationRecord`). Version 3 adds the
optional `evaluation` and `artifacts.val_predictions`, which a version-2 record lacks: it has
neither (both default to empty), so its upgrade only renumbers it; a version-2 reader refuses a
version-3 record as newer, rather than as one with unknown fields. Version 4 adds
`onednn_depthwise` to a trained run's `invocation` (its options): a version-3 run took every
CPU depthwise weight gradient from oneDNN, so its upgrade says so, and a resume keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.records.versions import SCHEMA_VERSION, FutureSchemaError, RecordError

Record = dict[str, Any]


def _v1_to_v2(data: Record) -> Record:
    out = {**data, "kind": "trained", "schema_version": 2}
    loc = data.get("localization")
    if isinstance(loc, dict):
        # Format 1 is the typed layout plus its format key; any other layout cannot be read and
        # is dropped, as the version-1 leaderboard skipped it (`bench cam` scores it again).
        out["localization"] = {k: v for k, v in loc.items() if k != "format"} if loc.get("format") == 1 else None
    return out


def _v2_to_v3(data: Record) -> Record:
    return {**data, "schema_version": 3}


def _v3_to_v4(data: Record) -> Record:
    out = {**data, "schema_version": 4}
    invocation = data.get("invocation")
    if data.get("kind", "trained") == "trained" and isinstance(invocation, dict) and invocation:
        out["invocation"] = {"onednn_depthwise": True, **invocation}
    return out


MIGRATIONS: dict[int, Callable[[Record], Record]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


def upgrade(data: Any, source: str) -> Record:
    """`data` as a current-version record; RecordError for a missing or impossible version."""
    if not isinstance(data, dict):
        raise RecordError(f"{source}: expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version is None:
        raise RecordError(f"{source}: field 'schema_version' is missing")
    if type(version) is not int:
        raise RecordError(f"{source}: field 'schema_version' should be an integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise FutureSchemaError(
            f"{source}: schema_version {version} is newer than this cxr-bench reads ({SCHEMA_VERSION})",
            hint="upgrade cxr-bench to read it",
        )
    if version < 1:
        raise RecordError(f"{source}: schema_version {version} is not a valid version")
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return data
