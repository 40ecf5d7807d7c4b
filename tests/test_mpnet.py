"""The MPNet family (issue 21): canonical weights and the torch forward against
transformers' MPNetForSequenceClassification on a tiny random model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wrx_sdk import models
from wrx_sdk.models.families import mpnet

from .fixtures import write_tiny_mpnet_checkpoint


@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory):
    return write_tiny_mpnet_checkpoint(tmp_path_factory.mktemp("mpnet") / "ckpt", seed=3)


def _batch(vocab: int, S: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of 1..S real tokens (ids >= 2: never MPNet's pad id 1), the rest padding."""
    rng = np.random.default_rng(seed)
    lengths = [1, 2, S, S - 3, *rng.integers(1, S + 1, size=6).tolist()]
    ids = np.ones((len(lengths), S), np.int64)
    mask = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(2, vocab, size=n)
        mask[i, :n] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _ours(w, ids: torch.Tensor, mask: torch.Tensor, heads: list[int] | None = None) -> torch.Tensor:
    e = {k: torch.from_numpy(v) for k, v in w.embed.items()}
    e["rel_pos_bias"] = torch.from_numpy(mpnet.position_bias_table(w.embed["rel_bias"], ids.shape[1]))
    rows = torch.nn.functional.embedding(ids, e["word_emb"])
    x = mpnet.embed(ids, torch.zeros_like(ids), rows, e, w.geometry.ln_eps)
    bias = mpnet.attention_bias(mask, e)
    for layer in w.layers:
        x = mpnet.encoder_layer(
            x,
            bias,
            {k: torch.from_numpy(v) for k, v in layer.items()},
            w.geometry.head_dim,
            w.geometry.ln_eps,
        )
    return mpnet.classify(x, {k: torch.from_numpy(v) for k, v in w.head.items()})


@torch.no_grad()
def test_forward_equals_transformers(tiny_mpnet):
    """Canonical weights (positions shifted by the padding offset, a zero type row, the
    bias as a per-head table) give transformers' logits, padded rows included."""
    import transformers

    ck = models.load_checkpoint(tiny_mpnet)
    assert ck.family.NAME == "mpnet" and ck.labels == ["L0", "L1"]
    g = ck.weights.geometry
    assert g.family == "mpnet" and g.max_positions == 64 and g.type_vocab == 1
    ref = transformers.MPNetForSequenceClassification.from_pretrained(tiny_mpnet).eval()
    ids, mask = _batch(g.vocab, 24)
    want = ref(input_ids=ids, attention_mask=mask).logits
    got = _ours(ck.weights, ids, mask)
    assert (got - want).abs().max().item() < 1e-4
    # the bias matters: without it the answers move by far more than the tolerance
    flat = ck.weights
    flat.embed["rel_bias"] = np.zeros_like(flat.embed["rel_bias"])
    assert (_ours(flat, ids, mask) - want).abs().max().item() > 1e-2


def test_position_bias_table_equals_transformers(tiny_mpnet):
    import transformers

    ref = transformers.MPNetForSequenceClassification.from_pretrained(tiny_mpnet).eval()
    ck = models.load_checkpoint(tiny_mpnet)
    S = 64
    with torch.no_grad():
        want = ref.mpnet.encoder.compute_position_bias(torch.zeros(1, S, 16))[0]  # [heads, S, S]
    table = torch.from_numpy(mpnet.position_bias_table(ck.weights.embed["rel_bias"], S))
    idx = torch.arange(S)[None, :] - torch.arange(S)[:, None] + S - 1
    assert torch.equal(table[:, idx], want)  # a gather, bit for bit


