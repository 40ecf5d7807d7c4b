#!/usr/bin/env python3
"""Dynamic sequence length against fixed-length buckets: which programs to ship (issue 20).

For MiniLM-L6's geometry (12 shards of one head), times one program call at each length of
rt-polarity's dev distribution with (a) the dynamic-length program at the exact length and
(b) a fixed-length program at the smallest bucket that holds it (buckets 16, 32, 64, 128),
side by side in one run (wrx-bench-seq, median of REPS calls). Prints PASS or FAIL for
the check behind the choice: dynamic at the exact length is no slower than the bucket
program for the median dev length (27 tokens), for every program.
Usage: .venv/bin/python scripts/bench_lengths.py [--reps N] [--threads T]
"""

from __future__ import annotations

import argparse
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


def call_ms(pte: Path, name: str, S: int, k: int, reps: int, threads: int) -> float:
    a, f = k * SPEC.attn_width, k * SPEC.ffn_per_shard
    cmd = [str(BENCH), str(pte), name, str(S), str(GEOM.hidden), str(a), str(f), str(reps), str(threads)]
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
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
        for name, k, threads in (("layer", 12, a.threads), ("attn", 3, 1), ("ffn", 3, 1)):
            print(f"\n{name} (k = {k}, {threads} thread{'s' * (threads > 1)}): median ms per call")
            print("| tokens | dynamic, exact length | fixed bucket | bucket | dynamic / bucket |")
            print("|---:|---:|---:|---:|---:|")
            at27 = None
            for S in LENGTHS:
                b = next(x for x in BUCKETS if x >= S)
                d = call_ms(dyn[name], name, S, k, a.reps, threads)
                f = call_ms(fixed[b][name], name, b, k, a.reps, threads)
                print(f"| {S} | {d:.3f} | {f:.3f} | {b} | {d / f:.2f} |", flush=True)
                if S == 27:
                    at27 = d / f
            checks.check(f"{name}: dynamic at 27 tokens <= fixed bucket 32", at27 <= 1.0, f"{at27:.2f}x")
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
