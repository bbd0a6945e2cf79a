"""The record schema's version and the errors of reading a record (shared by the schema and its migrations)."""

from __future__ import annotations

from bench.schema import SchemaError

SCHEMA_VERSION = 4


class RecordError(SchemaError):
    """A record.json that is unreadable, incomplete or ill-typed."""


class FutureSchemaError(RecordError):
    """A record written by a newer cxr-bench (schema_version above ours)."""
