"""What the device tokenizer accepts in a package's ``tokenizer.json`` (docs/TOKENIZER.md).

The C++ tokenizer (android_runtime/src/tokenizer.cpp) reproduces Hugging Face's ids
exactly for one family of configurations; anything else must be refused when the package
is built, not mis-tokenized on a phone. This check mirrors the C++ loader's, field by
field, so both sides refuse the same files with the same code (BAD_TOKENIZER).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wrx_sdk.errors import WrxError
from wrx_sdk.formats import strict_json

HINT = (
    "package a checkpoint whose tokenizer is BERT-style (BertNormalizer, BertPreTokenizer, WordPiece, "
    "a Template/Bert/Roberta post-processor); docs/TOKENIZER.md lists what the device supports"
)
POST_PROCESSORS = ("TemplateProcessing", "BertProcessing", "RobertaProcessing")


def _bad(where: str, field: str, why: str) -> WrxError:
    return WrxError(f"{where}: field {field} {why}", hint=HINT, code="BAD_TOKENIZER")


def _is_int(v: Any, lo: int = 0, hi: int = 2**31 - 1) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _type_is(d: Any, want: str) -> bool:
    return isinstance(d, dict) and d.get("type") == want


def _normalize(norm: dict, text: str) -> str:
    """The content a ``normalized: true`` added token is matched as, by the reference
    normalizer itself (the device applies its own, tested equal, to the same content)."""
    from tokenizers.normalizers import BertNormalizer

    return BertNormalizer(
        clean_text=norm.get("clean_text", True) is not False,
        handle_chinese_chars=norm.get("handle_chinese_chars", True) is not False,
        strip_accents=norm.get("strip_accents"),
        lowercase=norm.get("lowercase", True) is not False,
    ).normalize_str(text)


def check_device_tokenizer(tj: dict, where: str = "tokenizer.json") -> None:
    """Raise ``WrxError(code="BAD_TOKENIZER")`` naming the first unsupported field."""
    if not isinstance(tj, dict):
        raise _bad(where, "(top level)", "must be an object")
    model = tj.get("model")
    if not _type_is(model, "WordPiece"):
        raise _bad(
            where,
            "model.type",
            'must be "WordPiece" (BPE and Unigram models are not supported on the device)',
        )
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise _bad(where, "model.vocab", "must be a non-empty object of token -> id")
    for tok, i in vocab.items():
        if not _is_int(i):
            raise _bad(where, f"model.vocab.{tok}", "must be an id in 0..2^31-1")
    if model.get("unk_token") not in vocab:
        raise _bad(where, "model.unk_token", "must name a token of the vocabulary")
    if not isinstance(model.get("continuing_subword_prefix", "##"), str):
        raise _bad(where, "model.continuing_subword_prefix", "must be a string")
    if not _is_int(model.get("max_input_chars_per_word", 100), 0, 1 << 20):
        raise _bad(where, "model.max_input_chars_per_word", "must be 0..2^20")

    norm = tj.get("normalizer")
    if not _type_is(norm, "BertNormalizer"):
        raise _bad(where, "normalizer.type", 'must be "BertNormalizer"')
    for k in ("clean_text", "handle_chinese_chars", "lowercase"):
        if norm.get(k) is not None and not isinstance(norm[k], bool):
            raise _bad(where, f"normalizer.{k}", "must be a boolean")
    if norm.get("strip_accents") is not None and not isinstance(norm["strip_accents"], bool):
        raise _bad(where, "normalizer.strip_accents", "must be a boolean or null")
    if not _type_is(tj.get("pre_tokenizer"), "BertPreTokenizer"):
        raise _bad(where, "pre_tokenizer.type", 'must be "BertPreTokenizer"')

    added = tj.get("added_tokens")
    if added is not None and not isinstance(added, list):
        raise _bad(where, "added_tokens", "must be a list")
    for i, a in enumerate(added or []):
        f = f"added_tokens[{i}]"
        if not isinstance(a, dict) or not isinstance(a.get("content"), str) or not a["content"]:
            raise _bad(where, f"{f}.content", "must be a non-empty string")
        if not _is_int(a.get("id")):
            raise _bad(where, f"{f}.id", "must be an id")
        flags = {
            k: a.get(k, d)
            for k, d in (("normalized", True), ("single_word", False), ("lstrip", False), ("rstrip", False))
        }
        if any(v is not None and not isinstance(v, bool) for v in flags.values()):
            raise _bad(where, f, "flags must be booleans")
        if flags["single_word"]:
            raise _bad(where, f, f'("{a["content"]}") must have single_word false on the device')
        if flags["normalized"] is not False and not _normalize(norm, a["content"]):
            raise _bad(
                where, f"{f}.content", "normalizes to nothing, so it cannot be matched (set normalized false)"
            )

    post = tj.get("post_processor")
    if not isinstance(post, dict) or post.get("type") not in POST_PROCESSORS:
        raise _bad(
            where, "post_processor.type", "must be TemplateProcessing, BertProcessing or RobertaProcessing"
        )
    if post["type"] == "TemplateProcessing":
        specials = post.get("special_tokens") or {}
        for which in ("single", "pair"):
            tmpl = post.get(which)
            if not isinstance(tmpl, list):
                raise _bad(where, f"post_processor.{which}", "must be a list")
            for j, e in enumerate(tmpl):
                f = f"post_processor.{which}[{j}]"
                if isinstance(e, dict) and isinstance(e.get("Sequence"), dict):
                    s = e["Sequence"]
                    if s.get("id") not in ("A", "B"):
                        raise _bad(where, f"{f}.Sequence.id", 'must be "A" or "B"')
                    if not _is_int(s.get("type_id"), 0, 255):
                        raise _bad(where, f"{f}.Sequence.type_id", "must be 0..255")
                elif isinstance(e, dict) and isinstance(e.get("SpecialToken"), dict):
                    s = e["SpecialToken"]
                    if not isinstance(s.get("id"), str):
                        raise _bad(where, f"{f}.SpecialToken.id", "must be a string")
                    if not _is_int(s.get("type_id"), 0, 255):
                        raise _bad(where, f"{f}.SpecialToken.type_id", "must be 0..255")
                    ids = (specials.get(s["id"]) or {}).get("ids") if isinstance(specials, dict) else None
                    if not isinstance(ids, list) or not ids or not all(_is_int(x) for x in ids):
                        raise _bad(
                            where, f"post_processor.special_tokens.{s['id']}.ids", "must be a non-empty list"
                        )
                else:
                    raise _bad(where, f, "must be a Sequence or a SpecialToken")
    else:
        for k in ("cls", "sep"):
            v = post.get(k)
            if not (isinstance(v, list) and len(v) == 2 and _is_int(v[1])):
                raise _bad(where, f"post_processor.{k}", "must be [token, id]")


def check_device_tokenizer_file(path: str | Path) -> None:
    p = Path(path)
    try:
        tj = strict_json.loads(p.read_bytes())
    except FileNotFoundError:
        raise WrxError(f"tokenizer file {p} does not exist", hint=HINT, code="MISSING_FILE") from None
    except strict_json.StrictJSONError as e:
        raise WrxError(f"{p}: not valid JSON ({e})", hint=HINT, code="BAD_TOKENIZER") from None
    check_device_tokenizer(tj, str(p))
