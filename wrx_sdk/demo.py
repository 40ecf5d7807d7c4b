"""``wrx demo``: the README's main command. Fine-tune (cached), package, evaluate on the host,
then run the device loader locally and check it against the host reference."""

from __future__ import annotations

import time
from pathlib import Path

from .errors import WrxError
from .evaluate import evaluate
from .finetune import finetune
from .manifest import open_package
from .package import package
from .reference import ReferenceExecutor

MODEL, TASK = "minilm-l6", "rt-polarity"


def demo(workdir: Path, steps: int | None = None) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print(f"[1/4] fine-tune {MODEL} on {TASK} (cached after the first run)")
    ckpt = workdir / "checkpoint"
    finetune(MODEL, TASK, ckpt, steps=steps)
    print("[2/4] package: shard, quantize, write the store")
    out = workdir / "package"
    t = time.time()
    m = package(ckpt, TASK, out)
    print(f"      {out}/store.wrx: {m['store']['file_bytes'] / 1e6:.1f} MB in {time.time() - t:.1f} s")
    print("[3/4] evaluate every fidelity on the host reference executor")
    rows = []
    with open_package(out) as pkg:
        ex = ReferenceExecutor(pkg)
        for bits in (32, *reversed(pkg.scheme.bitwidths)):
            r = evaluate(pkg, bits=bits, executor=ex)
            rows.append({"bits": bits, "accuracy": r.accuracy, "rows": r.rows})
    if not rows:
        raise WrxError("demo produced no results")
    print("[4/4] run wrx-loader (C++, ExecuTorch + XNNPACK) on the local device, load-all mode")
    from .run import run, summary

    for r in rows:
        if r["bits"] in (32, 4):
            report, kept = run(out, bits=r["bits"], mode="load-all")
            r["loader_accuracy"] = report["summary"]["accuracy"]
            r["loader_ms"] = report["summary"]["latency_ms"]["p50"]
            print("      " + summary(report))
    print("      elastic pipeline, eMMC emulated (250 MB/s), layer 0 preloaded, 4-bit:")
    elastic, _ = run(out, plan="uniform-4-pre1", mode="elastic", io_bandwidth=250, limit=200)
    print("      " + summary(elastic))
    fp32 = rows[0]["accuracy"]
    print(f"\n{'bits':>5} {'host accuracy':>14} {'vs fp32':>8} {'loader accuracy':>16} {'loader p50 ms':>14}")
    for r in rows:
        la = f"{r['loader_accuracy'] * 100:15.2f}%" if "loader_accuracy" in r else f"{'-':>16}"
        lm = f"{r['loader_ms']:14.2f}" if "loader_ms" in r else f"{'-':>14}"
        print(f"{r['bits']:>5} {r['accuracy'] * 100:13.2f}% {(r['accuracy'] - fp32) * 100:+7.2f} {la} {lm}")
    print(f"\ndemo finished in {time.time() - t0:.0f} s; package in {out}")
    return rows
