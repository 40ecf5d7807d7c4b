#!/usr/bin/env python3
"""Dynamic sequence length against fixed-length buckets: which programs to ship (issue 20).

For MiniLM-L6's geometry (12 shards of one head), times one program call at each length of
rt-polarity's dev distribution with (a) the dynamic-length program at the exact length and
(b) a fixed-length program at the smallest bucket that holds it (buckets 16, 32, 64, 128),
side by side in one run (wrx-bench-seq, median of REPS calls). Prints PASS or FAIL for
the check behind the choice: dynamic at the exact length is no slower than the bucket
program over rt-polarity's lengths (geometric mean of the ratios), for every program.
It also prints, without a check, what XNNPACK's per-call packing of weights given as inputs
costs: the whole-layer program against one with the same (random) weights as constants,
which XNNPACK packs once at load (the next step for resident layers, docs/RESULTS.md).
Usage: .venv/bin/python scripts/bench_lengths.py [--reps N] [--rounds R] [--threads T]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench_common import Checks

from wrx_sdk.builder.export import export_programs
from wrx_sdk.formats.geometry import Geometry, ShardSpec

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "build" / "host" / "wrx-bench-seq"
GEOM = Geometry(
    family="bert", hidden=384, layers=6, heads=12, intermediate=1536, vocab=30522,
    max_positions=512, type_vocab=2, num_labels=2, ln_eps=1e-12, act="gelu",
)  # fmt: skip
SPEC = ShardSpec(shards_per_layer=12, heads_per_shard=1, head_dim=32, ffn_per_shard=128)
MAX = 128
BUCKETS = (16, 32, 64, 128)
LENGTHS = (8, 16, 27, 42, 55, 64, 128)  # rt-polarity dev: p50 27, p90 42, max 55


def programs(work: Path, seq: int, min_seq: int) -> dict[str, Path]:
    d = work / f"s{min_seq}-{seq}"
    recs = export_programs(GEOM, SPEC, seq, d, min_seq=min_seq)
    return {name: d / rec["file"] for name, rec in recs.items()}


def const_layer_program(path: Path) -> Path:
    """The whole-layer program with k = M shards of random weights as constants."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass
    from torch.export import Dim, export

    from wrx_sdk.builder.export import example_inputs
    from wrx_sdk.models.families import bert

    class ConstLayer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = bert.ExportLayer(GEOM.hidden, SPEC.head_dim, GEOM.ln_eps)
            ws = example_inputs("layer", GEOM, SPEC, MAX, SPEC.shards_per_layer)[2:]
            self.w = torch.nn.ParameterList(torch.nn.Parameter(t, requires_grad=False) for t in ws)

        def forward(self, x, bias):
            return self.inner(x, bias, *self.w)

    s = Dim("s", min=1, max=MAX)
    x, bias = torch.randn(1, MAX, GEOM.hidden), torch.zeros(1, 1, MAX)
    ep = export(ConstLayer().eval(), (x, bias), dynamic_shapes={"x": {1: s}, "bias": {2: s}}, strict=False)
    edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    cfg = ExecutorchBackendConfig(memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False))
    path.write_bytes(edge.to_executorch(cfg).buffer)
    return path


def call_ms(pte: Path, name: str, S: int, k: int, reps: int, threads: int) -> float:
    a, f = k * SPEC.attn_width, k * SPEC.ffn_per_shard
    cmd = [str(BENCH), str(pte), name, str(S), str(GEOM.hidden), str(a), str(f), str(reps), str(threads)]
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per length (median)")
    a = ap.parse_args()
    if not BENCH.is_file():
        sys.exit(f"error: {BENCH} is missing\nHINT: scripts/build_runtime.sh --target host")
    checks = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("exporting programs (cached under the wrx cache) ...", file=sys.stderr, flush=True)
        dyn = programs(work, MAX, 1)
        fixed = {b: programs(work, b, b) for b in BUCKETS}
        # The whole layer at k = 12 (load-all); the halves at k = 3 (an elastic chunk call).
        # Rounds alternate the two programs, so a noisy spell of the VM hits both alike.
        for name, k, threads in (("layer", 12, a.threads), ("attn", 3, 1), ("ffn", 3, 1)):
            print(f"\n{name} (k = {k}, {threads} thread{'s' * (threads > 1)}): median ms per call")
            print("| tokens | dynamic, exact length | fixed bucket | bucket | dynamic / bucket |")
            print("|---:|---:|---:|---:|---:|")
            ratios = []
            for S in LENGTHS:
                b = next(x for x in BUCKETS if x >= S)
                ds, fs = [], []
                for _ in range(a.rounds):
                    ds.append(call_ms(dyn[name], name, S, k, a.reps, threads))
                    fs.append(call_ms(fixed[b][name], name, b, k, a.reps, threads))
                d, f = statistics.median(ds), statistics.median(fs)
                ratios.append(d / f)
                print(f"| {S} | {d:.3f} | {f:.3f} | {b} | {d / f:.2f} |", flush=True)
            gm = statistics.geometric_mean(ratios)
            checks.check(
                f"{name}: dynamic / bucket, geometric mean over {LENGTHS[0]}..{LENGTHS[-1]} tokens <= 1.0",
                gm <= 1.0,
                f"{gm:.2f}x",
            )
        const = const_layer_program(work / "const-layer.pte")
        print(f"\nlayer (k = 12, {a.threads} threads): weights as inputs (packed every call) or as constants")
        print("| tokens | inputs ms | constants ms | constants / inputs |")
        print("|---:|---:|---:|---:|")
        for S in LENGTHS:
            d = call_ms(dyn["layer"], "layer", S, 12, a.reps, a.threads)
            c = call_ms(const, "const-layer", S, 12, a.reps, a.threads)
            print(f"| {S} | {d:.3f} | {c:.3f} | {c / d:.2f} |", flush=True)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
