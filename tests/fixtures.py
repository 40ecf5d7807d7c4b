"""Tiny random checkpoints and datasets for plumbing tests and golden files.

Random weights are fine for plumbing (bytes, offsets, parity between executors); every
accuracy claim is made on the real fine-tuned MiniLM instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WORDS = [
    "good",
    "bad",
    "great",
    "awful",
    "movie",
    "film",
    "plot",
    "fun",
    "dull",
    "the",
    "a",
    "is",
    "was",
    "very",
    "not",
    "and",
    "but",
    "best",
    "worst",
    "story",
]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]


def tiny_config(
    hidden: int = 16,
    layers: int = 2,
    heads: int = 4,
    intermediate: int = 32,
    num_labels: int = 2,
    max_positions: int = 64,
) -> dict:
    return {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": intermediate,
        "vocab_size": len(VOCAB),
        "max_position_embeddings": max_positions,
        "type_vocab_size": 2,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "pad_token_id": 0,
        "id2label": {str(i): f"L{i}" for i in range(num_labels)},
        "label2id": {f"L{i}": i for i in range(num_labels)},
    }


def tiny_state_dict(cfg: dict, seed: int = 0, std: float = 0.2) -> dict[str, np.ndarray]:
    """HF BertForSequenceClassification keys with random weights (heavy tails, so outliers exist)."""
    rng = np.random.default_rng(seed)
    H, FF, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_t(5, size=shape) * std).astype(np.float32)

    def ln() -> tuple[np.ndarray, np.ndarray]:
        return (1 + 0.1 * rng.standard_normal(H)).astype(np.float32), w(H)

    sd = {
        "bert.embeddings.word_embeddings.weight": w(V, H),
        "bert.embeddings.position_embeddings.weight": w(cfg["max_position_embeddings"], H),
        "bert.embeddings.token_type_embeddings.weight": w(2, H),
    }
    sd["bert.embeddings.LayerNorm.weight"], sd["bert.embeddings.LayerNorm.bias"] = ln()
    for i in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        for n in ("query", "key", "value"):
            sd[p + f"attention.self.{n}.weight"], sd[p + f"attention.self.{n}.bias"] = w(H, H), w(H)
        sd[p + "attention.output.dense.weight"], sd[p + "attention.output.dense.bias"] = w(H, H), w(H)
        sd[p + "attention.output.LayerNorm.weight"], sd[p + "attention.output.LayerNorm.bias"] = ln()
        sd[p + "intermediate.dense.weight"], sd[p + "intermediate.dense.bias"] = w(FF, H), w(FF)
        sd[p + "output.dense.weight"], sd[p + "output.dense.bias"] = w(H, FF), w(H)
        sd[p + "output.LayerNorm.weight"], sd[p + "output.LayerNorm.bias"] = ln()
    sd["bert.pooler.dense.weight"], sd["bert.pooler.dense.bias"] = w(H, H), w(H)
    n = len(cfg["id2label"])
    sd["classifier.weight"], sd["classifier.bias"] = w(n, H), w(n)
    return sd


def write_tiny_checkpoint(d: Path, seed: int = 0, fmt: str = "safetensors", **cfg_kw) -> Path:
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    cfg = tiny_config(**cfg_kw)
    (d / "config.json").write_text(json.dumps(cfg, indent=1))
    (d / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    sd = tiny_state_dict(cfg, seed)
    if fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file(sd, str(d / "model.safetensors"))
    else:
        import torch

        torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, d / "pytorch_model.bin")
    return d


def write_tiny_task(path: Path, rows: int = 64, seed: int = 0, num_labels: int = 2) -> Path:
    """A JSONL task over the tiny vocabulary, labels derived from the words (learnable)."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for _ in range(rows):
            words = rng.choice(WORDS, size=int(rng.integers(3, 12))).tolist()
            label = sum(w in ("good", "great", "fun", "best") for w in words) % num_labels
            f.write(json.dumps({"text": " ".join(words), "label": f"L{label}"}) + "\n")
    return path


GOLDEN_SCHEME = {"bitwidths": [2, 4], "outlier_sigma": 2.0, "kmeans_iters": 25}


def golden_package(work: Path, out: Path) -> dict:
    """The tiny package in tests/golden/pkg: deterministic bytes, small enough to commit."""
    ck = write_tiny_checkpoint(
        work / "golden-ckpt", seed=7, hidden=8, layers=1, heads=2, intermediate=16, max_positions=16
    )
    return _golden(work, ck, out, "golden-tiny")


def _golden(work: Path, ck: Path, out: Path, name: str) -> dict:
    """A golden package of checkpoint ``ck``: the golden task, scheme and settings, fixed
    date, one worker (the bytes must not depend on the machine)."""
    from wrx_sdk.builder.package import package
    from wrx_sdk.formats.quant_scheme import QuantScheme

    task = write_tiny_task(work / "golden-task.jsonl", rows=40, seed=7)
    scheme = QuantScheme(
        bitwidths=tuple(GOLDEN_SCHEME["bitwidths"]),
        outlier_sigma=GOLDEN_SCHEME["outlier_sigma"],
        kmeans_iters=GOLDEN_SCHEME["kmeans_iters"],
    )
    return package(
        ck,
        str(task),
        out,
        max_seq_len=8,
        scheme=scheme,
        workers=1,
        progress=False,
        model_name=name,
        created_utc="2026-01-01T00:00:00Z",
    )


