"""wrx profile-device / wrx-loader --profile: the measurements the planner will use."""

from __future__ import annotations

import numpy as np
import pytest

from wrx_sdk.config import defaults
from wrx_sdk.errors import WrxError
from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.device_profile import load_profile
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.formats.store_layout import EntryKey
from wrx_sdk.planning.calibration import _bounded_lstsq, profile_device
from wrx_sdk.planning.cost_model import align


def test_profile_has_every_measurement(host_build, tiny_pkg, tmp_path):
    path = profile_device(tiny_pkg, "local", io_bandwidth=20, dest=tmp_path / "p.yaml")
    p = load_profile(path)
    M = p["shards_per_layer"]
    assert M == 4 and p["device"]["name"] == "local" and p["device"]["cores"] >= 1
    assert p["storage"]["fstype"] and p["storage"]["mount"]
    for prog in ("layer", "attn", "ffn"):
        ms = p["compute_ms_by_shards"][prog]
        assert len(ms) == M and all(t > 0 for t in ms)
    lane = p["lane_compute_ms_by_shards"]
    assert lane["lanes"] == 2
    for prog in ("attn", "ffn"):
        assert len(lane[prog]) == M and all(t > 0 for t in lane[prog])
    # an extra lane holds an accumulator (seq x hidden fp32) and its own program arenas
    assert p["memory"]["lane_bytes"] > p["seq_len"] * 32 * 4
    assert p["crc_gbps"] > 0.1
    assert set(p["decode_gbps"]) == {"2", "3", "4", "5", "6", "8", "32"}
    assert all(v > 0.1 for v in p["decode_gbps"].values())
    reads = {int(k): v for k, v in p["io"]["read_mbps_by_request_bytes"].items()}
    assert min(reads) == 4096 and p["io"]["bandwidth_emulated"] is True
    # the emulated cap holds for large requests
    assert reads[max(reads)] <= 20 * 1.1
    assert p["overheads"]["finish_layer_ms"] > 0
    # both stored heads are timed, and cost their entries' block-aligned bytes
    assert set(p["overheads"]["head_ms_by_bits"]) == {"32", "8"}
    assert all(v > 0 for v in p["overheads"]["head_ms_by_bits"].values())
    with open_package(tiny_pkg) as pkg:
        want = {str(b): align(pkg.store.entry(EntryKey(F.EntryKind.HEAD, bits=b)).length) for b in (8, 32)}
    assert p["memory"]["head_bytes_by_bits"] == want
    cal = p["calibration"]
    assert sorted(cal["lanes"]) == [1, 2]
    terms_keys = {"compute_scale", "half_ms", "fixed_ms", "words_extra_ms", "mb_compute_ms"}
    assert all(set(t) == terms_keys | {"request_compute_ms", "request_io_ms"} for t in cal["lanes"].values())
    for terms in cal["lanes"].values():
        assert 0.5 < terms["compute_scale"] < 10  # the tiny model's programs are all call overhead
        for k, v in terms.items():
            assert 0 <= v < 50, k
        # the tiny model streams KBs: an unbounded fit gave tens of ms per MB here
        cap = defaults("planner")["calibration_mb_compute_max_crc"] / p["crc_gbps"]
        assert terms["mb_compute_ms"] <= cap + 1e-9
    names = ["resident", "narrow", "contiguous", "narrow-streamed", "io-bound"]
    names += [f"mixed-{k}" for k in range(6)]
    assert [r["plan"] for r in cal["runs"]] == [f"calibrate-{n}-l{lanes}" for lanes in (1, 2) for n in names]
    assert p["package_table_crc32"] > 0
    # the same terms fitted on the rows at their own lengths, at the rows' median length
    short = cal["short"]
    assert 1 <= short["length"] < p["seq_len"] and sorted(short["lanes"]) == [1, 2]
    assert [r["plan"] for r in short["runs"]] == [r["plan"] for r in cal["runs"]]
    assert all(set(t) == set(cal["lanes"][1]) for t in short["lanes"].values())
    # compute per length: max_seq_len (16) and its half, quarter, eighth and sixteenth
    assert sorted(int(k) for k in p["by_length"]) == [1, 2, 4, 8, 16]
    for one in p["by_length"].values():
        for prog in ("layer", "attn", "ffn"):
            assert len(one["compute_ms_by_shards"][prog]) == M
            assert all(t > 0 for t in one["compute_ms_by_shards"][prog])
        assert one["lane_compute_ms_by_shards"]["lanes"] == 2
        assert one["finish_layer_ms"] > 0 and one["embed_ms"] > 0
    assert p["by_length"]["16"]["compute_ms_by_shards"] == p["compute_ms_by_shards"]
    assert p["by_length"]["16"]["embed_ms"] == p["overheads"]["embed_ms"]


