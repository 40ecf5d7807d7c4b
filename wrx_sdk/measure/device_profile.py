"""Measure a device for the planner with ``wrx-loader --profile`` run on the device itself.

The paper profiled offline; WRX measures the target: read MB/s per request size, compute
per shard count and lane count, decode GB/s. The compute timings are for the package's
programs and geometry, so a profile belongs to a package.
"""

from __future__ import annotations

import time
from pathlib import Path

from wrx_sdk.devices.base import Device
from wrx_sdk.errors import WrxError
from wrx_sdk.formats.manifest import open_package


def measure_device(out: Path, dev: Device, threads: int, io_bandwidth: float) -> dict:
    """The loader's raw profile, stamped with when, where and for which package."""
    with open_package(out) as pkg:
        for prog in ("layer", "attn", "ffn"):
            pkg.program_path(prog)
        crc = pkg.manifest["store"]["table_crc32"]
    args = ["--profile", "--threads", str(threads)]
    if io_bandwidth:
        args += ["--io-bandwidth", str(io_bandwidth)]
    res = dev.run_loader(out, args, progress=False)
    rep = res.report
    if res.returncode != 0 or not rep.get("ok"):
        err = rep.get("error") or {}
        raise WrxError(
            f"wrx-loader --profile failed on {dev.name}: {err.get('message', '')}",
            hint=err.get("hint") or "see the loader output above",
        )
    rep = {k: v for k, v in rep.items() if k not in ("ok", "error", "mode")}
    rep["profiled_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rep["device"]["name"] = dev.name
    rep["package_table_crc32"] = crc  # which package's programs were timed
    return rep