def tiny_mpnet_config(
    hidden: int = 16, layers: int = 2, heads: int = 4, intermediate: int = 32, max_positions: int = 64
) -> dict:
    """MPNetForSequenceClassification over the tiny vocabulary (pad id 1, as MPNet's)."""
    return {
        "architectures": ["MPNetForSequenceClassification"],
        "model_type": "mpnet",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": intermediate,
        "vocab_size": len(VOCAB),
        "max_position_embeddings": max_positions + 2,  # positions start at padding_idx + 1
        "relative_attention_num_buckets": 32,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-5,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "pad_token_id": 1,
        "id2label": {"0": "L0", "1": "L1"},
        "label2id": {"L0": 0, "L1": 1},
    }


def tiny_mpnet_state_dict(cfg: dict, seed: int = 0, std: float = 0.2) -> dict[str, np.ndarray]:
    """HF MPNetForSequenceClassification keys with random weights; the relative position
    bias is large enough to change the answers."""
    rng = np.random.default_rng(seed)
    H, FF, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_t(5, size=shape) * std).astype(np.float32)

    def ln() -> tuple[np.ndarray, np.ndarray]:
        return (1 + 0.1 * rng.standard_normal(H)).astype(np.float32), w(H)

    sd = {
        "mpnet.embeddings.word_embeddings.weight": w(V, H),
        "mpnet.embeddings.position_embeddings.weight": w(cfg["max_position_embeddings"], H),
        "mpnet.encoder.relative_attention_bias.weight": w(
            cfg["relative_attention_num_buckets"], cfg["num_attention_heads"]
        )
        * 5,
    }
    sd["mpnet.embeddings.LayerNorm.weight"], sd["mpnet.embeddings.LayerNorm.bias"] = ln()
    for i in range(cfg["num_hidden_layers"]):
        p = f"mpnet.encoder.layer.{i}."
        for n in ("q", "k", "v", "o"):
            sd[p + f"attention.attn.{n}.weight"], sd[p + f"attention.attn.{n}.bias"] = w(H, H), w(H)
        sd[p + "attention.LayerNorm.weight"], sd[p + "attention.LayerNorm.bias"] = ln()
        sd[p + "intermediate.dense.weight"], sd[p + "intermediate.dense.bias"] = w(FF, H), w(FF)
        sd[p + "output.dense.weight"], sd[p + "output.dense.bias"] = w(H, FF), w(H)
        sd[p + "output.LayerNorm.weight"], sd[p + "output.LayerNorm.bias"] = ln()
    sd["classifier.dense.weight"], sd["classifier.dense.bias"] = w(H, H), w(H)
    sd["classifier.out_proj.weight"], sd["classifier.out_proj.bias"] = w(2, H), w(2)
    return sd


def write_tiny_mpnet_checkpoint(d: Path, seed: int = 0, **cfg_kw) -> Path:
    from safetensors.numpy import save_file

    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    cfg = tiny_mpnet_config(**cfg_kw)
    (d / "config.json").write_text(json.dumps(cfg, indent=1))
    save_file(tiny_mpnet_state_dict(cfg, seed), str(d / "model.safetensors"))
    return d


MPNET_VOCAB = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", *WORDS]


def write_tiny_mpnet_tokenizer(d: Path) -> Path:
    """all-mpnet-base-v2's tokenizer.json shape over the tiny vocabulary: BERT normalizer
    and pre-tokenizer, WordPiece, the RoBERTa template (<s> A </s></s> B </s>, type ids 0)
    and its added tokens, <unk> matched after lower-casing and <mask> stripping left."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {t: i for i, t in enumerate(MPNET_VOCAB)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tok.add_special_tokens(
        [
            AddedToken("<s>", normalized=False, special=True),
            AddedToken("<pad>", normalized=False, special=True),
            AddedToken("</s>", normalized=False, special=True),
            AddedToken("<unk>", normalized=True, special=True),
            AddedToken("<mask>", lstrip=True, normalized=False, special=True),
        ]
    )
    tok.save(str(Path(d) / "tokenizer.json"))
    return Path(d) / "tokenizer.json"


def golden_mpnet_package(work: Path, out: Path) -> dict:
    """The tiny MPNet package in tests/golden/mpnet: the relative position bias table, the
    per-head bias programs and MPNet's manifest, for both readers' golden cases."""
    ck = write_tiny_mpnet_checkpoint(
        work / "golden-mpnet-ckpt", seed=7, hidden=8, layers=1, heads=2, intermediate=16, max_positions=16
    )
    write_tiny_mpnet_tokenizer(ck)
    return _golden(work, ck, out, "golden-tiny-mpnet")
