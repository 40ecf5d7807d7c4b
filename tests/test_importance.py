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


def test_importance_entries_equal_whole_plan_runs(tiny_pkg):
    """The table, computed in length-sorted chunks from each layer's kept fp32 input,
    equals whole-model runs of the same one-shard-changed plans (ReferenceExecutor.run)."""
    import torch
    import torch.nn.functional as nnf

    from wrx_sdk.formats import devdata
    from wrx_sdk.formats.devdata import Encoded
    from wrx_sdk.formats.manifest import open_package
    from wrx_sdk.formats.plan import Plan
    from wrx_sdk.measure.reference import ReferenceExecutor

    n = 40  # three chunks of CHUNK_ROWS = 16
    r = importance(tiny_pkg, samples=n, workers=1, progress=False, use_cache=False)
    with open_package(tiny_pkg) as pkg:
        ex = ReferenceExecutor(pkg)
        enc, labels = devdata.read(pkg.data_path("calib"))
        enc = Encoded(enc.input_ids[:n], enc.token_type_ids[:n], enc.lengths[:n])
        assert len(set(enc.lengths.tolist())) > 3  # the chunks really differ in length
        y = torch.from_numpy(labels[:n]).long()
        L, M = pkg.geometry.layers, pkg.spec.shards_per_layer
        ref = torch.from_numpy(ex.run(Plan.uniform(L, M, 32), enc))
        for layer, shard, fi in ((0, 1, 0), (1, 3, 2), (1, 0, 6)):
            b = r["fidelities"][fi]
            plan = Plan.uniform(L, M, 32)
            lp = plan.layers[layer]
            if b == 0:
                lp.shards, lp.bits = [k for k in range(M) if k != shard], [32] * (M - 1)
            else:
                lp.bits[shard] = b
            got = torch.from_numpy(ex.run(plan, enc))
            ce = (nnf.cross_entropy(got, y) - nnf.cross_entropy(ref, y)).item()
            kl = nnf.kl_div(
                torch.log_softmax(got, -1), torch.log_softmax(ref, -1), log_target=True, reduction="batchmean"
            ).item()
            assert np.allclose(r["importance"][layer][shard][fi], [ce, kl], atol=1e-5), (layer, shard, b)
