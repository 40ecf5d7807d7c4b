"""MPNet family (MPNetModel / MPNetForSequenceClassification; all-mpnet-base-v2 is one).

The encoder layer is BERT's post-LN layer (``bert.encoder_layer``, shared), so only three
things are MPNet's own, and each is mapped onto what the store and the device already do:

- **Relative position bias.** Each attention score gets a learned bias per head for the
  bucketed distance between query and key, computed once per input and shared by every
  layer. The bucketing is float math (a log), so the packager evaluates it once into a
  table per head and relative position, ``[heads, 2 * max_seq_len - 1]`` (store role
  ``REL_POS_BIAS``), and every reader only gathers from it: the device never re-derives a
  bucket. A shard's program call gets the rows of its own heads.
- **Positions** start at padding_idx + 1 = 2 and there are no token types: the canonical
  ``pos_emb`` drops the first two rows and ``type_emb`` is one zero row, so BERT's
  embedding (word + position + type, LayerNorm) is exact for every real token.
- **Classification head** (``classifier.dense``, tanh, ``classifier.out_proj`` on ``<s>``):
  BERT's pooler and classifier under other names.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from wrx_sdk.errors import ModelError
from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.geometry import EMBED_KEYS, HEAD_KEYS, LAYER_KEYS, Geometry
from wrx_sdk.models.families import bert
from wrx_sdk.models.weights import Weights

NAME = "mpnet"
POSITION_BIAS = "relative"  # a per-head bias table (store role REL_POS_BIAS); the device gathers it
MODEL_TYPES = ("mpnet",)
POSITION_OFFSET = 2  # padding_idx + 1: the position id of a sequence's first token
MAX_DISTANCE = 128  # transformers' relative_position_bucket default, fixed by the architecture

_LAYER_HF = {
    "q_w": "attention.attn.q.weight",
    "q_b": "attention.attn.q.bias",
    "k_w": "attention.attn.k.weight",
    "k_b": "attention.attn.k.bias",
    "v_w": "attention.attn.v.weight",
    "v_b": "attention.attn.v.bias",
    "o_w": "attention.attn.o.weight",
    "o_b": "attention.attn.o.bias",
    "ln1_g": "attention.LayerNorm.weight",
    "ln1_b": "attention.LayerNorm.bias",
    "ffn1_w": "intermediate.dense.weight",
    "ffn1_b": "intermediate.dense.bias",
    "ffn2_w": "output.dense.weight",
    "ffn2_b": "output.dense.bias",
    "ln2_g": "output.LayerNorm.weight",
    "ln2_b": "output.LayerNorm.bias",
}
_EMBED_HF = {
    "word_emb": "embeddings.word_embeddings.weight",
    "pos_emb": "embeddings.position_embeddings.weight",
    "emb_ln_g": "embeddings.LayerNorm.weight",
    "emb_ln_b": "embeddings.LayerNorm.bias",
    "rel_bias": "encoder.relative_attention_bias.weight",  # [buckets, heads]
}
_HEAD_HF = {
    "pooler_w": "classifier.dense.weight",
    "pooler_b": "classifier.dense.bias",
    "cls_w": "classifier.out_proj.weight",
    "cls_b": "classifier.out_proj.bias",
}


def geometry_from_config(cfg: dict[str, Any]) -> Geometry:
    # no token types: one zero row (module docstring)
    return bert.config_geometry(cfg, NAME, POSITION_OFFSET, lambda c: 1, 1e-5)


def _normalize_keys(sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Accept MPNetModel (no prefix; its pooler is not the classification head) and
    MPNetForSequenceClassification (``mpnet.`` prefix, ``classifier.*``)."""
    out = {}
    for k, v in sd.items():
        if k.startswith("pooler."):
            continue
        if not k.startswith("mpnet.") and not k.startswith("classifier."):
            k = "mpnet." + k
        out[k] = v
    return out


