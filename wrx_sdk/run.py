"""``wrx run``: execute a plan with wrx-loader on a device and keep its report."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .devices import get_device
from .errors import WrxError
from .fsutil import write_json
from .manifest import open_package
from .planspec import Plan


def run(
    out: str | Path,
    device: str = "local",
    mode: str = "load-all",
    bits: int | None = None,
    plan: str | Path | None = None,
    threads: int = 2,
    limit: int = 0,
    io_bandwidth: float = 0.0,
    progress: bool = True,
) -> tuple[dict, Path]:
    """Returns (report, path it was kept at under OUT/reports/<device>/)."""
    out = Path(out)
    with open_package(out) as pkg:  # fail early, on the host, with the Python reader's messages
        g = pkg.geometry
        if plan is not None:
            p = Plan.load(plan)
            p.validate(g.layers, pkg.spec.shards_per_layer, pkg.scheme.all_bits)
        pkg.program_path("layer")
    args = ["--mode", mode, "--threads", str(threads)]
    if plan is not None:
        args += ["--plan", str(Path(plan).resolve())]
        name = Plan.load(plan).name
    else:
        args += ["--bits", str(32 if bits is None else bits)]
        name = f"uniform-{32 if bits is None else bits}"
    if limit:
        args += ["--limit", str(limit)]
    if io_bandwidth:
        args += ["--io-bandwidth", str(io_bandwidth)]
    dev = get_device(device)
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
    return (
        f"{report['plan_name']} [{report['mode']}] on {report['device']['cpu']}: "
        f"accuracy {s['accuracy'] * 100:.2f}% over {s['n']} rows; "
        f"latency mean {lat['mean']:.2f} ms, p50 {lat['p50']:.2f}, p90 {lat['p90']:.2f}; "
        f"peak RSS {m['peak_rss_kb'] / 1024:.1f} MB, "
        f"weights resident {m['weight_bytes_resident'] / 1e6:.1f} MB; "
        f"IO {report['io']['mode']}"
    )


def load_report(path: Path) -> dict:
    return json.loads(Path(path).read_text())
