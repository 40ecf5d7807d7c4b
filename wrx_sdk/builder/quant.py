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

import numpy as np

from wrx_sdk.formats.codebook import CodebookTensor, pack_codes
from wrx_sdk.formats.quant_scheme import QuantScheme


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
