"""wrx plan: the pipeline simulator against the real loader, both planners, infeasibility."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from wrx_sdk import config
from wrx_sdk.errors import PlanError, WrxError
from wrx_sdk.formats.device_profile import load_profile
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.formats.plan import Knobs, Plan
from wrx_sdk.planning.calibration import profile_device
from wrx_sdk.planning.common import MIB, Draft, evaluate
from wrx_sdk.planning.cost_model import CostModel
from wrx_sdk.planning.planner import choose, make_plan

from .conftest import run_loader


@pytest.fixture(scope="module")
def planned_pkg(host_build, tiny_pkg):
    """The tiny package with a device profile (IO capped at 20 MB/s) and importance."""
    from wrx_sdk.measure.importance import importance

    profile_device(tiny_pkg, "local", io_bandwidth=20, progress=False)
    importance(tiny_pkg, samples=16, workers=2, progress=False)
    return tiny_pkg


def _cost_model(pkg_dir):
    with open_package(pkg_dir) as pkg:
        return CostModel(pkg, load_profile(pkg_dir / "profiles" / "local.yaml"))


@pytest.mark.parametrize(
    "bits,pre,knobs",
    [
        (4, 1, Knobs(2048, 400, False)),
        (2, 0, Knobs(8, 8, True)),  # read-ahead smaller than one half: reads go one at a time
        (32, 1, Knobs(64, 64, False)),
    ],
)
def test_memory_prediction_bounds_the_loader(planned_pkg, host_build, tmp_path, bits, pre, knobs):
    """The predicted memory is an upper bound of what the loader tallies, and tight: the
    loader's worst case is the prediction (the read-ahead full while a chunk is decoded)."""
    cm = _cost_model(planned_pkg)
    plan = Plan.uniform(2, 4, bits, pre)
    plan.pipeline = knobs.to_json()
    pf = plan.save(tmp_path / "p.json")
    pred = cm.predict(plan, knobs)
    _, rep = run_loader(host_build, planned_pkg, tmp_path / "r.json", "--mode", "elastic", "--plan", str(pf))
    assert rep["pipeline"]["readahead_kb"] == knobs.readahead_kb  # the plan's knobs reach the loader
    assert rep["pipeline"]["head_resident"] is knobs.head_resident
    mem = rep["memory"]
    assert mem["activation_bytes"] == pred.memory["activations"]
    assert mem["weight_bytes_resident_after_setup"] == (
        pred.memory["resident_base"] + pred.memory["preload"] + pred.memory["head_resident"]
    )
    assert mem["weight_bytes_peak"] <= pred.memory["weights"]
    # what the bound adds beyond the measured peak is at most the decode buffer and one read
    slack = pred.memory["weights"] - mem["weight_bytes_peak"]
    assert slack <= pred.memory["decode_buffer"] + pred.memory["readahead_peak"]


def test_prediction_follows_the_pipeline(planned_pkg):
    """More streamed bytes under a slow cap cost latency; preloading them removes the cost."""
    cm = _cost_model(planned_pkg)
    k = Knobs()
    streamed = cm.predict(Plan.uniform(2, 4, 32, 0), k)
    preloaded = cm.predict(Plan.uniform(2, 4, 32, 2), k)
    small = cm.predict(Plan.uniform(2, 4, 2, 0), k)
    assert streamed.stall_ms > small.stall_ms
    assert preloaded.bytes_streamed < streamed.bytes_streamed
    assert preloaded.latency_ms < streamed.latency_ms
    assert preloaded.memory["preload"] > 0 == streamed.memory["preload"]


