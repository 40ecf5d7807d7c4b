"""Length-aware execution (issue 20): a query runs at its own length, and padding never
changes the answer.

Every mode runs edge rows (one token, exactly max_seq_len, text pairs) at their length and
padded to max_seq_len; the logits agree within 1e-4 and the predictions are identical. A
package with fixed-length programs (before 2026-12-02) still runs, padded.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from wrx_sdk.formats import devdata
from wrx_sdk.formats.manifest import open_package

from .conftest import run_loader

MODES = ["load-all", "load-then-exec", "stdpl", "elastic"]


def _edge_rows(pkg, seed: int = 3) -> tuple[devdata.Encoded, np.ndarray]:
    """One-token, two-token, max-length and random-length rows; half of them pairs."""
    with open_package(pkg) as p:
        S, vocab, C = p.max_seq_len, p.geometry.vocab, p.geometry.num_labels
    rng = np.random.default_rng(seed)
    lengths = [1, 2, S, S - 1, S, *rng.integers(1, S + 1, size=11).tolist()]
    n = len(lengths)
    ids = np.zeros((n, S), np.int32)
    types = np.zeros((n, S), np.int32)
    for i, L in enumerate(lengths):
        ids[i, :L] = rng.integers(1, vocab, size=L)
        if i % 2 and L > 2:  # a text pair: the second segment has type 1
            types[i, L // 2 : L] = 1
    labels = rng.integers(0, C, size=n)
    return devdata.Encoded(ids, types, np.array(lengths, np.int32)), labels


def _with_dev(pkg, enc: devdata.Encoded, labels: np.ndarray) -> None:
    """Replace the package's dev split (and its manifest record) with these rows."""
    m = json.loads((pkg / "manifest.json").read_text())
    f = pkg / m["data"]["dev"]["file"]
    devdata.write(f, enc, labels, int(m["model"]["geometry"]["num_labels"]))
    m["data"]["dev"]["rows"] = len(labels)
    m["data"]["dev"]["sha256"] = hashlib.sha256(f.read_bytes()).hexdigest()
    (pkg / "manifest.json").write_text(json.dumps(m, indent=1))


@pytest.fixture
def edge_pkg(tiny_copy):
    enc, labels = _edge_rows(tiny_copy)
    _with_dev(tiny_copy, enc, labels)
    return tiny_copy, enc


def _run(build, pkg, tmp_path, mode: str, *extra: str) -> list[dict]:
    args = ["--mode", mode, "--bits", "4"]
    if mode == "elastic":  # two lanes, one shard per call, a preloaded layer
        args += ["--lanes", "2", "--chunk-kb", "1", "--preload-layers", "1"]
    rep = run_loader(build, pkg, tmp_path / f"{mode}{''.join(extra)}.json", *args, *extra)[1]
    return rep["inferences"]


@pytest.mark.parametrize("mode", MODES)
def test_own_length_equals_padded(host_build, edge_pkg, tmp_path, mode):
    pkg, enc = edge_pkg
    own = _run(host_build, pkg, tmp_path, mode)
    padded = _run(host_build, pkg, tmp_path, mode, "--pad-to-max")
    S = enc.input_ids.shape[1]
    assert [r["seq_len"] for r in own] == enc.lengths.tolist()  # each row at its own length
    assert {r["seq_len"] for r in padded} == {S}
    assert [r["length"] for r in padded] == enc.lengths.tolist()
    a = np.array([r["logits"] for r in own])
    b = np.array([r["logits"] for r in padded])
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    assert [r["pred"] for r in own] == [r["pred"] for r in padded]


def test_own_length_equals_transformers(host_build, tiny_pkg, edge_pkg, tmp_path):
    """The unpadded run against an independent reference: transformers at each row's length."""
    import torch
    import transformers

    pkg, enc = edge_pkg
    own = _run(host_build, pkg, tmp_path, "load-all", "--bits", "32")
    model = transformers.AutoModelForSequenceClassification.from_pretrained(tiny_pkg.parent / "ckpt")
    model.eval()
    for i, row in enumerate(own):
        L = int(enc.lengths[i])
        with torch.no_grad():
            want = model(
                input_ids=torch.from_numpy(enc.input_ids[i : i + 1, :L].astype(np.int64)),
                token_type_ids=torch.from_numpy(enc.token_type_ids[i : i + 1, :L].astype(np.int64)),
            ).logits[0]
        np.testing.assert_allclose(row["logits"], want.numpy(), atol=1e-4, rtol=0)


def test_fixed_length_programs_still_run_padded(host_build, edge_pkg, tmp_path):
    """A package whose programs take only max_seq_len (no programs.*.min_seq_len) runs
    every row padded, with the same answers."""
    from wrx_sdk.builder.export import export_programs

    pkg, enc = edge_pkg
    dynamic = _run(host_build, pkg, tmp_path, "elastic")
    m = json.loads((pkg / "manifest.json").read_text())
    with open_package(pkg) as p:
        S = p.max_seq_len
        recs = export_programs(p.geometry, p.spec, S, pkg, min_seq=S)
    recs.pop("layer_packed")  # those packages had no packed-layer program either
    for rec in recs.values():
        rec.pop("min_seq_len")
    m["programs"] = recs
    (pkg / "manifest.json").write_text(json.dumps(m, indent=1))
    with open_package(pkg) as p:
        assert p.min_seq_len == S
    fixed = _run(host_build, pkg, tmp_path, "elastic")
    assert {r["seq_len"] for r in fixed} == {S}
    np.testing.assert_allclose(
        np.array([r["logits"] for r in fixed]), np.array([r["logits"] for r in dynamic]), atol=1e-4, rtol=0
    )