@torch.no_grad()
def test_state_dict_round_trip(tiny_mpnet, tmp_path):
    """Weights written back as an MPNetForSequenceClassification checkpoint load in
    transformers and answer the same."""
    import json

    import transformers
    from safetensors.numpy import save_file

    ck = models.load_checkpoint(tiny_mpnet)
    save_file(mpnet.state_dict_from_weights(ck.weights), str(tmp_path / "model.safetensors"))
    cfg = mpnet.hf_config(ck.weights.geometry, ck.labels, ck.config)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    a = transformers.MPNetForSequenceClassification.from_pretrained(tiny_mpnet).eval()
    b = transformers.MPNetForSequenceClassification.from_pretrained(tmp_path).eval()
    ids, mask = _batch(ck.weights.geometry.vocab, 16, seed=1)
    assert (
        a(input_ids=ids, attention_mask=mask).logits - b(input_ids=ids, attention_mask=mask).logits
    ).abs().max() < 1e-6


@pytest.fixture(scope="module")
def tiny_mpnet_pkg(tiny_mpnet, tmp_path_factory):
    from wrx_sdk.builder.package import package

    from .fixtures import write_tiny_mpnet_tokenizer, write_tiny_task

    d = tmp_path_factory.mktemp("mpnet-pkg")
    write_tiny_mpnet_tokenizer(tiny_mpnet)
    task = write_tiny_task(d / "task.jsonl", rows=120)
    package(tiny_mpnet, str(task), d / "pkg", max_seq_len=16, progress=False)
    return d / "pkg"


@torch.no_grad()
def test_host_reference_equals_transformers(tiny_mpnet, tiny_mpnet_pkg):
    """Acceptance (issue 21): the host reference, reading only the store, gives
    transformers' logits on every dev row at fp32 (within 1e-4), and a plan that drops
    shards runs each layer with its own heads' position bias."""
    import transformers

    from wrx_sdk.formats import devdata
    from wrx_sdk.formats import store_layout as F
    from wrx_sdk.formats.manifest import open_package
    from wrx_sdk.formats.plan import LayerPlan, Plan
    from wrx_sdk.formats.store_layout import EntryKey
    from wrx_sdk.measure.evaluate import evaluate
    from wrx_sdk.measure.reference import ReferenceExecutor

    ref = transformers.MPNetForSequenceClassification.from_pretrained(tiny_mpnet).eval()
    with open_package(tiny_mpnet_pkg) as pkg:
        assert pkg.geometry.family == "mpnet"
        table = pkg.store.tensors(EntryKey(F.EntryKind.EMBED_SHARED))[F.Role.REL_POS_BIAS]
        assert table.shape == (pkg.geometry.heads, 2 * pkg.max_seq_len - 1)
        enc, _ = devdata.read(pkg.data_path("dev"))
        assert (enc.token_type_ids == 0).all() and (enc.input_ids[:, 0] == 0).all()  # <s> first
        ex = ReferenceExecutor(pkg)
        got = evaluate(pkg, bits=32, executor=ex, progress=False).logits
        ids = torch.from_numpy(enc.input_ids.astype(np.int64))
        mask = torch.from_numpy((np.arange(ids.shape[1])[None] < enc.lengths[:, None]).astype(np.int64))
        want = ref(input_ids=ids, attention_mask=mask).logits.numpy()
        assert np.abs(got - want).max() < 1e-4
        # shards 1 and 3 of layer 0 (heads 1 and 3, FFN slices 1 and 3), all of layer 1: the
        # same as transformers with the other heads and slices of layer 0 cut off
        M, f1 = pkg.spec.shards_per_layer, pkg.spec.ffn_per_shard
        plan = Plan("two-shards", [LayerPlan(0, [1, 3], [32, 32]), LayerPlan(1, list(range(M)), [32] * M)])
        part = ex.run(plan, enc)
    w = {k: v.clone() for k, v in ref.state_dict().items()}
    hd = ref.config.hidden_size // ref.config.num_attention_heads
    for s in (0, 2):
        w["mpnet.encoder.layer.0.attention.attn.o.weight"][:, s * hd : (s + 1) * hd] = 0
        w["mpnet.encoder.layer.0.output.dense.weight"][:, s * f1 : (s + 1) * f1] = 0
    ref.load_state_dict(w)
    want = ref(input_ids=ids, attention_mask=mask).logits.numpy()
    assert np.abs(part - want).max() < 1e-4


