"""The model's shape as a manifest records it: geometry, canonical tensor names, shard spec.

Canonical names are the store's tensor roles in lower case (``q_w``, ``ffn2_w``...), with
weights in ``[out, in]`` layout, so sharding and the store never see family-specific keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from wrx_sdk.errors import ManifestError

LAYER_KEYS = (
    "q_w",
    "q_b",
    "k_w",
    "k_b",
    "v_w",
    "v_b",
    "o_w",
    "o_b",
    "ln1_g",
    "ln1_b",
    "ffn1_w",
    "ffn1_b",
    "ffn2_w",
    "ffn2_b",
    "ln2_g",
    "ln2_b",
)
EMBED_KEYS = ("word_emb", "pos_emb", "type_emb", "emb_ln_g", "emb_ln_b")
HEAD_KEYS = ("pooler_w", "pooler_b", "cls_w", "cls_b")


@dataclass(frozen=True)
class Geometry:
    family: str
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    num_labels: int
    ln_eps: float
    act: str = "gelu"

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> Geometry:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - set(d) - {"act"}
        if missing:
            raise ManifestError(
                f"manifest field model.geometry is missing {sorted(missing)}", code="MANIFEST_FIELD"
            )
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class ShardSpec:
    shards_per_layer: int
    heads_per_shard: int
    head_dim: int
    ffn_per_shard: int

    @property
    def attn_width(self) -> int:
        return self.heads_per_shard * self.head_dim

    def to_json(self) -> dict:
        return {
            "shards_per_layer": self.shards_per_layer,
            "heads_per_shard": self.heads_per_shard,
            "head_dim": self.head_dim,
            "ffn_per_shard": self.ffn_per_shard,
        }
