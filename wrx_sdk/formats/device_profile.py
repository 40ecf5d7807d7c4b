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
PROFILE_VERSION = 4  # wrx-loader --profile's format_version


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
            "device profiles (older ones lack the lane timings or the 8-bit head's)",
            hint="re-run wrx profile-device",
        )
    return d
