"""``wrx importance``: how much each (layer, shard, bitwidth) is worth, measured on the
calibration split through the host reference executor.

Method (docs/IMPORTANCE.md): run the fp32 model once on N calibration rows and keep every
layer's input. For each layer l, shard j and fidelity b (each stored bitwidth, and b = 0
for "shard removed"), replace only shard j of layer l, run layers l..L-1 from the kept
input, and record the increase in cross-entropy against the labels and the KL divergence
from the fp32 logits. Only one shard differs from fp32 at a time, so a planner can add
the costs up as a first-order estimate. The calibration rows are never dev rows (the task
split keeps them apart). Results are cached by store and settings.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from wrx_sdk.errors import WrxError
from wrx_sdk.formats import devdata
from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.files import write_json
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.formats.plan import LayerPlan

VERSION = 3  # 2 added `width`: the cost of keeping only a layer's w most important shards; 3 `head`


def _setup(out: str, samples: int, threads: int):
    """Per process: the package, fp32 layer weights, the inputs of every layer."""
    from wrx_sdk.measure.reference import ReferenceExecutor

    torch.set_num_threads(threads)
    pkg = open_package(out)
    ex = ReferenceExecutor(pkg, threads=threads)
    g = pkg.geometry
    enc, labels = devdata.read(pkg.data_path("calib"))
    n = min(samples, len(labels))
    idx = np.arange(n)
    x, bias = ex.embed_rows(enc, idx, int(enc.lengths[idx].max()))
    M = pkg.spec.shards_per_layer
    fp32 = [ex.layer_weights(LayerPlan(layer, list(range(M)), [32] * M)) for layer in range(g.layers)]
    xs = []
    with torch.no_grad():
        for w in fp32:
            xs.append(x)
            x = ex.fwd.encoder_layer(x, bias, w, g.head_dim, g.ln_eps)
        ref = ex.fwd.classify(x, ex.head)
    return {
        "x_last": x,
        "pkg": pkg,
        "ex": ex,
        "xs": xs,
        "bias": bias,
        "ref": ref,
        "labels": torch.from_numpy(labels[idx]),
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
        bias = ex.layer_bias(s["bias"], lp)
        x = ex.fwd.encoder_layer(s["xs"][layer], bias, ex.layer_weights(lp), g.head_dim, g.ln_eps)
        for later in range(layer + 1, g.layers):
            x = ex.fwd.encoder_layer(x, s["bias"], _fp32(ex, later, M), g.head_dim, g.ln_eps)
        logits = ex.fwd.classify(x, ex.head)
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
        logits = s["ex"].fwd.classify(s["x_last"], s["ex"].head_weights(b))
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
) -> dict:
    """Compute (or load from OUT/importance/) the importance table; returns it."""
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
    nw = max(1, min(workers or os.cpu_count() or 1, g.layers))
    threads = max(1, (os.cpu_count() or 1) // nw)
    table: dict[int, list] = {}
    with (
        ProcessPoolExecutor(nw, initializer=_init, initargs=(str(out), samples, threads)) as pool,
        tqdm(
            total=g.layers,
            desc=f"importance ({min(samples, calib_rows)} calib rows)",
            unit="layer",
            disable=not progress,
        ) as bar,
    ):
        head = pool.submit(_head_costs, heads)
        futs = {pool.submit(_layer_costs, layer): layer for layer in range(g.layers)}
        for f in futs:
            table[futs[f]] = f.result()
            bar.update(1)
        head_costs = head.result()
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
