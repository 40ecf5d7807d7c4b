"""wrx-loader (C++, ExecuTorch runtime) against the host reference and the golden files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from wrx_sdk.formats.manifest import open_package
from wrx_sdk.formats.plan import LayerPlan, Plan
from wrx_sdk.measure.evaluate import evaluate
from wrx_sdk.measure.reference import ReferenceExecutor

from .conftest import GOLDEN
from .conftest import run_loader as _run_loader

# the loader reads every format but its own reports ("reader": "python")
CASES = [c for c in json.loads((GOLDEN / "cases.json").read_text())["cases"] if c.get("reader") != "python"]


def run_loader(build, pkg, report, *args, env=None):
    return _run_loader(build, pkg, report, *args, env=env, check=False)


def logits_of(report) -> np.ndarray:
    return np.array([i["logits"] for i in report["inferences"]])


def check_unit_output(r):
    m = re.search(r"^(\d+) passed, (\d+) failed$", r.stdout, re.M)
    assert m, r.stdout + r.stderr
    assert int(m.group(2)) == 0 and int(m.group(1)) >= 100, r.stdout


def test_cpp_unit_tests(host_build):
    r = subprocess.run([str(host_build / "wrx-unit-tests"), str(GOLDEN)], capture_output=True, text=True)
    check_unit_output(r)
    assert r.returncode == 0


def test_help_documents_the_cli(host_build):
    r = subprocess.run([str(host_build / "bundle" / "wrx-loader"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for flag in ("--package", "--plan", "--bits", "--mode", "--report", "--threads", "--io-bandwidth"):
        assert flag in r.stdout
    r = subprocess.run([str(host_build / "bundle" / "wrx-loader"), "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown argument" in r.stderr


def test_bundle_is_relocatable(host_build, tmp_path):
    """The bundle runs from any directory: the loader finds its libraries through $ORIGIN/lib."""
    dst = tmp_path / "somewhere" / "bundle"
    shutil.copytree(host_build / "bundle", dst)
    r = subprocess.run(["ldd", str(dst / "wrx-loader")], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if "executorch" in line:
            assert str(dst / "lib") in line, line
    r = subprocess.run([str(dst / "wrx-loader"), "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "executorch 1.5.1" in r.stdout


@pytest.mark.parametrize("plan", ["fp32", "4bit", "mixed"])
def test_golden_matches_reference(host_build, tmp_path, plan):
    with open_package(GOLDEN / "pkg") as pkg:
        ex = ReferenceExecutor(pkg)
        p = {
            "fp32": Plan.uniform(1, 2, 32),
            "4bit": Plan.uniform(1, 2, 4),
            "mixed": Plan("mixed", [LayerPlan(0, [1], [2])]),
        }[plan]
        ref = evaluate(pkg, plan=p, executor=ex, progress=False)
    pf = tmp_path / "plan.json"
    pf.write_text(json.dumps(p.to_json()))
    r, rep = run_loader(host_build, GOLDEN / "pkg", tmp_path / "r.json", "--plan", str(pf))
    assert r.returncode == 0, r.stderr
    assert np.abs(logits_of(rep) - ref.logits).max() < 1e-4
    assert [i["pred"] for i in rep["inferences"]] == ref.predictions.tolist()


def case_args(case) -> list[str]:
    """The loader arguments a golden case runs with: its own, and its broken plan if any."""
    args = list(case.get("loader_args", []))
    if case.get("plan"):
        args += ["--plan", str(GOLDEN / case["plan"])]
    return args


def broken_package(case, tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(GOLDEN / case.get("pkg", "pkg"), pkg)
    shutil.copy(GOLDEN / case["store"], pkg / "store.wrx")
    if case["manifest"]:
        shutil.copy(GOLDEN / case["manifest"], pkg / "manifest.json")
    if case.get("data"):
        shutil.copy(GOLDEN / case["data"], pkg / "data" / "dev.bin")
    return pkg


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_loader_rejects_golden_case(host_build, tmp_path, case):
    """Each broken golden file: non-zero exit, a clear message, an error object in the report."""
    pkg = broken_package(case, tmp_path)
    r, rep = run_loader(host_build, pkg, tmp_path / "r.json", *case_args(case))
    assert r.returncode == 2, r.stderr
    assert rep is not None and rep["ok"] is False
    err = rep["error"]
    assert err["code"] == case["error"], err
    assert case["message_contains"] in err["message"] and case["field"] in err["message"], err
    assert err["hint"] and err["user_error"] is True
    assert "HINT:" in r.stderr


def test_loader_rejects_bad_plans(host_build, tmp_path):
    for plan, msg in [
        ({"layers": [{"layer": 0, "shards": [2], "bits": [4]}]}, "shard 2 does not exist"),
        ({"layers": [{"layer": 0, "shards": [0], "bits": [3]}]}, "at 3 bits is not in the store"),
        ({"layers": [{"layer": 3, "shards": [0], "bits": [4]}]}, "layer 3 is not in"),
    ]:
        pf = tmp_path / "plan.json"
        pf.write_text(json.dumps({"format": "wrx-plan", "format_version": 1, "name": "bad", **plan}))
        r, rep = run_loader(host_build, GOLDEN / "pkg", tmp_path / "r.json", "--plan", str(pf))
        assert r.returncode == 2 and rep["error"]["code"] == "BAD_PLAN" and msg in rep["error"]["message"], (
            rep
        )


@pytest.mark.parametrize("how", ["truncated", "swapped"])
def test_loader_verifies_programs_before_loading_them(host_build, tiny_copy, tmp_path, how):
    """A program that is not the one the manifest hashed never reaches the ExecuTorch runtime."""
    progs = tiny_copy / "programs"
    attn, ffn = progs / "bert_attn.pte", progs / "bert_ffn.pte"
    if how == "truncated":
        attn.write_bytes(attn.read_bytes()[: attn.stat().st_size // 2])
    else:
        a, f = attn.read_bytes(), ffn.read_bytes()
        attn.write_bytes(f)
        ffn.write_bytes(a)
    r, rep = run_loader(host_build, tiny_copy, tmp_path / "r.json", "--limit", "1")
    assert r.returncode == 2, r.stderr
    assert rep["error"]["code"] == "MANIFEST_MISMATCH" and "bert_attn.pte" in rep["error"]["message"]
    assert "sha256" in rep["error"]["message"] and "re-deploy" in rep["error"]["hint"]


def _matrix_bytes(pkg) -> int:
    """fp32 bytes of every layer's six weight matrices (what XNNPACK packs for load-all)."""
    with open_package(pkg) as p:
        g = p.geometry
    return g.layers * 4 * (4 * g.hidden * g.hidden + 2 * g.hidden * g.intermediate)


