"""libwrx's session and C API: the C tests (release and ASan + UBSan), parity of raw text
through a session with `wrx-loader --mode elastic` and with `wrx eval`, and `wrx query`
locally and over the real adbd."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from tokenizers import Tokenizer

from wrx_sdk.devices.query import LocalQuery, query_args
from wrx_sdk.formats import devdata
from wrx_sdk.models.tasks import load_task

from .conftest import run_loader


def wrx(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wrx_sdk.cli", *args], capture_output=True, text=True, input=stdin
    )


def c_api_tests(build, pkg, bad, env=None) -> None:
    r = subprocess.run(
        [str(build / "wrx-c-api-tests"), str(pkg), str(bad)], capture_output=True, text=True, env=env
    )
    m = re.search(r"^(\d+) passed, (\d+) failed$", r.stdout, re.M)
    assert m and r.returncode == 0 and int(m.group(2)) == 0, r.stdout + r.stderr[-3000:]
    assert int(m.group(1)) >= 40


@pytest.fixture
def corrupt_pkg(tiny_pkg, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_pkg, bad)
    with open(bad / "store.wrx", "r+b") as f:
        f.write(b"NOTASTOR")  # the magic
    return bad


def test_c_api(host_build, tiny_pkg, corrupt_pkg):
    c_api_tests(host_build, tiny_pkg, corrupt_pkg)


def test_c_api_under_asan_and_ubsan(asan_build, tiny_pkg, corrupt_pkg):
    import os

    env = {
        **os.environ,
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
        "UBSAN_OPTIONS": "halt_on_error=1",
    }
    c_api_tests(asan_build, tiny_pkg, corrupt_pkg, env)


LANES2_PLAN = {
    "format": "wrx-plan",
    "format_version": 2,
    "name": "lanes2",
    "layers": [
        {"layer": 0, "shards": [0, 1, 2, 3], "bits": [4, 4, 2, 8]},
        {"layer": 1, "shards": [0, 2, 3], "bits": [3, 4, 4]},
    ],
    "preload": [[0, 0]],
    "pipeline": {"readahead_kb": 64, "chunk_kb": 4, "head_resident": False, "lanes": 2, "head_bits": 8},
    "meta": {},
}


def test_threads_under_tsan(tsan_build, tiny_pkg, corrupt_pkg, tmp_path):
    """ThreadSanitizer over the C API tests (two callers, cancel, close during a call) and an
    elastic run with two lanes and a small read-ahead (IO thread, byte budget, channel, crew)."""
    import os

    env = {**os.environ, "TSAN_OPTIONS": "halt_on_error=1:exitcode=66"}
    c_api_tests(tsan_build, tiny_pkg, corrupt_pkg, env)
    plan = tmp_path / "lanes2.json"
    plan.write_text(json.dumps(LANES2_PLAN))
    r, rep = run_loader(
        tsan_build, tiny_pkg, tmp_path / "r.json", "--plan", str(plan), "--mode", "elastic", env=env
    )
    assert "ThreadSanitizer" not in r.stderr and rep["ok"] and rep["pipeline"]["lanes"] == 2


def dev_texts(task: str) -> tuple[list[str], list[str] | None]:
    ex = load_task(task).splits["dev"]
    return ex.texts, ex.pairs


def ask_all(build, pkg, texts, pairs, plan, *extra) -> list[dict]:
    args = query_args(plan, 2, 0.0) + list(extra)
    with LocalQuery(pkg, args, exe=build / "bundle" / "wrx-query") as q:
        assert q.ready["plan"] == plan
        answers = [q.ask(t, None if pairs is None else pairs[i]) for i, t in enumerate(texts)]
    assert all(a["ok"] for a in answers), [a for a in answers if not a["ok"]][:2]
    return answers


def check_session_parity(build, pkg, task: str, tmp_path, plan: str, bits: int) -> None:
    """Raw dev texts through a session = the packaged dev rows through wrx-loader (same
    ids, the same logits: one executor) = wrx eval on the host reference (within 1e-4)."""
    texts, pairs = dev_texts(task)
    answers = ask_all(build, pkg, texts, pairs, plan)
    enc, labels = devdata.read(pkg / "data" / "dev.bin")
    for i, a in enumerate(answers):
        assert a["token_ids"] == enc.input_ids[i, : enc.lengths[i]].tolist(), i
    got = np.array([a["logits"] for a in answers])

    m = re.match(r"uniform-(\d+)-pre(\d+)", plan)
    _, rep = run_loader(
        build,
        pkg,
        tmp_path / "r.json",
        "--mode",
        "elastic",
        "--bits",
        m.group(1),
        "--preload-layers",
        m.group(2),
    )
    loader = np.array([i["logits"] for i in rep["inferences"]])
    assert loader.shape == got.shape
    np.testing.assert_allclose(got, loader, rtol=0, atol=1e-5)
    assert (got.argmax(1) == loader.argmax(1)).all()

    r = wrx("eval", str(pkg), "--bits", str(bits), "--json", "--logits", str(tmp_path / "ref.npy"))
    assert r.returncode == 0, r.stderr
    ref = np.load(tmp_path / "ref.npy")
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
    assert (got.argmax(1) == ref.argmax(1)).all()
    assert len(labels) == len(answers)


def test_session_parity_tiny(host_build, tiny_pkg, tmp_path):
    check_session_parity(
        host_build, tiny_pkg, str(tiny_pkg.parent / "task.jsonl"), tmp_path, "uniform-4-pre1", 4
    )


def test_session_parity_minilm_every_dev_row(host_build, minilm_pkg, tmp_path):
    out, _ = minilm_pkg
    check_session_parity(host_build, out, "rt-polarity", tmp_path, "uniform-4-pre1", 4)


def test_wrx_query_cli(host_build, minilm_pkg):
    out, _ = minilm_pkg
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    text, pair = "A gorgeous, witty, seductive movie. [MASK] Ünïcödé ok", "the second text"

    r = wrx("query", str(out), text, "--json")
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    assert a["ok"] and a["plan"] == "uniform-4-pre1" and a["label"] in a["scores"]
    assert a["token_ids"] == tok.encode(text).ids
    assert set(a["timings_ms"]) >= {"tokenize", "io", "compute", "stall", "total"}
    assert abs(sum(a["scores"].values()) - 1) < 1e-5

    r = wrx("query", str(out), text, "--pair", pair, "--json", "--plan", "uniform-8")
    assert r.returncode == 0 and json.loads(r.stdout)["token_ids"] == tok.encode(text, pair).ids

    r = wrx("query", str(out), text)  # human output says which plan answered
    assert r.returncode == 0 and "plan: uniform-4-pre1 (the default" in r.stderr
    assert re.match(r"^(fresh|rotten) \d\.\d{3} \((fresh|rotten) \d\.\d{3}\)  \[", r.stdout), r.stdout

    lines = [
        json.dumps({"text": text, "pair": pair}),
        "plain line of text",
        "{broken",
        json.dumps({"pair": "x"}),
    ]
    r = wrx("query", str(out), "--json", stdin="\n".join(lines) + "\n")
    answers = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["ok"] for x in answers] == [True, True, False, False] and r.returncode == 2
    assert answers[0]["token_ids"] == tok.encode(text, pair).ids
    assert answers[1]["token_ids"] == tok.encode("plain line of text").ids
    assert answers[2]["error"]["code"] == "INVALID_ARGUMENT"


def test_wrx_query_errors(host_build, tiny_pkg, tmp_path):
    r = wrx("query", str(tmp_path / "nothing"), "text")
    assert r.returncode == 2 and "MISSING_FILE" in r.stderr and "HINT:" in r.stderr
    r = wrx("query", str(tiny_pkg), "text", "--plan", "no-such-plan")
    assert r.returncode == 2 and "BAD_PLAN" in r.stderr and "uniform-B" in r.stderr
    r = wrx("query", str(tiny_pkg), "--pair", "x")
    assert r.returncode == 2 and "--pair needs the query text" in r.stderr


def test_wrx_query_over_adb(host_build, adbd, tiny_pkg):
    """The deployed bundle's wrx-query holds one session for the stream; its answers equal
    the local session's."""
    r = wrx(
        "deploy",
        str(tiny_pkg),
        "--device",
        adbd.spec,
        "--remote-dir",
        adbd.device_dir,
        "--adb-key",
        str(adbd.key),
    )
    assert r.returncode == 0, r.stderr
    texts = ["the film is good", "a bad and dull film", "x"]
    stdin = "\n".join(texts) + "\n" + json.dumps({"text": "good", "pair": "bad"}) + "\n"
    common = ("--json", "--plan", "uniform-4-pre1")
    remote = wrx(
        "query", str(tiny_pkg), "--device", adbd.spec, "--adb-key", str(adbd.key), *common, stdin=stdin
    )
    local = wrx("query", str(tiny_pkg), *common, stdin=stdin)
    assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
    ra = [json.loads(x) for x in remote.stdout.splitlines()]
    la = [json.loads(x) for x in local.stdout.splitlines()]
    assert len(ra) == 4 and [a["token_ids"] for a in ra] == [a["token_ids"] for a in la]
    np.testing.assert_allclose([a["logits"] for a in ra], [a["logits"] for a in la], atol=1e-5)
