#!/usr/bin/env python3
"""Push throughput to a real AOSP adbd on loopback: wrx's patched transport (send-all loop,
TCP_NODELAY) against unpatched adb-shell 0.4.4, side by side in one run.

Builds the test adbd if needed (scripts/build_test_adbd.sh), starts it as in the tests,
pushes the same file --repeat times with each transport (alternating), verifies each push
by sha256 on the device, and prints MB/s and the ratio.
Usage: .venv/bin/python scripts/bench_adb.py [--mb 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _bench_common import Checks  # noqa: E402

from tests.adbd import Adbd, build  # noqa: E402
from wrx_sdk.devices.adb import AdbDevice  # noqa: E402


def push_once(
    spec: str, key: Path, patched: bool, src: Path, dst: str, digest: str, limit_s: float
) -> float | None:
    """MB/s, or None when the push failed, hung past limit_s or arrived corrupt."""
    dev = AdbDevice(spec, key, patched=patched)
    result: dict = {}

    def work() -> None:
        try:
            t = time.perf_counter()
            dev.push(src, dst)
            result["s"] = time.perf_counter() - t
        except Exception as e:  # noqa: BLE001 - any failure counts as a failed push
            result["err"] = f"{type(e).__name__}: {e}"

    th = threading.Thread(target=work, daemon=True)
    th.start()
    th.join(limit_s)
    if th.is_alive():
        print(f"  {'patched' if patched else 'unpatched'}: push hung for {limit_s:.0f} s", file=sys.stderr)
        return None
    if "err" in result:
        print(f"  {'patched' if patched else 'unpatched'}: {result['err']}", file=sys.stderr)
        return None
    try:
        rc, out = dev.sh(f"sha256sum {dst}")
    finally:
        dev.close()
    if out.split()[0] != digest:
        print(f"  {'patched' if patched else 'unpatched'}: file arrived corrupt", file=sys.stderr)
        return None
    return src.stat().st_size / result["s"] / 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit-s", type=float, default=60.0)
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="wrx-bench-adb-"))
    os.chmod(base, 0o755)
    d = Adbd(build(), base / "root")
    d.start()
    try:
        src = base / "payload.bin"
        src.write_bytes(os.urandom(a.mb << 20))
        os.chmod(src, 0o644)
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        res: dict[bool, list] = {True: [], False: []}
        for i in range(a.repeat):
            for patched in (True, False):
                r = push_once(
                    d.spec, d.key, patched, src, f"{d.device_dir}/p{i}-{patched}.bin", digest, a.limit_s
                )
                res[patched].append(r)
        ok = {k: [x for x in v if x is not None] for k, v in res.items()}
        med = {k: statistics.median(v) if v else 0.0 for k, v in ok.items()}
        print(f"push of {a.mb} MiB to AOSP adbd on 127.0.0.1, {a.repeat} pushes each, alternating")
        print("| transport | median MB/s | pushes ok |")
        print("|---|---:|---:|")
        print(f"| wrx (send-all loop, TCP_NODELAY) | {med[True]:.1f} | {len(ok[True])}/{a.repeat} |")
        print(f"| adb-shell 0.4.4 TcpTransport | {med[False]:.1f} | {len(ok[False])}/{a.repeat} |")
        ratio = med[True] / med[False] if med[False] else float("inf")
        checks = Checks()
        print()
        checks.check("patched / unpatched push throughput", ratio >= 1.3, f"{ratio:.2f}x (>= 1.3)")
        checks.check(
            "every patched push arrived intact", len(ok[True]) == a.repeat, f"{len(ok[True])}/{a.repeat}"
        )
        return checks.exit_code()
    finally:
        d.cleanup()


if __name__ == "__main__":
    sys.exit(main())
