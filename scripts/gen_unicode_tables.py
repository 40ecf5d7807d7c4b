#!/usr/bin/env python3
"""Generate android_runtime/src/unicode_tables.cpp: the character tables of the device's
BERT tokenizer, read off the pinned ``tokenizers`` wheel itself.

Hugging Face's tokenizers take their Unicode categories from an old crate, White_Space and
lower-casing from the Rust standard library of the compiler that built the wheel, and NFD
from another crate: not ICU and not today's Unicode database (docs/TOKENIZER.md). So every
table here comes from running the wheel's own normalizer and pre-tokenizer over every
Unicode scalar value, one character at a time; only the canonical combining classes, which
no single-character probe can show, come from Python's ``unicodedata`` (the parity tests'
combining-mark fuzzing checks them against the wheel).

    .venv/bin/python scripts/gen_unicode_tables.py [--check]

``--check`` regenerates in memory and fails if the checked-in file differs (CI runs it).
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path

import tokenizers
from tokenizers import normalizers, pre_tokenizers

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "android_runtime" / "src" / "unicode_tables.cpp"
SCALARS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def bert(clean=False, chinese=False, strip=False, lower=False) -> normalizers.Normalizer:
    return normalizers.BertNormalizer(
        clean_text=clean, handle_chinese_chars=chinese, strip_accents=strip, lowercase=lower
    )


def ranges(cps: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for c in sorted(cps):
        if out and out[-1][1] + 1 == c:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


def hangul_nfd(c: int) -> list[int]:
    s = c - HANGUL_FIRST
    lead, vowel, trail = 0x1100 + s // 588, 0x1161 + (s % 588) // 28, 0x11A7 + s % 28
    return [lead, vowel] + ([trail] if trail != 0x11A7 else [])


def probe() -> dict:
    clean, chinese = bert(clean=True), bert(chinese=True)
    nfd, strip, lower = normalizers.NFD(), bert(strip=True), bert(lower=True)
    pretok = pre_tokenizers.BertPreTokenizer()
    t: dict = {k: [] for k in ("delete", "space", "chinese", "mn", "ws", "punct")}
    t["nfd"], t["lower"] = {}, {}
    for c in SCALARS:
        ch = chr(c)
        got = clean.normalize_str(f"a{ch}b")
        if got == "ab":
            t["delete"].append(c)
        elif got == "a b" and ch != " ":
            t["space"].append(c)
        elif got != f"a{ch}b":
            raise SystemExit(f"clean_text maps U+{c:04X} to {got!r}: not a delete or a space")
        got = chinese.normalize_str(ch)
        if got == f" {ch} ":
            t["chinese"].append(c)
        elif got != ch:
            raise SystemExit(f"handle_chinese_chars maps U+{c:04X} to {got!r}")
        d = nfd.normalize_str(ch)
        if d != ch:
            if HANGUL_FIRST <= c <= HANGUL_LAST:
                if [ord(x) for x in d] != hangul_nfd(c):
                    raise SystemExit(f"Hangul U+{c:04X} decomposes differently: {d!r}")
            else:
                t["nfd"][c] = [ord(x) for x in d]
        elif strip.normalize_str(ch) == "":
            t["mn"].append(c)  # strip_accents deletes it: it is Mn in the wheel's tables
        low = lower.normalize_str(ch)
        if low != ch:
            t["lower"][c] = [ord(x) for x in low]
        parts = [p for p, _ in pretok.pre_tokenize_str(f"a{ch}b")]
        if parts == ["a", "b"]:
            t["ws"].append(c)
        elif parts == ["a", ch, "b"]:
            t["punct"].append(c)
        elif parts != [f"a{ch}b"]:
            raise SystemExit(f"BertPreTokenizer splits U+{c:04X} as {parts!r}")
    # Every character an NFD can produce must itself be decomposition-free.
    for c, d in t["nfd"].items():
        for x in d:
            if x in t["nfd"]:
                raise SystemExit(f"NFD of U+{c:04X} yields U+{x:04X}, which decomposes again")
    # Canonical combining classes never change for an assigned character (Unicode's
    # stability policy), so Python's value is right wherever the wheel's older tables know
    # the character at all; a mark they predate has class 0 there. Which one a mark is
    # shows in NFD's reordering against a reference mark of another class.
    t["ccc"] = {}
    for c in SCALARS:
        cc = unicodedata.combining(chr(c))
        if not cc:
            continue
        ref = "\u0316" if cc != 220 else "\u0301"  # classes 220 and 230
        ref_cc = unicodedata.combining(ref)
        before, after = f"x{chr(c)}{ref}", f"x{ref}{chr(c)}"
        moved = nfd.normalize_str(before) != before if cc > ref_cc else nfd.normalize_str(after) != after
        if moved:
            t["ccc"][c] = cc
    return t


def render(t: dict) -> str:
    def range_table(name: str, rs: list[tuple[int, int]], why: str) -> str:
        body = ",\n".join(
            "    " + ", ".join(f"{{0x{a:X}, 0x{b:X}}}" for a, b in rs[i : i + 6])
            for i in range(0, len(rs), 6)
        )
        return f"// {why}\nconst Range {name}[] = {{\n{body}\n}};\nconst size_t {name}Size = {len(rs)};\n"

    def map_table(name: str, m: dict[int, list[int]], data: list[int], why: str) -> str:
        rows = []
        for c in sorted(m):
            rows.append(f"{{0x{c:X}, {len(data)}, {len(m[c])}}}")
            data.extend(m[c])
        body = ",\n".join("    " + ", ".join(rows[i : i + 5]) for i in range(0, len(rows), 5))
        return f"// {why}\nconst Mapping {name}[] = {{\n{body}\n}};\nconst size_t {name}Size = {len(rows)};\n"

    data: list[int] = []
    parts = [
        "// GENERATED by scripts/gen_unicode_tables.py from the tokenizers wheel "
        f"{tokenizers.__version__}; do not edit.\n"
        "// Regenerate after changing the pinned tokenizers version (scripts/constraints.txt).\n"
        "// clang-format off\n"
        '#include "unicode_tables.h"\n\nnamespace wrx::unicode {\n',
        f'const char kTokenizersVersion[] = "{tokenizers.__version__}";\n',
        range_table(
            "kCleanDelete", ranges(t["delete"]), "clean_text deletes these (Cc, Cf, Co, U+FFFD, ...)"
        ),
        range_table("kCleanSpace", ranges(t["space"]), "clean_text turns these into U+0020"),
        range_table("kChinese", ranges(t["chinese"]), "handle_chinese_chars puts a space on each side"),
        range_table("kMn", ranges(t["mn"]), "strip_accents deletes these after NFD (category Mn)"),
        range_table("kPretokSpace", ranges(t["ws"]), "BertPreTokenizer splits on these and drops them"),
        range_table("kPretokPunct", ranges(t["punct"]), "BertPreTokenizer isolates each of these"),
        map_table("kNfd", t["nfd"], data, "NFD (Hangul syllables are decomposed arithmetically)"),
        map_table("kLower", t["lower"], data, "lowercase: char::to_lowercase, one to many"),
    ]
    ccc = sorted(t["ccc"].items())
    body = ",\n".join(
        "    " + ", ".join(f"{{0x{c:X}, {v}}}" for c, v in ccc[i : i + 6]) for i in range(0, len(ccc), 6)
    )
    parts.append(
        "// canonical combining class, for NFD's reordering of combining marks\n"
        f"const Ccc kCcc[] = {{\n{body}\n}};\nconst size_t kCccSize = {len(ccc)};\n"
    )
    body = ",\n".join(
        "    " + ", ".join(f"0x{x:X}" for x in data[i : i + 10]) for i in range(0, len(data), 10)
    )
    parts.append(f"const uint32_t kMapData[] = {{\n{body}\n}};\n")
    parts.append("\n}  // namespace wrx::unicode\n")
    return "\n".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the checked-in tables differ")
    args = ap.parse_args()
    text = render(probe())
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"error: {OUT} is stale for tokenizers {tokenizers.__version__}", file=sys.stderr)
            print("HINT: .venv/bin/python scripts/gen_unicode_tables.py", file=sys.stderr)
            return 1
        print(f"{OUT.relative_to(ROOT)} matches tokenizers {tokenizers.__version__}")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text) // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