def test_timings_between_measured_lengths_are_interpolated():
    from wrx_sdk.formats.device_profile import timings_at

    def one(ms: float) -> dict:
        return {
            "compute_ms_by_shards": {"layer": [ms, 2 * ms], "attn": [ms], "ffn": [ms]},
            "lane_compute_ms_by_shards": {"lanes": 2, "attn": [ms], "ffn": [ms]},
            "finish_layer_ms": ms / 10,
            "embed_ms": ms / 100,
        }

    p = {
        "seq_len": 128,
        "by_length": {"32": one(1.0), "64": one(2.0), "128": one(4.0)},
        **{k: v for k, v in one(4.0).items() if k.endswith("by_shards")},
        "overheads": {"finish_layer_ms": 0.4, "embed_ms": 0.04},
    }
    assert timings_at(p, 128) == one(4.0) and timings_at(p, 64) == one(2.0)
    mid = timings_at(p, 48)  # halfway from 32 to 64
    assert mid["compute_ms_by_shards"]["layer"] == pytest.approx([1.5, 3.0])
    assert mid["lane_compute_ms_by_shards"]["lanes"] == 2
    assert mid["embed_ms"] == pytest.approx(0.015)
    assert timings_at(p, 96)["finish_layer_ms"] == pytest.approx(0.3)
    assert timings_at(p, 8) == one(1.0)  # below the shortest measured: its timings, an upper bound


def test_terms_between_the_two_fits_lie_on_their_line():
    """Each calibration term at L tokens is on the line through the fit at max_seq_len and
    the one at the short length, extrapolated below it and never negative."""
    from wrx_sdk.planning.cost_model import Terms, terms_at

    top = {"fixed_ms": 1.0, "half_ms": 0.2, "compute_scale": 1.3}
    low = {"fixed_ms": 0.5, "half_ms": 0.3, "compute_scale": 1.1}
    cal = {"lanes": {1: top}, "short": {"length": 28, "lanes": {1: low}}}
    assert terms_at(cal, 128, 128)[1] == Terms(**top)
    assert terms_at(cal, 28, 128)[1] == Terms(**low)
    mid = terms_at(cal, 78, 128)[1]  # halfway
    assert mid.fixed_ms == pytest.approx(0.75) and mid.half_ms == pytest.approx(0.25)
    one = terms_at(cal, 3, 128)[1]  # a quarter of the span below the short fit
    assert one.fixed_ms == pytest.approx(0.375) and one.compute_scale == pytest.approx(1.05)
    steep = {"lanes": {1: {"fixed_ms": 5.0}}, "short": {"length": 28, "lanes": {1: {"fixed_ms": 0.1}}}}
    assert terms_at(steep, 1, 128)[1].fixed_ms == 0.0  # clamped: a cost is never negative
    assert terms_at({"lanes": {1: top}}, 8, 128)[1] == Terms(**top)  # one fit: the same terms


def test_cost_model_predicts_per_length(host_build, tiny_copy):
    """At max_seq_len the length-aware model is the model; shorter queries are predicted
    from their own timings, never slower than the longest."""
    from wrx_sdk.formats.plan import Knobs, Plan
    from wrx_sdk.planning.cost_model import CostModel

    p = load_profile(profile_device(tiny_copy, "local", io_bandwidth=20, progress=False))
    with open_package(tiny_copy) as pkg:
        plan = Plan.uniform(pkg.geometry.layers, pkg.spec.shards_per_layer, 4, preload_layers=1)
        kn = Knobs(lanes=2)
        base = CostModel(pkg, p).predict(plan, kn)
        assert CostModel(pkg, p, length=16).predict(plan, kn).latency_ms == base.latency_ms
        short = CostModel(pkg, p, length=4)
        assert short.prog == {
            k: [float(x) for x in v] for k, v in p["by_length"]["4"]["compute_ms_by_shards"].items()
        }
        assert short.predict(plan, kn).compute_ms != base.compute_ms
        with pytest.raises(WrxError, match="length 17 is outside 1..16"):
            CostModel(pkg, p, length=17)


