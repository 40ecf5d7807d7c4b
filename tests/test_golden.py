"""The golden package and one handcrafted broken file per rejection path (tests/golden/).

The C++ loader's tests read the same files and expect the same error codes.
"""

from __future__ import annotations

import json
import shutil
import zlib

import pytest

from wrx_sdk.errors import CODES, WrxError
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.formats.store_reader import Store

from .conftest import GOLDEN

CASES = json.loads((GOLDEN / "cases.json").read_text())["cases"]

# The exact 64-byte header of tests/golden/pkg/store.wrx (docs/FORMAT.md, "Header").
# fmt: off
GOLDEN_HEADER_HEX = (
    "57525853544f5200"  # magic WRXSTOR\0
    "02000000"  # version 2
    "40000000"  # header_bytes 64
    "0030010000000000"  # file_bytes
    "12000000"  # n_entries 18
    "50000000"  # n_tensors 80
    "4000000000000000"  # table_offset 64
    "d00c000000000000"  # table_bytes 40 * 18 + 32 * 80
    "0010000000000000"  # data_offset
    "d5880f64"  # table_crc32
    "25d01394"  # header_crc32
)
# The last entry record: the HEAD at 8 bits, its pooler a CODEBOOK (docs/FORMAT.md).
GOLDEN_HEAD8_ENTRY_HEX = (
    "0600"  # kind HEAD
    "08"  # bits 8
    "00"  # reserved
    "ffff"  # layer: none
    "ffff"  # shard: none
    "0020010000000000"  # offset
    "b804000000000000"  # length 1208
    "f6ddeea9"  # crc32
    "4c000000"  # first_tensor 76
    "04000000"  # n_tensors 4
    "00000000"  # reserved
)
# fmt: on


def test_golden_header_bytes():
    raw = (GOLDEN / "pkg" / "store.wrx").read_bytes()
    assert raw[:64].hex() == GOLDEN_HEADER_HEX
    assert zlib.crc32(raw[:60]).to_bytes(4, "little") == raw[60:64]
    assert len(raw) % 4096 == 0


def test_golden_head8_entry_bytes():
    """The 8-bit head: an exact entry record, and tensor records whose pooler is the only
    codebook (8x8 weights at 8 bits, 2 GOBO outliers: 1 KiB codebook, 16 B outliers, 64 B codes)."""
    raw = (GOLDEN / "pkg" / "store.wrx").read_bytes()
    pos = 64 + 17 * 40
    assert raw[pos : pos + 40].hex() == GOLDEN_HEAD8_ENTRY_HEX
    with Store(GOLDEN / "pkg" / "store.wrx") as st:
        e = st.entries[-1]
        got = [(t.role.name, t.encoding.name, t.bits, t.n_outliers, t.offset, t.nbytes) for t in e.tensors]
    assert got == [
        ("POOLER_W", "CODEBOOK", 8, 2, 0, 1024 + 16 + 64),
        ("POOLER_B", "F32", 32, 0, 1104, 32),
        ("CLS_W", "F32", 32, 0, 1136, 64),
        ("CLS_B", "F32", 32, 0, 1200, 8),
    ]


@pytest.mark.parametrize("which", ["pkg", "mpnet"])
def test_writer_reproduces_golden_bytes(tmp_path, which):
    """The writer is deterministic: re-packaging the golden model gives the same bytes."""
    from tests.fixtures import golden_mpnet_package, golden_package

    (golden_package if which == "pkg" else golden_mpnet_package)(tmp_path / "work", tmp_path / "pkg")
    assert (tmp_path / "pkg" / "store.wrx").read_bytes() == (GOLDEN / which / "store.wrx").read_bytes()
    for split in ("dev", "calib"):
        name = f"data/{split}.bin"
        assert (tmp_path / "pkg" / name).read_bytes() == (GOLDEN / which / name).read_bytes()
    got = json.loads((tmp_path / "pkg" / "manifest.json").read_text())
    want = json.loads((GOLDEN / which / "manifest.json").read_text())
    for m in (got, want):
        m.pop("wrx_sdk_version")
        m.pop("programs")  # .pte bytes depend on the torch/executorch build, not on our writer
        m["tokenizer"].pop("file")
    assert got == want


def test_golden_package_opens():
    with open_package(GOLDEN / "pkg") as pkg:
        pkg.store.verify_all()
        assert pkg.geometry.layers == 1 and pkg.spec.shards_per_layer == 2


def test_golden_profile_loads():
    """The valid file the profile_* cases are mutations of: the loader's own measurement."""
    from wrx_sdk.formats.device_profile import load_profile

    d = load_profile(GOLDEN / "profile.yaml")
    assert d["shards_per_layer"] == 2 and len(d["compute_ms_by_shards"]["layer"]) == 2


def test_every_case_names_a_known_code():
    assert len(CASES) >= 15
    assert all(c["error"] in CODES for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_rejection(case, tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(GOLDEN / case.get("pkg", "pkg"), pkg)
    shutil.copy(GOLDEN / case["store"], pkg / "store.wrx")
    if case["manifest"]:
        shutil.copy(GOLDEN / case["manifest"], pkg / "manifest.json")
    if case.get("data"):
        shutil.copy(GOLDEN / case["data"], pkg / "data" / "dev.bin")
    with pytest.raises(WrxError) as ei:
        if case.get("profile"):
            from wrx_sdk.formats.device_profile import load_profile

            load_profile(GOLDEN / case["profile"])
        elif case.get("report"):
            from wrx_sdk.reports.load import label_run, read_report

            label_run(GOLDEN / case["report"], read_report(GOLDEN / case["report"]))
        elif case.get("plan"):
            from wrx_sdk.formats.plan import Plan

            with open_package(pkg) as p:
                plan = Plan.load(GOLDEN / case["plan"])
                plan.validate(p.geometry.layers, p.spec.shards_per_layer, p.scheme.all_bits, p.max_seq_len)
        elif case.get("data"):
            with open_package(pkg) as p:
                p.read_data("dev")
        elif case["manifest"]:
            with open_package(pkg) as p:
                p.program_path("layer")
        else:
            with Store(pkg / "store.wrx") as s:
                s.verify_all()
    e = ei.value
    assert e.code == case["error"], str(e)
    assert case["field"] in e.message, str(e)
    assert case["message_contains"] in e.message, str(e)
    assert e.hint, "every rejection says how to fix it"
