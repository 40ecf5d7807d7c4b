#!/usr/bin/env python3
"""libwrx sessions against a load-all session of the same library, side by side in one run.

Fine-tuned MiniLM on rt-polarity (the cached bench package), IO capped at --io-bandwidth
MB/s (eMMC 250 by default), the elastic plan the demo makes at T = 1.5x load-all fp32 and
M = demo.memory_mb (wrx planner). Checks (docs/SESSION.md; each prints PASS or FAIL):
  cold first answer: page cache dropped, a fresh wrx-query opens a session and answers one
    query; elastic <= 1/5 of load-all fp32 (medians of --cold-reps);
  footprint: idle RSS between queries, elastic <= 1/8 of load-all's; peak RSS over the
    queries, elastic <= 1/5 of load-all's; plus a ledger of where the elastic RSS goes;
  per query: text-to-label p50 through the C API (tokenizer included) <= 1.03x the same
    plan through wrx-loader on the packaged (pre-tokenized) rows; p90 reported;
  tokenizer: tokens per second on one core >= the tokenizers library on one thread.
Usage: .venv/bin/python scripts/bench_session.py [--rows N] [--io-bandwidth MBPS]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench_common import ROOT, Checks, bench_package, run_loader

from wrx_sdk.config import defaults
from wrx_sdk.demo import cached_profile, plan_targets
from wrx_sdk.measure.importance import importance
from wrx_sdk.models.tasks import load_task
from wrx_sdk.planning.planner import make_plan

BUNDLE = ROOT / "build" / "host" / "bundle"
QUERY = BUNDLE / "wrx-query"
TOKENIZE = ROOT / "build" / "host" / "wrx-tokenize"
MIB = 1 << 20
WARMUP = 5  # rows at the start of each run that are not timed
CHECKS = Checks()
check = CHECKS.check


def drop_cache(paths: list[Path]) -> None:
    """Evict the files from the page cache (no root needed): the next process reads flash."""
    for root in paths:
        for p in [root] if root.is_file() else [q for q in root.rglob("*") if q.is_file()]:
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd) if os.access(p, os.W_OK) else None
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def cold_answer_ms(out: Path, args: list[str], text: str) -> float:
    drop_cache([out, BUNDLE])
    t0 = time.perf_counter()
    r = subprocess.run(
        [str(QUERY), "--package", str(out), *args, "--text", text], capture_output=True, text=True, check=True
    )
    ms = (time.perf_counter() - t0) * 1e3
    assert json.loads(r.stdout)["ok"], r.stdout
    return ms


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def ledger(pid: int) -> dict[str, int]:
    """RSS by mapping: each library and the executable, anonymous memory, stacks."""
    by: dict[str, int] = {}
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
            name = parts[5] if len(parts) > 5 else "[anon]"
        elif parts[0] == "Rss:":
            key = Path(name).name if name.startswith("/") else name
            by[key] = by.get(key, 0) + int(parts[1]) * 1024
    return by


def session_footprint(out: Path, args: list[str], texts: list[str]) -> dict:
    """Idle RSS after the queries, peak RSS over them, the per-query timings, and the ledger."""
    proc = subprocess.Popen(
        [str(QUERY), "--package", str(out), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    assert proc.stdin and proc.stdout
    ready = json.loads(proc.stdout.readline())
    assert ready.get("ready"), ready
    answers = []
    for t in texts:
        proc.stdin.write(json.dumps({"text": t}) + "\n")
        proc.stdin.flush()
        answers.append(json.loads(proc.stdout.readline()))
    time.sleep(0.2)  # idle: between queries
    res = {
        "idle_rss": status_kb(proc.pid, "VmRSS") * 1024,
        "peak_rss": status_kb(proc.pid, "VmHWM") * 1024,
        "ledger": ledger(proc.pid),
        "answers": answers,
    }
    proc.stdin.close()
    proc.wait()
    return res


def pct(v: list[float], q: float) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def tokenizer_speed(tj: Path, texts: list[str], passes: int) -> tuple[float, float]:
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["RAYON_NUM_THREADS"] = "1"
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tj))
    tok.no_padding()
    tok.enable_truncation(128)
    n, t0 = 0, time.perf_counter()
    for _ in range(passes):
        for e in tok.encode_batch(texts):
            n += len(e.ids)
    hf = n / (time.perf_counter() - t0)
    buf = b"".join(f"{len(t.encode())} -1\n".encode() + t.encode() for t in texts)
    cmd = ["taskset", "-c", "0", str(TOKENIZE), str(tj), "128", "--bench", str(passes)]
    out = subprocess.run(cmd, input=buf, capture_output=True, check=True).stdout.decode().split()
    return int(out[1]) / float(out[3]), hf


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=400, help="dev texts per session and loader run")
    ap.add_argument("--io-bandwidth", type=float, default=250.0)
    ap.add_argument("--cold-reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="alternating session/loader rounds per query")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    for p in (QUERY, TOKENIZE):
        if not p.is_file():
            sys.exit(f"error: {p} is missing\nHINT: scripts/build_runtime.sh --target host")

    out, m = bench_package()
    cfg = defaults("demo")
    cap, memory_mb = a.io_bandwidth, float(cfg["memory_mb"])
    importance(out, samples=int(cfg["importance_samples"]), progress=False)
    prof = cached_profile(out, cap, m["store"]["table_crc32"])
    (target,), load_all_ms = plan_targets(out, prof, memory_mb, [1.5])
    plan, plan_path = make_plan(
        out,
        target,
        memory_mb,
        profile=prof,
        samples=int(cfg["importance_samples"]),
        progress=False,
        reuse=True,
    )
    print(
        f"package {out}; plan {plan.name} (T = {target:g} ms = 1.5 x load-all fp32 {load_all_ms:.2f} ms, "
        f"M = {memory_mb:g} MB); IO capped at {cap:g} MB/s"
    )
    common = ["--threads", str(a.threads), "--io-bandwidth", str(cap)]
    elastic_args = [*common, "--plan", str(plan_path)]
    load_all_args = [*common, "--plan", "uniform-32", "--load-all"]
    dev = load_task("rt-polarity").splits["dev"]
    texts = dev.texts[: a.rows]

    # 1. cold first answer, alternating so drift hits both
    cold = {"elastic": [], "load-all": []}
    for _ in range(a.cold_reps):
        cold["elastic"].append(cold_answer_ms(out, elastic_args, texts[0]))
        cold["load-all"].append(cold_answer_ms(out, load_all_args, texts[0]))
    ce, cl = statistics.median(cold["elastic"]), statistics.median(cold["load-all"])
    check(
        "cold first answer",
        ce <= cl / 5,
        f"elastic {ce:.0f} ms, load-all fp32 {cl:.0f} ms: {ce / cl:.3f}x (<= 0.2)",
    )

    # 2. footprint (and the per-query answers of the elastic session)
    fe = session_footprint(out, elastic_args, texts)
    fl = session_footprint(out, load_all_args, texts[:50])
    check(
        "idle RSS",
        fe["idle_rss"] <= fl["idle_rss"] / 8,
        f"elastic {fe['idle_rss'] / MIB:.1f} MB, load-all {fl['idle_rss'] / MIB:.1f} MB: "
        f"{fe['idle_rss'] / fl['idle_rss']:.3f}x (<= 0.125)",
    )
    check(
        "peak RSS",
        fe["peak_rss"] <= fl["peak_rss"] / 5,
        f"elastic {fe['peak_rss'] / MIB:.1f} MB, load-all {fl['peak_rss'] / MIB:.1f} MB: "
        f"{fe['peak_rss'] / fl['peak_rss']:.3f}x (<= 0.2)",
    )
    stats = fe["answers"][-1]["stats"]
    with tempfile.TemporaryDirectory() as tmp:
        rep = run_loader(out, Path(tmp) / "r.json", "elastic", ["--plan", str(plan_path)], cap, a.threads, 5)
    arenas = rep["memory"]["activation_bytes"]
    anon = sum(v for k, v in fe["ledger"].items() if k in ("[anon]", "[heap]"))
    files = {k: v for k, v in fe["ledger"].items() if k not in ("[anon]", "[heap]") and v}
    print(f"ledger of the idle elastic session ({fe['idle_rss'] / MIB:.2f} MB RSS):")
    for k, v in sorted(files.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {v / MIB:7.2f} MB  {k}")
    print(f"  {sum(files.values()) / MIB:7.2f} MB  all file-backed mappings (code, read-only data)")
    print(f"  {anon / MIB:7.2f} MB  anonymous memory (heap, mmap), of which:")
    w, pre = stats["resident_weight_bytes"] / MIB, stats["preload_bytes"] / MIB
    print(f"  {w:9.2f} MB  weights resident (preload {pre:.2f})")
    print(f"  {arenas / MIB:9.2f} MB  activations and program arenas (wrx-loader's tally, same plan)")
    rest = anon - stats["resident_weight_bytes"] - arenas
    print(f"  {rest / MIB:9.2f} MB  the rest: XNNPACK workspace, ExecuTorch method pools, allocator, stacks")

    # 3. per query: the session's text-to-label time against the loader on pre-tokenized rows,
    # in alternating rounds so that the machine's drift hits both; each run's first rows are
    # its warm-up and not counted
    sess, loader, same, n = [], [], 0, 0
    for r in range(a.rounds):
        order = ("session", "loader") if r % 2 == 0 else ("loader", "session")
        for who in order:
            if who == "session":
                answers = fe["answers"] if r == 0 else session_footprint(out, elastic_args, texts)["answers"]
                sess += [x["timings_ms"]["total"] for x in answers[WARMUP:]]
                preds = [x["label_index"] for x in answers]
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    args = ["--plan", str(plan_path)]
                    rep = run_loader(out, Path(tmp) / "r.json", "elastic", args, cap, a.threads, a.rows)
                loader += [i["latency_ms"] for i in rep["inferences"][WARMUP:]]
                lpreds = [i["pred"] for i in rep["inferences"]]
        same += sum(p == q for p, q in zip(preds, lpreds, strict=True))
        n += len(preds)
    sp50, lp50 = statistics.median(sess), statistics.median(loader)
    print(
        f"per query, {a.rounds} alternating rounds of {len(texts)} dev texts: session p50 {sp50:.2f} ms "
        f"p90 {pct(sess, 0.9):.2f}; wrx-loader p50 {lp50:.2f} ms p90 {pct(loader, 0.9):.2f}"
    )
    check("API and tokenizer overhead", sp50 <= 1.03 * lp50, f"p50 {sp50 / lp50:.3f}x the loader's (<= 1.03)")
    check("same predictions", same == n, f"{same}/{n} dev rows equal to wrx-loader's")

    # 4. tokenizer speed
    all_texts = [t for ex in load_task("rt-polarity").splits.values() for t in ex.texts]
    dev_tps, hf_tps = tokenizer_speed(out / "tokenizer.json", all_texts, 3)
    check(
        "tokenizer speed",
        dev_tps >= hf_tps,
        f"{dev_tps:,.0f} tokens/s on one core vs tokenizers {hf_tps:,.0f} on one thread: "
        f"{dev_tps / hf_tps:.2f}x",
    )

    return CHECKS.exit_code()


if __name__ == "__main__":
    sys.exit(main())
