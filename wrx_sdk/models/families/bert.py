"""BERT family (BertModel / BertForSequenceClassification; MiniLM is a BERT).

The torch forward here is written with ``F.linear`` ([out, in] weights) and ``torch.bmm``
only, so the same function trains (fine-tune), serves as the host reference, and exports
to ExecuTorch with every matmul delegated to XNNPACK (3-D ``torch.matmul`` splits the
delegate). The number of heads is read from the weights, so a layer runs on any subset
of its shards.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wrx_sdk.errors import ModelError
from wrx_sdk.formats.geometry import EMBED_KEYS, HEAD_KEYS, LAYER_KEYS, Geometry
from wrx_sdk.models.weights import Weights

NAME = "bert"
POSITION_BIAS = None  # the score bias is the key mask alone, the same for every head
MODEL_TYPES = ("bert",)

_LAYER_HF = {
    "q_w": "attention.self.query.weight",
    "q_b": "attention.self.query.bias",
    "k_w": "attention.self.key.weight",
    "k_b": "attention.self.key.bias",
    "v_w": "attention.self.value.weight",
    "v_b": "attention.self.value.bias",
    "o_w": "attention.output.dense.weight",
    "o_b": "attention.output.dense.bias",
    "ln1_g": "attention.output.LayerNorm.weight",
    "ln1_b": "attention.output.LayerNorm.bias",
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
    "type_emb": "embeddings.token_type_embeddings.weight",
    "emb_ln_g": "embeddings.LayerNorm.weight",
    "emb_ln_b": "embeddings.LayerNorm.bias",
}
_HEAD_HF = {
    "pooler_w": "bert.pooler.dense.weight",
    "pooler_b": "bert.pooler.dense.bias",
    "cls_w": "classifier.weight",
    "cls_b": "classifier.bias",
}


def geometry_from_config(cfg: dict[str, Any]) -> Geometry:
    pet = cfg.get("position_embedding_type", "absolute")
    if pet != "absolute":
        raise ModelError(f"config.json: position_embedding_type {pet!r} is not supported")
    return config_geometry(cfg, NAME, 0, lambda c: int(c.get("type_vocab_size", 2)), 1e-12)


def config_geometry(
    cfg: dict[str, Any], family: str, position_offset: int, type_vocab: Any, default_eps: float
) -> Geometry:
    """A BERT-shaped config.json as a Geometry (shared by the families built on BERT's
    layer): ``position_offset`` rows of the position table come before the first position,
    ``type_vocab(cfg)`` gives the type rows."""
    try:
        act = cfg.get("hidden_act", "gelu")
        if act != "gelu":
            raise ModelError(f"config.json: hidden_act {act!r} is not supported (only 'gelu')")
        g = Geometry(
            family=family,
            hidden=int(cfg["hidden_size"]),
            layers=int(cfg["num_hidden_layers"]),
            heads=int(cfg["num_attention_heads"]),
            intermediate=int(cfg["intermediate_size"]),
            vocab=int(cfg["vocab_size"]),
            max_positions=int(cfg["max_position_embeddings"]) - position_offset,
            type_vocab=type_vocab(cfg),
            num_labels=len(cfg["id2label"]) if "id2label" in cfg else int(cfg.get("num_labels", 2)),
            ln_eps=float(cfg.get("layer_norm_eps", default_eps)),
            act=act,
        )
    except KeyError as e:
        raise ModelError(f"config.json: missing field {e.args[0]!r}") from None
    if g.hidden % g.heads:
        raise ModelError(
            f"config.json: hidden_size {g.hidden} is not divisible by num_attention_heads {g.heads}"
        )
    return g


def _normalize_keys(sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Accept BertModel (no prefix) and old gamma/beta LayerNorm names."""
    out = {}
    for k, v in sd.items():
        k = k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        if not k.startswith("bert.") and not k.startswith("classifier."):
            k = "bert." + k
        out[k] = v
    return out


def weights_from_state_dict(sd: dict[str, np.ndarray], geom: Geometry) -> Weights:
    w = Weights(geom, *read_tensors(_normalize_keys(sd), geom, "bert.", _EMBED_HF, _LAYER_HF, _HEAD_HF))
    check_shapes(w)
    return w


