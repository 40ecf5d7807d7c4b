"""Predict an elastic plan's latency and memory on a profiled device.

The planner needs both numbers for thousands of candidate plans, so they come from a
simulation of the loader's elastic pipeline (``android_runtime/src/pipeline.cpp``, class
``Elastic``), step by step, fed with the device profile's measurements:

- The IO thread reads the input's word rows, then each layer half's streamed shards (the
  plan's shards minus the preloaded ones), then the head unless it is resident. Before each
  read it takes the half's bytes from one read-ahead budget, waiting while the budget is
  in use and the half would not fit; compute returns the bytes once it is done with them.
- The compute thread embeds, then for each half decodes and runs its shards a chunk at a
  time (``chunk_kb`` of decoded fp32 per program call), then the residual and LayerNorm.

Memory is the sum of what the loader holds at its peak: the always-resident tensors, the
preload buffer, the largest simultaneous read-ahead, the decode buffer, the head if
resident, and the activations (hidden state, accumulators, program arenas). It is an upper
bound of the loader's ``weight_bytes_peak + activation_bytes``, reached when the read-ahead
peaks while a chunk is decoded. XNNPACK's internal scratch is not counted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from wrx_sdk.errors import WrxError
from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.device_profile import timings_at
from wrx_sdk.formats.manifest import Package
from wrx_sdk.formats.plan import Knobs, Plan
from wrx_sdk.formats.store_layout import EntryKey

ALIGN = 4096  # the loader's O_DIRECT block, and the store's entry alignment
SLOT_ALIGN = 64  # the loader's decode-buffer tensor alignment
READERS = 4  # word-row reads the loader keeps in flight


def align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


def _split(lp, kind: F.EntryKind, pre: set) -> tuple[list[EntryKey], list[EntryKey]]:
    """One layer half's entries in plan order: (streamed, preloaded)."""
    streamed: list[EntryKey] = []
    preloaded: list[EntryKey] = []
    for s, b in zip(lp.shards, lp.bits, strict=True):
        (preloaded if (lp.layer, s) in pre else streamed).append(EntryKey(kind, lp.layer, s, b))
    return streamed, preloaded


def _overlap(busy: list[tuple[float, float]], start: float, end: float) -> float:
    """Fraction of the read [start, end] during which compute ran (1 for an instant read)."""
    if end <= start:
        return 1.0
    ov = 0.0
    for s, e in reversed(busy):
        if e <= start:
            break
        ov += max(0.0, min(e, end) - max(s, start))
    return ov / (end - start)


@dataclass
class Terms:
    """What isolated timings miss, fitted per lane count by ``wrx profile-device`` on the
    real pipeline (docs/PLANNER.md, "Calibration"): programs run slower inside the
    pipeline; each inference has fixed costs (the IO thread's start, hand-offs); every
    streamed MB and request costs compute time (the IO thread's checksums and wake-ups
    preempt a compute thread when the cores are all busy)."""

    compute_scale: float = 1.0
    half_ms: float = 0.0  # per layer half on top of its chunks (lanes: the hand-off to the helpers)
    fixed_ms: float = 0.0
    words_extra_ms: float = 0.0
    mb_compute_ms: float = 0.0
    request_compute_ms: float = 0.0
    request_io_ms: float = 0.0  # IO thread time per request beyond the read and its checksum


def terms_at(cal: dict, length: int, top: int) -> dict[int, Terms]:
    """The calibration terms per lane count for queries of ``length`` tokens: the fit at
    max_seq_len (``lanes``), or where the profile has a second fit at a shorter length
    (``short``), each term on the line through the two, extrapolated below the shorter one
    and never negative (docs/PLANNER.md, "Calibration")."""
    at_top = {int(k): Terms(**v) for k, v in (cal.get("lanes") or {}).items()}
    short = cal.get("short")
    if not short or length >= top:
        return at_top
    n = int(short["length"])
    w = (length - n) / (top - n)  # 0 at the short fit, 1 at max_seq_len
    at_short = {int(k): Terms(**v) for k, v in short["lanes"].items()}
    out = {}
    for k, t in at_top.items():
        a, b = asdict(at_short.get(k, t)), asdict(t)
        out[k] = Terms(**{f: max(0.0, a[f] + w * (b[f] - a[f])) for f in b})
    return out


