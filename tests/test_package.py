"""Packaging, store reading and the reference executor on a tiny random BERT."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.fixtures import write_tiny_checkpoint, write_tiny_task
from wrx_sdk.builder.shard import make_spec
from wrx_sdk.errors import ManifestError, ModelError, PlanError, StoreError, WrxError
from wrx_sdk.formats import devdata
from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.formats.plan import LayerPlan, Plan
from wrx_sdk.formats.store_layout import EntryKey
from wrx_sdk.measure.evaluate import evaluate
from wrx_sdk.measure.reference import ReferenceExecutor


def hf_logits(ckpt, enc) -> np.ndarray:
    from transformers import BertForSequenceClassification

    m = BertForSequenceClassification.from_pretrained(ckpt).eval()
    with torch.no_grad():
        return m(
            input_ids=torch.from_numpy(enc.input_ids.astype(np.int64)),
            attention_mask=torch.from_numpy(enc.attention_mask()),
            token_type_ids=torch.from_numpy(enc.token_type_ids.astype(np.int64)),
        ).logits.numpy()


def test_layout_and_entry_lookup(tiny_pkg):
    with open_package(tiny_pkg) as pkg:
        st = pkg.store
        assert all(e.offset % 4096 == 0 for e in st.entries)
        # layer-major, then bits, then shard: one uniform bitwidth is an ascending run
        for kind in F.SHARD_KINDS:
            run = [st.entry(EntryKey(kind, 1, j, 4)) for j in range(4)]
            idx = [st.entries.index(r) for r in run]
            assert idx == list(range(idx[0], idx[0] + 4))  # adjacent: one read on the device
        assert len(st.entries) == 3 + 2 * (1 + 2 * 4 * 7) + 2
        # the head twice, last: fp32, then with its pooler as an 8-bit codebook
        assert [e.key for e in st.entries[-2:]] == [
            EntryKey(F.EntryKind.HEAD, bits=32),
            EntryKey(F.EntryKind.HEAD, bits=8),
        ]
        h8 = st.entries[-1].tensors
        assert [(t.role, t.encoding, t.bits) for t in h8] == [
            (F.Role.POOLER_W, F.Encoding.CODEBOOK, 8),
            (F.Role.POOLER_B, F.Encoding.F32, 32),
            (F.Role.CLS_W, F.Encoding.F32, 32),
            (F.Role.CLS_B, F.Encoding.F32, 32),
        ]


def test_fp32_matches_transformers(tiny_pkg, tmp_path):
    """The reference executor on the fp32 store equals transformers on the source checkpoint."""
    ck = write_tiny_checkpoint(tmp_path / "ck")  # same seed as the fixture: identical weights
    r = evaluate(tiny_pkg, bits=32, progress=False)
    enc, _ = devdata.read(tiny_pkg / "data" / "dev.bin")
    ref = hf_logits(ck, enc)
    assert np.abs(ref - r.logits).max() < 1e-5
    assert np.array_equal(ref.argmax(-1), r.predictions)


def test_word_rows_are_verified_individually(tiny_copy):
    with open_package(tiny_copy) as pkg:
        rec = pkg.store.entry(EntryKey(F.EntryKind.EMBED_WORD))
        row_bytes = 4 * rec.tensors[0].cols
        off = rec.offset + rec.tensors[0].offset + 7 * row_bytes + 3
    with open(tiny_copy / "store.wrx", "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x10]))
    with open_package(tiny_copy) as pkg:
        assert pkg.store.word_rows(np.array([[5, 6, 8]])).shape == (1, 3, 16)  # other rows fine
        with pytest.raises(StoreError, match="word-embedding row 7"):
            pkg.store.word_rows(np.array([[5, 7]]))


def test_flipping_any_entry_byte_names_the_entry(tiny_copy):
    """Flip one byte inside each store entry in turn: eval fails naming layer, shard and bits."""
    with open_package(tiny_copy) as pkg:
        entries = list(pkg.store.entries)
    raw = bytearray((tiny_copy / "store.wrx").read_bytes())
    rng = np.random.default_rng(0)
    for e in entries:
        pos = e.offset + int(rng.integers(0, e.length))
        raw[pos] ^= 0xFF
        (tiny_copy / "store.wrx").write_bytes(raw)
        with pytest.raises(StoreError) as ei:
            evaluate(tiny_copy, bits=32, progress=False)
        assert e.key.describe() in str(ei.value)
        assert ei.value.code == "ENTRY_CHECKSUM"
        raw[pos] ^= 0xFF
    (tiny_copy / "store.wrx").write_bytes(raw)
    evaluate(tiny_copy, bits=32, progress=False)


def test_lower_bits_track_fp32(tiny_pkg):
    ex_logits = {b: evaluate(tiny_pkg, bits=b, progress=False).logits for b in (32, 8, 4, 2)}
    err = {b: float(np.abs(ex_logits[b] - ex_logits[32]).mean()) for b in (8, 4, 2)}
    assert err[8] < err[4] < err[2], err


def test_plan_subsets_and_mixed_bits(tiny_pkg):
    """A plan with skipped layers, subsets of shards and mixed bitwidths runs, and its result
    equals a manual torch forward over the assembled weights."""
    with open_package(tiny_pkg) as pkg:
        ex = ReferenceExecutor(pkg)
        enc, _ = devdata.read(tiny_pkg / "data" / "dev.bin")
        plan = Plan("mixed", [LayerPlan(1, [3, 0], [4, 32])])
        got = ex.run(plan, enc)
        full = ex.run(Plan.uniform(2, 4, 32), enc)
        assert got.shape == full.shape and not np.allclose(got, full)
        # same plan, shards listed in another order: same math
        again = ex.run(Plan("mixed2", [LayerPlan(1, [0, 3], [32, 4])]), enc)
        assert np.abs(again - got).max() < 1e-5


def test_plan_rejections(tiny_pkg, tmp_path):
    with open_package(tiny_pkg) as pkg:
        ex = ReferenceExecutor(pkg)
        enc, _ = devdata.read(tiny_pkg / "data" / "dev.bin")
        for plan, msg in [
            (Plan("p", [LayerPlan(0, [4], [4])]), "shard 4 does not exist"),
            (Plan("p", [LayerPlan(0, [0], [7])]), "7 bits is not in the store"),
            (Plan("p", [LayerPlan(5, [0], [4])]), "layer 5 is not in"),
            (Plan("p", [LayerPlan(1, [0], [4]), LayerPlan(0, [0], [4])]), "increasing order"),
            (Plan("p", [LayerPlan(0, [0], [4])], preload=[(1, 0)]), "preload"),
        ]:
            with pytest.raises(PlanError, match=msg):
                ex.run(plan, enc)
    p = tmp_path / "plan.json"
    p.write_text(json.dumps(Plan.uniform(2, 4, 4, preload_layers=1).to_json()))
    assert Plan.load(p).preload == [(0, j) for j in range(4)]
    p.write_text(json.dumps({"format": "wrx-plan", "format_version": 9, "name": "x", "layers": []}))
    with pytest.raises(PlanError, match="format_version"):
        Plan.load(p)


def test_shard_count_validation(tmp_path):
    ck = write_tiny_checkpoint(tmp_path / "ck")
    from wrx_sdk.models import load_checkpoint

    g = load_checkpoint(ck).weights.geometry
    assert make_spec(g).shards_per_layer == 4
    assert make_spec(g, 2).heads_per_shard == 2
    with pytest.raises(WrxError, match=r"choose one of \[1, 2, 4\]"):
        make_spec(g, 3)


def test_two_shards_per_layer_matches_fp32(tmp_path):
    """M=2 (two heads per shard) is the same model at fp32."""
    from wrx_sdk.builder.package import package

    ck = write_tiny_checkpoint(tmp_path / "ck")
    task = write_tiny_task(tmp_path / "t.jsonl", rows=200)
    package(ck, str(task), tmp_path / "m2", shards=2, max_seq_len=16, progress=False)
    package(ck, str(task), tmp_path / "m4", max_seq_len=16, progress=False)
    a = evaluate(tmp_path / "m2", bits=32, progress=False).logits
    b = evaluate(tmp_path / "m4", bits=32, progress=False).logits
    assert np.abs(a - b).max() < 1e-5


def test_checkpoint_formats(tmp_path):
    """pytorch_model.bin + vocab.txt load the same weights as safetensors."""
    from wrx_sdk.models import load_checkpoint

    a = load_checkpoint(write_tiny_checkpoint(tmp_path / "a", fmt="safetensors"))
    b = load_checkpoint(write_tiny_checkpoint(tmp_path / "b", fmt="bin"))
    assert np.array_equal(a.weights.layers[1]["ffn2_w"], b.weights.layers[1]["ffn2_w"])
    assert a.labels == ["L0", "L1"]


def test_model_errors(tmp_path):
    from wrx_sdk.models import load_checkpoint

    with pytest.raises(ModelError, match="neither a directory nor a built-in"):
        load_checkpoint(tmp_path / "nope")
    d = write_tiny_checkpoint(tmp_path / "x")
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "model_type": "gpt2"}))
    with pytest.raises(ModelError, match="model_type 'gpt2' is not supported"):
        load_checkpoint(d)
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="neither model.safetensors nor pytorch_model.bin"):
        load_checkpoint(d)


def test_base_encoder_is_refused_with_hint(tmp_path):
    from wrx_sdk.builder.package import package

    task = write_tiny_task(tmp_path / "t.jsonl", rows=100)
    with pytest.raises(ModelError) as ei:
        package("minilm-l6", str(task), tmp_path / "out", progress=False)
    assert "no classifier head" in str(ei.value) and "wrx finetune" in ei.value.hint


def test_manifest_and_data_errors(tiny_copy):
    m = json.loads((tiny_copy / "manifest.json").read_text())
    (tiny_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        open_package(tiny_copy)
    (tiny_copy / "manifest.json").write_text(json.dumps(m))
    raw = bytearray((tiny_copy / "data" / "dev.bin").read_bytes())
    raw[-1] ^= 1
    (tiny_copy / "data" / "dev.bin").write_bytes(raw)
    with pytest.raises(WrxError, match="dev.bin: body_crc32 mismatch"):
        evaluate(tiny_copy, bits=32, progress=False)
    with pytest.raises(ManifestError, match="does not exist"):
        open_package(tiny_copy / "missing")


def test_cli_exit_codes_and_json(tiny_pkg, tmp_path):
    wrx = [sys.executable, "-m", "wrx_sdk.cli"]
    r = subprocess.run([*wrx, "eval", str(tiny_pkg), "--bits", "4", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rows"] == len(out["predictions"]) and 0 <= out["accuracy"] <= 1
    r = subprocess.run([*wrx, "eval", str(tmp_path / "nope"), "--bits", "4"], capture_output=True, text=True)
    assert r.returncode == 2 and "error:" in r.stderr and "HINT:" in r.stderr
    r = subprocess.run([*wrx, "inspect", str(tiny_pkg)], capture_output=True, text=True)
    assert r.returncode == 0 and "4 shards/layer" in r.stdout and "4-bit shards" in r.stdout
