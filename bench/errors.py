"""User-facing errors: one line naming the problem and the fix, and an exit code."""

from __future__ import annotations


class BenchError(Exception):
    """An error caused by the user's input or environment, not by a bug.

    The CLI prints it as one line (`error: <message> (<hint>)`) and exits with `exit_code`.
    """

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return " ".join(text.split())

    def __str__(self) -> str:
        return self.one_line()


class UnknownNameError(BenchError, KeyError):
    """A registry lookup for a name that is not registered."""


class DuplicateNameError(BenchError):
    """Two registrations under one name."""
