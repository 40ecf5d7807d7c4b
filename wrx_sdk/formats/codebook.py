"""The codebook payload of a store tensor (FORMAT.md, "Codebook encoding").

A matrix at ``b`` bits is 2^b fp32 centroids, the Gaussian outliers as (index, value)
pairs kept exactly, and the codes packed as a little-endian bitstream, so 8 codes take
exactly ``b`` bytes for every b; the C++ decoder unpacks one 8-code group per step. The
encoder that fits the centroids lives in ``wrx_sdk.builder.quant``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CodebookTensor:
    """One matrix encoded at ``bits``: what a store entry holds for it."""

    bits: int
    shape: tuple[int, int]
    codebook: np.ndarray  # float32[2^bits], sorted ascending
    outlier_idx: np.ndarray  # uint32[n], ascending flat indices
    outlier_val: np.ndarray  # float32[n]
    codes: bytes  # packed, ceil(N/8) * bits bytes

    def nbytes(self) -> int:
        return codebook_payload_bytes(self.bits, self.shape[0] * self.shape[1], len(self.outlier_idx))


def codebook_payload_bytes(bits: int, n: int, n_outliers: int) -> int:
    return 4 * (1 << bits) + 8 * n_outliers + packed_bytes(n, bits)


def packed_bytes(n: int, bits: int) -> int:
    return ((n + 7) // 8) * bits


def pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """Pack codes < 2^bits into a little-endian bitstream, 8 codes per ``bits`` bytes."""
    n = codes.size
    groups = (n + 7) // 8
    c = np.zeros(groups * 8, dtype=np.uint64)
    c[:n] = codes.ravel()
    c = c.reshape(groups, 8) << (np.arange(8, dtype=np.uint64) * np.uint64(bits))
    words = np.bitwise_or.reduce(c, axis=1).astype("<u8")
    return words.view(np.uint8).reshape(groups, 8)[:, :bits].tobytes()


def unpack_codes(buf: bytes | np.ndarray, n: int, bits: int) -> np.ndarray:
    groups = (n + 7) // 8
    raw = np.frombuffer(buf, dtype=np.uint8, count=groups * bits).reshape(groups, bits)
    padded = np.zeros((groups, 8), dtype=np.uint8)
    padded[:, :bits] = raw
    words = padded.view("<u8").reshape(groups, 1)
    shifts = np.arange(8, dtype=np.uint64) * np.uint64(bits)
    codes = (words >> shifts) & np.uint64((1 << bits) - 1)
    return codes.reshape(-1)[:n].astype(np.uint8)


def decode(t: CodebookTensor) -> np.ndarray:
    n = t.shape[0] * t.shape[1]
    codes = unpack_codes(t.codes, n, t.bits)
    out = t.codebook[codes]
    out[t.outlier_idx] = t.outlier_val
    return out.reshape(t.shape)