def read_tensors(
    sd: dict[str, np.ndarray], geom: Geometry, prefix: str, embed_hf: dict, layer_hf: dict, head_hf: dict
) -> tuple[dict, list[dict], dict]:
    """(embed, layers, head) in canonical names from a state dict whose encoder keys start
    with ``prefix``; every embedding and layer tensor is required, the head optional."""

    def get(key: str, required: bool = True) -> np.ndarray | None:
        if key not in sd:
            if required:
                raise ModelError(f"checkpoint is missing tensor {key!r}")
            return None
        return np.ascontiguousarray(sd[key], dtype=np.float32)

    embed = {c: get(prefix + h) for c, h in embed_hf.items()}
    layers = [
        {c: get(f"{prefix}encoder.layer.{i}.{h}") for c, h in layer_hf.items()} for i in range(geom.layers)
    ]
    head = {c: get(h, required=False) for c, h in head_hf.items()}
    return embed, layers, head


def check_shapes(w: Weights) -> None:
    g = w.geometry
    H, FF = g.hidden, g.intermediate
    want = {
        "q_w": (H, H),
        "k_w": (H, H),
        "v_w": (H, H),
        "o_w": (H, H),
        "ffn1_w": (FF, H),
        "ffn2_w": (H, FF),
        "ffn1_b": (FF,),
    }
    for i, layer in enumerate(w.layers):
        for k in LAYER_KEYS:
            shape = want.get(k, (H,))
            if layer[k].shape != shape:
                raise ModelError(f"checkpoint layer {i} {k}: shape {layer[k].shape}, expected {shape}")
    if w.embed["word_emb"].shape != (g.vocab, H):
        raise ModelError(
            f"checkpoint word embeddings: shape {w.embed['word_emb'].shape}, expected {(g.vocab, H)}"
        )
    cls = w.head.get("cls_w")
    if cls is not None and cls.shape != (g.num_labels, H):
        raise ModelError(f"checkpoint classifier: shape {cls.shape}, expected {(g.num_labels, H)}")


def state_dict_from_weights(w: Weights) -> dict[str, np.ndarray]:
    return write_tensors(w.embed, w.layers, w.head, "bert.", _EMBED_HF, _LAYER_HF, _HEAD_HF)


def write_tensors(
    embed: dict, layers: list[dict], head: dict, prefix: str, embed_hf: dict, layer_hf: dict, head_hf: dict
) -> dict[str, np.ndarray]:
    """The inverse of ``read_tensors``: a Hugging Face state dict (head tensors only if set)."""
    sd = {prefix + h: embed[c] for c, h in embed_hf.items()}
    for i, layer in enumerate(layers):
        sd.update({f"{prefix}encoder.layer.{i}.{h}": layer[c] for c, h in layer_hf.items()})
    sd.update({h: head[c] for c, h in head_hf.items() if head.get(c) is not None})
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def hf_config(geom: Geometry, labels: list[str], base: dict[str, Any]) -> dict:
    return classifier_config(base, labels, "BertForSequenceClassification", "bert")


def classifier_config(base: dict[str, Any], labels: list[str], architecture: str, model_type: str) -> dict:
    """``base`` (the source config.json) as a sequence classifier over ``labels``."""
    cfg = {k: v for k, v in base.items() if not k.startswith("_")}
    cfg.update(
        architectures=[architecture],
        model_type=model_type,
        num_labels=len(labels),
        id2label={str(i): lab for i, lab in enumerate(labels)},
        label2id={lab: i for i, lab in enumerate(labels)},
    )
    return cfg


# ---------------------------------------------------------------- torch forward


def embed(
    input_ids: torch.Tensor,
    token_type_ids: torch.Tensor,
    word_rows: torch.Tensor,
    e: dict[str, torch.Tensor],
    eps: float,
) -> torch.Tensor:
    """Embeddings from already-gathered word rows (the device never holds the table)."""
    S = input_ids.shape[1]
    x = word_rows + e["pos_emb"][:S].unsqueeze(0) + F.embedding(token_type_ids, e["type_emb"])
    return F.layer_norm(x, (x.shape[-1],), e["emb_ln_g"], e["emb_ln_b"], eps)


def extra_embed_tensors(w: Weights, max_seq: int) -> list:
    """What the store's EMBED_SHARED entry holds beyond word, position and type embeddings
    and their LayerNorm: nothing for BERT (mpnet.py has its position bias table)."""
    return []