@dataclass
class Prediction:
    latency_ms: float
    compute_ms: float
    stall_ms: float
    bytes_streamed: int
    memory: dict[str, int]
    parts: list[dict] = field(default_factory=list)  # per streamed part: io and compute spans
    # Streamed MB and requests, each weighted by how much of its read overlapped compute:
    # what the streaming compute terms are charged on (the calibration fits on these).
    overlap_mb: float = 0.0
    overlap_requests: float = 0.0

    @property
    def memory_bytes(self) -> int:
        return self.memory["total"]


class CostModel:
    """Entry sizes from the package's store, times from the device profile."""

    def __init__(self, pkg: Package, profile: dict, length: int | None = None):
        """length: predict for queries of this many tokens (default: max_seq_len, the
        length every plan must meet its target at)."""
        if (
            profile.get("shards_per_layer") != pkg.spec.shards_per_layer
            or profile.get("seq_len") != pkg.max_seq_len
        ):
            raise WrxError(
                "the device profile was measured for another package geometry "
                f"(shards_per_layer {profile.get('shards_per_layer')}, seq_len {profile.get('seq_len')})",
                hint=f"re-run: wrx profile-device {pkg.root} --device DEV",
            )
        g = pkg.geometry
        self.layers, self.M, self.H = g.layers, pkg.spec.shards_per_layer, g.hidden
        self.a1, self.f1 = pkg.spec.attn_width, pkg.spec.ffn_per_shard
        self.bits = tuple(pkg.scheme.all_bits)
        st = pkg.store
        self._pos = {rec.key: i for i, rec in enumerate(st.entries)}
        self._rec = {rec.key: rec for rec in st.entries}
        p = profile
        self.read_sizes = np.array(sorted(int(k) for k in p["io"]["read_mbps_by_request_bytes"]), dtype=float)
        self.read_mbps = np.array(
            [float(p["io"]["read_mbps_by_request_bytes"][str(int(k))]) for k in self.read_sizes]
        )
        self.cap_mbps = p["io"].get("bandwidth_cap_mbps") or 0.0
        self.decode_gbps = {int(k): float(v) for k, v in p["decode_gbps"].items()}
        missing = sorted(set(pkg.scheme.all_bits) - set(self.decode_gbps))
        if missing:
            raise WrxError(
                f"the device profile has no decode_gbps for {missing}-bit entries of this package",
                hint=f"re-run: wrx profile-device {pkg.root} --device DEV",
            )
        self.length = int(length or pkg.max_seq_len)
        if not 1 <= self.length <= pkg.max_seq_len:
            raise WrxError(
                f"length {self.length} is outside 1..{pkg.max_seq_len}",
                hint="predict for a length the package takes",
            )
        at = timings_at(p, self.length)
        self.prog = {k: [float(x) for x in v] for k, v in at["compute_ms_by_shards"].items()}
        lane = at["lane_compute_ms_by_shards"]
        self.max_lanes = int(lane["lanes"])
        self.lane_prog = {k: [float(x) for x in lane[k]] for k in ("attn", "ffn")}
        ov, mem = p["overheads"], p["memory"]
        self.finish_ms, self.embed_ms = float(at["finish_layer_ms"]), float(at["embed_ms"])
        self._head_ms = {int(k): float(v) for k, v in ov["head_ms_by_bits"].items()}
        self.base_bytes = int(mem["resident_base_bytes"])
        self._head_bytes = {int(k): int(v) for k, v in mem["head_bytes_by_bits"].items()}
        self.activation_bytes, self.lane_bytes = int(mem["activation_bytes"]), int(mem["lane_bytes"])
        self.words_bytes, self.words_ms = self._word_rows(pkg)
        self.terms = terms_at(p.get("calibration") or {}, self.length, pkg.max_seq_len)
        self.crc_gbps = float(p["crc_gbps"])

    @property
    def head_bits(self) -> tuple[int, ...]:
        """The stored heads the profile timed (an older store has only the fp32 one)."""
        return tuple(sorted(self._head_ms))

    def head_ms(self, bits: int = 32) -> float:
        return self._head_ms[bits]

    def head_bytes(self, bits: int = 32) -> int:
        """The HEAD entry at `bits`, block-aligned: one streamed read, or what stays resident."""
        return self._head_bytes[bits]

    def terms_for(self, lanes: int) -> Terms:
        if not 1 <= lanes <= self.max_lanes:
            raise WrxError(
                f"the device profile has timings for 1..{self.max_lanes} lanes, not {lanes}",
                hint="plan with fewer lanes, or re-run wrx profile-device",
            )
        return self.terms.get(lanes, Terms())

    # -- sizes
    def runs(self, keys: list[EntryKey]) -> list[int]:
        """Aligned byte length of each request: entries adjacent in the store share one."""
        idx = sorted(self._pos[k] for k in keys)
        recs = [self._rec[k] for k in sorted(keys, key=self._pos.__getitem__)]
        out, i = [], 0
        while i < len(idx):
            j = i
            while j + 1 < len(idx) and idx[j + 1] == idx[j] + 1:
                j += 1
            out.append(align(recs[j].offset + recs[j].length - recs[i].offset))
            i = j + 1
        return out

    def shard_bytes(self, layer: int, shard: int, bits: int) -> int:
        """Store bytes of one shard (both halves) at `bits`, as the loader budgets them."""
        return sum(align(self._rec[EntryKey(k, layer, shard, bits)].length) for k in F.SHARD_KINDS)

    def decoded_bytes(self, attn: bool, k: int) -> int:
        H, a, f = self.H, self.a1 * k, self.f1 * k
        sizes = [a * H, a, a * H, a, a * H, a, H * a] if attn else [f * H, f, H * f]
        return align(sum(align(s * 4, SLOT_ALIGN) for s in sizes))  # AlignedBuffer rounds to blocks

    def chunk_shards(self, chunk_kb: int) -> tuple[int, int]:
        H, a1, f1 = self.H, self.a1, self.f1
        attn = (4 * a1 * H + 3 * a1) * 4
        ffn = (2 * f1 * H + f1) * 4
        return max(1, chunk_kb * 1024 // attn), max(1, chunk_kb * 1024 // ffn)

    # -- times
    def read_ms(self, nbytes: int) -> float:
        x = math.log2(max(nbytes, 1))
        mbps = float(np.interp(x, np.log2(self.read_sizes), self.read_mbps))
        return nbytes / (mbps * 1e3)

    def io_ms(self, nbytes: int, terms: Terms) -> float:
        """IO thread time for one request: the read, then the checksums of what it read
        (the next read starts after them), then the fitted per-request cost."""
        return self.read_ms(nbytes) + nbytes / (self.crc_gbps * 1e6) + terms.request_io_ms

    def _word_rows(self, pkg: Package) -> tuple[int, float]:
        """Median bytes and time of one input's word-row reads over the calibration rows,
        as a query of ``self.length`` tokens reads them. At max_seq_len every row padded: its
        tokens' rows and the pad token's, as the padded calibration runs read them. Shorter:
        the rows at least that long, cut to it (the longest rows where fewer than 16 are),
        since a query reads one row per distinct token: 11 tokens read about a third of
        what 40 do, which a length-blind median over-predicted by 0.3 ms for the shortest
        queries (docs/RESULTS.md, session 11)."""
        enc, _ = pkg.read_data("calib")
        rec = self._rec[EntryKey(F.EntryKind.EMBED_WORD)]
        base = rec.offset + rec.tensors[0].offset
        row = self.H * 4
        L = self.length
        if L >= pkg.max_seq_len:
            inputs = list(enc.input_ids[:256])
        else:
            rows = np.flatnonzero(enc.lengths >= L)
            if len(rows) < 16:
                rows = np.argsort(enc.lengths, kind="stable")[-16:]
            inputs = [enc.input_ids[i, : min(L, int(enc.lengths[i]))] for i in rows[:256]]
        sizes, times = [], []
        for ids in inputs:
            spans: list[list[int]] = []
            for r in np.unique(ids):
                s, t = (base + int(r) * row) // ALIGN * ALIGN, align(base + (int(r) + 1) * row)
                if spans and s <= spans[-1][1]:
                    spans[-1][1] = max(spans[-1][1], t)
                else:
                    spans.append([s, t])
            n = sum(t - s for s, t in spans)
            ms = sum(self.read_ms(t - s) for s, t in spans) / READERS
            if self.cap_mbps:
                ms = max(ms, n / (self.cap_mbps * 1e3))
            sizes.append(n)
            times.append(ms)
        return int(np.median(sizes)), float(np.median(times))

    def half_compute_ms(self, attn: bool, bits: list[int], g: int, lanes: int = 1) -> tuple[float, int]:
        """(ms, decode buffers) for one half run a chunk of g shards at a time, chunk i on
        lane i % lanes; the half ends when its slowest lane does."""
        prog = (self.lane_prog if lanes > 1 else self.prog)["attn" if attn else "ffn"]
        per_shard = self.decoded_bytes(attn, 1)
        lane_ms, lane_buf = [0.0] * lanes, [0] * lanes
        for i, c in enumerate(range(0, len(bits), g)):
            chunk = bits[c : c + g]
            lane_ms[i % lanes] += prog[len(chunk) - 1]
            lane_ms[i % lanes] += sum(per_shard / (self.decode_gbps[b] * 1e6) for b in chunk)
            lane_buf[i % lanes] = max(lane_buf[i % lanes], self.decoded_bytes(attn, len(chunk)))
        terms = self.terms_for(lanes)
        ms = self.finish_ms / 2 + max(lane_ms)
        return ms * terms.compute_scale + terms.half_ms, sum(lane_buf)

    # -- the simulation
    def predict(self, plan: Plan, knobs: Knobs) -> Prediction:
        terms = self.terms_for(knobs.lanes)
        pre = set(plan.preload)
        g_attn, g_ffn = self.chunk_shards(knobs.chunk_kb)
        cap = knobs.readahead_kb * 1024
        held: list[tuple[float, int]] = []  # (release time, bytes) of budget taken
        sizes = [self.words_bytes]  # what the IO thread reads, in order

        def acquire(t: float, n: int) -> float:
            """Earliest time >= t at which the loader's Budget admits n bytes."""
            sizes.append(n)
            for when in [t] + sorted(r for r, _ in held if r > t):
                used = sum(b for r, b in held if r > when)
                if used == 0 or used + n <= cap:
                    return when
            raise AssertionError("unreachable: the budget drains")

        # IO: word rows first (the budget is empty).
        t_io = self.words_ms + terms.words_extra_ms
        t_c = t_io + self.embed_ms
        held.append((t_c, self.words_bytes))
        busy = [(t_io, t_c)]  # compute's spans so far
        ov_mb = ov_req = 0.0
        compute = self.embed_ms
        stall = t_io
        streamed = self.words_bytes
        parts, decode_buf, preload_keys = [], 0, []
        for lp in plan.layers:
            for attn in (True, False):
                kind = F.EntryKind.ATTN_SHARD if attn else F.EntryKind.FFN_SHARD
                keys, kept = _split(lp, kind, pre)
                preload_keys += kept
                ready, io_start, runs = t_io, t_io, []
                if keys:
                    runs = self.runs(keys)
                    n = sum(runs)
                    io_start = acquire(t_io, n)
                    ready = t_io = io_start + sum(self.io_ms(r, terms) for r in runs)
                    streamed += n
                ms, buf = self.half_compute_ms(attn, lp.bits, g_attn if attn else g_ffn, knobs.lanes)
                if runs:
                    # The IO thread slows compute only while both run: the part of this
                    # read made while compute waits for it costs compute nothing.
                    w = _overlap(busy, io_start, ready)
                    ov_mb += w * n / 1e6
                    ov_req += w * len(runs)
                    ms += w * (terms.request_compute_ms * len(runs) + terms.mb_compute_ms * n / 1e6)
                decode_buf = max(decode_buf, buf)
                start = max(t_c, ready)
                stall += start - t_c
                t_c = start + ms
                busy.append((start, t_c))
                compute += ms
                if keys:
                    held.append((t_c, n))
                parts.append(
                    {
                        "layer": lp.layer,
                        "half": "attn" if attn else "ffn",
                        "io_start_ms": io_start,
                        "io_end_ms": ready,
                        "compute_start_ms": start,
                        "compute_end_ms": t_c,
                        "bytes": n if keys else 0,
                    }
                )
        head_bytes, head_ms = self.head_bytes(knobs.head_bits), self.head_ms(knobs.head_bits)
        if not knobs.head_resident:
            start = acquire(t_io, head_bytes)
            ready = start + self.io_ms(head_bytes, terms)
            streamed += head_bytes
            stall += max(0.0, ready - t_c)
            t_c = max(t_c, ready)
        t_c += head_ms
        compute += head_ms
        preload = sum(self.runs(preload_keys)) if preload_keys else 0
        # The timeline above is the typical case; memory must hold in the worst one, where
        # compute falls behind and the IO thread fills the budget: any run of consecutive
        # reads that fits it (or one read alone, which the budget always admits).
        peak = 0
        for i in range(len(sizes)):
            run = 0
            for j in range(i, len(sizes)):
                run += sizes[j]
                if j > i and run > cap:
                    break
                peak = max(peak, run)
        memory = {
            "resident_base": self.base_bytes,
            "preload": preload,
            "head_resident": head_bytes if knobs.head_resident else 0,
            "readahead_peak": peak,
            "decode_buffer": decode_buf,
            "activations": self.activation_bytes + (knobs.lanes - 1) * self.lane_bytes,
        }
        memory["weights"] = sum(v for k, v in memory.items() if k != "activations")
        memory["total"] = memory["weights"] + memory["activations"]
        return Prediction(t_c + terms.fixed_ms, compute, stall, streamed, memory, parts, ov_mb, ov_req)

    def _streamed(self, plan: Plan) -> list[list[EntryKey]]:
        """Per layer half, the entries the IO thread reads (the plan's shards not preloaded)."""
        pre = set(plan.preload)
        halves = (_split(lp, kind, pre)[0] for lp in plan.layers for kind in F.SHARD_KINDS)
        return [keys for keys in halves if keys]

    def requests(self, plan: Plan) -> int:
        """Read requests per inference for the plan's shards (word rows and head not counted)."""
        return sum(len(self.runs(keys)) for keys in self._streamed(plan))

    def compute_only_ms(self, plan: Plan, knobs: Knobs) -> float:
        """Compute of a plan with every byte already in memory (the no-stall floor)."""
        g_attn, g_ffn = self.chunk_shards(knobs.chunk_kb)
        ms = self.embed_ms + self.head_ms(knobs.head_bits)
        for lp in plan.layers:
            ms += (
                self.half_compute_ms(True, lp.bits, g_attn, knobs.lanes)[0]
                + self.half_compute_ms(False, lp.bits, g_ffn, knobs.lanes)[0]
            )
        return ms
