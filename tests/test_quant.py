import json

import numpy as np
import pytest

from wrx_sdk.builder.quant import encode_all, kmeans_1d
from wrx_sdk.errors import WrxError
from wrx_sdk.formats.codebook import decode, pack_codes, unpack_codes
from wrx_sdk.formats.quant_scheme import QuantScheme


def test_pack_exact_bytes():
    # 8 codes 0..7 at 3 bits, LSB first: 0b111_110_101_100_011_010_001_000 = 0xFAC688
    assert pack_codes(np.arange(8, dtype=np.uint8), 3) == bytes([0x88, 0xC6, 0xFA])
    assert pack_codes(np.array([1, 2, 3], dtype=np.uint8), 2) == bytes([0b00111001, 0])
    assert pack_codes(np.array([0xAB], dtype=np.uint8), 8) == bytes([0xAB] + [0] * 7)
    assert pack_codes(np.array([5, 10], dtype=np.uint8), 4) == bytes([0xA5, 0, 0, 0])


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 8])
def test_pack_roundtrip(bits):
    rng = np.random.default_rng(bits)
    for n in (1, 7, 8, 9, 1001):
        c = rng.integers(0, 1 << bits, size=n).astype(np.uint8)
        packed = pack_codes(c, bits)
        assert len(packed) == (n + 7) // 8 * bits
        assert np.array_equal(unpack_codes(packed, n, bits), c)


def test_scheme_json_roundtrip_and_validation():
    s = QuantScheme(bitwidths=(2, 4, 8), outlier_sigma=2.5)
    assert QuantScheme.from_json(json.dumps(s.to_json())) == s
    assert s.all_bits == (2, 4, 8, 32)
    with pytest.raises(WrxError, match="bitwidths"):
        QuantScheme(bitwidths=(7,))
    with pytest.raises(WrxError, match="sorted"):
        QuantScheme(bitwidths=(4, 2))
    with pytest.raises(WrxError, match="version"):
        QuantScheme.from_json({**s.to_json(), "version": 99})
    with pytest.raises(WrxError, match="unknown fields"):
        QuantScheme.from_json({**s.to_json(), "group_size": 32})


def test_kmeans_is_exact_on_separated_clusters():
    x = np.sort(np.concatenate([np.full(10, -1.0), np.full(5, 0.5), np.full(7, 2.0), np.full(3, 9.0)]))
    assert np.allclose(kmeans_1d(x, 4, 50), [-1.0, 0.5, 2.0, 9.0])


def test_encode_error_shrinks_with_bits_and_keeps_outliers_exact():
    rng = np.random.default_rng(0)
    w = (rng.standard_t(4, size=(48, 64)) * 0.05).astype(np.float32)
    w[3, 5] = 3.0  # a gross outlier
    enc = encode_all(w, QuantScheme())
    errs = []
    for t in enc.values():
        d = decode(t)
        assert d[3, 5] == np.float32(3.0)
        assert np.all(np.isin(d[np.abs(w - w.mean()) <= 3 * w.std()], t.codebook))
        errs.append(float(np.sqrt(((d - w) ** 2).mean())))
    assert all(a > b for a, b in zip(errs, errs[1:], strict=False)), errs
    assert errs[-1] < 0.01 * float(w.std()) * 10


def test_encode_is_deterministic():
    w = np.random.default_rng(1).standard_normal((32, 32)).astype(np.float32)
    a, b = encode_all(w, QuantScheme()), encode_all(w.copy(), QuantScheme())
    for bits in a:
        assert a[bits].codes == b[bits].codes
        assert np.array_equal(a[bits].codebook, b[bits].codebook)
