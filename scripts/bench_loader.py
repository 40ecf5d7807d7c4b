#!/usr/bin/env python3
"""Per-inference latency, side by side in one run, on the fine-tuned MiniLM (batch 1, seq 128):

  wrx-loader load-all fp32 and 4-bit (C++, ExecuTorch runtime, XNNPACK),
  ExecuTorch's Python runtime running the same layer program,
  eager torch (the host reference executor's forward).

Prints ratios against eager torch, then the check (PASS/FAIL; exit status 1 on a failure):
wrx-loader fp32 <= 1.1x eager torch. Usage: .venv/bin/python scripts/bench_loader.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _bench_common import Checks  # noqa: E402

from wrx_sdk import config  # noqa: E402
from wrx_sdk.builder.export import LAYER_INPUTS  # noqa: E402
from wrx_sdk.builder.package import package  # noqa: E402
from wrx_sdk.formats import devdata  # noqa: E402
from wrx_sdk.formats.manifest import open_package  # noqa: E402
from wrx_sdk.formats.plan import Plan  # noqa: E402
from wrx_sdk.measure.reference import ReferenceExecutor  # noqa: E402
from wrx_sdk.models.families import bert  # noqa: E402
from wrx_sdk.models.finetune import finetune  # noqa: E402


def loader_latency(out: Path, bits: int, rows: int, threads: int) -> tuple[float, dict]:
    rep = out / f"bench-loader-{bits}.json"
    cmd = [
        str(ROOT / "build/host/bundle/wrx-loader"),
        "--package",
        str(out),
        "--bits",
        str(bits),
        "--limit",
        str(rows),
        "--threads",
        str(threads),
        "--report",
        str(rep),
        "--quiet",
    ]
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    r = json.loads(rep.read_text())
    lat = [i["latency_ms"] for i in r["inferences"]][3:]  # drop warm-up rows
    return statistics.median(lat), r


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    work = config.cache_dir() / "bench-loader"
    finetune("minilm-l6", "rt-polarity", work / "ckpt", progress=False)
    out = work / "pkg"
    package(work / "ckpt", "rt-polarity", out, progress=False)

    res = {}
    res["wrx-loader fp32"], rep32 = loader_latency(out, 32, a.rows, a.threads)
    res["wrx-loader 4-bit"], _ = loader_latency(out, 4, a.rows, a.threads)

    with open_package(out) as pkg:
        g = pkg.geometry
        ex = ReferenceExecutor(pkg, threads=a.threads)
        layers = [ex.layer_weights(lp) for lp in Plan.uniform(g.layers, pkg.spec.shards_per_layer, 32).layers]
        enc, _ = devdata.read(pkg.data_path("dev"))
        S = pkg.max_seq_len
        word = {}

        def embed(i: int) -> tuple[torch.Tensor, torch.Tensor]:
            ids = enc.input_ids[i : i + 1]
            x = bert.embed(
                torch.from_numpy(ids.astype(np.int64)),
                torch.from_numpy(enc.token_type_ids[i : i + 1].astype(np.int64)),
                word[i],
                ex.embed,
                g.ln_eps,
            )
            mask = torch.from_numpy((np.arange(S)[None] < enc.lengths[i]).astype(np.int64))
            return x, bert.attention_bias(mask)

        names = LAYER_INPUTS[2:]  # the 16 weight inputs, in program order

        def timed(fn) -> float:
            """Embedding compute, layers and head; word rows are gathered before the clock
            starts, as the loader's load-all mode holds the whole table in memory."""
            ts = []
            for i in range(a.rows):
                if i not in word:
                    word[i] = torch.from_numpy(pkg.store.word_rows(enc.input_ids[i : i + 1]))
                t = time.perf_counter()
                x, bias = embed(i)
                fn(x, bias)
                ts.append((time.perf_counter() - t) * 1e3)
            return statistics.median(ts[3:])

        @torch.no_grad()
        def eager(x, bias):
            for w in layers:
                x = bert.encoder_layer(x, bias, w, g.head_dim, g.ln_eps)
            return bert.classify(x, ex.head)

        res["eager torch (host reference)"] = timed(eager)

        from executorch.runtime import Runtime

        method = Runtime.get().load_program(str(pkg.program_path("layer"))).load_method("forward")
        flat = [[w[n].contiguous() for n in names] for w in layers]

        @torch.no_grad()
        def et_python(x, bias):
            for w in flat:
                x = method.execute([x, bias, *w])[0]
            return bert.classify(x, ex.head)

        res["ExecuTorch Python runtime"] = timed(et_python)

    base = res["eager torch (host reference)"]
    print(f"MiniLM-L6 (rt-polarity), batch 1, seq {S}, {a.threads} threads, median of {a.rows - 3} rows")
    print(f"cpu: {rep32['device']['cpu']} ({rep32['device']['cores']} cores)\n")
    print("| runner | median ms/inference | vs eager torch |")
    print("|---|---:|---:|")
    for k, v in res.items():
        print(f"| {k} | {v:.2f} | {v / base:.2f}x |")
    checks = Checks()
    print()
    r = res["wrx-loader fp32"] / base
    checks.check("wrx-loader fp32 vs eager torch", r <= 1.1, f"{r:.2f}x (<= 1.1)")
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
