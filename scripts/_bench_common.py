"""What the MiniLM benchmarks share: the fine-tuned, packaged model they measure (cached
under $WRX_CACHE/bench-pipeline) and one way to run the loader on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wrx_sdk import config  # noqa: E402
from wrx_sdk.builder.package import package  # noqa: E402
from wrx_sdk.models.finetune import finetune  # noqa: E402

LOADER = ROOT / "build/host/bundle/wrx-loader"


def bench_package(model: str = "minilm-l6") -> tuple[Path, dict]:
    """(package dir, manifest) of ``model`` fine-tuned on rt-polarity; both cached (MiniLM's
    under $WRX_CACHE/bench-pipeline, another model's under bench-pipeline-MODEL)."""
    work = config.cache_dir() / ("bench-pipeline" if model == "minilm-l6" else f"bench-pipeline-{model}")
    finetune(model, "rt-polarity", work / "ckpt", progress=True)
    out = work / "pkg"
    return out, package(work / "ckpt", "rt-polarity", out, progress=False)


def run_loader(
    out: Path,
    report: Path,
    mode: str,
    args: list[str],
    io_bandwidth: float,
    threads: int,
    rows: int = 0,
    trace_rows: int = 1,
) -> dict:
    """Run wrx-loader on the package (rows=0: every dev row) and return its report."""
    cmd = [str(LOADER), "--package", str(out), "--report", str(report), "--quiet", "--mode", mode]
    cmd += ["--io-bandwidth", str(io_bandwidth), "--threads", str(threads), "--trace-rows", str(trace_rows)]
    cmd += [*args] + (["--limit", str(rows)] if rows else [])
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    return json.loads(report.read_text())


class Checks:
    """The acceptance checks of one bench run: each prints PASS or FAIL as it is made, and
    ``exit_code`` ends the run with the count, non-zero when any failed."""

    def __init__(self) -> None:
        self.results: list[tuple[str, bool]] = []

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.results.append((name, bool(ok)))
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
        return bool(ok)

    def exit_code(self) -> int:
        failed = [n for n, ok in self.results if not ok]
        print(f"{len(self.results) - len(failed)} passed, {len(failed)} failed")
        return 1 if failed else 0
