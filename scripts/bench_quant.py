#!/usr/bin/env python3
"""Accuracy of every stored fidelity on the real fine-tuned MiniLM (rt-polarity dev, 872 rows).

Fine-tunes with the default steps (cached), packages (timed), then evaluates uniform plans
at every bitwidth through the host reference executor and prints a markdown table for
docs/RESULTS.md, then the acceptance checks (PASS/FAIL; exit status 1 on a failure):
  6-bit dev accuracy within 1.0 point of fp32; 4-bit within 2.5 points.
Usage: .venv/bin/python scripts/bench_quant.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _bench_common import Checks  # noqa: E402

from wrx_sdk import config  # noqa: E402
from wrx_sdk.builder.package import package  # noqa: E402
from wrx_sdk.formats import store_layout as F  # noqa: E402
from wrx_sdk.formats.manifest import open_package  # noqa: E402
from wrx_sdk.measure.evaluate import evaluate  # noqa: E402
from wrx_sdk.measure.reference import ReferenceExecutor  # noqa: E402
from wrx_sdk.models.finetune import finetune  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default=str(config.cache_dir() / "bench-quant"))
    a = ap.parse_args()
    work = Path(a.workdir)
    stamp = finetune("minilm-l6", "rt-polarity", work / "ckpt", progress=False)
    t = time.time()
    m = package(work / "ckpt", "rt-polarity", work / "pkg", progress=False)
    pkg_s = time.time() - t
    rows = []
    with open_package(work / "pkg") as pkg:
        ex = ReferenceExecutor(pkg)
        for bits in (32, 8, 6, 5, 4, 3, 2):
            r = evaluate(pkg, bits=bits, executor=ex, progress=False)
            shard_mb = (
                sum(e.length for e in pkg.store.entries if e.key.kind in F.SHARD_KINDS and e.key.bits == bits)
                / 1e6
            )
            rows.append((bits, r.accuracy, shard_mb))
    fp32 = rows[0][1]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"fine-tune: {stamp['hyperparameters']['steps']} steps, cached key {stamp['key']}")
    print(f"package: {pkg_s:.1f} s, store {m['store']['file_bytes'] / 1e6:.1f} MB\n")
    print("| bits | dev accuracy | vs fp32 (points) | encoder shard bytes (MB) |")
    print("|---:|---:|---:|---:|")
    for bits, acc, mb in rows:
        print(
            f"| {bits if bits != 32 else 'fp32'} | {acc * 100:.2f}% | {(acc - fp32) * 100:+.2f} | {mb:.2f} |"
        )
    acc = {bits: a for bits, a, _ in rows}
    checks = Checks()
    print()
    for bits, points in ((6, 1.0), (4, 2.5)):
        d = (acc[bits] - fp32) * 100
        checks.check(f"{bits}-bit accuracy", d >= -points, f"{d:+.2f} points vs fp32 (>= -{points})")
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
