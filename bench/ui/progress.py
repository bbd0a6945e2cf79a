"""Progress bars: one look for every long loop (training, decoding, caching, rendering)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from bench.ui.console import err


class Bar:
    """One task of a transient bar on stderr; `advance` and `update` take the template's fields."""

    def __init__(self, progress: Progress, task: TaskID):
        self._progress, self._task = progress, task

    def advance(self, n: float = 1, **fields: Any) -> None:
        self._progress.update(self._task, advance=n, **fields)

    def update(self, **fields: Any) -> None:
        self._progress.update(self._task, **fields)


@contextlib.contextmanager
def progress_bar(
    description: str, total: int, *, enabled: bool = True, status: str | None = None, **fields: Any
) -> Iterator[Bar]:
    """A bar `description [====] n/total status eta`; `status` is a template over `fields`
    (e.g. "loss {task.fields[loss]:.4f}")."""
    columns: list[Any] = [TextColumn(description.replace("[", "\\[")), BarColumn(), MofNCompleteColumn()]
    if status is not None:
        columns.append(TextColumn(status))
    columns.append(TimeRemainingColumn())
    with Progress(*columns, console=err, disable=not enabled, transient=True) as progress:
        yield Bar(progress, progress.add_task(description, total=total, **fields))
