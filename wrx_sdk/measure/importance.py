"""``wrx importance``: how much each (layer, shard, bitwidth) is worth, measured on the
calibration split through the host reference executor.

Method (docs/IMPORTANCE.md): run the fp32 model once on N calibration rows and keep every
layer's input. For each layer l, shard j and fidelity b (each stored bitwidth, and b = 0
for "shard removed"), replace only shard j of layer l, run layers l..L-1 from the kept
input, and record the increase in cross-entropy against the labels and the KL divergence
from the fp32 logits. Only one shard differs from fp32 at a time, so a planner can add
the costs up as a first-order estimate. The calibration rows are never dev rows (the task
split keeps them apart). Results are cached by store and settings.

The rows run in chunks of ``CHUNK_ROWS`` sorted by length, each padded only to its own
longest row: padded keys get exactly zero attention weight, so this changes nothing but
float summation order, and it halves the work on a task whose rows are mostly short
(what keeps a BERT-base-sized model's table affordable on 2 cores, docs/IMPORTANCE.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from wrx_sdk.errors import WrxError
from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.files import write_json
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.formats.plan import LayerPlan
from wrx_sdk.measure.workers import local_split, run_calls

VERSION = 3  # 2 added `width`: the cost of keeping only a layer's w most important shards; 3 `head`
CHUNK_ROWS = 16  # rows per length-sorted chunk: fewer pad tokens, still batched matmuls


def _setup(out: str, samples: int, threads: int):
    """Per process: the package, fp32 layer weights, and per length-sorted chunk of the
    calib rows its embedding bias and every layer's fp32 input."""
    from wrx_sdk.measure.reference import ReferenceExecutor

    torch.set_num_threads(threads)
    pkg = open_package(out)
    ex = ReferenceExecutor(pkg, threads=threads)
    g = pkg.geometry
    enc, labels = pkg.read_data("calib")
    n = min(samples, len(labels))
    order = np.argsort(enc.lengths[:n], kind="stable")
    M = pkg.spec.shards_per_layer
    fp32 = [ex.layer_weights(LayerPlan(layer, list(range(M)), [32] * M)) for layer in range(g.layers)]
    chunks = []
    with torch.no_grad():
        for i in range(0, n, CHUNK_ROWS):
            idx = order[i : i + CHUNK_ROWS]
            x, bias = ex.embed_rows(enc, idx, int(enc.lengths[idx].max()))
            xs = []
            for w in fp32:
                xs.append(x)
                x = ex.fwd.encoder_layer(x, bias, w, g.head_dim, g.ln_eps)
            chunks.append({"xs": xs, "bias": bias, "x_last": x})
        x_last = [c["x_last"] for c in chunks]
        ref = torch.cat([ex.fwd.classify(x, ex.head) for x in x_last])
    return {
        "x_last": x_last,
        "pkg": pkg,
        "ex": ex,
        "chunks": chunks,
        "ref": ref,
        "labels": torch.from_numpy(labels[order]),
        "n": n,
    }


_STATE: dict = {}


def _init(out: str, samples: int, threads: int) -> None:
    _STATE.update(_setup(out, samples, threads))


@torch.no_grad()
def _layer_costs(layer: int) -> dict:
    """For one layer: shards[shard][fidelity] -> (delta CE, KL), fidelities = stored bits
    then 0; width[w-1] -> (delta CE, KL) keeping the w most important shards."""
    s = _STATE
    pkg, ex = s["pkg"], s["ex"]
    g, M = pkg.geometry, pkg.spec.shards_per_layer
    fids = [*pkg.scheme.bitwidths, 0]
    ref_lp = torch.log_softmax(s["ref"], -1)
    base_ce = torch.nn.functional.cross_entropy(s["ref"], s["labels"]).item()

    def cost(lp: LayerPlan) -> tuple[float, float]:
        """(delta CE, KL from fp32) with layer `layer` as in lp and every other layer fp32."""
        w = ex.layer_weights(lp)
        parts = []
        for c in s["chunks"]:
            x = ex.fwd.encoder_layer(c["xs"][layer], ex.layer_bias(c["bias"], lp), w, g.head_dim, g.ln_eps)
            for later in range(layer + 1, g.layers):
                x = ex.fwd.encoder_layer(x, c["bias"], _fp32(ex, later, M), g.head_dim, g.ln_eps)
            parts.append(ex.fwd.classify(x, ex.head))
        logits = torch.cat(parts)
        ce = torch.nn.functional.cross_entropy(logits, s["labels"]).item() - base_ce
        kl = torch.nn.functional.kl_div(
            torch.log_softmax(logits, -1), ref_lp, log_target=True, reduction="batchmean"
        ).item()
        return ce, kl

    out = []
    for j in range(M):
        row = []
        for b in fids:
            shards = [k for k in range(M) if not (b == 0 and k == j)]
            row.append(cost(LayerPlan(layer, shards, [b if k == j else 32 for k in shards])))
        out.append(row)
    # Joint removal: the layer keeps only its w most important shards (by removal KL, as
    # the planners rank them), all fp32. One-at-a-time costs do not add up to this.
    order = sorted(range(M), key=lambda j: -out[j][-1][1])
    width = [cost(LayerPlan(layer, sorted(order[:w]), [32] * w)) for w in range(1, M + 1)]
    return {"shards": out, "width": width}


