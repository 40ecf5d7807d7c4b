"""YAML configuration under ``configs/``: the one place where defaults live."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

from wrx_sdk.errors import WrxError

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(os.environ.get("WRX_CONFIG_DIR", REPO_ROOT / "configs"))


@functools.cache
def load(name: str) -> dict[str, Any]:
    """Load ``configs/<name>.yaml``."""
    path = CONFIG_DIR / f"{name}.yaml"
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError as e:
        raise WrxError(
            f"config file {path} is missing",
            hint="run from a full checkout of wrx, or set WRX_CONFIG_DIR to its configs/",
        ) from e
    except yaml.YAMLError as e:
        raise WrxError(f"config file {path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise WrxError(f"config file {path}: top level must be a mapping")
    return data


def defaults(section: str) -> dict[str, Any]:
    """One section of ``configs/wrx.yaml``."""
    return dict(load("wrx").get(section, {}))


def cache_dir() -> Path:
    """Where heavy artefacts (fine-tuned checkpoints, the test adbd) are cached."""
    base = os.environ.get("WRX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "wrx"
    )
    p = Path(base)
    p.mkdir(parents=True, exist_ok=True)
    return p
