"""Execution modes of wrx-loader: same predictions as load-all, honest stall accounting,
plan rejection, and no partial report after a kill."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import numpy as np
import pytest

from wrx_sdk.devices.run import run
from wrx_sdk.errors import PlanError
from wrx_sdk.formats.plan import LayerPlan, Plan

from .conftest import run_loader

MODES = ["load-all", "load-then-exec", "stdpl", "elastic"]


def loader(build, pkg, report, *args):
    return run_loader(build, pkg, report, *args)[1]


def logits(rep) -> np.ndarray:
    return np.array([i["logits"] for i in rep["inferences"]])


@pytest.mark.parametrize("chunk_kb", ["1", "400"])
def test_every_mode_matches_load_all(host_build, tiny_pkg, tmp_path, chunk_kb):
    """A plan with a skipped layer, a shard subset, mixed bits and a preloaded shard gives
    the same predictions in every mode; chunk 1 KB forces one shard per program call."""
    plan = Plan(
        "mixed",
        [LayerPlan(0, [0, 2, 3], [4, 32, 2]), LayerPlan(1, [1, 0, 3, 2], [8, 8, 3, 6])],
        preload=[(1, 3), (0, 2)],
    )
    pf = tmp_path / "plan.json"
    pf.write_text(json.dumps(plan.to_json()))
    reps = {
        m: loader(
            host_build,
            tiny_pkg,
            tmp_path / f"{m}.json",
            "--mode",
            m,
            "--plan",
            str(pf),
            "--chunk-kb",
            chunk_kb,
        )
        for m in MODES
    }
    # two lanes: the chunks of each half dealt to two threads, summed in lane order
    reps["elastic-2-lanes"] = loader(
        host_build,
        tiny_pkg,
        tmp_path / "lanes.json",
        *("--mode", "elastic", "--plan", str(pf), "--chunk-kb", chunk_kb, "--lanes", "2"),
    )
    ref = logits(reps["load-all"])
    for m in [*MODES[1:], "elastic-2-lanes"]:
        assert np.abs(logits(reps[m]) - ref).max() < 1e-4, m
        assert [i["pred"] for i in reps[m]["inferences"]] == [
            i["pred"] for i in reps["load-all"]["inferences"]
        ]
    e, two = reps["elastic"], reps["elastic-2-lanes"]
    assert (e["pipeline"]["lanes"], two["pipeline"]["lanes"], two["pipeline"]["xnnpack_threads"]) == (1, 2, 1)
    assert [lt["chunks"] for lt in two["inferences"][0]["layers"]] == [
        lt["chunks"] for lt in e["inferences"][0]["layers"]
    ]
    # each lane holds its own accumulator and program arenas
    assert two["memory"]["activation_bytes"] > e["memory"]["activation_bytes"]
    assert e["pipeline"]["preloaded_shards"] == 2
    if chunk_kb == "1":
        assert e["pipeline"]["attn_shards_per_call"] == 1 and e["pipeline"]["ffn_shards_per_call"] == 1
        assert e["inferences"][0]["layers"][0]["chunks"] == 6  # 3 shards x (attention, FFN)


def test_streamed_bytes_exclude_the_preload(host_build, tiny_pkg, tmp_path):
    full = loader(host_build, tiny_pkg, tmp_path / "a.json", "--mode", "elastic", "--bits", "4")
    pre = loader(
        host_build, tiny_pkg, tmp_path / "b.json", "--mode", "elastic", "--bits", "4", "--preload-layers", "1"
    )
    a, b = full["inferences"][0]["layers"], pre["inferences"][0]["layers"]
    assert a[0]["bytes"] > 0 and b[0]["bytes"] == 0 and b[1]["bytes"] == a[1]["bytes"]
    assert (
        pre["memory"]["weight_bytes_resident_after_setup"]
        > full["memory"]["weight_bytes_resident_after_setup"]
    )
    # nothing streamed is kept: every inference reads its bytes again
    assert len({i["bytes_read"] for i in pre["inferences"]}) >= 1 and all(
        i["bytes_read"] > 0 for i in pre["inferences"]
    )


def test_stall_accounting(host_build, minilm_pkg, tmp_path):
    """A low bandwidth cap makes compute wait for IO; a high one leaves the layers no stall."""
    out, _ = minilm_pkg
    slow = loader(
        host_build,
        out,
        tmp_path / "slow.json",
        "--mode",
        "elastic",
        "--bits",
        "4",
        "--preload-layers",
        "1",
        "--limit",
        "6",
        "--io-bandwidth",
        "20",
    )
    fast = loader(
        host_build,
        out,
        tmp_path / "fast.json",
        "--mode",
        "elastic",
        "--bits",
        "2",
        "--preload-layers",
        "1",
        "--limit",
        "6",
        "--io-bandwidth",
        "100000",
    )
    assert slow["summary"]["stall_fraction"] > 0.5, slow["summary"]
    assert slow["io"]["bandwidth_emulated"] is True and slow["io"]["bandwidth_cap_mbps"] == 20
    layer_stall = [sum(lt["stall_ms"] for lt in i["layers"]) for i in fast["inferences"][1:]]
    lat = [i["latency_ms"] for i in fast["inferences"][1:]]
    assert np.median(layer_stall) < 0.05 * np.median(lat), (layer_stall, lat)
    # per-layer timeline is consistent: IO of a layer ends before its compute ends
    for lt in slow["inferences"][2]["layers"][1:]:
        assert 0 <= lt["io_start_ms"] <= lt["io_end_ms"] <= lt["compute_end_ms"]
        assert lt["stall_ms"] > 0 and lt["bytes"] > 0


def test_wrx_run_rejects_absent_shards_and_bits(tiny_pkg, tmp_path):
    pf = tmp_path / "p.json"
    pf.write_text(json.dumps(Plan("bad", [LayerPlan(0, [9], [4])]).to_json()))
    with pytest.raises(PlanError, match="shard 9 does not exist"):
        run(tiny_pkg, plan=pf, progress=False)
    with pytest.raises(PlanError, match="7 bits is not in the store"):
        run(tiny_pkg, plan="uniform-7", progress=False)
    with pytest.raises(PlanError, match="neither a file"):
        run(tiny_pkg, plan="nonsense", progress=False)


def test_presets_and_named_plans(host_build, tiny_pkg, tmp_path):
    rep, kept = run(tiny_pkg, plan="uniform-4-pre1", mode="elastic", progress=False)
    assert rep["plan_name"] == "uniform-4-pre1" and kept.name.endswith("-uniform-4-pre1-elastic.json")
    plans = tiny_pkg / "plans"
    plans.mkdir(exist_ok=True)
    (plans / "mine.json").write_text(json.dumps(Plan("mine", [LayerPlan(1, [0], [2])]).to_json()))
    rep, _ = run(tiny_pkg, plan="mine", mode="stdpl", progress=False)
    assert rep["plan_name"] == "mine" and rep["mode"] == "stdpl"


def test_kill_mid_run_leaves_no_partial_report(host_build, minilm_pkg, tmp_path):
    out, _ = minilm_pkg
    report = tmp_path / "report.json"
    previous = {"format": "wrx-report", "previous": True}
    report.write_text(json.dumps(previous))
    cmd = [
        str(host_build / "bundle" / "wrx-loader"),
        "--package",
        str(out),
        "--report",
        str(report),
        "--mode",
        "elastic",
        "--bits",
        "4",
        "--io-bandwidth",
        "50",
    ]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    for line in p.stderr:  # wait until it is really running inferences
        if line.startswith("PROGRESS"):
            break
    time.sleep(0.5)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert json.loads(report.read_text()) == previous
    assert [f.name for f in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.parametrize("resident", [False, True])
def test_head8_matches_reference(host_build, tiny_pkg, tmp_path, resident):
    """The 8-bit head runs on its codes in C++ (never decoded) and gives the host
    reference's logits for the same head, streamed or resident; --head-bits overrides."""
    from wrx_sdk.formats.manifest import open_package
    from wrx_sdk.measure.evaluate import evaluate
    from wrx_sdk.measure.reference import ReferenceExecutor

    plan = Plan("h8", [LayerPlan(0, [0, 1, 2, 3], [4, 4, 4, 4]), LayerPlan(1, [0, 1, 2, 3], [8, 8, 8, 8])])
    plan.pipeline = {"readahead_kb": 64, "chunk_kb": 400, "head_resident": resident, "head_bits": 8}
    pf = tmp_path / "plan.json"
    pf.write_text(json.dumps(plan.to_json()))
    with open_package(tiny_pkg) as pkg:
        ex = ReferenceExecutor(pkg)
        ref8 = evaluate(pkg, plan=plan, executor=ex, progress=False).logits
        plan.pipeline = {**plan.pipeline, "head_bits": 32}
        ref32 = evaluate(pkg, plan=plan, executor=ex, progress=False).logits
    # the two heads differ, so matching ref8 says the loader ran the 8-bit one
    assert np.abs(ref8 - ref32).max() > 1e-4
    rep = loader(host_build, tiny_pkg, tmp_path / "r.json", "--mode", "elastic", "--plan", str(pf))
    assert rep["pipeline"]["head_bits"] == 8 and rep["pipeline"]["head_resident"] is resident
    assert np.abs(logits(rep) - ref8).max() < 1e-5
    over = loader(
        host_build,
        tiny_pkg,
        tmp_path / "r32.json",
        *("--mode", "elastic", "--plan", str(pf), "--head-bits", "32"),
    )
    assert over["pipeline"]["head_bits"] == 32 and np.abs(logits(over) - ref32).max() < 1e-5