def test_min_seq_len_out_of_range_is_rejected_by_both_readers(host_build, tiny_copy, tmp_path):
    from wrx_sdk.errors import ManifestError

    m = json.loads((tiny_copy / "manifest.json").read_text())
    m["programs"]["ffn"]["min_seq_len"] = 0
    (tiny_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ManifestError) as e:
        open_package(tiny_copy)
    assert e.value.code == "MANIFEST_FIELD" and "programs.ffn.min_seq_len" in str(e.value)
    r, rep = run_loader(host_build, tiny_copy, tmp_path / "r.json", check=False)
    assert r.returncode == 2
    assert rep["error"]["code"] == "MANIFEST_FIELD" and "programs.ffn.min_seq_len" in rep["error"]["message"]


def test_session_answers_one_token_and_max_length_texts(host_build, tiny_pkg, tmp_path):
    """Through the session: the shortest and longest texts the tokenizer can give."""
    import subprocess

    q = host_build / "bundle" / "wrx-query"
    with open_package(tiny_pkg) as p:
        S = p.max_seq_len
    long_text = " ".join(["a"] * (4 * S))
    out = subprocess.run(
        [str(q), "--package", str(tiny_pkg)],
        input=json.dumps({"text": ""}) + "\n" + json.dumps({"text": long_text, "pair": long_text}) + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    answers = [json.loads(line) for line in out[1:]]
    assert len(answers[0]["token_ids"]) == 2  # [CLS] [SEP]
    assert len(answers[1]["token_ids"]) == S  # truncated to max_seq_len, longest first
    assert all("label" in a for a in answers)


def _bucket_plan():
    from wrx_sdk.formats.plan import LayerPlan, Plan

    full = [LayerPlan(0, [0, 1, 2, 3], [4, 4, 4, 4]), LayerPlan(1, [0, 1, 2, 3], [4, 4, 4, 4])]
    return Plan(
        "buckets",
        full,
        preload=[(0, 0)],
        pipeline={"readahead_kb": 64, "chunk_kb": 4, "head_resident": False, "lanes": 2},
        by_length=[
            (4, [LayerPlan(0, [0, 1], [4, 8])]),
            (10, [LayerPlan(0, [0, 1, 2, 3], [4, 32, 2, 4]), LayerPlan(1, [1, 2], [32, 2])]),
        ],
    )


def test_length_buckets_run_their_own_layers(host_build, edge_pkg, tmp_path):
    """A query runs its bucket's layers, with the one shared preload buffer; the host
    reference, which groups rows by bucket, agrees row by row."""
    from wrx_sdk.formats.plan import Plan
    from wrx_sdk.measure.reference import ReferenceExecutor

    pkg, enc = edge_pkg
    plan = _bucket_plan()
    path = plan.save(tmp_path / "buckets.json")
    assert Plan.load(path).by_length == plan.by_length
    rep = run_loader(host_build, pkg, tmp_path / "r.json", "--mode", "elastic", "--plan", str(path))[1]
    got = np.array([r["logits"] for r in rep["inferences"]])
    with open_package(pkg) as p:
        ex = ReferenceExecutor(p)
        want = ex.run(plan, enc)
        top_only = ex.run(Plan(plan.name, plan.layers, plan.preload), enc)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    short = enc.lengths <= 10
    assert short.any() and (~short).any()
    assert np.abs(want[short] - top_only[short]).max() > 1e-3  # the buckets really ran
    np.testing.assert_allclose(want[~short], top_only[~short], atol=1e-5, rtol=0)
    # bytes streamed follow the bucket: the 4-token bucket streams one shard of one layer
    rows = rep["inferences"]
    assert all(len(r["layers"]) == (1 if r["length"] <= 4 else 2) for r in rows)
    # padded to max_seq_len, every query is a long one: the top-level layers run
    args = ("--mode", "elastic", "--plan", str(path), "--pad-to-max")
    padded = run_loader(host_build, pkg, tmp_path / "p.json", *args)[1]
    np.testing.assert_allclose(
        np.array([r["logits"] for r in padded["inferences"]]), top_only, atol=1e-4, rtol=0
    )


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda p: p.by_length.append((16, p.layers)), "must be below max_seq_len"),
        (lambda p: p.by_length[0][1][0].shards.remove(0), "preloaded shard [0, 0]"),
        (lambda p: p.by_length[1][1][0].bits.__setitem__(0, 8), "preloaded shard [0, 0] at 4 bits"),
    ],
    ids=["max_len", "missing-preload", "preload-bits"],
)
def test_both_readers_refuse_bad_buckets(host_build, tiny_pkg, tmp_path, change, why):
    from wrx_sdk.errors import PlanError

    plan = _bucket_plan()
    change(plan)
    if plan.by_length[0][1][0].shards != [0, 1]:  # keep shards and bits the same length
        plan.by_length[0][1][0].bits.pop()
    path = plan.save(tmp_path / "bad.json")
    with open_package(tiny_pkg) as p, pytest.raises(PlanError, match=why.replace("[", r"\[")):
        type(plan).load(path).validate(
            p.geometry.layers, p.spec.shards_per_layer, p.scheme.all_bits, p.max_seq_len
        )
    r, rep = run_loader(
        host_build, tiny_pkg, tmp_path / "r.json", "--mode", "elastic", "--plan", str(path), check=False
    )
    assert r.returncode == 2 and rep["error"]["code"] == "BAD_PLAN", r.stderr
    assert why in rep["error"]["message"]
