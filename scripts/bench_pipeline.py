#!/usr/bin/env python3
"""The elastic pipeline against the baselines, one run, same binary, same store.

Fine-tuned MiniLM on rt-polarity, IO capped at --io-bandwidth MB/s (emulating a device
class, default eMMC 250). Prints a table and the issue-4 acceptance ratios:
  stdpl fp32 latency / its summed compute (IO-bound: >= 3x),
  elastic uniform-4-pre1 stall / latency (<= 10%), its predictions = load-all 4-bit,
  elastic weight bytes at peak <= fp32 model weight bytes / 20,
  elastic peak RSS <= load-all fp32 peak RSS / 3,
  elastic fp32 predictions = load-all fp32.
Usage: .venv/bin/python scripts/bench_pipeline.py [--rows N] [--io-bandwidth MBPS]
"""

from __future__ import annotations

import argparse
import sys

from _bench_common import Checks, bench_package, run_loader

RUNS = [  # (label, mode, plan args)
    ("load-all fp32", "load-all", ["--bits", "32"]),
    ("load-all 4-bit", "load-all", ["--bits", "4"]),
    ("load-then-exec 4-bit", "load-then-exec", ["--bits", "4"]),
    ("stdpl-32", "stdpl", ["--bits", "32"]),
    ("stdpl-8", "stdpl", ["--bits", "8"]),
    ("stdpl-4", "stdpl", ["--bits", "4"]),
    ("elastic uniform-4-pre1", "elastic", ["--bits", "4", "--preload-layers", "1"]),
    ("elastic uniform-32-pre1", "elastic", ["--bits", "32", "--preload-layers", "1"]),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--io-bandwidth", type=float, default=250.0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    out, m = bench_package()
    fp32_weight_bytes = 4 * m["model"]["n_params"]
    reps = {}
    for label, mode, args in RUNS:
        rp = out / f"bench-{mode}-{'-'.join(args[1::2])}.json"
        print(f"running {label} ...", file=sys.stderr)
        reps[label] = run_loader(out, rp, mode, args, a.io_bandwidth, a.threads, a.rows, trace_rows=3)

    r0 = reps["load-all fp32"]
    print(
        f"MiniLM-L6 / rt-polarity, {a.rows} dev rows, seq 128, {a.threads} threads, "
        f"IO {r0['io']['mode']} capped at {a.io_bandwidth:g} MB/s (emulated); cpu {r0['device']['cpu']}"
    )
    print(f"fp32 model weight bytes (embeddings included): {fp32_weight_bytes / 1e6:.1f} MB\n")
    print(
        "| run | p50 latency ms | p50 compute ms | stall % of latency | MB read/inference "
        "| weight bytes at peak MB | peak RSS MB | accuracy |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, r in reps.items():
        s, mem = r["summary"], r["memory"]
        print(
            f"| {label} | {s['latency_ms']['p50']:.2f} | {s['compute_ms']['p50']:.2f} "
            f"| {s['stall_fraction'] * 100:.1f} | {s['bytes_read']['p50'] / 1e6:.2f} "
            f"| {mem['weight_bytes_peak'] / 1e6:.2f} | {mem['peak_rss_kb'] / 1024:.1f} "
            f"| {s['accuracy'] * 100:.2f}% |"
        )

    def preds(label: str) -> list[int]:
        return [i["pred"] for i in reps[label]["inferences"]]

    st = reps["stdpl-32"]["summary"]
    el = reps["elastic uniform-4-pre1"]
    checks = [
        (
            "stdpl fp32 latency / summed compute >= 3",
            st["latency_ms"]["mean"] / st["compute_ms"]["mean"],
            3.0,
            ">=",
        ),
        ("elastic 4-bit stall / latency <= 0.10", el["summary"]["stall_fraction"], 0.10, "<="),
        (
            "elastic weight bytes at peak / fp32 weight bytes <= 1/20",
            el["memory"]["weight_bytes_peak"] / fp32_weight_bytes,
            1 / 20,
            "<=",
        ),
        (
            "elastic peak RSS / load-all fp32 peak RSS <= 1/3",
            el["memory"]["peak_rss_kb"] / r0["memory"]["peak_rss_kb"],
            1 / 3,
            "<=",
        ),
    ]
    print()
    verdicts = Checks()
    for name, v, lim, op in checks:
        verdicts.check(name, v >= lim if op == ">=" else v <= lim, f"{v:.4f} ({op} {lim:g})")
    same4 = preds("elastic uniform-4-pre1") == preds("load-all 4-bit")
    same32 = preds("elastic uniform-32-pre1") == preds("load-all fp32")
    verdicts.check("elastic 4-bit predictions == load-all 4-bit", same4, "every row" if same4 else "differ")
    verdicts.check("elastic fp32 predictions == load-all fp32", same32, "every row" if same32 else "differ")
    return verdicts.exit_code()


if __name__ == "__main__":
    sys.exit(main())
