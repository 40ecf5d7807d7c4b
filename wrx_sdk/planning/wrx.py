"""The WRX planner: T and M are hard constraints, checked on the simulated pipeline.

Where STI fixes the submodel first and then spends an IO budget, WRX searches the shape
and the bitwidths together. For each knob set that fits M (read-ahead, decode chunk, head
resident or streamed) it starts from the smallest plan (each layer's most important shard
at 2 bits) and grows it greedily: the next step is the one that removes the most estimated
accuracy cost per millisecond it adds, whether that is adding a shard or raising one's bits
(to any higher fidelity, so a non-convex cost curve cannot trap it). Every step is checked
on the simulated pipeline, latency <= T and memory <= M, and a step that fails is replaced
by the next smaller one for that shard. Whatever memory the step leaves goes to the preload
buffer, filled with the first shards in IO order. The best few results are then confirmed
with the host reference on the calibration split (``planners.confirm``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from wrx_sdk.config import defaults
from wrx_sdk.formats.plan import Knobs
from wrx_sdk.planning.common import Accuracy, Draft, evaluate, knob_sets
from wrx_sdk.planning.cost_model import CostModel

LADDER_EXTRA = (0, 32)


def _fill_preload(cm: CostModel, d: Draft, knobs: Knobs, memory_bytes: int):
    """Preload the longest IO-order prefix of shards that fits the memory left; returns the
    prediction of the result, or None when even no preload exceeds M."""
    d.preload = set()
    bare = evaluate(cm, d, knobs)
    if bare.memory_bytes > memory_bytes:
        return None
    room = memory_bytes - bare.memory_bytes
    order = []
    for layer, row in enumerate(d.bits):
        stop = False
        for j, b in enumerate(row):
            if not b:
                continue
            n = cm.shard_bytes(layer, j, b)
            if n > room:
                stop = True
                break
            order.append((layer, j))
            room -= n
        if stop:
            break
    # The read-ahead bound can grow when a preloaded shard shrinks a read (a smaller read
    # lets more reads share the budget), so check the result and give back shards until M holds.
    while order:
        d.preload = set(order)
        p = evaluate(cm, d, knobs)
        if p.memory_bytes <= memory_bytes:
            return p
        order.pop()
    d.preload = set()
    return bare


def _greedy(
    cm: CostModel, acc: Accuracy, depth: int, width: int, knobs: Knobs, target_ms: float, memory_bytes: int
):
    """Grow a plan from a seed: the `width` most important shards of each layer at 2 bits."""
    lo = min(cm.bits)
    d = Draft([[0] * cm.M for _ in range(depth)])
    for layer in range(depth):
        for j in acc.order(layer)[:width]:
            d.bits[layer][j] = lo
    p = _fill_preload(cm, d, knobs, memory_bytes)
    if p is None or p.latency_ms > target_ms:
        return None
    return _grow(cm, acc, d, p, knobs, target_ms, lambda t: _fill_preload(cm, t, knobs, memory_bytes))


def grow_for_length(
    cm: CostModel, acc: Accuracy, d: Draft, knobs: Knobs, target_ms: float, memory_bytes: int
) -> Draft:
    """A plan's draft grown for shorter queries (``cm`` predicts at the bucket's length):
    the same knobs and the same preload buffer, whose shards keep their bits (they are
    stored encoded once for every length); every other shard may widen or gain bits, in
    any layer, while the bucket's queries still meet T and M."""
    d = d.copy()
    d.bits += [[0] * cm.M for _ in range(cm.layers - len(d.bits))]

    def place(t: Draft):
        pr = evaluate(cm, t, knobs)
        return pr if pr.memory_bytes <= memory_bytes else None

    p = place(d)
    if p is None or p.latency_ms > target_ms:
        return d  # the bucket cannot afford more than the plan itself
    return _grow(cm, acc, d, p, knobs, target_ms, place, frozen=set(d.preload))[0]


