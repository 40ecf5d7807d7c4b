"""Any input to a Python reader gives a result or a user error, never a traceback (issue 22).

Property-based (Hypothesis): each reader gets valid files with one field replaced by an
arbitrary JSON value or deleted, and files with bytes flipped, cut or appended. A reader
may accept what it gets (a flipped byte in a float is still a float); what it may not do is
raise anything but ``WrxError``, the closed set of user errors the CLI prints with a hint.
Examples per test: ``HYPOTHESIS_EXAMPLES`` (default 150, a few seconds each on 2 cores).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wrx_sdk.errors import WrxError
from wrx_sdk.formats import devdata
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.formats.plan import Plan

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "150"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,  # 2 busy cores: time is not the property
    derandomize=True,  # CI replays the same examples; a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(doc, prefix=()):
    """Every path into a JSON document, the root included."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def mutate(doc, data: st.DataObject):
    """``doc`` with the value at one path replaced by arbitrary JSON, or removed."""
    doc = copy.deepcopy(doc)
    path = data.draw(st.sampled_from(list(_paths(doc))))
    value = data.draw(JSON)
    if not path:
        return value
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if data.draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


def mutate_bytes(raw: bytes, data: st.DataObject) -> bytes:
    """``raw`` with a few bytes overwritten, then maybe cut short or extended."""
    b = bytearray(raw)
    for _ in range(data.draw(st.integers(0, 4))):
        if b:
            b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(b)))
    if data.draw(st.booleans()):
        b = b[:cut]
    return bytes(b) + data.draw(st.binary(max_size=16))


def _write(tmp: str, name: str, raw: bytes) -> Path:
    p = Path(tmp) / name
    p.write_bytes(raw)
    return p


def _valid_plan() -> dict:
    plan = Plan.uniform(2, 4, 4, 1)
    plan.pipeline = {"readahead_kb": 1024, "chunk_kb": 400, "head_resident": True, "lanes": 1}
    plan.by_length = [(8, copy.deepcopy(plan.layers[:1]))]
    return plan.to_json()


@SETTINGS
@given(st.data())
def test_plan_reader_never_raises_but_user_errors(data):
    doc = mutate(_valid_plan(), data)
    try:
        plan = Plan.from_json(doc)
        plan.validate(2, 4, (2, 3, 4, 5, 6, 8, 32), 16)
    except WrxError:
        pass


@SETTINGS
@given(st.data())
def test_plan_files_never_raise_but_user_errors(data):
    raw = mutate_bytes(json.dumps(_valid_plan()).encode(), data)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            Plan.load(_write(tmp, "plan.json", raw))
        except WrxError:
            pass


@SETTINGS
@given(st.data())
def test_evaluation_data_never_raises_but_user_errors(data):
    raw = mutate_bytes((GOLDEN / "pkg" / "data" / "dev.bin").read_bytes(), data)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            enc, labels = devdata.read(_write(tmp, "dev.bin", raw))
            assert len(labels) == enc.input_ids.shape[0] == len(enc.lengths)
        except WrxError:
            pass


def _open_golden_with(where: Path, name: str, raw: bytes) -> None:
    """Open a copy of the golden package whose file ``name`` is ``raw``, and read every
    store entry: a result or a user error."""
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        pkg = Path(tmp) / "pkg"
        shutil.copytree(GOLDEN / "pkg", pkg)
        (pkg / name).write_bytes(raw)
        try:
            with open_package(pkg) as p:
                p.store.verify_all()
        except WrxError:
            pass


@pytest.fixture(scope="module")
def golden_copy(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@SETTINGS
@given(st.data())
def test_manifests_never_raise_but_user_errors(golden_copy, data):
    doc = json.loads((GOLDEN / "pkg" / "manifest.json").read_text())
    _open_golden_with(golden_copy, "manifest.json", json.dumps(mutate(doc, data)).encode())


@SETTINGS
@given(st.data())
def test_stores_never_raise_but_user_errors(golden_copy, data):
    raw = (GOLDEN / "pkg" / "store.wrx").read_bytes()
    head = data.draw(st.booleans())  # the header and entry table, where the counts live
    window = raw[:4096] if head else raw
    mutated = mutate_bytes(window, data) + (raw[4096:] if head else b"")
    _open_golden_with(golden_copy, "store.wrx", mutated)


@SETTINGS
@given(st.data())
def test_reports_never_raise_but_user_errors(data):
    from wrx_sdk.reports.load import label_run, read_report

    doc = json.loads((GOLDEN / "report.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        p = _write(tmp, "r.json", json.dumps(mutate(doc, data)).encode())
        try:
            label_run(p, read_report(p))
        except WrxError:
            pass
