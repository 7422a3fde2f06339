"""The two ways a rehearsal stops early, mapped by the CLI to exit codes."""

from __future__ import annotations


class RehearsalInputError(Exception):
    """The machine or the model cannot be rehearsed as they are (exit 2): says what to fix."""


class RehearsalError(Exception):
    """A step of the rehearsal ran and failed (exit 1): says what failed and where the log is."""