def test_both_planners_meet_their_constraints(planned_pkg):
    cm = _cost_model(planned_pkg)
    loose = max(lat for lat, *_ in _smallest(cm)) * 8
    chosen = {}
    for planner in ("sti", "wrx"):
        plan, path = make_plan(planned_pkg, loose, 64, planner=planner, progress=False)
        assert path == planned_pkg / "plans" / f"{planner}-t{loose:g}-m64.json"
        again = Plan.load(path)
        assert again.pipeline == plan.pipeline and again.meta["planner"] == planner
        pred = again.meta["predicted"]
        assert 0 <= pred["calib_accuracy"] <= 1 and pred["calib_rows"] > 0
        assert pred["memory_bytes"]["total"] <= 64 * MIB
        chosen[planner] = pred
        h = again.meta["latency_headroom"]
        assert h == config.defaults("planner")["latency_headroom"] > 0
        assert pred["latency_ms"] <= again.meta["budget_ms"] == round(loose * (1 - h), 3)
        if planner == "wrx":
            assert pred["latency_ms"] <= loose
        else:  # STI's bits come from its three passes only
            assert {b for lp in again.layers for b in lp.bits} <= {2, 6, 32}
    if chosen["sti"]["latency_ms"] <= loose:  # STI's plan was one of WRX's candidates
        assert chosen["wrx"]["calib_accuracy"] >= chosen["sti"]["calib_accuracy"]


