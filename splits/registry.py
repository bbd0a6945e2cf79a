"""The registry of split protocols: built-ins plus entry points (group `cxr_bench.splits`)."""

from __future__ import annotations

from bench.errors import BenchError
from bench.registry import Registry
from splits.base import SplitProtocol

SPLITS: Registry[SplitProtocol] = Registry(
    "split",
    SplitProtocol,
    builtins={
        "official": "splits.official:PROTOCOL",
        "kfold5": "splits.kfold:PROTOCOL",
        "weng": "splits.weng:PROTOCOL",
        "custom": "splits.custom:PROTOCOL",
    },
    entry_point_group="cxr_bench.splits",
    name_of=lambda protocol: protocol.name,
)


def resolve(name: str) -> SplitProtocol:
    """The protocol for `name`, binding the argument of names like `custom:PATH`."""
    base, sep, argument = name.partition(":")
    protocol = SPLITS.get(base)
    if sep:
        return protocol.bind(argument)
    if protocol.takes_argument:
        raise BenchError(f"split {base!r} needs an argument", hint=f"write it as {protocol.usage or base + ':ARG'}")
    return protocol