def weights_from_state_dict(sd: dict[str, np.ndarray], geom: Geometry) -> Weights:
    embed, layers, head = bert.read_tensors(
        _normalize_keys(sd), geom, "mpnet.", _EMBED_HF, _LAYER_HF, _HEAD_HF
    )
    embed["pos_emb"] = np.ascontiguousarray(embed["pos_emb"][POSITION_OFFSET:])
    embed["type_emb"] = np.zeros((1, geom.hidden), np.float32)
    w = Weights(geom, embed, layers, head)
    bert.check_shapes(w)
    rb = embed["rel_bias"]
    if rb.ndim != 2 or rb.shape[1] != geom.heads or rb.shape[0] < 2:
        raise ModelError(
            f"checkpoint encoder.relative_attention_bias: shape {rb.shape}, expected [buckets, {geom.heads}]"
        )
    return w


def state_dict_from_weights(w: Weights) -> dict[str, np.ndarray]:
    """The MPNetForSequenceClassification state dict. The two position rows the canonical
    weights drop are written as zeros: row 1 is the padding row (zero, and never trained),
    row 0 is never looked up."""
    e = dict(w.embed)
    e["pos_emb"] = np.concatenate([np.zeros((POSITION_OFFSET, w.geometry.hidden), np.float32), e["pos_emb"]])
    return bert.write_tensors(e, w.layers, w.head, "mpnet.", _EMBED_HF, _LAYER_HF, _HEAD_HF)


def hf_config(geom: Geometry, labels: list[str], base: dict[str, Any]) -> dict:
    return bert.classifier_config(base, labels, "MPNetForSequenceClassification", "mpnet")


# ---------------------------------------------------------------- position bias


def relative_position_bucket(relative_position: torch.Tensor, num_buckets: int) -> torch.Tensor:
    """MPNet's bucketing of key - query distances (T5's): half the buckets per direction,
    exact up to a quarter of them, then logarithmic up to MAX_DISTANCE. The same torch ops
    in the same order as transformers, so the table is bit-identical to its bias."""
    ret = 0
    n = -relative_position
    num_buckets //= 2
    ret += (n < 0).to(torch.long) * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(MAX_DISTANCE / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    return ret + torch.where(is_small, n, val_if_large)


def position_bias_table(rel_bias: np.ndarray, max_seq: int) -> np.ndarray:
    """[heads, 2 * max_seq - 1]: column r + max_seq - 1 holds each head's bias for a key r
    positions after its query (r < 0: before)."""
    r = torch.arange(-(max_seq - 1), max_seq, dtype=torch.long)
    buckets = relative_position_bucket(r, rel_bias.shape[0])
    return np.ascontiguousarray(rel_bias[buckets.numpy()].T, dtype=np.float32)


def extra_embed_tensors(w: Weights, max_seq: int) -> list[tuple[F.Role, np.ndarray]]:
    """What the store's EMBED_SHARED entry holds beyond BERT's: the position bias table."""
    return [(F.Role.REL_POS_BIAS, position_bias_table(w.embed["rel_bias"], max_seq))]


# ---------------------------------------------------------------- torch forward

embed = bert.embed  # exact for MPNet on canonical weights (module docstring)
encoder_layer = bert.encoder_layer
classify = bert.classify


def attention_bias(attention_mask: torch.Tensor, e: dict[str, torch.Tensor]) -> torch.Tensor:
    """[B, S] 0/1 mask -> [B, heads, S, S]: each head's relative position bias (gathered
    from the table, ``e["rel_pos_bias"]``) plus the key mask. Rows select their layer's heads
    (``bert.encoder_layer`` adds a 4-D bias as it is)."""
    S = attention_mask.shape[1]
    if "rel_pos_bias" in e:  # the store's table: [heads, 2 * max_seq - 1]
        table = e["rel_pos_bias"]
    else:  # fine-tuning: from the trainable [buckets, heads] bias, differentiably
        r = torch.arange(-(S - 1), S, dtype=torch.long)
        table = e["rel_bias"][relative_position_bucket(r, e["rel_bias"].shape[0])].T
    mid = (table.shape[1] - 1) // 2
    idx = torch.arange(S)[None, :] - torch.arange(S)[:, None] + mid  # [query, key]
    pos = table[:, idx]  # [heads, S, S]
    return pos.unsqueeze(0) + bert.attention_bias(attention_mask, e).unsqueeze(1)


assert set(_EMBED_HF) | {"type_emb"} == set(EMBED_KEYS) | {"rel_bias"} and set(_LAYER_HF) == set(LAYER_KEYS)
assert set(_HEAD_HF) == set(HEAD_KEYS)