@pytest.mark.parametrize("pct", [100, 50])
def test_wrx_plans_grow_for_short_queries(planned_pkg, host_build, tmp_path, pct):
    """Buckets at the profile's shorter lengths keep the plan's knobs and preload and only add
    shards or bits; each is predicted within the budget at its own length; the loader runs
    the plan. At percentile 50 the plan is made for the calib split's median length."""
    import numpy as np

    from wrx_sdk.formats import devdata

    cm = _cost_model(planned_pkg)
    t = min(lat for lat, *_ in _smallest(cm)) * 1.6
    plan, path = make_plan(planned_pkg, t, 64, planner="wrx", progress=False, length_percentile=pct)
    meta = plan.meta
    with open_package(planned_pkg) as pkg:
        S = pkg.max_seq_len
        enc, _ = devdata.read(pkg.data_path("calib"))
    want_len = S if pct == 100 else int(np.ceil(np.percentile(enc.lengths, pct)))
    assert meta["planned_length"] == want_len and meta["length_percentile"] == pct
    measured = sorted(int(n) for n in load_profile(planned_pkg / "profiles" / "local.yaml")["by_length"])
    buckets = [n for n in measured if S // 8 <= n < want_len]  # the sixteenth: interpolation only
    assert sorted(int(n) for n in meta["predicted_by_length"]) == buckets
    assert all(q["latency_ms"] <= meta["budget_ms"] for q in meta["predicted_by_length"].values())
    top = {(lp.layer, s): b for lp in plan.layers for s, b in zip(lp.shards, lp.bits, strict=True)}
    assert [n for n, _ in plan.by_length] == sorted(n for n, _ in plan.by_length)
    for n, layers in plan.by_length:
        assert n < want_len
        mine = {(lp.layer, s): b for lp in layers for s, b in zip(lp.shards, lp.bits, strict=True)}
        assert all(mine.get(k, 0) >= b for k, b in top.items()), n  # only grows
        assert all(mine[p] == top[p] for p in plan.preload)  # the preload keeps its bits
    r, rep = run_loader(
        host_build, planned_pkg, tmp_path / "r.json", "--mode", "elastic", "--plan", str(path)
    )
    assert rep["ok"] and rep["summary"]["n"] > 0


def _fast_short_profile(pkg_dir, dest=None, calibrated: bool = True) -> dict:
    """The real profile with IO made fast and compute below 16 tokens a tenth: short
    queries have time to spare, so the wrx planner grows buckets. Uncalibrated: only the
    program timings (the tiny model's fixed costs would dominate). Written to ``dest``."""
    import copy

    from wrx_sdk.formats.device_profile import write_profile

    p = copy.deepcopy(load_profile(pkg_dir / "profiles" / "local.yaml"))
    p["io"]["read_mbps_by_request_bytes"] = {k: 1e5 for k in p["io"]["read_mbps_by_request_bytes"]}
    p["io"]["bandwidth_cap_mbps"] = None
    if not calibrated:
        p["calibration"] = {}
    for n, one in p["by_length"].items():
        if n != "16":
            for table in ("compute_ms_by_shards", "lane_compute_ms_by_shards"):
                for prog, ms in one[table].items():
                    if prog != "lanes":
                        one[table][prog] = [x * 0.1 for x in ms]
    if dest is not None:
        write_profile(dest, p)
    return p


@pytest.mark.parametrize("buckets_win", [True, False])
def test_buckets_stay_only_if_the_calib_split_confirms_them(planned_pkg, tmp_path, buckets_win):
    """Growth follows the importance estimate; a confirmation on the calib split (rows run
    with their buckets' layers) decides whether the buckets stay."""
    from wrx_sdk.planning.common import smallest_plans

    prof = tmp_path / "fast.yaml"
    _fast_short_profile(planned_pkg, prof, calibrated=False)
    with open_package(planned_pkg) as pkg:
        cm = CostModel(pkg, load_profile(prof))
        lo = min(lat for lat, *_ in smallest_plans(cm))
        kn = Knobs(2048, 400, False, 1, 32)
        hi = cm.predict(Plan.uniform(2, 4, 32), kn).latency_ms
        t = lo + 0.3 * (hi - lo)  # room for part of the model at 16 tokens, all of it at 8

    class Stub:
        rows = 8

        def __call__(self, plan):
            better = bool(plan.by_length) == buckets_win
            return {"calib_accuracy": 0.7 if better else 0.6, "calib_kl_from_fp32": 0.1 if better else 0.2,
                    "calib_rows": 8}  # fmt: skip

        def paired(self, old, new):
            assert not old.by_length and new.by_length  # the top plan, then with its buckets
            # losing: a likelihood gain within noise, though more rows fixed than broken
            z = 2.0 if buckets_win else 1.0
            return {"calib_fixed": 6, "calib_broken": 1, "nll_z": z}

    plan, _ = make_plan(
        planned_pkg, t, 64, profile=prof, name=f"stub-{buckets_win}", progress=False, confirm=Stub()
    )
    assert bool(plan.by_length) == buckets_win
    assert plan.meta["predicted"]["calib_accuracy"] == 0.7
    assert plan.meta["bucket_confirmation"]["kept"] == buckets_win


def test_buckets_confirmed_needs_likelihood_and_rows(planned_pkg):
    """The rule on its own, and ``Confirmer.paired`` on real plans, recomputed here from
    the host reference's logits: rows fixed and broken, and the paired z of the NLL."""
    from wrx_sdk.planning.planner import Confirmer, buckets_confirmed

    assert buckets_confirmed({"calib_fixed": 6, "calib_broken": 1, "nll_z": 1.7}, 1.645)
    assert not buckets_confirmed({"calib_fixed": 6, "calib_broken": 1, "nll_z": 1.6}, 1.645)
    assert not buckets_confirmed({"calib_fixed": 3, "calib_broken": 3, "nll_z": 5.0}, 1.645)
    with open_package(planned_pkg) as pkg:
        c = Confirmer(pkg, 64)
        lo, hi = Plan.uniform(2, 4, 2), Plan.uniform(2, 4, 32)
        c(lo), c(hi)
        up, same = c.paired(lo, hi), c.paired(hi, hi)
        y = c.labels
        la, lb = (torch.log_softmax(torch.from_numpy(c.ex.run(p, c.enc)), -1).numpy() for p in (lo, hi))
    a, b = la.argmax(-1) == y, lb.argmax(-1) == y
    d = lb[np.arange(len(y)), y] - la[np.arange(len(y)), y]  # NLL(lo) - NLL(hi)
    assert (up["calib_fixed"], up["calib_broken"]) == (int((b & ~a).sum()), int((a & ~b).sum()))
    assert up["calib_fixed"] + up["calib_broken"] > 0  # 2 bits changes some predictions
    assert up["nll_z"] == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(len(d))), abs=1e-3)
    assert same == {"calib_fixed": 0, "calib_broken": 0, "nll_z": 0.0}


