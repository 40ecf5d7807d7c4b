"""The STI planner (ASPLOS'23, "Turbocharge NLP Inference at the Edge via Elastic
Pipelining"), reproduced as the baseline WRX must beat.

1. The submodel: the largest depth x width (layers x shards, most important shards kept)
   whose compute fits T, with compute per layer taken from the device profile.
2. The accumulated IO budget: aib[i] = i * compute(layer) + IO time of the preloaded shards.
   Loading a shard for layer j subtracts its IO time from aib[j..n-1]; every aib must stay
   >= 0. The preload buffer holds the first shards in IO order.
3. Three passes: every shard at 2 bits; then, in importance order, each shard up to 6 bits
   if the budget holds (a step that breaks it is undone); then, in the same order, up to
   fp32 with what budget is left.

STI sizes only the preload buffer; the read-ahead, decode buffer and activations are fixed
by its pipeline. To compare like with like, it gets the same memory budget M as WRX and the
same loader: it is run for every read-ahead of ``planner.sti_readahead_kb`` and lane count
of ``planner.sti_lanes`` whose fixed memory leaves room, and its own estimate picks. The
head is the store's smallest (the 8-bit one when stored): the paper streams the model's
layers, and a smaller head only leaves STI more of M.
"""

from __future__ import annotations

from wrx_sdk.config import defaults
from wrx_sdk.formats.plan import Knobs
from wrx_sdk.planning.common import Accuracy, Draft, evaluate
from wrx_sdk.planning.cost_model import CostModel


def _fixed_bytes(cm: CostModel, knobs: Knobs) -> int:
    g_attn, g_ffn = cm.chunk_shards(knobs.chunk_kb)
    decode = max(cm.decoded_bytes(True, g_attn), cm.decoded_bytes(False, g_ffn))
    # the streamed head is one read
    readahead = max(knobs.readahead_kb * 1024, cm.head_bytes(knobs.head_bits))
    lanes = cm.activation_bytes + (knobs.lanes - 1) * cm.lane_bytes
    return cm.base_bytes + lanes + decode * knobs.lanes + readahead


def plan(cm: CostModel, acc: Accuracy, target_ms: float, memory_bytes: int) -> tuple[Draft, Knobs] | None:
    """STI run once per read-ahead of ``planner.sti_readahead_kb`` that fits M (a larger
    read-ahead leaves a smaller preload buffer); the result STI itself rates best wins.

    STI's own model counts compute only, so on a device with stalls and fixed costs its plan
    for T can miss T. The paper tuned its planner to its device; here STI plans for the
    largest internal target T' <= T (steps of ``planner.sti_target_step``) whose plan the
    shared simulator says meets T. None when even the smallest T' misses."""
    cfg = defaults("planner")
    step = float(cfg["sti_target_step"])
    t_internal = target_ms
    while t_internal > step * target_ms:
        r = _best_knobs(cm, acc, t_internal, target_ms, memory_bytes, cfg)
        if r is not None:
            return r
        t_internal -= step * target_ms
    return None


def _best_knobs(
    cm: CostModel, acc: Accuracy, t_internal: float, target_ms: float, memory_bytes: int, cfg: dict
):
    results = []
    for ra, lanes in (
        (ra, n) for ra in cfg["sti_readahead_kb"] for n in cfg["sti_lanes"] if n <= cm.max_lanes
    ):
        knobs = Knobs(int(ra), int(cfg["sti_chunk_kb"]), False, int(lanes), min(cm.head_bits))
        if _fixed_bytes(cm, knobs) > memory_bytes:
            continue
        r = _plan(cm, acc, t_internal, memory_bytes, knobs)
        if r is None:
            continue
        p = evaluate(cm, r, knobs)
        if p.memory_bytes <= memory_bytes and p.latency_ms <= target_ms:
            results.append((acc.draft(r), r, knobs))
    if not results:
        return None
    best = min(results, key=lambda x: x[0])  # STI's own estimate of the accuracy cost
    return best[1], best[2]


def _plan(cm: CostModel, acc: Accuracy, target_ms: float, memory_bytes: int, knobs: Knobs) -> Draft | None:
    pre_budget = memory_bytes - _fixed_bytes(cm, knobs)
    lo, hi = min(cm.bits), max(b for b in cm.bits if b <= 6)
    g_attn, g_ffn = cm.chunk_shards(knobs.chunk_kb)
    peak_mbps = max(cm.read_mbps)

    def layer_ms(w: int) -> float:
        attn = cm.half_compute_ms(True, [lo] * w, g_attn, knobs.lanes)[0]
        return attn + cm.half_compute_ms(False, [lo] * w, g_ffn, knobs.lanes)[0]

    def io_ms(layer: int, shard: int, bits: int) -> float:
        return cm.shard_bytes(layer, shard, bits) / (peak_mbps * 1e3)

    fixed_ms = cm.embed_ms + cm.head_ms(knobs.head_bits)
    shapes = [
        (d, w)
        for d in range(1, cm.layers + 1)
        for w in range(1, cm.M + 1)
        if fixed_ms + d * layer_ms(w) <= target_ms
    ]
    shapes.sort(key=lambda s: (s[0] * s[1], s[0]), reverse=True)
    for depth, width in shapes:
        c = layer_ms(width)
        d = Draft([[0] * cm.M for _ in range(depth)])
        for layer in range(depth):
            for j in acc.order(layer)[:width]:
                d.bits[layer][j] = lo
        # The preload buffer: the first shards in IO order, at 2 bits, while they fit.
        used = 0
        for layer in range(depth):
            for j in sorted(j for j in range(cm.M) if d.bits[layer][j]):
                n = cm.shard_bytes(layer, j, lo)
                if used + n > pre_budget:
                    break
                d.preload.add((layer, j))
                used += n
            else:
                continue
            break

        def fits(d: Draft, depth: int = depth, c: float = c) -> bool:
            credit = sum(io_ms(lay, j, d.bits[lay][j]) for lay, j in d.preload)
            pre_bytes = sum(cm.shard_bytes(lay, j, d.bits[lay][j]) for lay, j in d.preload)
            if pre_bytes > pre_budget:
                return False
            spent = 0.0
            for i in range(depth):
                spent += sum(io_ms(i, j, b) for j, b in enumerate(d.bits[i]) if b)
                if i * c + credit - spent < 0:
                    return False
            return True

        if not fits(d):
            continue
        order = sorted(
            ((layer, j) for layer in range(depth) for j in range(cm.M) if d.bits[layer][j]),
            key=lambda s: -acc.shard(s[0], s[1], 0),
        )
        for target_bits in (hi, 32):
            for layer, j in order:
                if d.bits[layer][j] >= target_bits:
                    continue
                old = d.bits[layer][j]
                d.bits[layer][j] = target_bits
                if not fits(d):
                    d.bits[layer][j] = old  # undo the step that broke the budget
        return d
    return None
