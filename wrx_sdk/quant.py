"""Codebook quantization of shard weights, GOBO style.

Each weight matrix of a shard gets its own codebook of 2^b centroids, fitted by 1-D
k-means on its inlier weights. Weights further than ``outlier_sigma`` standard deviations
from the mean (the Gaussian outliers GOBO found carry the accuracy) are kept exactly as
fp32 (index, value) pairs. Codes are packed as a little-endian bitstream, so 8 codes take
exactly ``b`` bytes for every b; the C++ decoder unpacks one 8-code group per step.

Everything is vectorized numpy and deterministic: no random init, ties broken by
``searchsorted``. The same input always gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from .errors import WrxError

SCHEME_VERSION = 1
SUPPORTED_BITS = (2, 3, 4, 5, 6, 8)
FP32_BITS = 32


@dataclass(frozen=True)
class QuantScheme:
    """The quantization recipe a store was built with; recorded in the manifest."""

    bitwidths: tuple[int, ...] = SUPPORTED_BITS
    outlier_sigma: float = 3.0
    kmeans_iters: int = 25
    method: str = "codebook-gobo"
    granularity: str = "tensor"  # one codebook per weight matrix of a shard
    version: int = SCHEME_VERSION

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.version != SCHEME_VERSION:
            raise WrxError(
                f"quant scheme version {self.version} is not supported (this wrx reads {SCHEME_VERSION})",
                hint="re-package the model with this wrx: wrx package MODEL_DIR --task T -o OUT",
            )
        if self.method != "codebook-gobo" or self.granularity != "tensor":
            raise WrxError(f"quant scheme: unknown method/granularity {self.method}/{self.granularity}")
        bad = [b for b in self.bitwidths if b not in SUPPORTED_BITS]
        if bad or not self.bitwidths:
            raise WrxError(
                f"quant scheme: bitwidths {list(self.bitwidths)} invalid; choose from {list(SUPPORTED_BITS)}"
            )
        if list(self.bitwidths) != sorted(set(self.bitwidths)):
            raise WrxError("quant scheme: bitwidths must be sorted and unique")
        if not (self.outlier_sigma > 0):
            raise WrxError(f"quant scheme: outlier_sigma must be > 0, got {self.outlier_sigma}")
        if not (1 <= self.kmeans_iters <= 1000):
            raise WrxError(f"quant scheme: kmeans_iters must be in 1..1000, got {self.kmeans_iters}")

    @property
    def all_bits(self) -> tuple[int, ...]:
        """Every stored fidelity, fp32 included."""
        return (*self.bitwidths, FP32_BITS)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["bitwidths"] = list(self.bitwidths)
        return d

    @classmethod
    def from_json(cls, d: dict | str) -> QuantScheme:
        if isinstance(d, str):
            d = json.loads(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise WrxError(f"quant scheme: unknown fields {sorted(unknown)}")
        d = dict(d)
        if "bitwidths" in d:
            d["bitwidths"] = tuple(int(b) for b in d["bitwidths"])
        return cls(**d)


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


def kmeans_1d(sorted_vals: np.ndarray, k: int, iters: int) -> np.ndarray:
    """Lloyd's k-means on sorted 1-D data, exact and vectorized.

    On sorted data each cluster is a contiguous run, so an iteration is one
    ``searchsorted`` of the centroid midpoints plus prefix sums: O(k log n).
    Initialised at equal-count quantiles, which is deterministic.
    """
    n = sorted_vals.size
    if n == 0:
        return np.zeros(k, dtype=np.float32)
    x = sorted_vals.astype(np.float64)
    pos = (np.arange(k) + 0.5) / k * (n - 1)
    c = np.interp(pos, np.arange(n), x)
    prefix = np.concatenate([[0.0], np.cumsum(x)])
    for _ in range(iters):
        mids = (c[1:] + c[:-1]) / 2
        cut = np.searchsorted(x, mids)
        starts = np.concatenate([[0], cut])
        ends = np.concatenate([cut, [n]])
        cnt = ends - starts
        sums = prefix[ends] - prefix[starts]
        new = np.where(cnt > 0, sums / np.maximum(cnt, 1), c)
        dead = np.flatnonzero((cnt == 0) | np.concatenate([[False], np.diff(new) == 0]))
        if dead.size and n > k:
            # Re-seed one empty or duplicate centroid at the worst-served point, which is
            # deterministic and lets Lloyd escape quantile-init ties on clumpy data.
            assign = np.repeat(np.arange(k), cnt)
            worst = int(np.argmax(np.abs(x - new[assign])))
            new[dead[0]] = x[worst]
        new.sort()
        if np.array_equal(new, c):
            break
        c = new
    return c.astype(np.float32)


def encode_all(w: np.ndarray, scheme: QuantScheme) -> dict[int, CodebookTensor]:
    """Encode one matrix at every bitwidth of ``scheme``; the sort is shared."""
    w = np.ascontiguousarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"encode_all expects a matrix, got shape {w.shape}")
    flat = w.ravel()
    mu = float(flat.astype(np.float64).mean())
    sd = float(flat.astype(np.float64).std())
    is_out = np.abs(flat.astype(np.float64) - mu) > scheme.outlier_sigma * sd
    out_idx = np.flatnonzero(is_out).astype(np.uint32)
    out_val = flat[out_idx].copy()
    inliers = np.sort(flat[~is_out])
    result = {}
    for bits in scheme.bitwidths:
        cb = kmeans_1d(inliers, 1 << bits, scheme.kmeans_iters)
        mids = (cb[1:].astype(np.float64) + cb[:-1]) / 2
        codes = np.searchsorted(mids, flat.astype(np.float64)).astype(np.uint8)
        codes[out_idx] = 0
        result[bits] = CodebookTensor(
            bits=bits,
            shape=(int(w.shape[0]), int(w.shape[1])),
            codebook=cb,
            outlier_idx=out_idx,
            outlier_val=out_val,
            codes=pack_codes(codes, bits),
        )
    return result


def decode(t: CodebookTensor) -> np.ndarray:
    n = t.shape[0] * t.shape[1]
    codes = unpack_codes(t.codes, n, t.bits)
    out = t.codebook[codes]
    out[t.outlier_idx] = t.outlier_val
    return out.reshape(t.shape)