def test_grow_for_length_spends_the_time_a_short_query_saves(planned_pkg):
    """On a device where compute at 4 tokens is a tenth of compute at 16 (a scaled copy of
    the real profile, IO made fast so compute decides), a plan with no slack at 16 tokens
    gains shards or bits for 4-token queries, keeps its preload's bits, and still meets T."""
    from wrx_sdk.measure.importance import importance
    from wrx_sdk.planning import wrx
    from wrx_sdk.planning.common import Accuracy

    p = _fast_short_profile(planned_pkg)
    acc = Accuracy(importance(planned_pkg, samples=16, progress=False))
    knobs = Knobs(2048, 400, False, 1, 32)
    with open_package(planned_pkg) as pkg:
        long, short = CostModel(pkg, p), CostModel(pkg, p, length=4)
        d = Draft([[2, 2, 0, 0], [2, 0, 0, 0]], preload={(0, 0)})
        t = evaluate(long, d, knobs).latency_ms
        g = wrx.grow_for_length(short, acc, d, knobs, t, 64 * MIB)
    assert acc.draft(g) < acc.draft(d)
    assert evaluate(short, g, knobs).latency_ms <= t
    assert g.preload == {(0, 0)} and g.bits[0][0] == 2
    assert all(g.bits[i][j] >= d.bits[i][j] for i in range(2) for j in range(4))


def _scored(acc, kl, tag):
    return ({"calib_accuracy": acc, "calib_kl_from_fp32": kl}, 0.0, tag, None)


def test_choose_prefers_low_kl_but_never_less_accurate_than_sti():
    cands = [_scored(0.5586, 0.10, "low-kl"), _scored(0.60, 0.20, "accurate"), _scored(0.60, 0.25, "b")]
    assert choose(cands)[2] == "low-kl"  # no incumbent: KL decides
    sti = _scored(0.5625, 0.30, "sti")
    # low-kl is below STI on calib accuracy, so it is out; of the rest the lowest KL wins
    assert choose([*cands, sti], incumbent=3)[2] == "accurate"
    # nothing is as accurate as STI's plan: WRX keeps it
    assert choose([cands[0], _scored(0.70, 0.05, "sti")], incumbent=1)[2] == "sti"
    # equal KL: the higher accuracy
    assert choose([_scored(0.6, 0.1, "a"), _scored(0.7, 0.1, "b")])[2] == "b"


def _smallest(cm):
    from wrx_sdk.planning.common import smallest_plans

    return smallest_plans(cm)


def test_infeasible_target_names_the_minimums(planned_pkg):
    cm = _cost_model(planned_pkg)
    t_min = min(lat for lat, *_ in _smallest(cm))
    with pytest.raises(PlanError) as e:
        make_plan(planned_pkg, t_min / 4, 64, progress=False)
    msg = str(e.value)
    assert "minimum feasible T for 64 MB is" in msg and "nothing meets" in msg
    with pytest.raises(PlanError, match=r"nothing fits 0.01 MB at any T; the minimum M for 1000 ms is"):
        make_plan(planned_pkg, 1000, 0.01, progress=False)