def _grow(
    cm: CostModel,
    acc: Accuracy,
    d: Draft,
    p,
    knobs: Knobs,
    target_ms: float,
    place: Callable,
    frozen: set[tuple[int, int]] = frozenset(),
):
    """Greedy steps from d (predicted p): the step that removes the most estimated accuracy
    cost per millisecond it adds, checked with ``place`` (the prediction, or None when M
    breaks); ``frozen`` shards never change."""
    lo = min(cm.bits)
    ladder = sorted(set(cm.bits) | set(LADDER_EXTRA))
    depth = len(d.bits)
    g_attn, g_ffn = cm.chunk_shards(knobs.chunk_kb)
    per_shard_ms = (
        cm.half_compute_ms(True, [lo] * cm.M, g_attn, knobs.lanes)[0]
        + cm.half_compute_ms(False, [lo] * cm.M, g_ffn, knobs.lanes)[0]
    ) / cm.M
    peak = max(cm.read_mbps) * 1e3  # bytes per ms

    def ms(layer: int, j: int, b: int) -> float:
        return 0.0 if b == 0 else cm.shard_bytes(layer, j, b) / peak + per_shard_ms

    def best_move(layer: int, j: int, below: int = 99) -> tuple[float, int] | None:
        if (layer, j) in frozen:
            return None
        f = d.bits[layer][j]
        row = list(d.bits[layer])
        c0, t0 = acc.layer(layer, row), ms(layer, j, f)
        best = None
        for b in ladder:
            if b <= f or b >= below:
                continue
            row[j] = b
            gain = c0 - acc.layer(layer, row)
            cost = max(ms(layer, j, b) - t0, 1e-6)
            if gain > 0 and (best is None or gain / cost > best[0]):
                best = (gain / cost, b)
        return best

    def refresh(layer: int) -> None:
        """A layer's width changed: every shard's next step there is worth something else."""
        for k in range(cm.M):
            push(layer, k)

    heap: list[tuple[float, int, int, int, int]] = []

    def push(layer: int, j: int, below: int = 99) -> None:
        m = best_move(layer, j, below)
        if m is not None:
            heapq.heappush(heap, (-m[0], layer, j, d.bits[layer][j], m[1]))

    for layer in range(depth):
        for j in range(cm.M):
            push(layer, j)
    while heap:
        _, layer, j, was, to = heapq.heappop(heap)
        if d.bits[layer][j] != was:
            continue  # stale
        trial = d.copy()
        trial.bits[layer][j] = to
        tp = place(trial)
        if tp is not None and tp.latency_ms <= target_ms:
            widened = was == 0
            d, p = trial, tp
            if widened:
                refresh(layer)
            else:
                push(layer, j)
        else:
            push(layer, j, below=to)  # a smaller step for this shard may still fit
    return d, p


def plan(
    cm: CostModel, acc: Accuracy, target_ms: float, memory_bytes: int
) -> list[tuple[float, Draft, Knobs]]:
    """Candidates (estimated cost, draft, knobs): the best estimate of each seed width first,
    then the rest by estimate; empty when nothing fits.

    Importance is measured one shard at a time, so it underrates dropping most of a layer's
    shards together. Seeds of uniform width (as STI's submodels are) let the search also
    start from shapes the additive estimate would never walk to, and the confirmation on
    the calibration split, not the estimate, has the last word among the seeds' bests."""
    cfg = defaults("planner")
    by_width: dict[int, list] = {}
    for width in range(1, cm.M + 1):
        # Rank the knob sets by the seed's own slack, then grow only the best few.
        seeds = []
        for knobs in knob_sets(cm):
            for depth in range(cm.layers, 0, -1):
                d = Draft([[0] * cm.M for _ in range(depth)])
                for layer in range(depth):
                    for j in acc.order(layer)[:width]:
                        d.bits[layer][j] = min(cm.bits)
                p = _fill_preload(cm, d, knobs, memory_bytes)
                if p is not None and p.latency_ms <= target_ms:
                    seeds.append((p.latency_ms - (target_ms * depth), depth, knobs))
                    break
        seeds.sort(key=lambda s: s[0])
        for _, depth, knobs in seeds[: int(cfg["knobs_per_seed"])]:
            r = _greedy(cm, acc, depth, width, knobs, target_ms, memory_bytes)
            if r is not None:
                est = acc.draft(r[0]) + _missing_layers(cm, acc, depth) + acc.head(knobs.head_bits)
                by_width.setdefault(width, []).append((est, r[0], knobs))
    heads, rest = [], []
    for c in by_width.values():
        c.sort(key=lambda x: x[0])
        heads += c[:1]
        rest += c[1:]
    heads.sort(key=lambda x: x[0])
    rest.sort(key=lambda x: x[0])
    return heads + rest


def _missing_layers(cm: CostModel, acc: Accuracy, depth: int) -> float:
    return sum(acc.shard(layer, j, 0) for layer in range(depth, cm.layers) for j in range(cm.M))
