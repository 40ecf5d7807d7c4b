"""Headless Chromium: load a report page as a person's browser would, for the browser test
and the README screenshot (scripts/screenshot_report.py).

The flags are the ones this sandbox needs: no sandbox and no GPU (root, no display), and
background networking off, or Chromium keeps dialling Google's hosts on a closed network.
Console messages reach stderr as ``INFO:CONSOLE`` lines; the report page logs nothing, so
any such line is an error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wrx_sdk.errors import WrxError

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
CONSOLE = re.compile(r":CONSOLE[^\]]*\] (.*)")
FIGURES_OK = re.compile(r'data-figures-ok="(\d+)/(\d+)"')


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise WrxError(
            "Chromium is not installed (needed for the browser test and the README screenshot)",
            hint="scripts/setup.sh installs Debian's chromium (apt-get install chromium)",
        )
    return exe


def _run(page: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="wrx-chromium-") as profile:
        cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
        return subprocess.run(
            [*cmd, Path(page).resolve().as_uri()], capture_output=True, text=True, timeout=timeout
        )


@dataclass
class PageCheck:
    figures_ok: int  # images whose decoded size equals the size the page states
    figures: int
    console: list[str]  # every console message: the report page should print none
    dom: str


def check_page(page: Path, timeout: float = 120) -> PageCheck:
    """Load the page, let its scripts run, and read back the DOM and the console."""
    r = _run(page, "--virtual-time-budget=5000", "--dump-dom", timeout=timeout)
    if r.returncode != 0:
        raise WrxError(f"chromium failed on {page} (exit {r.returncode}): {r.stderr[-2000:]}")
    m = FIGURES_OK.search(r.stdout)
    ok, n = (int(m.group(1)), int(m.group(2))) if m else (0, -1)
    return PageCheck(ok, n, CONSOLE.findall(r.stderr), r.stdout)


def screenshot(page: Path, png: Path, width: int, height: int, timeout: float = 120) -> Path:
    r = _run(page, f"--window-size={width},{height}", f"--screenshot={png}", timeout=timeout)
    if r.returncode != 0 or not Path(png).is_file():
        raise WrxError(f"chromium could not screenshot {page} (exit {r.returncode}): {r.stderr[-2000:]}")
    return Path(png)