def test_packed_layers_equal_weights_as_inputs(host_build, tiny_copy, tmp_path):
    """Load-all packs each layer once (programs.layer_packed): the same logits as the
    whole-layer program given the weights as inputs, which a package without the packed
    program (before 2026-12-02) still runs. The setup decodes every layer into one scratch
    buffer, so a backend that kept a pointer to it instead of packing would give every
    layer the last one's weights and fail here. The packed copies stay in the tally."""
    args = ("--mode", "load-all", "--bits", "4")
    r, packed = run_loader(host_build, tiny_copy, tmp_path / "packed.json", *args)
    assert r.returncode == 0, r.stderr
    m = json.loads((tiny_copy / "manifest.json").read_text())
    del m["programs"]["layer_packed"]
    (tiny_copy / "manifest.json").write_text(json.dumps(m, indent=1))
    r, inputs = run_loader(host_build, tiny_copy, tmp_path / "inputs.json", *args)
    assert r.returncode == 0, r.stderr
    a = np.array([i["logits"] for i in packed["inferences"]])
    b = np.array([i["logits"] for i in inputs["inferences"]])
    assert np.abs(a - b).max() < 1e-4
    assert [i["pred"] for i in packed["inferences"]] == [i["pred"] for i in inputs["inferences"]]
    for rep in (packed, inputs):
        assert rep["memory"]["weight_bytes_resident_after_setup"] >= _matrix_bytes(tiny_copy)


