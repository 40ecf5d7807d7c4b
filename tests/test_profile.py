"""wrx profile-device / wrx-loader --profile: the measurements the planner will use."""

from __future__ import annotations

import pytest

from wrx_sdk.errors import WrxError
from wrx_sdk.profile import load_profile, profile_device


def test_profile_has_every_measurement(host_build, tiny_pkg, tmp_path):
    path = profile_device(tiny_pkg, "local", io_bandwidth=20, dest=tmp_path / "p.yaml")
    p = load_profile(path)
    M = p["shards_per_layer"]
    assert M == 4 and p["device"]["name"] == "local" and p["device"]["cores"] >= 1
    assert p["storage"]["fstype"] and p["storage"]["mount"]
    for prog in ("layer", "attn", "ffn"):
        ms = p["compute_ms_by_shards"][prog]
        assert len(ms) == M and all(t > 0 for t in ms)
    assert set(p["decode_gbps"]) == {"2", "3", "4", "5", "6", "8", "32"}
    assert all(v > 0.1 for v in p["decode_gbps"].values())
    reads = {int(k): v for k, v in p["io"]["read_mbps_by_request_bytes"].items()}
    assert min(reads) == 4096 and p["io"]["bandwidth_emulated"] is True
    # the emulated cap holds for large requests
    assert reads[max(reads)] <= 20 * 1.1
    assert p["overheads"]["finish_layer_ms"] > 0 and p["overheads"]["head_ms"] > 0
    cal = p["calibration"]
    assert 0.5 < cal["compute_scale"] < 3
    for k in ("fixed_ms", "words_extra_ms", "mb_compute_ms", "request_compute_ms", "request_io_ms"):
        assert 0 <= cal[k] < 50, k
    assert [r["plan"] for r in cal["runs"]] == ["calibrate-resident", "calibrate-contiguous", "calibrate-fragmented"]
    assert p["package_table_crc32"] > 0


def test_calibration_makes_the_simulation_match_the_fragmented_run(host_build, tiny_copy):
    """The fitted per-request IO delay reproduces the calibration run's measured stall."""
    from wrx_sdk.manifest import open_package
    from wrx_sdk.planspec import Plan
    from wrx_sdk.predict import CostModel, Knobs

    p = load_profile(profile_device(tiny_copy, "local", io_bandwidth=20, progress=False))
    run = p["calibration"]["runs"][2]
    plan = Plan.load(tiny_copy / "plans" / "_calibrate-fragmented.json")
    with open_package(tiny_copy) as pkg:
        pred = CostModel(pkg, p).predict(plan, Knobs(**plan.pipeline))
    if p["calibration"]["request_io_ms"] > 0:  # fitted: the simulated stall is the measured one
        assert pred.stall_ms == pytest.approx(run["stall_ms"], rel=0.01, abs=0.01)
    else:  # the pipeline stalled less than the simulation with no delay at all
        assert pred.stall_ms >= run["stall_ms"]


def test_profile_missing_file_is_clear(tmp_path):
    with pytest.raises(WrxError, match="does not exist"):
        load_profile(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("format: other\n")
    with pytest.raises(WrxError, match="not a version-2 wrx device profile"):
        load_profile(tmp_path / "bad.yaml")
