"""Tokenized evaluation data in a binary form the C++ loader reads directly (FORMAT.md, "Data").

header (32 bytes): magic "WRXDATA\\0", version u32, n_rows u32, seq_len u32, num_labels u32,
reserved u32, body_crc32 u32; body: labels i32[n], lengths i32[n], input_ids i32[n*S],
token_type_ids i32[n*S]. Row i's attention mask is 1 for the first lengths[i] tokens.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wrx_sdk.errors import DataError
from wrx_sdk.formats.files import write_bytes

MAGIC = b"WRXDATA\0"
VERSION = 1
HEADER = struct.Struct("<8sIIIIII")


@dataclass
class Encoded:
    input_ids: np.ndarray  # int32 [N, S]
    token_type_ids: np.ndarray  # int32 [N, S]
    lengths: np.ndarray  # int32 [N]: tokens before padding; attention mask is ids[:length]

    def attention_mask(self) -> np.ndarray:
        S = self.input_ids.shape[1]
        return (np.arange(S)[None, :] < self.lengths[:, None]).astype(np.int64)


def write(path: str | os.PathLike, enc: Encoded, labels: np.ndarray, num_labels: int) -> None:
    n, s = enc.input_ids.shape
    body = b"".join(
        [
            labels.astype("<i4").tobytes(),
            enc.lengths.astype("<i4").tobytes(),
            enc.input_ids.astype("<i4").tobytes(),
            enc.token_type_ids.astype("<i4").tobytes(),
        ]
    )
    write_bytes(path, HEADER.pack(MAGIC, VERSION, n, s, num_labels, 0, zlib.crc32(body)) + body)


# Bounds checked before the size is computed, so that no header makes the arithmetic
# overflow in the C++ reader (uint64): n_rows * seq_len * 8 stays below 2^50.
MAX_ROWS = 1 << 24
MAX_SEQ = 1 << 16


def read(
    path: str | os.PathLike, vocab: int | None = None, type_vocab: int | None = None
) -> tuple[Encoded, np.ndarray]:
    """The rows and labels, or a ``DataError`` naming the file, the field and the code the C++
    reader (``load_devdata``) gives the same file: one check list, in one order
    (docs/FORMAT.md, "Data"). ``vocab`` / ``type_vocab``: also check every token is inside
    them, as the device does before it looks up a word row."""
    p = Path(path)
    hint = "re-package: wrx package MODEL_DIR --task TASK -o OUT"

    def bad(msg: str, code: str) -> DataError:
        return DataError(f"data file {p}: {msg}", hint=hint, code=code)

    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"data file {p} does not exist", hint=hint, code="MISSING_FILE") from None
    except OSError as e:
        raise DataError(f"data file {p}: cannot read ({e.strerror})", hint=hint, code="IO") from None
    if len(raw) < HEADER.size:
        raise bad(f"{len(raw)} bytes, shorter than its header ({HEADER.size})", "TRUNCATED")
    magic, ver, n, s, num_labels, _r, crc = HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise bad(f"bad magic {magic!r}", "BAD_MAGIC")
    if ver != VERSION:
        raise bad(f"version {ver}, this wrx reads {VERSION}", "UNSUPPORTED_VERSION")
    if not (1 <= n <= MAX_ROWS and 1 <= s <= MAX_SEQ and num_labels >= 1):
        raise bad(
            f"field n_rows {n}, seq_len {s} or num_labels {num_labels} out of range "
            f"(1..{MAX_ROWS}, 1..{MAX_SEQ}, >= 1)",
            "BAD_COUNTS",
        )
    want = HEADER.size + 4 * (2 * n + 2 * n * s)
    if len(raw) != want:
        raise bad(f"file_bytes {len(raw)}, expected {want} for {n} rows x {s}", "TRUNCATED")
    body = memoryview(raw)[HEADER.size :]
    if zlib.crc32(body) != crc:
        raise bad("body_crc32 mismatch (corrupt)", "BAD_DATA")
    a = np.frombuffer(body, "<i4")
    labels, lengths = a[:n].astype(np.int64), a[n : 2 * n].copy()
    ids = a[2 * n : 2 * n + n * s].reshape(n, s).copy()
    types = a[2 * n + n * s :].reshape(n, s).copy()
    if ((labels < 0) | (labels >= num_labels)).any():
        i = int(np.flatnonzero((labels < 0) | (labels >= num_labels))[0])
        raise bad(f"labels: row {i} has label {labels[i]}, outside 0..{num_labels - 1}", "BAD_DATA")
    if ((lengths < 1) | (lengths > s)).any():
        i = int(np.flatnonzero((lengths < 1) | (lengths > s))[0])
        raise bad(f"lengths: row {i} has length {lengths[i]}, outside 1..{s}", "BAD_DATA")
    for field, arr, hi in (("input_ids", ids, vocab), ("token_type_ids", types, type_vocab)):
        if hi is not None and ((arr < 0) | (arr >= hi)).any():
            i = int(np.flatnonzero(((arr < 0) | (arr >= hi)).ravel())[0])
            raise bad(f"{field}: token {i} is {arr.ravel()[i]}, outside 0..{hi - 1}", "BAD_DATA")
    return Encoded(ids, types, lengths), labels
