"""The local device: runs the host-built wrx-loader bundle on a package directory."""

from __future__ import annotations

import json
import os
import subprocess
from collections import deque
from pathlib import Path

from tqdm import tqdm

from wrx_sdk.config import REPO_ROOT
from wrx_sdk.devices.base import RunResult
from wrx_sdk.errors import WrxError


def tool_path(name: str, env: str) -> Path:
    """A tool of the host bundle (``$env`` overrides where it is)."""
    p = Path(os.environ.get(env, REPO_ROOT / "build" / "host" / "bundle" / name))
    if not p.is_file():
        raise WrxError(
            f"{name} is not built ({p} is missing)", hint="run scripts/build_runtime.sh --target host"
        )
    return p


def loader_path() -> Path:
    return tool_path("wrx-loader", "WRX_LOADER")


class LocalDevice:
    name = "local"

    def run_loader(self, out: Path, args: list[str], progress: bool = True) -> RunResult:
        report = out / "reports" / ".local-last.json"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.unlink(missing_ok=True)
        cmd = [str(loader_path()), "--package", str(out), "--report", str(report), *args]
        tail: deque[str] = deque(maxlen=20)
        bar = None
        with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
            assert proc.stderr is not None
            for line in proc.stderr:
                if line.startswith("PROGRESS "):
                    i, n = (int(x) for x in line.split()[1:3])
                    if bar is None:
                        bar = tqdm(total=n, desc="wrx-loader", unit="row", disable=not progress)
                    bar.update(i - bar.n)
                elif "executorch:" not in line:
                    tail.append(line.rstrip())
            rc = proc.wait()
        if bar is not None:
            bar.close()
        if not report.is_file():
            raise WrxError(
                f"wrx-loader exited with status {rc} and wrote no report; last stderr lines:\n"
                + "\n".join(tail),
                hint="re-run with the command: " + " ".join(cmd),
            )
        data = json.loads(report.read_text())
        report.unlink()
        return RunResult(rc, data, list(tail))
