"""``wrx demo``: the README's main command. Fine-tune (cached), package, evaluate on the host."""

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
    print(f"[1/3] fine-tune {MODEL} on {TASK} (cached after the first run)")
    ckpt = workdir / "checkpoint"
    finetune(MODEL, TASK, ckpt, steps=steps)
    print("[2/3] package: shard, quantize, write the store")
    out = workdir / "package"
    t = time.time()
    m = package(ckpt, TASK, out)
    print(f"      {out}/store.wrx: {m['store']['file_bytes'] / 1e6:.1f} MB in {time.time() - t:.1f} s")
    print("[3/3] evaluate every fidelity on the host reference executor")
    rows = []
    with open_package(out) as pkg:
        ex = ReferenceExecutor(pkg)
        for bits in (32, *reversed(pkg.scheme.bitwidths)):
            r = evaluate(pkg, bits=bits, executor=ex)
            rows.append({"bits": bits, "accuracy": r.accuracy, "rows": r.rows})
    if not rows:
        raise WrxError("demo produced no results")
    fp32 = rows[0]["accuracy"]
    print(f"\n{'bits':>5} {'dev accuracy':>13} {'vs fp32':>8}")
    for r in rows:
        print(f"{r['bits']:>5} {r['accuracy'] * 100:12.2f}% {(r['accuracy'] - fp32) * 100:+7.2f}")
    print(f"\ndemo finished in {time.time() - t0:.0f} s; package in {out}")
    return rows
