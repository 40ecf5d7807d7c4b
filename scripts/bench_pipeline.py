#!/usr/bin/env python3
"""The elastic pipeline against the baselines, one run, same binary, same store.

A fine-tuned built-in model (--model, default minilm-l6) on rt-polarity, IO capped at
--io-bandwidth MB/s (emulating a device class, default eMMC 250). Prints a table and the
acceptance ratios. Issue 20 (every dev row, each at its own length vs padded to 128):
  load-all fp32 p50 latency at the rows' own lengths <= 0.35x the padded p50, with the same
  predictions and logits within 1e-4.
Issue 4 (the first --rows rows, padded to 128 as these checks were specified):
  stdpl fp32 latency / its summed compute (IO-bound: >= 3x),
  elastic uniform-4-pre1 stall / latency (<= 10%), its predictions = load-all 4-bit,
  elastic weight bytes at peak <= fp32 model weight bytes / 20,
  elastic peak RSS <= load-all fp32 peak RSS / 3,
  elastic fp32 predictions = load-all fp32.
Usage: .venv/bin/python scripts/bench_pipeline.py [--model NAME] [--rows N] [--io-bandwidth MBPS]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np
from _bench_common import Checks, bench_package, run_loader

PAD = ["--pad-to-max"]
RUNS = [  # (label, mode, plan args, every dev row)
    ("load-all fp32, own length", "load-all", ["--bits", "32"], True),
    ("load-all fp32, padded", "load-all", ["--bits", "32", *PAD], True),
    ("load-all fp32", "load-all", ["--bits", "32", *PAD], False),
    ("load-all 4-bit", "load-all", ["--bits", "4", *PAD], False),
    ("load-then-exec 4-bit", "load-then-exec", ["--bits", "4", *PAD], False),
    ("stdpl-32", "stdpl", ["--bits", "32", *PAD], False),
    ("stdpl-8", "stdpl", ["--bits", "8", *PAD], False),
    ("stdpl-4", "stdpl", ["--bits", "4", *PAD], False),
    ("elastic uniform-4-pre1", "elastic", ["--bits", "4", "--preload-layers", "1", *PAD], False),
    ("elastic uniform-32-pre1", "elastic", ["--bits", "32", "--preload-layers", "1", *PAD], False),
    ("elastic uniform-4-pre1, own length", "elastic", ["--bits", "4", "--preload-layers", "1"], False),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm-l6", help="built-in model (minilm-l6, mpnet-base)")
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--io-bandwidth", type=float, default=250.0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    out, m = bench_package(a.model)
    fp32_weight_bytes = 4 * m["model"]["n_params"]
    reps = {}
    for i, (label, mode, args, every_row) in enumerate(RUNS):
        rp = out / f"bench-{i}-{mode}.json"
        print(f"running {label} ...", file=sys.stderr)
        rows = 0 if every_row else a.rows
        reps[label] = run_loader(out, rp, mode, args, a.io_bandwidth, a.threads, rows, trace_rows=3)

    r0 = reps["load-all fp32"]
    print(
        f"{a.model} / rt-polarity, {a.rows} dev rows (all for the first two), {a.threads} threads, "
        f"IO {r0['io']['mode']} capped at {a.io_bandwidth:g} MB/s (emulated); cpu {r0['device']['cpu']}"
    )
    print(f"fp32 model weight bytes (embeddings included): {fp32_weight_bytes / 1e6:.1f} MB\n")
    lens = [i["length"] for i in reps["load-all fp32, own length"]["inferences"]]
    print(f"dev row lengths: p50 {statistics.median(lens):g}, max {max(lens)} tokens; padded runs use 128\n")
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
    own, pad = reps["load-all fp32, own length"], reps["load-all fp32, padded"]
    p_own, p_pad = own["summary"]["latency_ms"]["p50"], pad["summary"]["latency_ms"]["p50"]
    verdicts.check(
        "load-all fp32 p50 at own length / padded to 128 <= 0.35",
        p_own / p_pad <= 0.35,
        f"{p_own:.2f} / {p_pad:.2f} ms = {p_own / p_pad:.3f}",
    )
    lo = np.array([i["logits"] for i in own["inferences"]])
    d = np.abs(lo - np.array([i["logits"] for i in pad["inferences"]])).max()
    same = preds("load-all fp32, own length") == preds("load-all fp32, padded")
    verdicts.check(
        "own-length predictions == padded, logits within 1e-4",
        same and d <= 1e-4,
        f"{len(lens)} rows, max |logit difference| {d:.2e}",
    )
    for name, v, lim, op in checks:
        verdicts.check(name, v >= lim if op == ">=" else v <= lim, f"{v:.4f} ({op} {lim:g})")
    same4 = preds("elastic uniform-4-pre1") == preds("load-all 4-bit")
    same32 = preds("elastic uniform-32-pre1") == preds("load-all fp32")
    same4own = preds("elastic uniform-4-pre1, own length") == preds("load-all 4-bit")
    verdicts.check("elastic 4-bit predictions == load-all 4-bit", same4, "every row" if same4 else "differ")
    verdicts.check("elastic fp32 predictions == load-all fp32", same32, "every row" if same32 else "differ")
    verdicts.check(
        "elastic 4-bit at own length predictions == load-all 4-bit padded",
        same4own,
        "every row" if same4own else "differ",
    )
    return verdicts.exit_code()


if __name__ == "__main__":
    sys.exit(main())
