"""Family-independent containers: model geometry and canonical weights.

Canonical names are the store's tensor roles in lower case (``q_w``, ``ffn2_w``...), with
weights in ``[out, in]`` layout, so sharding and the store never see family-specific keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..errors import ManifestError

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


@dataclass
class Weights:
    geometry: Geometry
    embed: dict[str, np.ndarray]
    layers: list[dict[str, np.ndarray]]
    head: dict[str, np.ndarray] = field(default_factory=dict)

    def n_params(self) -> int:
        n = sum(a.size for a in self.embed.values())
        n += sum(a.size for layer in self.layers for a in layer.values())
        return n + sum(a.size for a in self.head.values() if a is not None)
