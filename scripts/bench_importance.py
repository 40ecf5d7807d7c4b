#!/usr/bin/env python3
"""Importance at bounded cost (issue 21): fewer calib rows, shown on MiniLM to rank and plan
like the full table before mpnet-base relies on it.

The table's cost is one forward from the perturbed layer up per (layer, shard, fidelity)
entry: about 15 times MiniLM's for mpnet-base (twice the layers, each four times the
compute). The rows run in length-sorted chunks (``importance.CHUNK_ROWS``), exact, and
the cheaper table takes --samples rows instead of the planner's default 128.

MiniLM (the bench package): the 128-row table and the --samples-row table, then
  rank correlation (Spearman) of their KL entries, all (layer, shard, fidelity) and the
  width costs: >= 0.9;
  for T on a grid from the minimum feasible to 1.5x the predicted fp32 plan, M in {4, 8}
  MB: the wrx planner's plan from each table, dev accuracy on the host reference: within
  0.5 points at every cell.
mpnet-base (--mpnet, the bench package, fine-tune cached): the --samples-row table timed
  from scratch: <= 25 minutes on this machine.
Every check prints PASS or FAIL; the exit status is 1 when one fails.
Usage: .venv/bin/python scripts/bench_importance.py [--samples N] [--mpnet]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _bench_common import Checks, bench_package

from wrx_sdk.errors import PlanError  # noqa: E402
from wrx_sdk.formats.device_profile import load_profile  # noqa: E402
from wrx_sdk.formats.manifest import open_package  # noqa: E402
from wrx_sdk.formats.plan import Plan  # noqa: E402
from wrx_sdk.measure.evaluate import evaluate  # noqa: E402
from wrx_sdk.measure.importance import importance  # noqa: E402
from wrx_sdk.measure.reference import ReferenceExecutor  # noqa: E402
from wrx_sdk.planning.calibration import profile_device  # noqa: E402
from wrx_sdk.planning.common import latency_headroom, min_target_ms, smallest_plans  # noqa: E402
from wrx_sdk.planning.cost_model import CostModel  # noqa: E402
from wrx_sdk.planning.planner import Confirmer, make_plan  # noqa: E402

FULL = 128  # the planner's default importance rows: the table the cheaper one stands in for
MEMORIES = (4, 8)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (floats: ties do not occur in practice)."""
    ra, rb = np.argsort(np.argsort(a.ravel())), np.argsort(np.argsort(b.ravel()))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=64, help="calib rows of the cheaper table")
    ap.add_argument("--mpnet", action="store_true", help="also time the table on mpnet-base")
    ap.add_argument("--io-bandwidth", type=float, default=250.0)
    a = ap.parse_args()
    checks = Checks()
    out, _ = bench_package()
    t = time.time()
    full = importance(out, samples=FULL, progress=True)
    cheap = importance(out, samples=a.samples, progress=True)
    print(f"MiniLM tables ({FULL} and {a.samples} rows; cached ones are reused): {time.time() - t:.0f} s")
    kl_f, kl_c = np.array(full["importance"])[..., 1], np.array(cheap["importance"])[..., 1]
    rho = spearman(kl_f, kl_c)
    per_fid = [spearman(kl_f[:, :, i], kl_c[:, :, i]) for i in range(kl_f.shape[2])]
    rho_w = spearman(np.array(full["width"])[..., 1], np.array(cheap["width"])[..., 1])
    fids = ", ".join(f"{b or 'drop'}: {r:.3f}" for b, r in zip(full["fidelities"], per_fid, strict=True))
    print(f"per fidelity: {fids}")

    prof_path = out / "profiles" / "local.yaml"
    if not prof_path.is_file():
        profile_device(out, "local", io_bandwidth=a.io_bandwidth, threads=2, progress=False)
    rows = []
    with open_package(out) as pkg:
        cm = CostModel(pkg, load_profile(prof_path))
        L, M = pkg.geometry.layers, pkg.spec.shards_per_layer
        headroom = latency_headroom()
        feasible = [lat for lat, mem, _, _ in smallest_plans(cm) if mem <= max(MEMORIES) * 2**20]
        t_lo = min_target_ms(min(feasible), headroom) * 1.05
        fp32 = Plan.uniform(L, M, 32, L)
        t_hi = 1.5 * cm.predict(fp32, fp32.knobs).latency_ms
        targets = [round(float(x), 2) for x in np.geomspace(t_lo, t_hi, 4)[1:]]
        confirm = Confirmer(pkg, 512)
        ex = ReferenceExecutor(pkg)
        for t_ms in targets:
            for mem in MEMORIES:
                accs = []
                for n in (FULL, a.samples):
                    try:
                        plan, _ = make_plan(
                            out, t_ms, mem, samples=n, name=f"bench-imp-n{n}-t{t_ms:g}-m{mem:g}",
                            progress=False, confirm=confirm,
                        )  # fmt: skip
                    except PlanError:
                        break
                    accs.append(evaluate(pkg, plan=plan, executor=ex, progress=False).accuracy)
                if len(accs) == 2:
                    rows.append((t_ms, mem, *accs))
    print(f"\n| T ms | M MB | dev acc, {FULL}-row table | dev acc, {a.samples}-row table | difference |")
    print("|---:|---:|---:|---:|---:|")
    for t_ms, mem, af, ac in rows:
        print(f"| {t_ms:g} | {mem} | {af * 100:.2f}% | {ac * 100:.2f}% | {(ac - af) * 100:+.2f} |")
    print()
    checks.check(
        f"MiniLM: {a.samples}-row table ranks like the {FULL}-row one",
        rho >= 0.9 and rho_w >= 0.9,
        f"Spearman {rho:.3f} over every KL entry, {rho_w:.3f} over the width costs (>= 0.9)",
    )
    worst = max((abs(ac - af) for _, _, af, ac in rows), default=None)
    checks.check(
        "MiniLM: chosen plans' dev accuracy within 0.5 pt",
        worst is not None and worst <= 0.005,
        f"{len(rows)} cells, largest difference {worst * 100 if worst is not None else float('nan'):.2f} pt",
    )
    if a.mpnet:
        mp, _ = bench_package("mpnet-base")
        t = time.time()
        importance(mp, samples=a.samples, progress=True, use_cache=False)
        s = time.time() - t
        checks.check(f"mpnet-base: {a.samples}-row table within 25 min", s <= 25 * 60, f"{s / 60:.1f} min")
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
