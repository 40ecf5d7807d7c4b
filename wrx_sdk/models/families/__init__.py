"""The family registry: one module per Hugging Face architecture.

A family knows how to read its config and state dict into canonical ``Weights``, how to
write them back, and how to run its layers in torch (host reference, fine-tuning and the
exported programs). Adding a family means adding one file here and one line in
``FAMILY_MODULES``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from wrx_sdk.errors import ModelError
from wrx_sdk.formats.geometry import Geometry
from wrx_sdk.models.weights import Weights

FAMILY_MODULES = {"bert": "wrx_sdk.models.families.bert", "mpnet": "wrx_sdk.models.families.mpnet"}


class Family(Protocol):
    NAME: str
    MODEL_TYPES: tuple[str, ...]
    # None: the attention score bias is the key mask, one row for every head; "relative": a
    # per-head table over relative positions (store role REL_POS_BIAS), which the programs
    # take as a [heads, S, S] bias input and the manifest declares (model.position_bias).
    POSITION_BIAS: str | None

    def geometry_from_config(self, cfg: dict[str, Any]) -> Geometry: ...
    def weights_from_state_dict(self, sd: dict[str, np.ndarray], geom: Geometry) -> Weights: ...
    def state_dict_from_weights(self, w: Weights) -> dict[str, np.ndarray]: ...
    def hf_config(self, geom: Geometry, labels: list[str], base: dict[str, Any]) -> dict: ...
    def extra_embed_tensors(self, w: Weights, max_seq: int) -> list: ...

    # The torch forward (host reference, fine-tuning): embed, attention_bias(mask, embed
    # tensors), encoder_layer and classify; see bert.py.


def family(name: str) -> Family:
    try:
        return importlib.import_module(FAMILY_MODULES[name])  # type: ignore[return-value]
    except KeyError:
        raise ModelError(f"unknown model family {name!r}; known: {sorted(FAMILY_MODULES)}") from None


def family_for_config(cfg: dict[str, Any], where: Path) -> Family:
    mt = cfg.get("model_type")
    for name in FAMILY_MODULES:
        fam = family(name)
        if mt in fam.MODEL_TYPES:
            return fam
    raise ModelError(
        f"{where}/config.json: model_type {mt!r} is not supported; wrx knows "
        f"{sorted(t for n in FAMILY_MODULES for t in family(n).MODEL_TYPES)}",
        hint="add a family module under wrx_sdk/models/families/ (docs/ARCHITECTURE.md, 'New family')",
    )