def test_headroom_shrinks_the_budget_and_raises_the_minimum_target(planned_pkg):
    """With headroom h a plan is predicted within T x (1 - h), and the error for an
    infeasible T names the minimum T over (1 - h), not the fastest plan's latency."""
    from wrx_sdk.planning.common import min_target_ms

    cm = _cost_model(planned_pkg)
    t_min = min(lat for lat, mem, *_ in _smallest(cm) if mem <= 64 * MIB)
    with pytest.raises(PlanError) as e:
        make_plan(planned_pkg, t_min / 4, 64, progress=False, headroom=0.2)
    assert f"minimum feasible T for 64 MB is {min_target_ms(t_min, 0.2):.1f} ms" in str(e.value)
    assert f"{t_min / 0.8:.1f}" != f"{t_min:.1f}" and "20% of T as headroom" in str(e.value)
    loose = max(lat for lat, *_ in _smallest(cm)) * 2
    plan, _ = make_plan(planned_pkg, loose, 64, progress=False, headroom=0.2, name="hr")
    assert plan.meta["latency_headroom"] == 0.2 and plan.meta["budget_ms"] == round(loose * 0.8, 3)
    assert plan.meta["predicted"]["latency_ms"] <= loose * 0.8
    with pytest.raises(WrxError, match="latency headroom 0.5 is outside"):
        make_plan(planned_pkg, 1000, 64, progress=False, headroom=0.5)


def test_draft_to_plan_drops_empty_layers():
    d = Draft([[2, 0, 4, 0], [0, 0, 0, 0], [32, 32, 0, 0]], {(0, 0), (1, 0), (2, 1)})
    p = d.to_plan("x", Knobs(512, 400, True))
    assert [lp.layer for lp in p.layers] == [0, 2]
    assert p.layers[0].shards == [0, 2] and p.layers[0].bits == [2, 4]
    assert p.preload == [(0, 0), (2, 1)]  # layer 1 is not run, so not preloaded
    assert json.loads(json.dumps(p.to_json()))["pipeline"] == {
        "readahead_kb": 512,
        "chunk_kb": 400,
        "head_resident": True,
        "lanes": 1,
        "head_bits": 32,
    }


@pytest.mark.parametrize(
    "change,field",
    [
        ({"format_version": 1}, "pipeline needs format_version 2"),
        ({"pipeline": {"readahead_kb": 2, "chunk_kb": 400, "head_resident": False}}, "pipeline.readahead_kb"),
        ({"pipeline": {"readahead_kb": 512, "chunk_kb": 400, "head_resident": 1}}, "pipeline.head_resident"),
        ({"pipeline": Knobs(lanes=0).to_json()}, "pipeline.lanes"),
        ({"pipeline": Knobs(lanes=9).to_json()}, "pipeline.lanes"),
        ({"pipeline": Knobs(head_bits=4).to_json()}, "pipeline.head_bits"),
    ],
)
def test_loader_rejects_bad_pipeline_knobs(tiny_pkg, host_build, tmp_path, change, field):
    d = Plan.uniform(2, 4, 4).to_json() | {"pipeline": Knobs().to_json()} | change
    pf = tmp_path / "p.json"
    pf.write_text(json.dumps(d))
    proc, rep = run_loader(
        host_build, tiny_pkg, tmp_path / "r.json", "--mode", "elastic", "--plan", str(pf), check=False
    )
    assert proc.returncode == 2 and rep["error"]["code"] == "BAD_PLAN" and field in rep["error"]["message"]
    with pytest.raises(PlanError, match=field.split()[0]):
        Plan.from_json(d)


def test_preload_fill_never_breaks_m(planned_pkg):
    """Preloading a shard can shrink a read so that more reads share the read-ahead budget:
    the peak grows. The fill must give shards back until the whole plan fits M again.
    (Found by a random search on this package: a 24 KB read-ahead over mixed bitwidths.)"""
    from wrx_sdk.planning.wrx import _fill_preload

    cm = _cost_model(planned_pkg)
    knobs = Knobs(24, 64, False)
    d = Draft([[5, 6, 4, 6], [5, 2, 32, 3]])
    bare = evaluate(cm, d, knobs).memory_bytes
    preloaded = set()
    for m in range(bare, bare + 120_000, 512):
        p = _fill_preload(cm, d, knobs, m)
        assert p is not None and p.memory_bytes <= m, m
        assert p.memory_bytes == evaluate(cm, d, knobs).memory_bytes  # d holds what p rates
        preloaded |= d.preload
    assert len(preloaded) >= 4  # the sweep did preload
