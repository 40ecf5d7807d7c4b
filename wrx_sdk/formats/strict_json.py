"""The JSON the device reads, read the same way on the build side.

The C++ reader (android_runtime/src/json.cpp, RapidJSON) rejects what RFC 8259 leaves to
the reader: duplicate keys, NaN and infinities (and numbers that overflow to them),
invalid UTF-8, lone surrogates, U+0000 in strings and keys, nesting deeper than 64.
Python's ``json`` accepts all of these (the last duplicate key wins, ``NaN`` parses), so a
file could mean one thing to ``wrx`` and another to the phone. Every format the loader
also reads (manifest, plan, tokenizer) goes through ``loads`` here, and gets the same
verdict as on the device; the message gives the byte offset and the field's path, as the
C++ one does.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64  # json.h kMaxDepth
INT64 = (-(2**63), 2**63 - 1)


class StrictJSONError(ValueError):
    """What is wrong, where: ``offset`` in bytes (a syntax error), ``why`` with the field's
    path (a value the device refuses: duplicate key, non-finite number, bad text, depth)."""

    def __init__(self, offset: int | None, why: str):
        at = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"invalid JSON{at}: {why}")
        self.offset, self.why = offset, why


def _number(s: str) -> float:
    v = float(s)
    if not math.isfinite(v):
        raise _Reject(f"number {s[:24]} out of range")
    return v


def _int(s: str) -> int | float:
    try:
        v = int(s)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return _number(s)
    if INT64[0] <= v <= INT64[1]:
        return v
    return _number(s)  # as the device: a double, never an integer (or out of range)


def _constant(s: str) -> Any:
    raise _Reject(f"{s} is not JSON")


class _Reject(Exception):
    def __init__(self, why: str):
        self.why = why


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _Reject(f'duplicate key "{k}"')
        out[k] = v
    return out


def _check_tree(root: Any) -> None:
    """Depth, and the strings' text: no U+0000, no lone surrogate (iterative: any depth)."""
    stack = [(root, 1, "the top level")]
    while stack:
        v, depth, path = stack.pop()
        if isinstance(v, (dict, list)) and depth > MAX_DEPTH:
            raise _Reject(f"nesting deeper than {MAX_DEPTH} at {path}")
        if isinstance(v, dict):
            for k, x in v.items():
                _check_text(k, "key", path)
                stack.append((x, depth + 1, k if path == "the top level" else f"{path}.{k}"))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                stack.append((x, depth + 1, f"{'' if path == 'the top level' else path}[{i}]"))
        elif isinstance(v, str):
            _check_text(v, "string", path)


def _check_text(s: str, what: str, path: str) -> None:
    if "\0" in s:
        raise _Reject(f"{what} contains U+0000 at {path}")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise _Reject(f"{what} has a lone surrogate at {path}") from None


def loads(raw: bytes) -> Any:
    """The document in ``raw``, or ``StrictJSONError`` for anything the device would refuse."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StrictJSONError(e.start, "not valid UTF-8") from None
    try:
        doc = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_float=_number,
            parse_int=_int,
            parse_constant=_constant,
        )
        _check_tree(doc)
        return doc
    except json.JSONDecodeError as e:
        raise StrictJSONError(len(text[: e.pos].encode()), e.msg) from None
    except _Reject as e:
        raise StrictJSONError(None, e.why) from None
    except RecursionError:
        raise StrictJSONError(None, f"nesting deeper than {MAX_DEPTH}") from None
