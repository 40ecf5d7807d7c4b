#!/usr/bin/env python3
"""Accuracy of every stored fidelity on a real fine-tuned model (rt-polarity dev, 872 rows).

Fine-tunes ``--model`` (minilm-l6 or mpnet-base) with its default steps (cached), packages
(timed), then evaluates uniform plans at every bitwidth through the host reference
executor (``wrx eval --bits B``) and prints a markdown table for docs/RESULTS.md, then the
acceptance checks (PASS/FAIL; exit status 1 on a failure):
  fp32 equals transformers' own model on every dev row: identical predictions, logits
  within 1e-4 (the independent reference: AutoModelForSequenceClassification on the
  fine-tuned checkpoint, on the same tokens);
  6-bit dev accuracy within 1.0 point of fp32; 4-bit within 2.5 points.
Usage: .venv/bin/python scripts/bench_quant.py [--model NAME] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _bench_common import Checks  # noqa: E402

from wrx_sdk import config  # noqa: E402
from wrx_sdk.builder.package import package  # noqa: E402
from wrx_sdk.formats import devdata  # noqa: E402
from wrx_sdk.formats import store_layout as F  # noqa: E402
from wrx_sdk.formats.manifest import open_package  # noqa: E402
from wrx_sdk.measure.evaluate import evaluate  # noqa: E402
from wrx_sdk.measure.reference import ReferenceExecutor  # noqa: E402
from wrx_sdk.models.finetune import finetune  # noqa: E402


def transformers_logits(ckpt: Path, enc: devdata.Encoded) -> np.ndarray:
    """The checkpoint's logits from transformers itself, on the package's dev tokens."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(ckpt).eval()
    takes_types = "token_type_ids" in inspect.signature(model.forward).parameters  # MPNet has none
    out = []
    with torch.no_grad():
        for i in range(0, len(enc.lengths), 64):
            sl = slice(i, i + 64)
            kw = {
                "input_ids": torch.from_numpy(enc.input_ids[sl].astype(np.int64)),
                "attention_mask": torch.from_numpy(enc.attention_mask()[sl]),
            }
            if takes_types:
                kw["token_type_ids"] = torch.from_numpy(enc.token_type_ids[sl].astype(np.int64))
            out.append(model(**kw).logits.numpy())
    return np.concatenate(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm-l6", help="built-in model (minilm-l6, mpnet-base)")
    ap.add_argument("--workdir", default=None, help="default: $WRX_CACHE/bench-quant[-MODEL]")
    a = ap.parse_args()
    suffix = "" if a.model == "minilm-l6" else f"-{a.model}"
    work = Path(a.workdir or config.cache_dir() / f"bench-quant{suffix}")
    t = time.time()
    stamp = finetune(a.model, "rt-polarity", work / "ckpt", progress=True)
    ft_s = time.time() - t
    t = time.time()
    m = package(work / "ckpt", "rt-polarity", work / "pkg", progress=False)
    pkg_s = time.time() - t
    rows = []
    with open_package(work / "pkg") as pkg:
        ex = ReferenceExecutor(pkg)
        dev, _ = devdata.read(pkg.data_path("dev"))
        for bits in (32, 8, 6, 5, 4, 3, 2):
            r = evaluate(pkg, bits=bits, executor=ex, progress=False)
            if bits == 32:
                ours = r

            shard_mb = (
                sum(e.length for e in pkg.store.entries if e.key.kind in F.SHARD_KINDS and e.key.bits == bits)
                / 1e6
            )
            rows.append((bits, r.accuracy, shard_mb))
    fp32 = rows[0][1]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(
        f"fine-tune of {a.model}: {stamp['hyperparameters']['steps']} steps, dev accuracy "
        f"{stamp['dev_accuracy'] * 100:.2f}% (this call {ft_s:.0f} s; cached key {stamp['key']})"
    )
    print(f"package: {pkg_s:.1f} s, store {m['store']['file_bytes'] / 1e6:.1f} MB\n")
    print("| bits | dev accuracy | vs fp32 (points) | encoder shard bytes (MB) |")
    print("|---:|---:|---:|---:|")
    for bits, acc, mb in rows:
        print(
            f"| {bits if bits != 32 else 'fp32'} | {acc * 100:.2f}% | {(acc - fp32) * 100:+.2f} | {mb:.2f} |"
        )
    acc = {bits: a for bits, a, _ in rows}
    ref = transformers_logits(work / "ckpt", dev)
    diff = float(np.abs(ref - ours.logits).max())
    same = int((ref.argmax(-1) == ours.predictions).sum())
    checks = Checks()
    print()
    checks.check(
        "wrx eval --bits 32 equals transformers",
        same == len(ref) and diff <= 1e-4,
        f"{same}/{len(ref)} predictions identical, max logit difference {diff:.2e} (<= 1e-4)",
    )
    for bits, points in ((6, 1.0), (4, 2.5)):
        d = (acc[bits] - fp32) * 100
        checks.check(f"{bits}-bit accuracy", d >= -points, f"{d:+.2f} points vs fp32 (>= -{points})")
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