def attention_bias(attention_mask: torch.Tensor, e: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """[B, S] 0/1 mask -> additive [B, 1, S] bias (exp underflows to exactly 0), the same for
    every head (a family whose bias differs per head returns [B, heads, S, S])."""
    return (1.0 - attention_mask.to(torch.float32)).unsqueeze(1) * torch.finfo(torch.float32).min


def encoder_layer(
    x: torch.Tensor,
    bias: torch.Tensor,
    w: dict[str, torch.Tensor],
    head_dim: int,
    eps: float,
    dropout: float = 0.0,
    training: bool = False,
) -> torch.Tensor:
    """One post-LN BERT layer over k shards: Q/K/V/FFN1 hold k row blocks, O/FFN2 k column
    blocks. ``bias`` is [B, 1, S] for every head, or [B, k * heads_per_shard, S, S] per head
    of the shards, in their order."""
    B, S, H = x.shape
    q = F.linear(x, w["q_w"], w["q_b"])
    nh = q.shape[-1] // head_dim

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(B, S, nh, head_dim).transpose(1, 2).reshape(B * nh, S, head_dim)

    qh = heads(q)
    kh = heads(F.linear(x, w["k_w"], w["k_b"]))
    vh = heads(F.linear(x, w["v_w"], w["v_b"]))
    scores = torch.bmm(qh, kh.transpose(1, 2)) * (1.0 / math.sqrt(head_dim))
    scores = scores.view(B, nh, S, S) + (bias if bias.dim() == 4 else bias.unsqueeze(1))
    probs = torch.softmax(scores, dim=-1).view(B * nh, S, S)
    probs = F.dropout(probs, dropout, training)
    ctx = torch.bmm(probs, vh).view(B, nh, S, head_dim).transpose(1, 2).reshape(B, S, nh * head_dim)
    attn = F.dropout(F.linear(ctx, w["o_w"], w["o_b"]), dropout, training)
    x = F.layer_norm(x + attn, (H,), w["ln1_g"], w["ln1_b"], eps)
    h = F.gelu(F.linear(x, w["ffn1_w"], w["ffn1_b"]))
    h = F.dropout(F.linear(h, w["ffn2_w"], w["ffn2_b"]), dropout, training)
    return F.layer_norm(x + h, (H,), w["ln2_g"], w["ln2_b"], eps)


def classify(
    x: torch.Tensor, h: dict[str, torch.Tensor], dropout: float = 0.0, training: bool = False
) -> torch.Tensor:
    """Pooler (tanh of a dense layer on [CLS]) then the classifier: BertForSequenceClassification."""
    pooled = torch.tanh(F.linear(x[:, 0], h["pooler_w"], h["pooler_b"]))
    return F.linear(F.dropout(pooled, dropout, training), h["cls_w"], h["cls_b"])


class BertClassifier(torch.nn.Module):
    """Trainable module over canonical weights, for fine-tuning. ``fam`` is the family module
    whose ``embed``, ``attention_bias``, ``encoder_layer`` and ``classify`` it runs (BERT's,
    or one built on BERT's layer, as MPNet is)."""

    def __init__(self, w: Weights, dropout: float = 0.1, fam: Any = None):
        super().__init__()
        self.geom, self.dropout = w.geometry, dropout
        self.fam = fam or sys.modules[__name__]

        def params(d: dict[str, np.ndarray]) -> torch.nn.ParameterDict:
            return torch.nn.ParameterDict(
                {k: torch.nn.Parameter(torch.from_numpy(np.array(v))) for k, v in d.items()}
            )

        self.embed = params(w.embed)
        self.layers = torch.nn.ModuleList(params(layer) for layer in w.layers)
        self.head = params(w.head)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        g, p, tr, fam = self.geom, self.dropout, self.training, self.fam
        x = fam.embed(
            input_ids,
            token_type_ids,
            F.embedding(input_ids, self.embed["word_emb"]),
            self.embed,
            g.ln_eps,
        )
        x = F.dropout(x, p, tr)
        bias = fam.attention_bias(attention_mask, self.embed)
        for layer in self.layers:
            x = fam.encoder_layer(x, bias, layer, g.head_dim, g.ln_eps, p, tr)
        return fam.classify(x, self.head, p, tr)

    def to_weights(self) -> Weights:
        def arr(pd: torch.nn.ParameterDict) -> dict[str, np.ndarray]:
            return {k: v.detach().cpu().numpy().copy() for k, v in pd.items()}

        return Weights(self.geom, arr(self.embed), [arr(layer) for layer in self.layers], arr(self.head))


def init_head(w: Weights, num_labels: int, seed: int) -> Weights:
    """A fresh pooler/classifier, as transformers initialises them (normal, std 0.02)."""
    g = w.geometry
    rng = np.random.default_rng(seed)
    head = dict(w.head)
    if head.get("pooler_w") is None:
        head["pooler_w"] = (rng.standard_normal((g.hidden, g.hidden)) * 0.02).astype(np.float32)
        head["pooler_b"] = np.zeros(g.hidden, np.float32)
    head["cls_w"] = (rng.standard_normal((num_labels, g.hidden)) * 0.02).astype(np.float32)
    head["cls_b"] = np.zeros(num_labels, np.float32)
    from dataclasses import replace

    return Weights(replace(g, num_labels=num_labels), w.embed, w.layers, head)


assert set(_EMBED_HF) == set(EMBED_KEYS) and set(_LAYER_HF) == set(LAYER_KEYS)
assert set(_HEAD_HF) == set(HEAD_KEYS)


def device_attention(x, bias, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, head_dim: int) -> torch.Tensor:
    """Batch-1 attention as the device programs compute it: heads split with view/transpose
    into 3-D ``bmm`` (3-D ``torch.matmul`` would split the XNNPACK delegate). The sequence
    length is read from ``x``, so one export serves every length when it is dynamic."""
    seq = x.shape[1]
    q = F.linear(x, q_w, q_b).view(seq, -1, head_dim).transpose(0, 1)
    k = F.linear(x, k_w, k_b).view(seq, -1, head_dim).transpose(0, 1)
    v = F.linear(x, v_w, v_b).view(seq, -1, head_dim).transpose(0, 1)
    p = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * (1.0 / math.sqrt(head_dim)) + bias, dim=-1)
    ctx = torch.bmm(p, v).transpose(0, 1).reshape(1, seq, -1)
    return F.linear(ctx, o_w, o_b)


