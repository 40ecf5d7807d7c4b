"""User-facing errors.

Every error that a user can cause (a wrong path, a corrupt store, a bad plan) is a
``WrxError``: it names the file and field at fault and carries a HINT with the command
to re-run. Anything else that escapes is a bug in WRX, and the CLI says so.
"""

from __future__ import annotations

# The closed set of format-rejection codes, shared with the C++ loader (wrx::Error) and
# tests/golden/cases.json. Append only; never renumber or reuse.
CODES = (
    "OK",
    "IO",
    "TRUNCATED",
    "BAD_MAGIC",
    "UNSUPPORTED_VERSION",
    "HEADER_CHECKSUM",
    "TABLE_CHECKSUM",
    "BAD_COUNTS",
    "OFFSET_OUT_OF_RANGE",
    "TENSOR_OUT_OF_RANGE",
    "UNKNOWN_ENUM",
    "ENTRY_CHECKSUM",
    "MANIFEST_FIELD",
    "MANIFEST_MISMATCH",
    "MISSING_ENTRY",
    "BAD_PLAN",
    "BAD_DATA",
    "MISSING_FILE",
    "BAD_TOKENIZER",
)


class WrxError(Exception):
    """An error the user can fix. ``hint`` names what to do next; ``code`` is one of CODES."""

    def __init__(self, message: str, hint: str | None = None, code: str | None = None):
        super().__init__(message)
        assert code is None or code in CODES, code
        self.message = message
        self.hint = hint
        self.code = code

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nHINT: {self.hint}"
        return self.message


class StoreError(WrxError):
    """The store file is unreadable, corrupt, truncated or from another version."""


class ManifestError(WrxError):
    """The manifest is missing, malformed, from another version or disagrees with its store."""


class PlanError(WrxError):
    """A plan is malformed, or names layers, shards or bitwidths the package does not hold."""

    HINT = "write it with wrx plan, or fix the field named against the package (docs/FORMAT.md, 'Plan')"

    def __init__(self, message: str, hint: str | None = None, code: str | None = "BAD_PLAN"):
        super().__init__(message, hint or self.HINT, code)


class DataError(WrxError):
    """Task data or a user dataset is missing or malformed."""


class ModelError(WrxError):
    """A model directory or name cannot be loaded."""
