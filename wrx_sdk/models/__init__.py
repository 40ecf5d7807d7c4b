"""Checkpoint loading: a built-in model name or a Hugging Face checkpoint directory
becomes canonical ``Weights`` through its family (``wrx_sdk.models.families``)."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wrx_sdk import config
from wrx_sdk.errors import ModelError
from wrx_sdk.models.families import Family, family, family_for_config
from wrx_sdk.models.weights import Weights


def builtin_names() -> dict[str, dict]:
    return config.load("models")


def resolve(name_or_dir: str | Path) -> Path:
    """A checkpoint directory for a built-in name or a path."""
    p = Path(name_or_dir)
    if p.is_dir():
        return p
    models = builtin_names()
    if str(name_or_dir) in models:
        spec = models[str(name_or_dir)]
        if "split_zip" in spec:
            from wrx_sdk.models.split_zip import resolve_split

            return resolve_split(str(name_or_dir), spec)
        found = importlib.util.find_spec(spec["package"])
        if found is None or not found.submodule_search_locations:
            raise ModelError(
                f"built-in model {name_or_dir!r} needs the PyPI package {spec['package']!r}, "
                "which is not installed",
                hint="run scripts/setup.sh",
            )
        d = Path(list(found.submodule_search_locations)[0]) / spec.get("subdir", "")
        if not (d / "config.json").is_file():
            raise ModelError(f"package {spec['package']} has no checkpoint at {d}")
        return d
    raise ModelError(
        f"model {str(name_or_dir)!r} is neither a directory nor a built-in name "
        f"(built-ins: {', '.join(models)})",
        hint="pass a Hugging Face checkpoint directory (config.json + weights + tokenizer)",
    )


@dataclass
class Checkpoint:
    path: Path
    family: Family
    config: dict[str, Any]
    weights: Weights
    labels: list[str] | None  # None when the checkpoint has no classifier head


def read_config(d: Path) -> dict[str, Any]:
    try:
        with open(d / "config.json") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ModelError(f"{d} has no config.json: not a Hugging Face checkpoint directory") from None
    except json.JSONDecodeError as e:
        raise ModelError(f"{d}/config.json is not valid JSON: {e}") from None


def read_state_dict(d: Path) -> dict[str, np.ndarray]:
    st, binf = d / "model.safetensors", d / "pytorch_model.bin"
    if st.is_file():
        from safetensors.numpy import load_file

        try:
            return load_file(str(st))
        except Exception as e:
            raise ModelError(f"{st}: cannot read safetensors: {e}") from None
    if binf.is_file():
        import torch

        try:
            sd = torch.load(binf, map_location="cpu", weights_only=True)
        except Exception as e:
            raise ModelError(f"{binf}: cannot read: {e}") from None
        return {k: v.float().numpy() if v.is_floating_point() else v.numpy() for k, v in sd.items()}
    raise ModelError(f"{d} has neither model.safetensors nor pytorch_model.bin")


def load_checkpoint(name_or_dir: str | Path) -> Checkpoint:
    d = resolve(name_or_dir)
    cfg = read_config(d)
    fam = family_for_config(cfg, d)
    geom = fam.geometry_from_config(cfg)
    weights = fam.weights_from_state_dict(read_state_dict(d), geom)
    labels = None
    if weights.head.get("cls_w") is not None:
        id2label = cfg.get("id2label") or {}
        labels = [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(geom.num_labels)]
    return Checkpoint(d, fam, cfg, weights, labels)


__all__ = ["Checkpoint", "Weights", "family", "load_checkpoint", "resolve"]
