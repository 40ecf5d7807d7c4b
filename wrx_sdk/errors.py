"""User-facing errors.

Every error that a user can cause (a wrong path, a corrupt store, a bad plan) is a
``WrxError``: it names the file and field at fault and carries a HINT with the command
to re-run. Anything else that escapes is a bug in WRX, and the CLI says so.
"""

from __future__ import annotations


class WrxError(Exception):
    """An error the user can fix. ``hint`` names what to do next."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nHINT: {self.hint}"
        return self.message


class StoreError(WrxError):
    """The store file is unreadable, corrupt, truncated or from another version."""


class ManifestError(WrxError):
    """The manifest is missing, malformed, from another version or disagrees with its store."""


class PlanError(WrxError):
    """A plan names layers, shards or bitwidths the package does not hold."""


class DataError(WrxError):
    """Task data or a user dataset is missing or malformed."""


class ModelError(WrxError):
    """A model directory or name cannot be loaded."""