class ExportLayer(torch.nn.Module):
    """The encoder layer as exported for the device: batch 1, any sequence length.

    Same math as ``encoder_layer``, written so XNNPACK takes the whole graph: LayerNorm as
    two ``F.linear`` reductions against a constant averaging row (``F.layer_norm`` and
    ``mean`` are not delegated, and would pull in the 10 MB portable-kernel library), and
    heads split with ``view``/``transpose`` into 3-D ``bmm``. Forward arguments are named
    after ``export.LAYER_INPUTS``, which the loader binds by position.
    """

    def __init__(self, hidden: int, head_dim: int, eps: float):
        super().__init__()
        self.head_dim, self.eps = head_dim, eps
        self.register_buffer("avg", torch.full((1, hidden), 1.0 / hidden))

    def ln(self, x: torch.Tensor, g: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        xc = x - F.linear(x, self.avg)
        var = F.linear(xc * xc, self.avg)
        return xc * torch.rsqrt(var + self.eps) * g + b

    def forward(
        self,
        x,
        bias,
        q_w,
        q_b,
        k_w,
        k_b,
        v_w,
        v_b,
        o_w,
        o_b,
        ln1_g,
        ln1_b,  # noqa: PLR0913
        ffn1_w,
        ffn1_b,
        ffn2_w,
        ffn2_b,
        ln2_g,
        ln2_b,
    ):
        attn = device_attention(x, bias, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, self.head_dim)
        h = self.ln(x + attn, ln1_g, ln1_b)
        f = F.linear(F.gelu(F.linear(h, ffn1_w, ffn1_b)), ffn2_w, ffn2_b)
        return self.ln(h + f, ln2_g, ln2_b)


class ExportAttn(torch.nn.Module):
    """The attention half of k shards, without bias or residual: sum_j O_j softmax(Q_j K_j^T) V_j.

    Attention decomposes over heads, so a device can run a layer's attention a few shards at
    a time and add the partial outputs; the loader then adds x and the output bias and
    applies LayerNorm 1. This keeps the decoded fp32 weights in flight to a few shards.
    """

    def __init__(self, head_dim: int):
        super().__init__()
        self.head_dim = head_dim

    def forward(self, x, bias, q_w, q_b, k_w, k_b, v_w, v_b, o_w):
        return device_attention(x, bias, q_w, q_b, k_w, k_b, v_w, v_b, o_w, None, self.head_dim)


class ExportFfn(torch.nn.Module):
    """The FFN half of k shards, without output bias or residual: W2_g gelu(W1_g h + b1_g)."""

    def forward(self, h, ffn1_w, ffn1_b, ffn2_w):
        return F.linear(F.gelu(F.linear(h, ffn1_w, ffn1_b)), ffn2_w)