@torch.no_grad()
def _head_costs(bits: list[int]) -> dict:
    """The cost of each quantized stored head, the rest of the model fp32 (the head is
    the last step, so its cost needs one pass over the last layer's output)."""
    s = _STATE
    ref_lp = torch.log_softmax(s["ref"], -1)
    base_ce = torch.nn.functional.cross_entropy(s["ref"], s["labels"]).item()
    out = {}
    for b in bits:
        hw = s["ex"].head_weights(b)
        logits = torch.cat([s["ex"].fwd.classify(x, hw) for x in s["x_last"]])
        ce = torch.nn.functional.cross_entropy(logits, s["labels"]).item() - base_ce
        kl = torch.nn.functional.kl_div(
            torch.log_softmax(logits, -1), ref_lp, log_target=True, reduction="batchmean"
        ).item()
        out[str(b)] = [ce, kl]
    return out


_FP32: dict = {}


def _fp32(ex, layer: int, M: int):
    if layer not in _FP32:
        _FP32[layer] = ex.layer_weights(LayerPlan(layer, list(range(M)), [32] * M))
    return _FP32[layer]


def importance(
    out: str | Path,
    samples: int = 128,
    workers: int | None = None,
    progress: bool = True,
    use_cache: bool = True,
    ray_address: str | None = None,
) -> dict:
    """Compute (or load from OUT/importance/) the importance table; returns it. The layers
    run on local worker processes, or with ``ray_address`` on a Ray cluster's actors, with
    the same results (``wrx_sdk.measure.workers``)."""
    out = Path(out)
    with open_package(out) as pkg:
        g, M = pkg.geometry, pkg.spec.shards_per_layer
        key = f"v{VERSION}-n{samples}-{pkg.manifest['store']['table_crc32']:08x}"
        fids = [*pkg.scheme.bitwidths, 0]
        calib_rows = pkg.manifest["data"]["calib"]["rows"]
        heads = [k.bits for k in pkg.store.index if k.kind == F.EntryKind.HEAD and k.bits != 32]
    if samples < 1:
        raise WrxError(f"--samples must be >= 1, got {samples}")
    path = out / "importance" / f"importance-{key}.json"
    if use_cache and path.is_file():
        return json.loads(path.read_text())
    nw, threads = local_split(g.layers, workers)
    calls = [(_head_costs, (heads,)), *((_layer_costs, (layer,)) for layer in range(g.layers))]
    where = f", Ray {ray_address}" if ray_address else ""
    with tqdm(
        total=len(calls),
        desc=f"importance ({min(samples, calib_rows)} calib rows{where})",
        unit="part",
        disable=not progress,
    ) as bar:
        head_costs, *per_layer = run_calls(_init, (str(out), samples), calls, nw, threads, bar, ray_address)
    table = dict(enumerate(per_layer))
    res = {
        "format": "wrx-importance",
        "format_version": VERSION,
        "samples": min(samples, calib_rows),
        "split": "calib",
        "fidelities": fids,
        "metric": ["delta_cross_entropy", "kl_from_fp32"],
        "layers": g.layers,
        "shards_per_layer": M,
        # importance[layer][shard][fidelity index] = [delta CE, KL]
        "importance": [
            [[list(c) for c in table[layer]["shards"][j]] for j in range(M)] for layer in range(g.layers)
        ],
        # width[layer][w-1] = [delta CE, KL] with only the layer's w most important shards
        "width": [[list(c) for c in table[layer]["width"]] for layer in range(g.layers)],
        # head[bits] = [delta CE, KL] with the stored head at `bits`, the layers fp32
        "head": head_costs,
    }
    write_json(path, res)
    return res