def test_calibration_brings_predictions_closer_to_the_runs_it_measured(host_build, tiny_copy):
    """The fitted terms explain the calibration runs' compute and fixed costs better than
    isolated timings alone, and each run's recorded prediction is the calibrated model's.
    (Latency as a whole is the bench's check, on MiniLM: on the tiny model at 20 MB/s it
    is all emulated reads, whose small bias the uncalibrated model's missing word-row wait
    happens to cancel about half the time.) Both fits: padded, and at the rows' own
    lengths, whose model is the cost model at the short fit's length."""
    p = load_profile(profile_device(tiny_copy, "local", io_bandwidth=20, progress=False))
    cal = p["calibration"]
    for length, runs in ((None, cal["runs"]), (cal["short"]["length"], cal["short"]["runs"])):
        _check_fit_explains_runs(tiny_copy, p, length, runs)


def _check_fit_explains_runs(tiny_copy, p: dict, length: int | None, runs: list[dict]) -> None:
    from wrx_sdk.formats.manifest import open_package
    from wrx_sdk.formats.plan import Knobs, Plan
    from wrx_sdk.planning.cost_model import CostModel

    err = {name: {"compute": 0.0, "other": 0.0} for name in ("raw", "calibrated")}
    with open_package(tiny_copy) as pkg:
        models = {
            "raw": CostModel(pkg, {**p, "calibration": {}}, length=length),
            "calibrated": CostModel(pkg, p, length=length),
        }
        for run in runs:
            plan = Plan.load(tiny_copy / "plans" / f"_{run['plan']}.json")
            kn = Knobs(**plan.pipeline)
            for name, cm in models.items():
                embed_head = cm.embed_ms + cm.head_ms(kn.head_bits)
                layers = cm.predict(plan, kn).compute_ms - embed_head
                err[name]["compute"] += (layers - run["compute_ms"]) ** 2
                # what every inference pays besides its layers: fixed costs, the word rows' wait
                t = cm.terms_for(kn.lanes)
                other = t.fixed_ms + embed_head + cm.words_ms + t.words_extra_ms
                err[name]["other"] += (other - run["other_ms"] - run["embed_stall_ms"]) ** 2
            assert run["predicted_latency_ms"] == pytest.approx(
                models["calibrated"].predict(plan, kn).latency_ms, rel=1e-3
            )
    assert err["calibrated"]["compute"] < err["raw"]["compute"]
    assert err["calibrated"]["other"] < err["raw"]["other"]


