"""``wrx profile-device``: measure a device for the planner and keep the result as YAML.

The measurements come from ``wrx-loader --profile`` run on the device itself (DESIGN.md:
the paper profiled offline; WRX measures the target). The compute timings are for the
package's programs and geometry, so a profile belongs to a package: OUT/profiles/<device>.yaml.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from .devices import get_device
from .errors import WrxError
from .fsutil import atomic_open
from .manifest import open_package


def profile_device(
    out: str | Path,
    device: str = "local",
    io_bandwidth: float = 0.0,
    threads: int = 2,
    key: str | None = None,
    remote_dir: str | None = None,
    dest: str | Path | None = None,
) -> Path:
    out = Path(out)
    with open_package(out) as pkg:
        for prog in ("layer", "attn", "ffn"):
            pkg.program_path(prog)
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
    path = Path(dest) if dest else out / "profiles" / f"{dev.name}.yaml"
    with atomic_open(path, "w") as f:
        f.write("# wrx device profile (docs/FORMAT.md, 'Device profile'); written by wrx profile-device\n")
        yaml.safe_dump(rep, f, sort_keys=False)
    return path


def load_profile(path: str | Path) -> dict:
    p = Path(path)
    try:
        d = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise WrxError(
            f"device profile {p} does not exist", hint="wrx profile-device OUT --device DEV"
        ) from None
    if not isinstance(d, dict) or d.get("format") != "wrx-profile" or d.get("format_version") != 1:
        raise WrxError(f"{p}: not a version-1 wrx device profile", hint="re-run wrx profile-device")
    return d
