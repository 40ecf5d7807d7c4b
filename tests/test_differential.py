"""One contract, two readers: every file of the corpus gets the same verdict (the closed
error code, or OK) from the Python reader and from the device's (``wrx-verdict``, which
calls the loader's own readers; android_runtime/tests/verdict_tool.cpp).

The corpus: the golden package's files, every golden broken file (tests/golden/cases.json),
hostile JSON texts (the ones issue 22 names: leading zeros, overflow, lone surrogates, NUL,
duplicate keys, depth), the fuzzers' corpora when present (tests/fuzz/corpus/<kind>/), and
seeded mutations of each valid file: bytes overwritten, cut short, extended, and JSON
values replaced or removed.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from wrx_sdk.errors import WrxError
from wrx_sdk.formats import devdata, strict_json
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.formats.plan import Plan
from wrx_sdk.formats.store_reader import Store

from .conftest import GOLDEN

CASES = json.loads((GOLDEN / "cases.json").read_text())["cases"]
FUZZ = Path(__file__).parent / "fuzz" / "corpus"
MUTATIONS = 60  # per valid file and kind

HOSTILE_JSON = [
    b"01",
    b"-00",
    b"1e999",
    b"-1e999",
    b"9223372036854775807",
    b"9223372036854775808",
    b"18446744073709551616",
    b"1" + b"0" * 400,
    b"1" + b"0" * 5000,  # past Python's int digit limit, and a double's range
    b"0.1e-400",
    b"-0",
    b"1E5",
    b"NaN",
    b"Infinity",
    b'"\\ud800"',
    b'"\\ud800\\u0041"',
    b'"\\udc00"',
    b'"\\ud83d\\ude00"',
    b'"\\u0000"',
    b'{"\\u0000": 1}',
    b'"\xff"',
    b'"\xc3\x28"',
    b'"\xed\xa0\x80"',  # a surrogate encoded in UTF-8
    b'{"a": 1, "a": 2}',
    b'{"a": {"b": 1, "b": 1}}',
    b"[" * 64 + b"]" * 64,
    b"[" * 65 + b"]" * 65,
    b"[" * 5000 + b"]" * 5000,
    b'{"a": 1} x',
    b"\xef\xbb\xbf{}",
    b" {} ",
    b"{}\x00",
    b"[1,]",
    b'{"a" 1}',
    b"",
    b"tru",
    b'"\t"',
]


def _mutate_bytes(raw: bytes, rng: random.Random) -> bytes:
    b = bytearray(raw)
    for _ in range(rng.randint(0, 4)):
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
    if rng.random() < 0.5:
        b = b[: rng.randint(0, len(b))]
    return bytes(b) + bytes(rng.randrange(256) for _ in range(rng.randint(0, 8)))


def _random_json(rng: random.Random, depth: int = 0):
    pick = rng.randrange(8 if depth < 3 else 6)
    if pick == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if pick == 7:
        return {rng.choice(["a", "layer", "bits", "shards", "max_len"]): _random_json(rng, depth + 1)}
    return [
        None,
        rng.random() < 0.5,
        rng.randint(-(2**65), 2**65),
        rng.choice([rng.randint(-3, 70), 258, 2**32 + 4]),  # 258: a uint8 cast would read 2
        rng.choice([0.5, -1.5, 1e300, 3.0]),
        rng.choice(["", "x", "wrx-plan", "é", "a" * 30]),
    ][pick]


def _mutate_json(doc, rng: random.Random):
    """``doc`` with one value replaced by random JSON, or removed."""
    doc = json.loads(json.dumps(doc))
    paths, stack = [()], [((), doc)]
    while stack:
        p, v = stack.pop()
        kids = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else []
        for k, x in kids:
            paths.append((*p, k))
            stack.append(((*p, k), x))
    path = rng.choice(paths)
    if not path:
        return _random_json(rng)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if rng.random() < 0.3:
        del parent[path[-1]]
    else:
        parent[path[-1]] = _random_json(rng)
    return doc


def _py_verdict(kind: str, pkg: Path, path: Path) -> str:
    try:
        if kind == "json":
            try:
                strict_json.loads(path.read_bytes())
            except strict_json.StrictJSONError:
                return "BAD_DATA"
        elif kind == "store":
            with Store(path) as s:
                s.verify_all()
        else:
            with open_package(pkg) as p:
                g = p.geometry
                if kind == "plan":
                    plan = Plan.load(path)
                    plan.validate(g.layers, p.spec.shards_per_layer, p.scheme.all_bits, p.max_seq_len)
                elif kind == "data":
                    devdata.read(path, vocab=g.vocab, type_vocab=g.type_vocab)
        return "OK"
    except WrxError as e:
        return e.code or "NO_CODE"
    except Exception as e:  # a bug in a Python reader: listed with the disagreements
        return f"CRASH({type(e).__name__}: {e})"


def _corpus(tmp: Path) -> list[tuple[str, Path, Path]]:
    """(kind, package dir, file) for every corpus entry; files written under ``tmp``."""
    rng = random.Random(22)
    pkg = GOLDEN / "pkg"
    out: list[tuple[str, Path, Path]] = []
    n = 0

    def add(kind: str, raw: bytes, where: Path = pkg) -> None:
        nonlocal n
        n += 1
        f = tmp / f"{n:05d}.{kind}"
        f.write_bytes(raw)
        out.append((kind, where, f))

    for raw in HOSTILE_JSON:
        add("json", raw)
    for name in ("manifest.json", "tokenizer.json"):
        raw = (pkg / name).read_bytes()
        add("json", raw)
        for _ in range(MUTATIONS):
            add("json", _mutate_bytes(raw, rng))
    store = (pkg / "store.wrx").read_bytes()
    add("store", store)
    for _ in range(MUTATIONS):  # the header and entry table, where every count lives
        add("store", _mutate_bytes(store[:4096], rng) + store[4096:])
    dev = (pkg / "data" / "dev.bin").read_bytes()
    add("data", dev)
    for _ in range(MUTATIONS):
        add("data", _mutate_bytes(dev, rng))
    good_plan = {
        "format": "wrx-plan",
        "format_version": 3,
        "name": "p",
        "layers": [{"layer": 0, "shards": [0, 1], "bits": [4, 2]}],
        "by_length": [{"max_len": 4, "layers": [{"layer": 0, "shards": [0, 1], "bits": [4, 4]}]}],
        "preload": [[0, 0]],
        "pipeline": {"readahead_kb": 1024, "chunk_kb": 400, "head_resident": True, "lanes": 2},
        "meta": {"planner": "wrx"},
    }
    add("plan", json.dumps(good_plan).encode())
    for _ in range(3 * MUTATIONS):
        add("plan", json.dumps(_mutate_json(good_plan, rng)).encode())
    for _ in range(MUTATIONS):
        add("plan", _mutate_bytes(json.dumps(good_plan).encode(), rng))
    for case in CASES:
        for kind, key in (("plan", "plan"), ("data", "data"), ("store", "store")):
            if case.get(key) and not (key == "store" and (case.get("plan") or case.get("data"))):
                add(kind, (GOLDEN / case[key]).read_bytes(), GOLDEN / case.get("pkg", "pkg"))
    if FUZZ.is_dir():
        for kind in ("json", "store", "plan", "data"):
            for f in sorted((FUZZ / kind).glob("*")) if (FUZZ / kind).is_dir() else []:
                add(kind, f.read_bytes())
    # manifests: each needs its own package directory
    manifest = json.loads((pkg / "manifest.json").read_text())
    docs = [manifest] + [_mutate_json(manifest, rng) for _ in range(MUTATIONS)]
    raws = [json.dumps(d).encode() for d in docs]
    raws += [(GOLDEN / c["manifest"]).read_bytes() for c in CASES if c.get("manifest") and not c.get("pkg")]
    for raw in raws:
        d = tmp / f"pkg-{n:05d}"
        shutil.copytree(pkg, d)
        (d / "manifest.json").write_bytes(raw)
        add("manifest", raw, d)
    return out


def test_python_and_device_readers_agree_on_every_corpus_file(host_build, tmp_path):
    corpus = _corpus(tmp_path)
    lines = "".join(f"{k} {d} {f}\n" for k, d, f in corpus)
    r = subprocess.run(
        [str(host_build / "wrx-verdict")], input=lines, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-2000:]
    device = r.stdout.split()
    assert len(device) == len(corpus)
    differ = []
    for (kind, d, f), dv in zip(corpus, device, strict=True):
        pv = _py_verdict(kind, d, f)
        if pv != dv:
            differ.append(f"{kind} {f.name}: python {pv}, device {dv}: {f.read_bytes()[:80]!r}")
    kinds = {k for k, _, _ in corpus}
    assert kinds == {"json", "store", "data", "plan", "manifest"}
    # the corpus exercises both verdicts of every kind
    for k in kinds:
        got = {dv for (kind, _, _), dv in zip(corpus, device, strict=True) if kind == k}
        assert "OK" in got and len(got) > 1, (k, got)
    assert not differ, f"{len(differ)} of {len(corpus)} files read differently:\n" + "\n".join(differ[:200])


@pytest.mark.parametrize("raw", HOSTILE_JSON[:4])
def test_hostile_numbers_are_refused_by_the_python_reader(raw):
    with pytest.raises(strict_json.StrictJSONError):
        strict_json.loads(raw)
