#!/usr/bin/env python3
"""Regenerate tests/golden/: the tiny golden package and one broken file per rejection path.

The Python reader (tests/test_golden.py) and the C++ loader's tests read the same files
and expect the error named in tests/golden/cases.json. Run after a format change:
    .venv/bin/python scripts/make_golden.py
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures import golden_mpnet_package, golden_package  # noqa: E402
from wrx_sdk.formats import store_layout as F  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"


def fix_header_crc(b: bytearray) -> None:
    b[60:64] = zlib.crc32(bytes(b[:60])).to_bytes(4, "little")


def fix_table_crc(b: bytearray) -> None:
    (_, _, _, _, _, _, t_off, t_bytes, _, _, _) = F.HEADER.unpack_from(b)
    b[56:60] = zlib.crc32(bytes(b[t_off : t_off + t_bytes])).to_bytes(4, "little")
    fix_header_crc(b)


def entry_pos(b: bytes, i: int) -> int:
    return F.HEADER.size + i * F.ENTRY.size


def find_entry(b: bytes, kind: int, layer: int, shard: int, bits: int) -> int:
    n = F.HEADER.unpack_from(b)[4]
    for i in range(n):
        k, bt, _, ly, sh, *_ = F.ENTRY.unpack_from(b, entry_pos(b, i))
        if (k, ly, sh, bt) == (kind, layer, shard, bits):
            return i
    raise KeyError((kind, layer, shard, bits))


def write_decode_vectors(path: Path) -> None:
    """Codebook tensors from the Python encoder with their expected fp32 decode, for the C++
    decoder test. Record: bits, rows, cols, n_outliers (u32 each), then the CODEBOOK payload
    (docs/FORMAT.md), then rows*cols float32. Shapes cover the row-aligned fast path
    (cols % 8 == 0) and the staged path."""
    import numpy as np

    from wrx_sdk.builder.quant import encode_all
    from wrx_sdk.formats.codebook import decode
    from wrx_sdk.formats.quant_scheme import QuantScheme

    rng = np.random.default_rng(11)
    out = bytearray()
    for rows, cols in ((16, 24), (5, 13)):
        w = (rng.standard_t(4, size=(rows, cols)) * 0.1).astype(np.float32)
        for bits, t in encode_all(w, QuantScheme(outlier_sigma=2.0)).items():
            out += struct.pack("<IIII", bits, rows, cols, len(t.outlier_idx))
            out += t.codebook.astype("<f4").tobytes() + t.outlier_idx.astype("<u4").tobytes()
            out += t.outlier_val.astype("<f4").tobytes() + t.codes
            out += decode(t).astype("<f4").tobytes()
    path.write_bytes(bytes(out))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pkg = GOLDEN / "pkg"
        shutil.rmtree(pkg, ignore_errors=True)
        golden_package(Path(tmp), pkg)
        shutil.rmtree(GOLDEN / "mpnet", ignore_errors=True)
        golden_mpnet_package(Path(tmp), GOLDEN / "mpnet")
    mpnet = json.loads((GOLDEN / "mpnet" / "manifest.json").read_text())
    store = (pkg / "store.wrx").read_bytes()
    manifest = json.loads((pkg / "manifest.json").read_text())
    broken = GOLDEN / "broken"
    shutil.rmtree(broken, ignore_errors=True)
    broken.mkdir()
    cases = []

    def store_case(name: str, data: bytes | bytearray, error: str, field: str, contains: str) -> None:
        (broken / f"{name}.wrx").write_bytes(bytes(data))
        cases.append(
            {
                "name": name,
                "store": f"broken/{name}.wrx",
                "manifest": None,
                "error": error,
                "field": field,
                "message_contains": contains,
            }
        )

    b = bytearray(store)
    b[0:8] = b"NOTASTOR"
    store_case("bad_magic", b, "BAD_MAGIC", "magic", "not a wrx store")

    b = bytearray(store)
    b[8:12] = struct.pack("<I", F.VERSION + 1)
    fix_header_crc(b)
    store_case("future_version", b, "UNSUPPORTED_VERSION", "version", "newer than this wrx reads")

    b = bytearray(store)
    b[60] ^= 0xFF
    store_case("bad_header_crc", b, "HEADER_CHECKSUM", "header_crc32", "header checksum mismatch")

    store_case("truncated", store[:-4096], "TRUNCATED", "file_bytes", "truncated")
    store_case("too_short", store[:40], "TRUNCATED", "header", "shorter than")

    b = bytearray(store)
    b[F.HEADER.size + 3] ^= 0x01
    store_case("bad_table_crc", b, "TABLE_CHECKSUM", "table_crc32", "entry table checksum mismatch")

    b = bytearray(store)
    b[24:28] = struct.pack("<I", 0x7FFFFFFF)  # n_entries: must be rejected before allocating
    fix_header_crc(b)
    store_case("huge_counts", b, "BAD_COUNTS", "table_bytes", "expected")

    i = find_entry(store, F.EntryKind.FFN_SHARD, 0, 1, 4)
    b = bytearray(store)
    off = F.ENTRY.unpack_from(b, entry_pos(b, i))[5]
    b[off + 100] ^= 0x5A
    store_case(
        "corrupt_entry",
        b,
        "ENTRY_CHECKSUM",
        "crc32",
        "checksum mismatch in ffn_shard, layer 0, shard 1, 4-bit",
    )
    cases[-1]["loader_args"] = ["--bits", "4"]  # the loader checks an entry's CRC when it reads it

    b = bytearray(store)
    p = entry_pos(b, i)
    struct.pack_into("<Q", b, p + 8, len(store) + 4096)  # offset past the end
    fix_table_crc(b)
    store_case("offset_out_of_range", b, "OFFSET_OUT_OF_RANGE", "offset", "past the end")

    b = bytearray(store)
    struct.pack_into("<Q", b, p + 16, 0xFFFFFFFFFFFFF000)  # offset + length overflows u64
    fix_table_crc(b)
    store_case("length_overflow", b, "OFFSET_OUT_OF_RANGE", "length", "past the end")

    b = bytearray(store)
    first = F.ENTRY.unpack_from(b, p)[8]
    tpos = F.HEADER.size + F.HEADER.unpack_from(b)[4] * F.ENTRY.size + first * F.TENSOR.size
    struct.pack_into("<Q", b, tpos + 16, 1 << 40)  # tensor offset outside its entry
    fix_table_crc(b)
    store_case("tensor_out_of_range", b, "TENSOR_OUT_OF_RANGE", "offset", "outside the entry")

    b = bytearray(store)
    struct.pack_into("<H", b, p, 99)  # unknown entry kind
    fix_table_crc(b)
    store_case("unknown_kind", b, "UNKNOWN_ENUM", "kind", "unknown entry kind")

    def manifest_case(name: str, m: dict, error: str, field: str, contains: str) -> None:
        (broken / f"{name}.json").write_text(json.dumps(m, indent=1))
        cases.append(
            {
                "name": name,
                "store": "pkg/store.wrx",
                "manifest": f"broken/{name}.json",
                "error": error,
                "field": field,
                "message_contains": contains,
            }
        )

    m = json.loads(json.dumps(manifest))
    m["format_version"] = 2
    manifest_case(
        "manifest_future_version", m, "UNSUPPORTED_VERSION", "format_version", "this wrx reads version 1"
    )

    m = json.loads(json.dumps(manifest))
    m["store"]["table_crc32"] ^= 1
    manifest_case(
        "manifest_other_store", m, "MANIFEST_MISMATCH", "store.table_crc32", "does not match its store"
    )

    m = json.loads(json.dumps(manifest))
    m["sharding"]["shards_per_layer"] = 3
    m["sharding"]["heads_per_shard"] = 1
    m["programs"]["layer_packed"]["max_shards"] = 3  # one fault: the store, not the program
    manifest_case(
        "manifest_missing_shard",
        m,
        "MISSING_ENTRY",
        "sharding.shards_per_layer",
        "has no entry for attn_shard, layer 0, shard 2",
    )

    m = json.loads(json.dumps(manifest))
    del m["model"]["geometry"]
    manifest_case("manifest_missing_field", m, "MANIFEST_FIELD", "model.geometry", "is missing")

    m = json.loads(json.dumps(manifest))
    m["programs"]["layer"]["file"] = "programs/missing_layer.pte"
    manifest_case("manifest_missing_program", m, "MISSING_FILE", "programs.layer.file", "does not exist")

    m = json.loads(json.dumps(manifest))
    m["programs"]["attn"]["min_seq_len"] = m["programs"]["attn"]["seq_len"] + 1
    manifest_case(
        "manifest_bad_min_seq_len", m, "MANIFEST_FIELD", "programs.attn.min_seq_len", "is outside 1.."
    )

    m = json.loads(json.dumps(manifest))
    del m["programs"]["layer_packed"]["constants"]["ffn2_w"]
    manifest_case(
        "manifest_packed_missing_constant",
        m,
        "MANIFEST_FIELD",
        "programs.layer_packed.constants",
        "is missing",
    )

    m = json.loads(json.dumps(manifest))
    m["programs"]["layer_packed"]["max_shards"] += 1
    manifest_case(
        "manifest_packed_other_shards",
        m,
        "MANIFEST_MISMATCH",
        "programs.layer_packed.max_shards",
        "differs from sharding.shards_per_layer",
    )

    # MPNet manifests: read over the MPNet golden package ("pkg": "mpnet").
    def mpnet_case(name: str, m: dict, error: str, field: str, contains: str) -> None:
        manifest_case(name, m, error, field, contains)
        cases[-1]["pkg"] = "mpnet"
        cases[-1]["store"] = "mpnet/store.wrx"

    m = json.loads(json.dumps(mpnet))
    m["model"]["position_bias"] = "rotary"
    mpnet_case("mpnet_unknown_position_bias", m, "MANIFEST_FIELD", "model.position_bias", "must be")

    m = json.loads(json.dumps(mpnet))
    m["model"]["geometry"]["family"] = "xlnet"
    mpnet_case("mpnet_unknown_family", m, "MANIFEST_FIELD", "model.geometry.family", "is not supported")

    # Evaluation data (docs/FORMAT.md, "Data"): one case per check of devdata.read and the
    # loader's load_devdata, in their order. The package is the golden one; only
    # data/dev.bin is replaced, and the readers load it with the model's vocabularies.
    dev = (pkg / "data" / "dev.bin").read_bytes()
    n, seq = struct.unpack_from("<II", dev, 12)
    geom = manifest["model"]["geometry"]

    def data_case(name: str, data: bytes | bytearray, error: str, field: str, contains: str) -> None:
        (broken / f"{name}.bin").write_bytes(bytes(data))
        cases.append(
            {
                "name": name,
                "store": "pkg/store.wrx",
                "manifest": None,
                "data": f"broken/{name}.bin",
                "error": error,
                "field": field,
                "message_contains": contains,
            }
        )

    def body(edit) -> bytearray:
        """dev.bin with its i32 body edited by ``edit(values)``, the checksum fixed."""
        b = bytearray(dev)
        v = list(struct.unpack_from(f"<{(len(b) - 32) // 4}i", b, 32))
        edit(v)
        struct.pack_into(f"<{len(v)}i", b, 32, *v)
        struct.pack_into("<I", b, 28, zlib.crc32(bytes(b[32:])))
        return b

    def header(off: int, value: int) -> bytearray:
        b = bytearray(dev)
        struct.pack_into("<I", b, off, value)
        return b

    data_case("data_too_short", dev[:20], "TRUNCATED", "header", "shorter than its header")
    data_case("data_bad_magic", b"WRXDATX\0" + dev[8:], "BAD_MAGIC", "magic", "bad magic")
    data_case("data_future_version", header(8, 2), "UNSUPPORTED_VERSION", "version", "this wrx reads 1")
    # n_rows * seq_len * 8 would wrap a uint64 size computation: rejected before it is made
    b = header(12, 0xFFFFFFFF)
    struct.pack_into("<I", b, 16, 0xFFFFFFFF)
    data_case("data_huge_counts", b, "BAD_COUNTS", "n_rows", "out of range")
    data_case("data_no_labels", header(20, 0), "BAD_COUNTS", "num_labels", "out of range")
    data_case("data_truncated", dev[:-4], "TRUNCATED", "file_bytes", "expected")
    b = bytearray(dev)
    b[-1] ^= 1
    data_case("data_bad_crc", b, "BAD_DATA", "body_crc32", "mismatch")

    def set_at(i: int, x: int):
        def edit(v: list) -> None:
            v[i] = x

        return edit

    data_case("data_bad_label", body(set_at(0, 2)), "BAD_DATA", "labels", "outside 0..1")
    data_case("data_bad_length", body(set_at(n, 0)), "BAD_DATA", "lengths", "outside 1..")
    ids0, types0 = 2 * n, 2 * n + n * seq
    data_case("data_bad_token", body(set_at(ids0, geom["vocab"])), "BAD_DATA", "input_ids", "outside 0..")
    bad_type = body(set_at(types0, geom["type_vocab"]))
    data_case("data_bad_token_type", bad_type, "BAD_DATA", "token_type_ids", "outside 0..")

    # Plans (docs/FORMAT.md, "Plan"): one case per check of Plan.from_json / Plan.validate
    # and the loader's load_plan / validate_plan, each against the golden package (1 layer,
    # 2 shards, bits 2 and 4, max_seq_len 8). Only the plan file is broken.
    def plan_case(name: str, doc: dict | bytes, field: str, contains: str) -> None:
        raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        (broken / f"{name}.json").write_bytes(raw)
        cases.append(
            {
                "name": name,
                "store": "pkg/store.wrx",
                "manifest": None,
                "plan": f"broken/{name}.json",
                "error": "BAD_PLAN",
                "field": field,
                "message_contains": contains,
            }
        )

    def plan(**kw) -> dict:
        d = {"format": "wrx-plan", "format_version": 3, "name": "golden"}
        d["layers"] = [{"layer": 0, "shards": [0, 1], "bits": [4, 2]}]
        d["preload"] = [[0, 0]]
        d["pipeline"] = {"readahead_kb": 1024, "chunk_kb": 400, "head_resident": True, "lanes": 1}
        d.update(kw)
        return {k: v for k, v in d.items() if v is not None}

    def pipe(**kw) -> dict:
        return {**plan()["pipeline"], **kw}

    def layer(**kw) -> list:
        return [{"layer": 0, "shards": [0, 1], "bits": [4, 2], **kw}]

    pc = plan_case
    bucket = [{"max_len": 4, "layers": layer()}]
    pc("plan_not_json", b'{"format": "wrx-plan",', "plan", "invalid JSON at byte")
    # found by fuzz_plan (session 12): a string cut inside a UTF-8 sequence at the end of the
    # file made RapidJSON's validation read past the buffer
    pc("plan_truncated_utf8", b'{"format": "wrx-plan", "lf\xf4', "plan", "invalid JSON")
    pc("plan_duplicate_key", b'{"format": "wrx-plan", "format": "wrx-plan"}', "format", "duplicate key")
    pc("plan_non_finite", json.dumps(plan(meta={"x": 1e999})).encode(), "plan", "invalid JSON")
    pc("plan_bad_format", plan(format="wrx-store"), "format", "wrx-plan")
    pc("plan_future_version", plan(format_version=4), "format_version", "reads")
    pc("plan_missing_name", plan(name=None), "name", "is missing")
    pc("plan_missing_layers", plan(layers=None), "layers", "is missing")
    pc("plan_layer_not_int", plan(layers=layer(layer="0")), "layers[0].layer", "")
    pc("plan_shard_float", plan(layers=layer(shards=[0.5, 1])), "layers[0].shards", "")
    pc("plan_bits_count", plan(layers=layer(bits=[4])), "layers[0]", "")
    pc("plan_by_length_v2", plan(format_version=2, by_length=bucket), "by_length", "format_version 3")
    pc(
        "plan_by_length_order",
        plan(by_length=[{"max_len": 4, "layers": layer()}, {"max_len": 4, "layers": layer()}]),
        "by_length[1].max_len",
        "increasing",
    )
    pc("plan_bad_preload", plan(preload=[[0]]), "preload", "[layer, shard] pairs")
    pc("plan_bad_meta", plan(meta=[]), "meta", "must be an object")
    pc("plan_pipeline_v1", plan(format_version=1), "pipeline", "format_version 2")
    pc("plan_readahead_range", plan(pipeline=pipe(readahead_kb=1)), "pipeline.readahead_kb", "")
    pc("plan_chunk_missing", plan(pipeline={"readahead_kb": 1024, "head_resident": True}), "chunk_kb", "")
    pc("plan_head_resident_type", plan(pipeline=pipe(head_resident=1)), "pipeline.head_resident", "")
    pc("plan_lanes_range", plan(pipeline=pipe(lanes=9)), "pipeline.lanes", "")
    pc("plan_head_bits", plan(pipeline=pipe(head_bits=4)), "pipeline.head_bits", "")
    pc("plan_no_layers", plan(layers=[], preload=[]), "layers", "no layers")
    pc("plan_layer_out_of_range", plan(layers=layer(layer=5), preload=[]), "layer 5", "is not in 0..0")
    two = [*layer(), *layer()]
    pc("plan_layers_order", plan(layers=two), "layers", "increasing order")
    pc("plan_no_shards", plan(layers=layer(shards=[], bits=[]), preload=[]), "layer 0", "lists no shards")
    pc("plan_shard_twice", plan(layers=layer(shards=[0, 0])), "layer 0", "lists a shard twice")
    pc("plan_shard_missing", plan(layers=layer(shards=[0, 7])), "shard 7", "does not exist")
    pc("plan_bits_not_stored", plan(layers=layer(bits=[4, 3])), "at 3 bits", "is not in the store")
    pc("plan_preload_not_run", plan(preload=[[0, 1]], layers=layer(shards=[0], bits=[4])), "preload", "")
    long_bucket = [{"max_len": 8, "layers": layer()}]
    pc("plan_bucket_too_long", plan(by_length=long_bucket), "by_length[0].max_len", "below max_seq_len")
    other_bits = [{"max_len": 4, "layers": layer(bits=[2, 2])}]
    pc("plan_bucket_preload_bits", plan(by_length=other_bits), "by_length[0]", "preloaded shard")

    # Reports (docs/FORMAT.md, "Report"): the loader writes them, only the build side reads
    # them, so these cases are for the Python reader ("reader": "python"). The valid one is
    # a real run of the golden package (its timings differ from run to run).
    loader = ROOT / "build" / "host" / "bundle" / "wrx-loader"
    rep_path = GOLDEN / "report.json"
    args = ["--package", str(pkg), "--report", str(rep_path), "--quiet", "--bits", "4", "--limit", "2"]
    subprocess.run([str(loader), *args], check=True)
    report = json.loads(rep_path.read_text())

    def python_case(
        kind: str, ext: str, raw: bytes, name: str, error: str, field: str, contains: str
    ) -> None:
        """A broken file only the build side reads (reports, device profiles)."""
        (broken / f"{name}.{ext}").write_bytes(raw)
        cases.append(
            {
                "name": name,
                "store": "pkg/store.wrx",
                "manifest": None,
                kind: f"broken/{name}.{ext}",
                "reader": "python",
                "error": error,
                "field": field,
                "message_contains": contains,
            }
        )

    def report_case(name: str, doc: dict | bytes, error: str, field: str, contains: str) -> None:
        raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        python_case("report", "json", raw, name, error, field, contains)

    def rep(**kw) -> dict:
        d = json.loads(json.dumps(report))
        for k, v in kw.items():
            if v is None:
                d.pop(k)
            else:
                d[k] = v
        return d

    rc = report_case
    rc("report_not_json", rep_path.read_bytes()[:-40], "BAD_DATA", "report", "not JSON")
    rc("report_bad_format", rep(format="wrx-plan"), "BAD_DATA", "format", "wrx-report")
    rc("report_future_version", rep(format_version=2), "UNSUPPORTED_VERSION", "format_version", "reads")
    rc("report_failed_run", rep(ok=False, error={"code": "IO"}), "BAD_DATA", "ok", "a failed run")
    rc("report_missing_summary", rep(summary=None), "BAD_DATA", "summary", "is missing")
    rc("report_bad_latency", rep(summary={**report["summary"], "latency_ms": {"p50": "fast"}}),
       "BAD_DATA", "summary.latency_ms.p50", "a finite number")  # fmt: skip
    bad_inf = [{**report["inferences"][0], "latency_ms": -1.0}]
    rc("report_negative_latency", rep(inferences=bad_inf), "BAD_DATA", "inferences[0].latency_ms", "")
    rc("report_no_inferences", rep(inferences=[]), "BAD_DATA", "inferences", "is empty")
    rc("report_plan_layers", rep(plan={"layers": [{"layer": 0}]}), "BAD_DATA", "plan.layers[0].shards", "")

    def trace_case(name: str, key: str, value, contains: str) -> None:
        """The first traced layer of the first row with one field changed."""
        inf = report["inferences"][0]
        bad = [{**inf, "layers": [{**inf["layers"][0], key: value}]}]
        rc(name, rep(inferences=bad), "BAD_DATA", f"inferences[0].layers[0].{key}", contains)

    trace_case("report_trace_field", "compute_start_ms", "soon", "")
    trace_case("report_trace_negative", "io_end_ms", -2, "or -1")

    # Device profiles (docs/FORMAT.md, "Device profile"): the build side reads them, so
    # these are Python-only too. The valid one is the loader's real measurement of the
    # golden package (no calibration: its splits are too small to calibrate on).
    import yaml

    from wrx_sdk.devices import get_device
    from wrx_sdk.formats.device_profile import write_profile
    from wrx_sdk.measure.device_profile import measure_device

    prof_path = GOLDEN / "profile.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "pkg"
        shutil.copytree(pkg, work)
        write_profile(prof_path, measure_device(work, get_device("local"), 2, 20.0))
    prof = yaml.safe_load(prof_path.read_text())

    def profile_case(name: str, doc: dict | bytes, error: str, field: str, contains: str) -> None:
        raw = doc if isinstance(doc, bytes) else yaml.safe_dump(doc, sort_keys=False).encode()
        python_case("profile", "yaml", raw, name, error, field, contains)

    def pro(edit) -> dict:
        d = json.loads(json.dumps(prof))
        edit(d)
        return d

    pc = profile_case
    pc("profile_not_yaml", b"io: [1, 2\n", "BAD_DATA", "profile", "not valid YAML")
    pc("profile_old_version", pro(lambda d: d.update(format_version=4)), "UNSUPPORTED_VERSION",
       "format_version", "version-5")  # fmt: skip
    pc("profile_missing_field", pro(lambda d: d.pop("crc_gbps")), "BAD_DATA", "crc_gbps", "is missing")
    pc("profile_bad_type", pro(lambda d: d["io"].update(read_mbps_by_request_bytes={"4096": "fast"})),
       "BAD_DATA", "io.read_mbps_by_request_bytes.4096", "a finite number")  # fmt: skip
    pc("profile_heads", pro(lambda d: d["overheads"]["head_ms_by_bits"].pop("32")), "BAD_DATA",
       "overheads.head_ms_by_bits", "the fp32 one")  # fmt: skip
    pc("profile_terms", pro(lambda d: d.update(calibration={"lanes": {"1": {"warp_ms": 1.0}}})), "BAD_DATA",
       "calibration.lanes.1", "unknown terms")  # fmt: skip
    pc("profile_timings_count", pro(lambda d: d["compute_ms_by_shards"]["layer"].pop()), "BAD_DATA",
       "compute_ms_by_shards.layer", "timings, shards_per_layer")  # fmt: skip
    pc("profile_length", pro(lambda d: d["by_length"].update({"999": next(iter(d["by_length"].values()))})),
       "BAD_DATA", "by_length.999", "outside 1..seq_len")  # fmt: skip

    write_decode_vectors(GOLDEN / "decode_vectors.bin")

    (GOLDEN / "cases.json").write_text(json.dumps({"format_version": 1, "cases": cases}, indent=1) + "\n")
    print(f"wrote {pkg} and {len(cases)} broken cases in {broken}")


if __name__ == "__main__":
    main()
