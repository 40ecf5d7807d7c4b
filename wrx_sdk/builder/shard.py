"""Vertical sharding of a transformer layer (docs/ARCHITECTURE.md, "The technique").

Shard j of a layer holds heads [j*h, (j+1)*h) -- their Q/K/V rows and biases and their
columns of the output projection -- and FFN slice j: rows of W1 with their bias and the
matching columns of W2. Any subset of a layer's shards is a valid smaller layer, which is
what lets the planner trade shards for latency.
"""

from __future__ import annotations

import numpy as np

from wrx_sdk.errors import WrxError
from wrx_sdk.formats.geometry import Geometry, ShardSpec

ROW_BLOCKS = ("q_w", "k_w", "v_w", "ffn1_w")  # stacked along rows when shards are assembled
COL_BLOCKS = ("o_w", "ffn2_w")  # stacked along columns
VECTORS = ("q_b", "k_b", "v_b", "ffn1_b")
SHARED = ("o_b", "ln1_g", "ln1_b", "ffn2_b", "ln2_g", "ln2_b")


def make_spec(geom: Geometry, shards: int | None = None) -> ShardSpec:
    """One shard per head by default; any M that divides both the heads and the FFN width."""
    m = geom.heads if shards is None else int(shards)
    if m < 1 or geom.heads % m or geom.intermediate % m:
        ok = [d for d in range(1, geom.heads + 1) if geom.heads % d == 0 and geom.intermediate % d == 0]
        raise WrxError(
            f"--shards {m}: a layer of {geom.heads} heads and FFN width {geom.intermediate} "
            f"cannot be cut into {m} equal shards",
            hint=f"choose one of {ok}",
        )
    return ShardSpec(m, geom.heads // m, geom.head_dim, geom.intermediate // m)


def shard_of(layer: dict[str, np.ndarray], spec: ShardSpec, j: int) -> dict[str, np.ndarray]:
    a, f = spec.attn_width, spec.ffn_per_shard
    ra, rf = slice(j * a, (j + 1) * a), slice(j * f, (j + 1) * f)
    out = {k: layer[k][ra] for k in ("q_w", "k_w", "v_w", "q_b", "k_b", "v_b")}
    out["o_w"] = layer["o_w"][:, ra]
    out["ffn1_w"], out["ffn1_b"] = layer["ffn1_w"][rf], layer["ffn1_b"][rf]
    out["ffn2_w"] = layer["ffn2_w"][:, rf]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def assemble(shards: list[dict[str, np.ndarray]], shared: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """k shards (in plan order) plus the layer's shared tensors -> one layer's weights."""
    out = {k: np.concatenate([s[k] for s in shards], axis=0) for k in (*ROW_BLOCKS, *VECTORS)}
    out.update({k: np.concatenate([s[k] for s in shards], axis=1) for k in COL_BLOCKS})
    out.update({k: shared[k] for k in SHARED})
    return out
