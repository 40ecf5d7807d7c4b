#!/usr/bin/env python3
"""Replay the wrx planner's length-bucket decision on the bench package, and show what dev
says about it: the evidence behind ``planner.bucket_confirm_z`` (docs/PLANNER.md, "Lengths").

For each (T, M) cell of the last ``scripts/bench_planner.py`` run (its summary.json), plans
with the wrx planner, and where the plan grew length buckets compares it with and without
them (kept either way; the planner's verdict is the last column), row by row, on calib
(what the planner may use) and on dev (what the bench checks): accuracy gain, rows fixed /
broken, and the paired z of the labels' negative log-likelihood and of the KL from fp32.
Host reference only; about 10 minutes on 2 cores. Run it while nothing is timed.

Usage: .venv/bin/python scripts/replay_buckets.py
"""

from __future__ import annotations

import copy
import json
import math
import sys

import numpy as np
import torch

from wrx_sdk import config
from wrx_sdk.errors import PlanError
from wrx_sdk.formats import devdata
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.measure.reference import ReferenceExecutor
from wrx_sdk.planning import planner
from wrx_sdk.planning.planner import Confirmer, make_plan

RULE = planner.buckets_confirmed
VERDICTS: list[bool] = []


def keep_all(paired: dict, z: float) -> bool:
    """The planner's verdict, recorded; the buckets stay either way, so dev can judge them."""
    VERDICTS.append(RULE(paired, z))
    return True


def paired(ex, top, plan, enc, labels, ref) -> dict:
    def rows(p):
        lp = torch.log_softmax(torch.from_numpy(ex.run(p, enc)), -1).numpy()
        nll = -lp[np.arange(len(labels)), labels]
        kl = (np.exp(ref) * (ref - lp)).sum(-1)
        return lp.argmax(-1) == labels, nll, kl

    (a0, n0, k0), (a1, n1, k1) = rows(top), rows(plan)

    def z(d):
        return float(d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))) if d.std() > 0 else 0.0

    return {
        "acc_gain_pt": round(float(a1.mean() - a0.mean()) * 100, 2),
        "fixed": int((a1 & ~a0).sum()),
        "broken": int((a0 & ~a1).sum()),
        "nll_z": round(z(n0 - n1), 2),
        "kl_z": round(z(k0 - k1), 2),
    }


def main() -> int:
    out = config.cache_dir() / "bench-pipeline" / "pkg"
    summary = out / "bench-planner" / "summary.json"
    if not summary.is_file():
        print(f"error: {summary} not found\nHINT: run scripts/bench_planner.py first", file=sys.stderr)
        return 2
    s = json.loads(summary.read_text())
    cells = sorted({(r["T"], r["M"]) for r in s["rows"]})
    planner.buckets_confirmed = keep_all
    with open_package(out) as pkg:
        conf = Confirmer(pkg, int(config.defaults("planner")["confirm_rows"]))
        ex = ReferenceExecutor(pkg)
        dev, dev_y = devdata.read(pkg.data_path("dev"))
        ref_dev = torch.log_softmax(torch.from_numpy(ex.run(conf._full, dev)), -1).numpy()
        print("| T ms | M MB | calib: acc gain, fixed/broken, NLL z, KL z | dev: the same | kept |")
        print("|---:|---:|---|---|---|")
        for t, m in cells:
            try:
                plan, path = make_plan(out, t, m, name=f"replay-t{t:g}-m{m:g}", progress=False, confirm=conf)
            except PlanError:
                continue
            path.unlink()
            if plan.meta.get("bucket_confirmation") is None:
                continue  # no bucket set grew
            top = copy.deepcopy(plan)
            top.by_length = []
            c = paired(ex, top, plan, conf.enc, conf.labels, conf.ref.numpy())
            d = paired(ex, top, plan, dev, dev_y, ref_dev)

            def fmt(x):
                return f"{x['acc_gain_pt']:+.2f} pt, {x['fixed']}/{x['broken']}, {x['nll_z']}, {x['kl_z']}"

            kept = "yes" if VERDICTS[-1] else "no"
            print(f"| {t:g} | {m:g} | {fmt(c)} | {fmt(d)} | {kept} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