def _rewrite_head8(pkg, bits: int | None = None, payload=None) -> None:
    """Relabel the 8-bit HEAD entry's bits and/or patch its payload (a function of the
    bytes), then make every checksum and the manifest agree, so only the change is wrong."""
    import zlib

    from wrx_sdk.formats import store_layout as F

    raw = bytearray((pkg / "store.wrx").read_bytes())
    h = F.HEADER.unpack_from(raw)
    n_entries, t_off, t_bytes = h[4], h[6], h[7]
    last = t_off + (n_entries - 1) * F.ENTRY.size
    rec = list(F.ENTRY.unpack_from(raw, last))
    assert rec[:2] == [F.EntryKind.HEAD, 8]
    off, length = rec[5], rec[6]
    if payload is not None:
        raw[off : off + length] = payload(bytes(raw[off : off + length]))
        rec[7] = zlib.crc32(bytes(raw[off : off + length]))
    if bits is not None:
        rec[1] = bits
    F.ENTRY.pack_into(raw, last, *rec)
    raw[56:60] = zlib.crc32(bytes(raw[t_off : t_off + t_bytes])).to_bytes(4, "little")
    raw[60:64] = zlib.crc32(bytes(raw[:60])).to_bytes(4, "little")
    (pkg / "store.wrx").write_bytes(bytes(raw))
    m = json.loads((pkg / "manifest.json").read_text())
    m["entries"][-1]["bits"], m["entries"][-1]["crc32"] = rec[1], rec[7]
    m["store"]["table_crc32"] = int.from_bytes(raw[56:60], "little")
    m["store"]["header_crc32"] = int.from_bytes(raw[60:64], "little")
    (pkg / "manifest.json").write_text(json.dumps(m))


