"""The errors a user sees as one line (the CLI prints them with exit code 2, or 130)."""

from __future__ import annotations


class SweepError(RuntimeError):
    """A sweep that cannot start or be read: bad path, unwritable storage, unreachable cluster,
    resources no node has."""


class SweepInterrupted(SweepError):
    """The sweep stopped before its budget was met (Ctrl-C); ``raylaws resume`` continues it."""


__all__ = ["SweepError", "SweepInterrupted"]
