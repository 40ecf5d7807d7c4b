"""Tokenization with the checkpoint's own tokenizer (HF ``tokenizers``), padded to a fixed length."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from wrx_sdk.errors import ModelError
from wrx_sdk.formats.devdata import Encoded


def load_tokenizer(d: Path) -> Tokenizer:
    """``tokenizer.json`` if present, else a BERT WordPiece tokenizer from ``vocab.txt``."""
    tj, vocab = d / "tokenizer.json", d / "vocab.txt"
    if tj.is_file():
        return Tokenizer.from_file(str(tj))
    if vocab.is_file():
        from tokenizers.implementations import BertWordPieceTokenizer

        lower = True
        tc = d / "tokenizer_config.json"
        if tc.is_file():
            lower = bool(json.loads(tc.read_text()).get("do_lower_case", True))
        return BertWordPieceTokenizer(str(vocab), lowercase=lower)._tokenizer
    raise ModelError(f"{d} has neither tokenizer.json nor vocab.txt")


def encode(tok: Tokenizer, texts: list[str], pairs: list[str] | None, max_len: int) -> Encoded:
    tok.enable_truncation(max_len)
    # The tokenizer's own pad token where its file sets one (all-mpnet-base-v2: <pad>, 1,
    # though its vocabulary also has a [PAD] at 4), else BERT's [PAD] or RoBERTa's <pad>.
    # Padding is masked either way, but a reference that derives positions from the ids
    # (transformers' MPNet) needs the real one.
    own = tok.padding
    if own:
        pad, pad_id = own["pad_token"], own["pad_id"]
    else:
        pad = next((t for t in ("[PAD]", "<pad>") if tok.token_to_id(t) is not None), "[PAD]")
        pad_id = tok.token_to_id(pad) or 0
    tok.enable_padding(length=max_len, pad_id=pad_id, pad_token=pad)
    batch = list(zip(texts, pairs, strict=True)) if pairs is not None else texts
    enc = tok.encode_batch(batch)
    ids = np.array([e.ids for e in enc], dtype=np.int32).reshape(len(enc), max_len)
    types = np.array([e.type_ids for e in enc], dtype=np.int32).reshape(len(enc), max_len)
    lengths = np.array([sum(e.attention_mask) for e in enc], dtype=np.int32)
    return Encoded(ids, types, lengths)