def test_packed_program_and_manifest_must_agree(host_build, tiny_copy, tmp_path):
    """A key the packed program asks for that the manifest does not name is a clear error."""
    m = json.loads((tiny_copy / "manifest.json").read_text())
    m["programs"]["layer_packed"]["constants"]["ffn1_w"] = "0" * 64
    (tiny_copy / "manifest.json").write_text(json.dumps(m, indent=1))
    r, rep = run_loader(host_build, tiny_copy, tmp_path / "r.json", "--mode", "load-all", "--limit", "1")
    assert r.returncode == 2, r.stderr
    err = rep["error"]
    assert err["code"] == "MANIFEST_MISMATCH" and "bert_layer_packed.pte" in err["message"], err
    assert "programs.layer_packed.constants" in err["message"] and err["user_error"] is True


def test_killed_run_leaves_previous_report(host_build, tmp_path):
    """The report is written by rename: an unwritable target fails cleanly, nothing partial."""
    report = tmp_path / "nodir" / "r.json"
    r, rep = run_loader(host_build, GOLDEN / "pkg", report)
    assert r.returncode != 0 and rep is None
    assert not any(p.name.startswith("r.json.tmp") for p in tmp_path.rglob("*"))


def test_asan_ubsan_over_golden_files(asan_build, tmp_path):
    """The sanitizer build (ASan and clang's UBSan) runs the unit tests, a good package in
    every mode and every broken golden file cleanly."""
    env = {
        **os.environ,
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
        "UBSAN_OPTIONS": "halt_on_error=1",
    }
    r = subprocess.run(
        [str(asan_build / "wrx-unit-tests"), str(GOLDEN)], capture_output=True, text=True, env=env
    )
    check_unit_output(r)
    for mode in ("load-all", "load-then-exec", "stdpl", "elastic"):
        r, rep = run_loader(
            asan_build,
            GOLDEN / "pkg",
            tmp_path / f"ok-{mode}.json",
            "--bits",
            "2",
            "--preload-layers",
            "1",
            "--mode",
            mode,
            "--chunk-kb",
            "1",
            env=env,
        )
        assert r.returncode == 0 and rep["ok"], (mode, r.stderr[-2000:])
        assert (
            rep["build"]["sanitizers"]
            == "address,undefined,float-cast-overflow,implicit-signed-integer-truncation"
        )
    for case in CASES:
        pkg = broken_package(case, tmp_path / case["name"])
        r, rep = run_loader(asan_build, pkg, tmp_path / f"{case['name']}.json", *case_args(case), env=env)
        assert r.returncode == 2, (case["name"], r.stderr[-2000:])
        assert "Sanitizer" not in r.stderr and rep["error"]["code"] == case["error"]


def test_minilm_loader_matches_reference(host_build, minilm_pkg, tmp_path):
    """Acceptance: on the fine-tuned MiniLM, the loader's dev predictions equal the host
    reference executor's for fp32 and uniform 4-bit, logits within 1e-3."""
    out, _ = minilm_pkg
    with open_package(out) as pkg:
        ex = ReferenceExecutor(pkg)
        for bits in (32, 4):
            ref = evaluate(pkg, bits=bits, executor=ex, progress=False)
            r, rep = run_loader(host_build, out, tmp_path / f"r{bits}.json", "--bits", str(bits))
            assert r.returncode == 0, r.stderr[-2000:]
            got = logits_of(rep)
            assert got.shape == ref.logits.shape == (872, 2)
            assert np.array_equal(got.argmax(1), ref.predictions)
            assert np.abs(got - ref.logits).max() <= 1e-3
            assert abs(rep["summary"]["accuracy"] - ref.accuracy) < 1e-9
            assert rep["io"]["mode"] in ("O_DIRECT", "fadvise(DONTNEED)")


