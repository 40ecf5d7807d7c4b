"""``wrx run``: execute a plan with wrx-loader on a device and keep its report."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from wrx_sdk.devices import get_device
from wrx_sdk.errors import PlanError, WrxError
from wrx_sdk.formats.files import write_json
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.formats.plan import Plan

MODES = ("elastic", "load-all", "load-then-exec", "stdpl")
PRESET = re.compile(r"^uniform-(\d+)(?:-pre(\d+))?$")


def resolve_plan(out: Path, plan: str | Path | None, bits: int | None) -> tuple[list[str], str]:
    """Loader arguments and a name for a plan file, a named plan in OUT/plans/, a preset
    (``uniform-B`` or ``uniform-B-preL``: every shard at B bits, the first L layers
    preloaded) or ``--bits``."""
    if plan is None:
        b = 32 if bits is None else int(bits)
        return ["--bits", str(b)], f"uniform-{b}"
    m = PRESET.match(str(plan))
    if m and not Path(plan).is_file():
        return ["--bits", m.group(1), "--preload-layers", m.group(2) or "0"], str(plan)
    p = Path(plan)
    if not p.is_file() and (out / "plans" / f"{plan}.json").is_file():
        p = out / "plans" / f"{plan}.json"
    if not p.is_file():
        raise PlanError(
            f"plan {plan!r} is neither a file, a plan in {out / 'plans'}, nor a preset",
            hint="presets: uniform-B or uniform-B-preL (e.g. uniform-4-pre1)",
        )
    return ["--plan", str(p.resolve())], Plan.load(p).name


def run(
    out: str | Path,
    device: str = "local",
    mode: str = "elastic",
    bits: int | None = None,
    plan: str | Path | None = None,
    threads: int = 2,
    limit: int = 0,
    io_bandwidth: float = 0.0,
    progress: bool = True,
    extra: list[str] | None = None,
    key: str | None = None,
    remote_dir: str | None = None,
) -> tuple[dict, Path]:
    """Returns (report, path it was kept at under OUT/reports/<device>/)."""
    out = Path(out)
    if mode not in MODES:
        raise WrxError(f"unknown mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    plan_args, name = resolve_plan(out, plan, bits)
    with open_package(out) as pkg:  # fail early, on the host, with the Python reader's messages
        g = pkg.geometry
        if plan_args[0] == "--plan":
            Plan.load(plan_args[1]).validate(
                g.layers, pkg.spec.shards_per_layer, pkg.scheme.all_bits, pkg.max_seq_len
            )
        elif int(plan_args[1]) not in pkg.scheme.all_bits:
            raise PlanError(f"{plan_args[1]} bits is not in the store (stored: {list(pkg.scheme.all_bits)})")
        for prog in ("layer", "attn", "ffn"):
            pkg.program_path(prog)
    args = ["--mode", mode, "--threads", str(threads), *plan_args]
    if limit:
        args += ["--limit", str(limit)]
    if io_bandwidth:
        args += ["--io-bandwidth", str(io_bandwidth)]
    args += extra or []
    dev = get_device(device, key=key, remote_dir=remote_dir)
    res = dev.run_loader(out, args, progress=progress)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = out / "reports" / dev.name / f"{stamp}-{name}-{mode}.json"
    write_json(kept, res.report)
    if res.returncode != 0 or not res.report.get("ok"):
        err = res.report.get("error") or {}
        raise WrxError(
            f"wrx-loader failed ({err.get('code', f'exit {res.returncode}')}): "
            f"{err.get('message', '')}\n" + "\n".join(res.stderr_tail[-5:]),
            hint=err.get("hint") or f"see the report {kept}",
        )
    return res.report, kept


def summary(report: dict) -> str:
    s, m = report["summary"], report["memory"]
    lat = s["latency_ms"]
    bw = report["io"].get("bandwidth_cap_mbps")
    cap = f", capped at {bw:g} MB/s (emulated)" if bw else ""
    return (
        f"{report['plan_name']} [{report['mode']}] on {report['device']['cpu']}: "
        f"accuracy {s['accuracy'] * 100:.2f}% over {s['n']} rows; "
        f"latency mean {lat['mean']:.2f} ms, p50 {lat['p50']:.2f}, p90 {lat['p90']:.2f}; "
        f"peak RSS {m['peak_rss_kb'] / 1024:.1f} MB, "
        f"weight bytes at peak {m['weight_bytes_peak'] / 1e6:.2f} MB; "
        f"stall {s['stall_fraction'] * 100:.1f}% of latency; IO {report['io']['mode']}{cap}"
    )


def load_report(path: Path) -> dict:
    return json.loads(Path(path).read_text())
