"""Type checks for the JSON and YAML documents wrx reads (device profiles, loader reports):
a hand-edited or truncated file is a user error naming the field, never a ``KeyError`` or
``TypeError`` deep inside the planner or the report pages.

A schema is a value's expected shape:
- ``NUM``: a finite number >= 0; ``TIME``: the same or -1 ("never", as the loader's traces
  write it); ``INT``: an integer >= 0 (``True`` is not one); ``str``: a string (or null);
  ``ANY``: anything;
- ``[x]``: a non-empty list of x; ``(x,)``: a list of x, maybe empty;
- ``{"key": x, "?opt": y}``: a map with those keys ("?": optional, null counts as absent);
  other keys are allowed;
- ``{"*": x}``: a non-empty map whose keys are integers (as strings or ints), values x.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from wrx_sdk.errors import WrxError

NUM, TIME, INT, ANY = "number", "time", "integer", "any"


def check(v: Any, schema: Any, field: str, path: Path | str, hint: str, code: str = "BAD_DATA") -> None:
    """Raise ``WrxError(code)`` naming ``path`` and the first field that does not fit."""

    def bad(want: str) -> WrxError:
        name = field or "(top level)"
        return WrxError(f"{path}: field {name} is missing or not {want}", hint=hint, code=code)

    def sub(name: str) -> str:
        return f"{field}.{name}" if field else name

    if schema is ANY:
        return
    if schema is NUM:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise bad("a finite number >= 0")
    elif schema is TIME:
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not math.isfinite(v)
            or (v < 0 and v != -1)
        ):
            raise bad("a finite number >= 0, or -1")
    elif schema is INT:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise bad("an integer >= 0")
    elif schema is str:
        if v is not None and not isinstance(v, str):
            raise bad("a string")
    elif isinstance(schema, (list, tuple)):
        if not isinstance(v, list) or (isinstance(schema, list) and not v):
            raise bad("a non-empty list" if isinstance(schema, list) else "a list")
        for i, x in enumerate(v):
            check(x, schema[0], f"{field}[{i}]", path, hint, code)
    elif "*" in schema:
        if not isinstance(v, dict) or not v:
            raise bad("a non-empty map")
        for k, x in v.items():
            if isinstance(k, bool) or not str(k).isdigit():
                raise bad("a map with integer keys")
            check(x, schema["*"], sub(str(k)), path, hint, code)
    else:
        if not isinstance(v, dict):
            raise bad("a map")
        for key, inner in schema.items():
            name = key.lstrip("?")
            if name not in v or (key.startswith("?") and v[name] is None):
                if key.startswith("?"):
                    continue
                raise WrxError(f"{path}: field {sub(name)} is missing", hint=hint, code=code)
            check(v[name], inner, sub(name), path, hint, code)
