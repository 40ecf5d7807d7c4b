"""Device profiles (FORMAT.md, "Device profile"): what ``wrx profile-device`` measured.

``wrx-loader --profile`` writes the measurements; the build side adds the calibration and
keeps the whole as YAML under OUT/profiles/. The planners read nothing else about a device.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from wrx_sdk.errors import WrxError
from wrx_sdk.formats.files import atomic_open

FORMAT = "wrx-profile"
PROFILE_VERSION = 5  # wrx-loader --profile's format_version


def write_profile(path: str | Path, rep: dict) -> None:
    with atomic_open(path, "w") as f:
        f.write("# wrx device profile (docs/FORMAT.md, 'Device profile'); written by wrx profile-device\n")
        yaml.safe_dump(rep, f, sort_keys=False)


def load_profile(path: str | Path) -> dict:
    p = Path(path)
    try:
        d = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise WrxError(
            f"device profile {p} does not exist", hint="wrx profile-device OUT --device DEV"
        ) from None
    version = d.get("format_version") if isinstance(d, dict) else None
    if not isinstance(d, dict) or d.get("format") != FORMAT or version != PROFILE_VERSION:
        raise WrxError(
            f"{p}: field format_version is {version}, this wrx reads version-{PROFILE_VERSION} "
            "device profiles (older ones lack the timings per length, the lane timings or the 8-bit head's)",
            hint="re-run wrx profile-device",
        )
    return d


def timings_at(profile: dict, length: int) -> dict:
    """The compute timings for queries of ``length`` tokens: ``compute_ms_by_shards``,
    ``lane_compute_ms_by_shards``, ``finish_layer_ms`` and ``embed_ms``, interpolated
    linearly between the two measured lengths around it (``by_length``), and those of the
    shortest measured length below it (an upper bound: compute grows with length)."""
    top = {
        "compute_ms_by_shards": profile["compute_ms_by_shards"],
        "lane_compute_ms_by_shards": profile["lane_compute_ms_by_shards"],
        "finish_layer_ms": profile["overheads"]["finish_layer_ms"],
        "embed_ms": profile["overheads"]["embed_ms"],
    }
    by = {int(k): v for k, v in (profile.get("by_length") or {}).items()}
    if not by or length >= int(profile["seq_len"]):
        return top
    lens = sorted(by)
    if length <= lens[0]:
        return by[lens[0]]
    hi = next(n for n in lens if n >= length)
    lo = max(n for n in lens if n < length)
    w = (length - lo) / (hi - lo)

    def mix(a, b):
        if isinstance(a, dict):
            return {k: mix(a[k], b[k]) for k in a}
        if isinstance(a, list):
            return [mix(x, y) for x, y in zip(a, b, strict=True)]
        if isinstance(a, bool) or isinstance(a, int):
            return a  # counts (lanes), not timings
        return (1 - w) * float(a) + w * float(b)

    return mix(by[lo], by[hi])