def test_profile_missing_file_is_clear(tmp_path):
    with pytest.raises(WrxError, match="does not exist"):
        load_profile(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("format: other\n")
    with pytest.raises(WrxError, match="this wrx reads version-5 device profiles"):
        load_profile(tmp_path / "bad.yaml")
    (tmp_path / "old.yaml").write_text("format: wrx-profile\nformat_version: 2\n")
    with pytest.raises(WrxError, match="old.yaml: field format_version is 2.*lane timings"):
        load_profile(tmp_path / "old.yaml")


@pytest.mark.parametrize(
    "field, value, want",
    [
        ("calibration_rounds", 0, r"planner.calibration_rounds is 0.*\nHINT: set it to 4"),
        ("calibration_rows", 5, r"rows is 5, it must be more than the 5 warm-up.*\nHINT: set it to 60"),
    ],
)
def test_bad_calibration_config_is_a_clear_error(
    host_build, tiny_pkg, tmp_path, monkeypatch, field, value, want
):
    import wrx_sdk.planning.calibration as prof

    real = prof.defaults
    monkeypatch.setattr(prof, "defaults", lambda s: {**real(s), field: value})
    with pytest.raises(WrxError, match=want):
        profile_device(tiny_pkg, "local", io_bandwidth=20, dest=tmp_path / "p.yaml", progress=False)
    assert not (tmp_path / "p.yaml").exists()  # nothing half-written


def test_a_calib_split_too_small_to_calibrate_on_is_a_clear_error(host_build, tmp_path):
    """The golden package's calib split has fewer rows than the calibration's warm-up: a
    user error naming the file, not a NaN median turned into a traceback."""
    import shutil

    from .conftest import ROOT

    pkg = shutil.copytree(ROOT / "tests" / "golden" / "pkg", tmp_path / "pkg")
    with pytest.raises(WrxError, match=r"data/calib.bin: the calib split has \d rows") as ei:
        profile_device(pkg, "local", io_bandwidth=20, dest=tmp_path / "p.yaml", progress=False)
    assert ei.value.code == "BAD_DATA" and "larger calib split" in ei.value.hint
    assert not (tmp_path / "p.yaml").exists()


def test_bounded_fit_pins_a_term_at_its_bound_and_refits_the_rest():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.array([1.0, 10.0, 11.0])
    assert np.allclose(_bounded_lstsq(x, y, np.array([np.inf, np.inf])), [1.0, 10.0])
    # the second term pinned at 4: the first refit on y - 4 x2 = [1, 6, 7] over rows 1 and 3
    assert np.allclose(_bounded_lstsq(x, y, np.array([np.inf, 4.0])), [4.0, 4.0])
    # a term fitted negative is dropped, not clipped: the other refits alone
    y = np.array([-1.0, 2.0, 1.0])
    assert np.allclose(_bounded_lstsq(x, y, np.array([np.inf, np.inf])), [0.0, 1.5])


def test_terms_fields_are_the_profile_readers():
    from dataclasses import fields

    from wrx_sdk.formats.device_profile import TERMS
    from wrx_sdk.planning.cost_model import Terms

    assert tuple(f.name for f in fields(Terms)) == TERMS


def _leaves(v, path=()):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _leaves(x, (*path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v[:2]):  # the first two of each list
            yield from _leaves(x, (*path, i))
    if path:
        yield path


def test_hand_edited_profiles_are_user_errors(host_build, tiny_copy, tmp_path):
    """Every field of a real profile deleted, or set to a string, a negative number or NaN:
    the profile loads and the cost model reads it, or loading is a BAD_DATA user error
    naming the field. Never a KeyError or TypeError from inside the planner."""
    import copy

    import yaml

    from wrx_sdk.planning.cost_model import CostModel

    d = yaml.safe_load(profile_device(tiny_copy, "local", io_bandwidth=20, progress=False).read_text())
    from wrx_sdk.formats.plan import Knobs, Plan

    paths = [p for p in _leaves(d) if p[0] not in ("format", "format_version")]
    assert len(paths) > 100
    rejected = 0
    with open_package(tiny_copy) as pkg:
        plan = Plan.uniform(pkg.geometry.layers, pkg.spec.shards_per_layer, 4, preload_layers=1)
        for path in paths:
            for how in ("delete", "string", "negative", "nan"):
                m = copy.deepcopy(d)
                parent = m
                for k in path[:-1]:
                    parent = parent[k]
                if how == "delete":
                    if isinstance(parent, list):
                        continue
                    del parent[path[-1]]
                else:
                    parent[path[-1]] = {"string": "x", "negative": -1, "nan": float("nan")}[how]
                f = tmp_path / "p.yaml"
                f.write_text(yaml.safe_dump(m))
                try:
                    prof = load_profile(f)
                except WrxError as e:
                    assert e.code == "BAD_DATA" and str(path[0]) in e.message and e.hint, (path, how, e)
                    rejected += 1
                    continue
                try:  # a profile that loads is one the planner can use, or refuses clearly
                    for length in (None, 4):
                        CostModel(pkg, prof, length=length).predict(plan, Knobs(lanes=2))
                except WrxError as e:
                    assert "profile" in e.message and e.hint, (path, how, e)
    assert rejected > 200