def test_minilm_head8(host_build, minilm_pkg, tmp_path):
    """On the real MiniLM the 8-bit head is a quarter of the fp32 head's bytes, the loader
    streams exactly that much less, and its logits match the reference's 8-bit head; its
    dev predictions agree with the fp32 head's on nearly every row."""
    from wrx_sdk.formats import store_layout as F
    from wrx_sdk.formats.store_layout import EntryKey
    from wrx_sdk.planning.cost_model import align

    out, _ = minilm_pkg
    plan = Plan.uniform(6, 12, 32)
    plan.pipeline = {"readahead_kb": 2048, "chunk_kb": 400, "head_resident": False, "head_bits": 8}
    pf = tmp_path / "plan.json"
    pf.write_text(json.dumps(plan.to_json()))
    with open_package(out) as pkg:
        ex = ReferenceExecutor(pkg)
        ref8 = evaluate(pkg, plan=plan, executor=ex, progress=False)
        ref32 = evaluate(pkg, bits=32, executor=ex, progress=False)
        n8, n32 = (align(pkg.store.entry(EntryKey(F.EntryKind.HEAD, bits=b)).length) for b in (8, 32))
    assert n8 < 0.3 * n32
    assert (ref8.predictions == ref32.predictions).mean() >= 0.99
    reps = {}
    for bits in (8, 32):
        args = ("--mode", "elastic", "--plan", str(pf), "--head-bits", str(bits), "--limit", "64")
        r, reps[bits] = run_loader(host_build, out, tmp_path / f"h{bits}.json", *args)
        assert r.returncode == 0, r.stderr[-2000:]
    assert np.abs(logits_of(reps[8]) - ref8.logits[:64]).max() <= 1e-3
    read = {b: np.array([i["bytes_read"] for i in reps[b]["inferences"]]) for b in (8, 32)}
    assert np.array_equal(read[32] - read[8], np.full(64, n32 - n8))


def test_wrx_run_local(host_build, tiny_pkg, tmp_path):
    from wrx_sdk.devices.run import run

    report, kept = run(tiny_pkg, bits=4, progress=False)
    assert kept.is_file() and kept.parent.name == "local"
    assert report["ok"] and report["summary"]["n"] == len(report["inferences"])
    ref = evaluate(tiny_pkg, bits=4, progress=False)
    assert [i["pred"] for i in report["inferences"]] == ref.predictions.tolist()


BROKEN_PLANS = [
    ({"layers": [{"layer": 1.9, "shards": [0], "bits": [4]}]}, "layers[0].layer"),
    ({"layers": [{"layer": 1, "shards": [True, "2"], "bits": [4, 8]}]}, "layers[0].shards"),
    ({"layers": [{"layer": 1, "shards": [0, 1], "bits": [4.7, "8"]}]}, "layers[0].bits"),
    ({"preload": 5}, "preload"),
    ({"preload": [[0]]}, "preload"),
    ({"layers": 3}, "layers"),
    ({"preload": [[4294967296, 0]]}, "preload"),
    ({"meta": []}, "meta"),
    ({"by_length": [{"max_len": 4, "layers": [{"layer": 0, "shards": [0], "bits": [4]}]}]}, "by_length"),
    ({"format_version": 3, "by_length": 5}, "by_length"),
    (
        {
            "format_version": 3,
            "by_length": [{"max_len": 4, "layers": [{"layer": 0, "shards": [0], "bits": [4.5]}]}],
        },
        "by_length[0].layers[0].bits",
    ),
    (
        {
            "format_version": 3,
            "by_length": [
                {"max_len": 8, "layers": [{"layer": 0, "shards": [0], "bits": [4]}]},
                {"max_len": 8, "layers": [{"layer": 0, "shards": [0], "bits": [4]}]},
            ],
        },
        "by_length[1].max_len",
    ),
]


@pytest.mark.parametrize(
    "change,field", BROKEN_PLANS, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BROKEN_PLANS)]
)
def test_both_readers_refuse_the_same_plans(host_build, tiny_pkg, tmp_path, change, field):
    """One contract, two readers: neither coerces 1.9, true or "2" into an integer."""
    from wrx_sdk.errors import PlanError

    path = tmp_path / "plan.json"
    path.write_text(json.dumps({**Plan.uniform(2, 4, 4).to_json(), **change}))
    with pytest.raises(PlanError) as ei:
        Plan.load(path)
    assert ei.value.code == "BAD_PLAN" and field in ei.value.message
    r, rep = run_loader(host_build, tiny_pkg, tmp_path / "r.json", "--plan", str(path))
    assert r.returncode == 2 and rep["error"]["code"] == "BAD_PLAN", r.stderr
