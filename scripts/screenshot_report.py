#!/usr/bin/env python3
"""Regenerate the README's report screenshot (docs/report.png) from a real `wrx demo` run.

Runs `wrx demo` (about 3 minutes once its caches are warm) unless --report names an
existing report.html, then has headless Chromium render the page and crops the blank
space below it.
Usage: .venv/bin/python scripts/screenshot_report.py [--workdir wrx-demo] [--report FILE] [-o docs/report.png]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from PIL import Image, ImageChops  # noqa: E402

from wrx_sdk.demo import demo  # noqa: E402
from wrx_sdk.reports.browser import check_page, screenshot  # noqa: E402

WIDTH, MAX_HEIGHT = 1100, 6000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default=str(ROOT / "wrx-demo"))
    ap.add_argument("--report", help="screenshot this report.html instead of running the demo")
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "report.png"))
    a = ap.parse_args()
    page = Path(a.report) if a.report else demo(Path(a.workdir))
    got = check_page(page)
    if got.console or got.figures_ok != got.figures:
        sys.exit(
            f"{page} did not render cleanly: figures {got.figures_ok}/{got.figures}, console {got.console}"
        )
    with tempfile.TemporaryDirectory() as d:
        shot = screenshot(page, Path(d) / "full.png", WIDTH, MAX_HEIGHT)
        with Image.open(shot) as im:
            im = im.convert("RGB")
            bbox = ImageChops.difference(im, Image.new("RGB", im.size, "white")).getbbox()
            bottom = min(im.height, (bbox[3] if bbox else im.height) + 24)
            out = Path(a.output)
            tmp = out.with_suffix(".tmp.png")
            im.crop((0, 0, WIDTH, bottom)).save(tmp, optimize=True)
            tmp.replace(out)
    print(f"screenshot: {out} ({WIDTH}x{bottom}) from {page}")


if __name__ == "__main__":
    main()