def test_store_without_head8_is_a_clear_error(host_build, tiny_copy, tmp_path):
    """A store from before the 8-bit head (here: its HEAD entry relabelled 6-bit, checksums
    and manifest kept consistent) loads for the fp32 head and names the missing entry for 8."""
    _rewrite_head8(tiny_copy, bits=6)
    ok = loader(host_build, tiny_copy, tmp_path / "a.json", "--mode", "elastic", "--bits", "4")
    assert ok["ok"] and ok["pipeline"]["head_bits"] == 32
    r, rep = run_loader(
        host_build,
        tiny_copy,
        tmp_path / "b.json",
        *("--mode", "elastic", "--bits", "4", "--head-bits", "8"),
        check=False,
    )
    assert r.returncode == 2 and rep["error"]["code"] == "MISSING_ENTRY", rep["error"]
    assert "no head entry at 8 bits" in rep["error"]["message"] and "--head-bits 32" in rep["error"]["hint"]


@pytest.mark.parametrize("resident", [False, True])
def test_head8_outlier_outside_the_matrix_is_rejected(host_build, tiny_copy, tmp_path, resident):
    """The pooler's outlier indices are data the matvec indexes with: one past the matrix
    (checksums intact) is refused before use, whether the head is resident or streamed."""
    from wrx_sdk.formats import store_layout as F
    from wrx_sdk.formats.manifest import open_package
    from wrx_sdk.formats.store_layout import EntryKey

    with open_package(tiny_copy) as pkg:
        t = pkg.store.entry(EntryKey(F.EntryKind.HEAD, bits=8)).tensors[0]
        H = pkg.geometry.hidden
    assert t.role == F.Role.POOLER_W and t.n_outliers > 0
    at = t.offset + 4 * 256  # the first outlier index, after the 8-bit codebook

    def bad(b: bytes) -> bytes:
        return b[:at] + (H * H).to_bytes(4, "little") + b[at + 4 :]

    _rewrite_head8(tiny_copy, payload=bad)
    args = ["--mode", "elastic", "--bits", "4", "--head-bits", "8"] + (
        ["--head-resident"] if resident else []
    )
    r, rep = run_loader(host_build, tiny_copy, tmp_path / "r.json", *args, check=False)
    assert r.returncode == 2 and rep["error"]["code"] == "BAD_COUNTS", rep["error"]
    assert "outlier index" in rep["error"]["message"] and "outside the matrix" in rep["error"]["message"]


def test_bad_head_bits_flag_is_a_usage_error(host_build, tiny_pkg, tmp_path):
    r, rep = run_loader(host_build, tiny_pkg, tmp_path / "r.json", "--head-bits", "4", check=False)
    assert r.returncode == 2 and "--head-bits must be 32 or 8" in r.stderr
