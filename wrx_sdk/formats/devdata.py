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


def read(path: str | os.PathLike) -> tuple[Encoded, np.ndarray]:
    p = Path(path)
    hint = "re-package: wrx package MODEL_DIR --task TASK -o OUT"
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"data file {p} does not exist", hint=hint) from None
    if len(raw) < HEADER.size:
        raise DataError(f"data file {p}: {len(raw)} bytes, shorter than its header", hint=hint)
    magic, ver, n, s, _c, _r, crc = HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise DataError(f"data file {p}: bad magic {magic!r}", hint=hint)
    if ver != VERSION:
        raise DataError(f"data file {p}: version {ver}, this wrx reads {VERSION}", hint=hint)
    want = HEADER.size + 4 * (2 * n + 2 * n * s)
    if len(raw) != want:
        raise DataError(f"data file {p}: {len(raw)} bytes, expected {want} for {n} rows x {s}", hint=hint)
    body = memoryview(raw)[HEADER.size :]
    if zlib.crc32(body) != crc:
        raise DataError(f"data file {p}: body checksum mismatch (corrupt)", hint=hint)
    a = np.frombuffer(body, "<i4")
    labels, lengths = a[:n].astype(np.int64), a[n : 2 * n].copy()
    ids = a[2 * n : 2 * n + n * s].reshape(n, s).copy()
    types = a[2 * n + n * s :].reshape(n, s).copy()
    return Encoded(ids, types, lengths), labels
