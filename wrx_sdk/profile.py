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


CALIBRATION_PLANS = (  # (bits, preloaded layers, knobs): one with many small calls, one with few large
    (4, 1, {"readahead_kb": 2048, "chunk_kb": 400, "head_resident": False}),
    (4, 0, {"readahead_kb": 4096, "chunk_kb": 1600, "head_resident": True}),
)


def _calibrate(out: Path, rep: dict, dev, threads: int, io_bandwidth: float, progress: bool) -> dict:
    """Run the elastic pipeline on two uniform plans and compare its compute with the sum
    of the isolated program timings: the ratio scales the planner's compute predictions."""
    from .predict import CostModel, Knobs

    ratios, runs = [], []
    with open_package(out) as pkg:
        cm = CostModel(pkg, rep)
        g, M = pkg.geometry, pkg.spec.shards_per_layer
        for bits, pre, knobs in CALIBRATION_PLANS:
            plan = Plan.uniform(g.layers, M, bits, pre)
            plan.name = f"calibrate-{bits}-pre{pre}-chunk{knobs['chunk_kb']}"
            plan.pipeline = knobs
            path = plan.save(out / "plans" / f"_{plan.name}.json")
            args = ["--mode", "elastic", "--plan", str(path), "--limit", "40", "--threads", str(threads)]
            if io_bandwidth:
                args += ["--io-bandwidth", str(io_bandwidth)]
            res = dev.run_loader(out, args, progress=False)
            if res.returncode != 0 or not res.report.get("ok"):
                raise WrxError(
                    f"calibration run {plan.name} failed on {dev.name}", hint="see the loader output above"
                )
            measured = float(np.median([r["compute_ms"] for r in res.report["inferences"][5:]]))
            predicted = cm.compute_only_ms(plan, Knobs(**knobs)) - cm.embed_ms - cm.head_ms
            ratios.append(measured / predicted)
            runs.append({"plan": plan.name, "measured_compute_ms": measured, "isolated_sum_ms": predicted})
            if progress:
                print(
                    f"  calibration {plan.name}: pipeline compute {measured:.2f} ms, "
                    f"isolated sum {predicted:.2f} ms"
                )
    return {"compute_scale": float(np.mean(ratios)), "runs": runs}


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
