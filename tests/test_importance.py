"""wrx importance: per (layer, shard, fidelity) costs on the calibration split, cached."""

from __future__ import annotations

import time

import numpy as np

from wrx_sdk.measure.importance import importance


def test_importance_table(tiny_pkg):
    r = importance(tiny_pkg, samples=16, workers=2, progress=False, use_cache=False)
    imp = np.array(r["importance"])  # [layer, shard, fidelity, (delta CE, KL)]
    assert imp.shape == (2, 4, 7, 2)
    assert r["split"] == "calib" and r["fidelities"][-1] == 0
    kl = imp[..., 1]
    assert (kl >= -1e-7).all()
    # fewer bits cost more, and removing a shard costs most (averaged over shards)
    mean = kl.mean(axis=1)  # [layer, fidelity]
    assert (mean[:, 0] > mean[:, 5]).all()  # 2-bit > 8-bit
    assert (mean[:, 6] > mean[:, 0]).all()  # drop > 2-bit
    t = time.time()
    again = importance(tiny_pkg, samples=16, progress=False)  # cached
    assert again == r and time.time() - t < 5