def test_finetune_trains_mpnet_and_transformers_reads_the_result(tiny_mpnet, tmp_path):
    """A few steps on the tiny task: the checkpoint written is an MPNetForSequenceClassification
    that transformers loads and that answers as our forward does (the relative position
    bias trained through the table's gather)."""
    import transformers

    from wrx_sdk.models.finetune import finetune

    from .fixtures import write_tiny_mpnet_tokenizer, write_tiny_task

    write_tiny_mpnet_tokenizer(tiny_mpnet)
    task = write_tiny_task(tmp_path / "task.jsonl", rows=120)
    before = models.load_checkpoint(tiny_mpnet).weights.embed["rel_bias"]
    finetune(str(tiny_mpnet), str(task), tmp_path / "ft", steps=6, use_cache=False, progress=False)
    ck = models.load_checkpoint(tmp_path / "ft")
    assert ck.family.NAME == "mpnet" and not np.array_equal(ck.weights.embed["rel_bias"], before)
    ref = transformers.MPNetForSequenceClassification.from_pretrained(tmp_path / "ft").eval()
    ids, mask = _batch(ck.weights.geometry.vocab, 12, seed=2)
    with torch.no_grad():
        want = ref(input_ids=ids, attention_mask=mask).logits
        assert (_ours(ck.weights, ids, mask) - want).abs().max().item() < 1e-4


MODES = ["load-all", "load-then-exec", "stdpl", "elastic"]


@pytest.fixture(scope="module")
def tiny_mpnet_programs(tiny_mpnet, tmp_path_factory):
    """The tiny MPNet packaged with its programs (the bias input per head)."""
    from wrx_sdk.builder.package import package

    from .fixtures import write_tiny_mpnet_tokenizer, write_tiny_task

    d = tmp_path_factory.mktemp("mpnet-programs")
    write_tiny_mpnet_tokenizer(tiny_mpnet)
    task = write_tiny_task(d / "task.jsonl", rows=120)
    package(tiny_mpnet, str(task), d / "pkg", max_seq_len=16, progress=False)
    return d / "pkg"


@pytest.mark.parametrize("mode", MODES)
def test_loader_equals_host_reference(host_build, tiny_mpnet_programs, tmp_path, mode):
    """Acceptance (issue 21): the loader equals the host reference in every mode, at the
    rows' own lengths and padded, at fp32 and 4 bits (logits within 1e-4, same predictions);
    the elastic mode with one shard per call and two lanes gathers each call's heads."""
    import json

    from wrx_sdk.formats.manifest import open_package
    from wrx_sdk.measure.evaluate import evaluate
    from wrx_sdk.measure.reference import ReferenceExecutor

    from .conftest import run_loader

    pkg = tiny_mpnet_programs
    m = json.loads((pkg / "manifest.json").read_text())
    assert m["model"]["position_bias"] == "relative" and "layer_packed" in m["programs"]
    with open_package(pkg) as p:
        ex = ReferenceExecutor(p)
        refs = {bits: evaluate(p, bits=bits, executor=ex, progress=False) for bits in (32, 4)}
    for bits in (32, 4):
        args = ["--mode", mode, "--bits", str(bits)]
        if mode == "elastic":
            args += ["--lanes", "2", "--chunk-kb", "1", "--preload-layers", "1"]
        for extra in ([], ["--pad-to-max"]):
            r, rep = run_loader(host_build, pkg, tmp_path / f"r{bits}{len(extra)}.json", *args, *extra)
            assert r.returncode == 0, r.stderr[-2000:]
            got = np.array([i["logits"] for i in rep["inferences"]])
            assert np.abs(got - refs[bits].logits).max() < 1e-4, (bits, extra)
            assert [i["pred"] for i in rep["inferences"]] == refs[bits].predictions.tolist()
