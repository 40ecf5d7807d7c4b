"""``wrx profile-device``: measure a device for the planner and keep the result as YAML.

The measurements come from ``wrx-loader --profile`` run on the device itself (DESIGN.md:
the paper profiled offline; WRX measures the target). The compute timings are for the
package's programs and geometry, so a profile belongs to a package: OUT/profiles/<device>.yaml.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import yaml

from .devices import get_device
from .errors import WrxError
from .fsutil import atomic_open
from .manifest import open_package
from .planspec import Plan


def profile_device(
    out: str | Path,
    device: str = "local",
    io_bandwidth: float = 0.0,
    threads: int = 2,
    key: str | None = None,
    remote_dir: str | None = None,
    dest: str | Path | None = None,
    progress: bool = True,
) -> Path:
    out = Path(out)
    with open_package(out) as pkg:
        for prog in ("layer", "attn", "ffn"):
            pkg.program_path(prog)
        crc = pkg.manifest["store"]["table_crc32"]
    args = ["--profile", "--threads", str(threads)]
    if io_bandwidth:
        args += ["--io-bandwidth", str(io_bandwidth)]
    dev = get_device(device, key=key, remote_dir=remote_dir)
    res = dev.run_loader(out, args, progress=False)
    rep = res.report
    if res.returncode != 0 or not rep.get("ok"):
        err = rep.get("error") or {}
        raise WrxError(
            f"wrx-loader --profile failed on {device}: {err.get('message', '')}",
            hint=err.get("hint") or "see the loader output above",
        )
    rep = {k: v for k, v in rep.items() if k not in ("ok", "error", "mode")}
    rep["profiled_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rep["device"]["name"] = device
    rep["package_table_crc32"] = crc  # which package's programs were timed
    rep["calibration"] = _calibrate(out, rep, dev, threads, io_bandwidth, progress)
    path = Path(dest) if dest else out / "profiles" / f"{dev.name}.yaml"
    with atomic_open(path, "w") as f:
        f.write("# wrx device profile (docs/FORMAT.md, 'Device profile'); written by wrx profile-device\n")
        yaml.safe_dump(rep, f, sort_keys=False)
    return path


CALIBRATION_FIELDS = {
    "compute_scale",
    "fixed_ms",
    "words_extra_ms",
    "mb_compute_ms",
    "request_compute_ms",
    "request_io_ms",
}
CALIBRATION_ROWS = 40  # per run; the first CALIBRATION_SKIP are warm-up
CALIBRATION_SKIP = 5


def _calibration_plans(layers: int, M: int) -> dict[str, tuple[Plan, dict]]:
    """Three elastic plans that separate the pipeline's costs. ``resident`` streams nothing
    but the word rows: compute alone, and the fixed costs. ``contiguous`` streams the back
    half of the layers in one request per half: what each streamed byte costs compute
    (the IO thread's checksum preempts a compute thread). ``fragmented`` streams the same
    layers with bits alternating 4/6, so no two shards are adjacent in the store and each
    is its own request: what each request costs. All run with typical planner knobs."""
    knobs = {"readahead_kb": 1024, "chunk_kb": 800, "head_resident": True}
    front = max(1, layers // 2)
    resident = Plan.uniform(layers, M, 4, layers)
    contiguous = Plan.uniform(layers, M, 4, front)
    frag = Plan.uniform(layers, M, 4, front)
    for lp in frag.layers[front:]:
        lp.bits = [4 if j % 2 == 0 else 6 for j in range(M)]
    return {"resident": (resident, knobs), "contiguous": (contiguous, knobs), "fragmented": (frag, knobs)}


def _run_calibration(out: Path, dev, name: str, plan: Plan, knobs: dict, threads: int, io_bandwidth: float):
    plan.name, plan.pipeline = f"calibrate-{name}", knobs
    path = plan.save(out / "plans" / f"_{plan.name}.json")
    args = [
        "--mode",
        "elastic",
        "--plan",
        str(path),
        "--limit",
        str(CALIBRATION_ROWS),
        "--threads",
        str(threads),
    ]
    if io_bandwidth:
        args += ["--io-bandwidth", str(io_bandwidth)]
    res = dev.run_loader(out, args, progress=False)
    if res.returncode != 0 or not res.report.get("ok"):
        raise WrxError(
            f"calibration run {plan.name} failed on {dev.name}", hint="see the loader output above"
        )
    rows = res.report["inferences"][CALIBRATION_SKIP:]
    med = {k: float(np.median([r[k] for r in rows])) for k in ("latency_ms", "compute_ms", "stall_ms")}
    med["embed_stall_ms"] = float(np.median([r["embed_stall_ms"] for r in rows]))
    med["other_ms"] = float(np.median([r["latency_ms"] - r["compute_ms"] - r["stall_ms"] for r in rows]))
    return plan, med


def _calibrate(out: Path, rep: dict, dev, threads: int, io_bandwidth: float, progress: bool) -> dict:
    """Run the real pipeline on three plans and fit what isolated timings miss
    (docs/PLANNER.md, "Calibration"): the compute scale inside the pipeline, the fixed
    per-inference cost, the word-row reads' extra wait, the compute cost of each streamed
    MB and request, and the IO cost of each request."""
    from .predict import CostModel, Knobs

    cal: dict = {}
    with open_package(out) as pkg:
        g, M = pkg.geometry, pkg.spec.shards_per_layer
        plans = _calibration_plans(g.layers, M)
        meas = {
            k: _run_calibration(out, dev, k, p, kn, threads, io_bandwidth) for k, (p, kn) in plans.items()
        }
        cm = CostModel(pkg, {**rep, "calibration": {}})
        plan, m = meas["resident"]
        knobs = Knobs(**plan.pipeline)
        iso = cm.compute_only_ms(plan, knobs) - cm.embed_ms - cm.head_ms
        cal["compute_scale"] = cm.compute_scale = m["compute_ms"] / iso
        cal["fixed_ms"] = max(0.0, m["other_ms"] - cm.embed_ms - cm.head_ms)
        cal["words_extra_ms"] = max(0.0, m["embed_stall_ms"] - cm.words_ms)

        def excess(name: str) -> tuple[float, Plan]:
            plan, m = meas[name]
            return m["compute_ms"] - (cm.compute_only_ms(plan, knobs) - cm.embed_ms - cm.head_ms), plan

        ex, plan = excess("contiguous")
        cal["mb_compute_ms"] = cm.mb_compute_ms = max(0.0, ex / (cm.streamed_bytes(plan) / 1e6))
        ex, plan = excess("fragmented")
        ex -= cm.mb_compute_ms * cm.streamed_bytes(plan) / 1e6
        extra_req = cm.requests(plan) - cm.requests(meas["contiguous"][0])  # the same layers, more requests
        cal["request_compute_ms"] = cm.request_compute_ms = max(0.0, ex / max(1, extra_req))
        cm.words_ms += cal["words_extra_ms"]
        cm.fixed_ms = cal["fixed_ms"]
        cal["request_io_ms"] = _fit_request_io(cm, plan, knobs, meas["fragmented"][1]["stall_ms"])
        cal["runs"] = [{"plan": p.name, **{k: round(v, 4) for k, v in mm.items()}} for p, mm in meas.values()]
    if progress:
        print(
            "  calibration: compute x{compute_scale:.3f}, fixed {fixed_ms:.3f} ms, word rows "
            "+{words_extra_ms:.3f} ms; compute +{mb_compute_ms:.3f} ms per streamed MB and "
            "+{request_compute_ms:.4f} ms per request; IO +{request_io_ms:.4f} ms per request".format(**cal)
        )
    return cal


def _fit_request_io(cm, plan: Plan, knobs, stall_ms: float) -> float:
    """The per-request IO delay at which the simulated stall equals the measured one
    (bisection: the stall grows with it)."""

    def stall(x: float) -> float:
        cm.request_io_ms = x
        return cm.predict(plan, knobs).stall_ms

    lo, hi = 0.0, 2.0
    if stall(lo) >= stall_ms:
        return 0.0
    if stall(hi) <= stall_ms:
        return hi
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if stall(mid) < stall_ms else (lo, mid)
    return (lo + hi) / 2


def load_profile(path: str | Path) -> dict:
    p = Path(path)
    try:
        d = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise WrxError(
            f"device profile {p} does not exist", hint="wrx profile-device OUT --device DEV"
        ) from None
    if not isinstance(d, dict) or d.get("format") != "wrx-profile" or d.get("format_version") != 2:
        raise WrxError(
            f"{p}: not a version-2 wrx device profile (older profiles lack the memory section)",
            hint="re-run wrx profile-device",
        )
    return d
