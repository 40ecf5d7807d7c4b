"""``wrx demo``: the README's main command, the whole story on the embedded ``local`` device
with an emulated eMMC bandwidth cap.

Fine-tune (cached), package, importance (cached), profile the device (cached per package
and cap), plan three targets with both planners (cached per inputs), run every plan and the
baselines on the C++ loader, and write report.html. Settings: ``demo:`` in configs/wrx.yaml.
The runs are never cached: every number in the report comes from this invocation.
"""

from __future__ import annotations

import time
from pathlib import Path

from wrx_sdk.builder.package import package
from wrx_sdk.config import defaults
from wrx_sdk.devices.run import run
from wrx_sdk.errors import PlanError, WrxError
from wrx_sdk.formats.device_profile import load_profile
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.measure.importance import importance
from wrx_sdk.models.finetune import finetune
from wrx_sdk.planning.calibration import CALIBRATION_VERSION, profile_device
from wrx_sdk.planning.common import MIB, latency_headroom, min_target_ms, smallest_plans
from wrx_sdk.planning.cost_model import CostModel
from wrx_sdk.planning.planner import Confirmer, make_plan
from wrx_sdk.reports import load_runs, write_html
from wrx_sdk.reports.tables import short_table

BASELINES = (("load-all", 32), ("stdpl", 8), ("stdpl", 4))  # (mode, bits); load-all fp32 first
STEPS = 8


def _step(k: int, text: str) -> None:
    print(f"[{k}/{STEPS}] {text}", flush=True)


def cached_profile(out: Path, cap: float, crc: int) -> Path:
    """The device profile, re-measured only when the package or the cap changed."""
    path = out / "profiles" / "local.yaml"
    try:
        p = load_profile(path)
        current = (p.get("calibration") or {}).get("version") == CALIBRATION_VERSION
        if current and p.get("package_table_crc32") == crc and p["io"].get("bandwidth_cap_mbps") == cap:
            print(f"      cached: {path}")
            return path
    except WrxError:
        pass
    return profile_device(out, "local", io_bandwidth=cap)


def plan_targets(
    out: Path, prof: Path, memory_mb: float, fractions: list[float]
) -> tuple[list[float], float]:
    """Targets as fractions of the load-all fp32 latency (what does streaming cost at,
    below and above the speed of holding everything), each raised to just above the
    minimum feasible latency at M. The load-all latency is the profile's (its whole-layer
    program timings), not this run's measurement: the targets, and so the cached plans,
    stay put while run-to-run noise moves the measurement by several percent."""
    p = load_profile(prof)
    with open_package(out) as pkg:
        cm = CostModel(pkg, p)
        small = smallest_plans(cm)
        load_all = cm.embed_ms + cm.head_ms(32) + pkg.geometry.layers * p["compute_ms_by_shards"]["layer"][-1]
    feasible = [lat for lat, mem, _, _ in small if mem <= memory_mb * MIB]
    if not feasible:
        raise PlanError(
            f"demo: nothing fits {memory_mb:g} MB", hint="raise demo.memory_mb in configs/wrx.yaml"
        )
    lo = 1.1 * min_target_ms(min(feasible), latency_headroom())
    return sorted({round(max(lo, f * load_all), 1) for f in fractions}), load_all


def demo(workdir: Path, steps: int | None = None, model: str | None = None) -> Path:
    """model: a built-in name or checkpoint directory (default demo.model, minilm-l6)."""
    cfg = defaults("demo")
    model, task, cap = model or cfg["model"], cfg["task"], float(cfg["io_bandwidth_mbps"])
    memory_mb, rows = float(cfg["memory_mb"]), int(cfg["rows"])
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    _step(1, f"fine-tune {model} on {task} (cached after the first run)")
    ckpt = workdir / "checkpoint"
    finetune(model, task, ckpt, steps=steps)
    _step(2, "package: shard, quantize, write the store")
    out = workdir / "package"
    m = package(ckpt, task, out)
    print(f"      {out}/store.wrx: {m['store']['file_bytes'] / 1e6:.1f} MB")
    _step(3, f"importance of every (layer, shard, bits) on {cfg['importance_samples']} calib rows (cached)")
    importance(out, samples=int(cfg["importance_samples"]))
    _step(4, f"profile the local device, eMMC emulated at {cap:g} MB/s (cached per package)")
    prof = cached_profile(out, cap, m["store"]["table_crc32"])
    extra = ["--trace-rows", str(cfg["trace_rows"])]
    _step(
        5,
        f"baselines on wrx-loader over {rows} dev rows: " + ", ".join(f"{mo} {b}-bit" for mo, b in BASELINES),
    )
    reports = []
    for mode, bits in BASELINES:
        reports.append(run(out, mode=mode, bits=bits, io_bandwidth=cap, limit=rows, extra=extra)[1])
    targets, load_all = plan_targets(out, prof, memory_mb, [float(f) for f in cfg["target_fractions"]])
    print(f"      load-all fp32 from the profile's layer timings: {load_all:.2f} ms")
    _step(
        6, f"plan T = {', '.join(f'{t:g}' for t in targets)} ms at M = {memory_mb:g} MB, wrx and sti (cached)"
    )
    plans = []
    with open_package(out) as pkg:
        # one for all six plans: the fp32 reference runs once, and only if a plan is made
        confirm = Confirmer(pkg, int(defaults("planner")["confirm_rows"]))
        for t in targets:
            for planner in ("wrx", "sti"):
                try:
                    plan, _ = make_plan(
                        out,
                        t,
                        memory_mb,
                        profile=prof,
                        planner=planner,
                        samples=int(cfg["importance_samples"]),
                        confirm=confirm,
                        reuse=True,
                    )
                except PlanError as e:
                    print(f"      {planner} at T={t:g}: {e.message}")
                    continue
                p = plan.meta["predicted"]
                mem = p["memory_bytes"]["total"] / MIB
                print(
                    f"      {plan.name}: predicted {p['latency_ms']:.2f} ms, {mem:.2f} MB, "
                    f"calib accuracy {p['calib_accuracy'] * 100:.1f}%"
                )
                plans.append(plan.name)
    _step(7, f"run the {len(plans)} plans on the elastic pipeline over {rows} dev rows")
    for name in plans:
        _, kept = run(out, mode="elastic", plan=name, io_bandwidth=cap, limit=rows, extra=extra)
        reports.append(kept)
    _step(8, "write the report")
    runs = load_runs(reports)
    page = write_html(runs, workdir / "report.html", title=f"WRX demo: {model} on {task}")
    print("\n" + short_table(runs))
    print(f"\nIO capped at {cap:g} MB/s to emulate eMMC; {rows} dev rows per run.")
    print(f"demo finished in {time.time() - t0:.0f} s\nreport: {page.resolve()}")
    return page
