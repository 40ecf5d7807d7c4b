"""What both planners share: a plan under construction, its estimated accuracy cost, the
knob sets that fit a memory budget, and the smallest plans (for infeasibility messages).

Accuracy is estimated from ``wrx importance``: per layer, the measured KL from fp32 of
keeping only its w most important shards, plus, for each kept shard, the KL that shard
alone causes at its bitwidth (fp32 costs 0). Layers left out of the submodel cost every
one of their shards' removal, a pessimistic guess since importance never measured a whole
missing layer; the host reference confirms the final candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wrx_sdk.config import defaults
from wrx_sdk.errors import WrxError
from wrx_sdk.formats.plan import Knobs, LayerPlan, Plan
from wrx_sdk.planning.cost_model import CostModel, Prediction

KL = 1  # metric index in the importance table: [delta CE, KL]
MIB = 1 << 20


@dataclass
class Draft:
    """bits[layer][shard]: 0 = dropped; a layer with no shard is left out of the submodel."""

    bits: list[list[int]]
    preload: set[tuple[int, int]] = field(default_factory=set)

    def copy(self) -> Draft:
        return Draft([list(r) for r in self.bits], set(self.preload))

    def to_plan(self, name: str, knobs: Knobs) -> Plan:
        layers = []
        for layer, row in enumerate(self.bits):
            shards = [j for j, b in enumerate(row) if b]
            if shards:
                layers.append(LayerPlan(layer, shards, [row[j] for j in shards]))
        live = {(lp.layer, s) for lp in layers for s in lp.shards}
        plan = Plan(name, layers, sorted(p for p in self.preload if p in live))
        plan.pipeline = knobs.to_json()
        return plan


class Accuracy:
    """Estimated accuracy cost (KL from fp32) from the importance table: per layer, the
    measured cost of keeping only that many shards, plus each kept shard's quantization
    cost; summed over layers."""

    def __init__(self, importance: dict):
        self.fids = list(importance["fidelities"])  # stored bits, then 0 = removed
        self.table = importance["importance"]  # [layer][shard][fidelity] -> [dCE, KL]
        self.width = importance["width"]  # [layer][w-1] -> [dCE, KL]
        self.heads = {int(b): c for b, c in importance["head"].items()}  # bits -> [dCE, KL]

    def shard(self, layer: int, shard: int, bits: int) -> float:
        if bits == 32:
            return 0.0
        return max(0.0, float(self.table[layer][shard][self.fids.index(bits)][KL]))

    def head(self, bits: int) -> float:
        return 0.0 if bits == 32 else max(0.0, float(self.heads[bits][KL]))

    def layer(self, layer: int, row: list[int]) -> float:
        kept = sum(1 for b in row if b)
        if kept == 0:  # the layer is left out: never measured; pessimistically every removal
            return sum(self.shard(layer, j, 0) for j in range(len(row)))
        width = 0.0 if kept == len(row) else max(0.0, float(self.width[layer][kept - 1][KL]))
        return width + sum(self.shard(layer, j, b) for j, b in enumerate(row) if b)

    def draft(self, d: Draft) -> float:
        return sum(self.layer(layer, row) for layer, row in enumerate(d.bits))

    def order(self, layer: int) -> list[int]:
        """Shards of a layer, most important (costliest to remove) first."""
        return sorted(range(len(self.table[layer])), key=lambda j: -self.shard(layer, j, 0))


def knob_sets(cm: CostModel) -> list[Knobs]:
    cfg = defaults("planner")
    lanes = [n for n in cfg["lanes"] if n <= cm.max_lanes]
    heads = [b for b in cfg["head_bits"] if b in cm.head_bits]
    return [
        Knobs(ra, ck, hr, n, hb)
        for ra in cfg["readahead_kb"]
        for ck in cfg["chunk_kb"]
        for hr in (False, True)
        for n in lanes
        for hb in heads
    ]


def evaluate(cm: CostModel, d: Draft, knobs: Knobs) -> Prediction:
    return cm.predict(d.to_plan("draft", knobs), knobs)


def smallest_plans(cm: CostModel) -> list[tuple[float, int, Knobs, int]]:
    """(latency ms, memory bytes, knobs, depth) of the cheapest plan of each depth and knob
    set: the most important shard of each layer at 2 bits, nothing preloaded."""
    lo = min(cm.bits)
    out = []
    for knobs in knob_sets(cm):
        for depth in range(1, cm.layers + 1):
            d = Draft([[lo if j == 0 else 0 for j in range(cm.M)] for _ in range(depth)])
            p = evaluate(cm, d, knobs)
            out.append((p.latency_ms, p.memory_bytes, knobs, depth))
    return out


def latency_headroom(value: float | None = None) -> float:
    """The share of T the planners keep free: ``value``, or ``planner.latency_headroom``."""
    h = float(defaults("planner")["latency_headroom"] if value is None else value)
    if not 0.0 <= h < 0.5:
        raise WrxError(
            f"latency headroom {h:g} is outside [0, 0.5)",
            hint="pass --headroom between 0 and 0.5, or fix planner.latency_headroom in configs/wrx.yaml",
        )
    return h


def min_target_ms(latency_ms: float, headroom: float) -> float:
    """The smallest T whose planning budget, T x (1 - headroom), admits a plan predicted at
    ``latency_ms``."""
    return latency_ms / (1.0 - headroom)


def infeasible_message(cm: CostModel, target_ms: float, memory_mb: float, headroom: float = 0.0) -> str:
    small = smallest_plans(cm)
    budget_ms = target_ms * (1.0 - headroom)
    fit_m = [lat for lat, mem, _, _ in small if mem <= memory_mb * MIB]
    fit_t = [mem for lat, mem, _, _ in small if lat <= budget_ms]
    parts = [f"no plan meets {target_ms:g} ms within {memory_mb:g} MB on this device"]
    parts.append(
        f"the minimum feasible T for {memory_mb:g} MB is {min_target_ms(min(fit_m), headroom):.1f} ms"
        if fit_m
        else f"nothing fits {memory_mb:g} MB at any T"
    )
    parts.append(
        f"the minimum M for {target_ms:g} ms is {min(fit_t) / MIB:.2f} MB"
        if fit_t
        else f"nothing meets {target_ms:g} ms at any M"
    )
    mins = min(small, key=lambda s: s[1])
    parts.append(f"(the smallest plan of all needs {mins[1] / MIB:.2f} MB and runs in {mins[0]:.1f} ms")
    if headroom:
        parts[-1] += f", and plans keep {headroom:.0%} of T as headroom, set by planner.latency_headroom"
    return "; ".join(parts[:3]) + " " + parts[3] + ")"
