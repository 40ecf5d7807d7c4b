#!/usr/bin/env python3
"""Make an aarch64 bundle self-contained: it then runs on any arm64 Linux kernel, an
Android phone's included (`adb shell`, /data/local/tmp), with no NDK and no libc of the
device's own.

    scripts/self_contained_bundle.py BUNDLE SYSROOT_LIB

- The tools (ELF, built into BUNDLE/libexec/ by the aarch64 target) get a POSIX-sh launcher
  each in BUNDLE/: it finds its own directory without any external command, and execs the
  tool through the bundled dynamic loader with only the bundle's libraries:
  ``lib/ld-linux-aarch64.so.1 --library-path lib libexec/TOOL``. It works from any working
  directory, with an empty environment, and under Android's /system/bin/sh.
- Every library any ELF file of the bundle needs (DT_NEEDED, transitively) is copied from
  SYSROOT_LIB (Debian's cross toolchain: libc, libm, libstdc++, libgcc_s, ...), with the
  dynamic loader, and their license texts from Debian's copyright files go to
  BUNDLE/licenses/.
- Test seam (like CMake's CROSSCOMPILING_EMULATOR): when WRX_EMULATOR names an emulator
  command (e.g. ``qemu-aarch64 -cpu cortex-a72``), the launcher runs the dynamic loader
  through it. Nothing else differs between a phone and the test.

Exits non-zero, naming the library, if a needed library is nowhere to be found.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

LOADER = "ld-linux-aarch64.so.1"
LAUNCHER = """#!/bin/sh
# {tool}: runs the aarch64 {tool} through this bundle's own dynamic loader and libraries
# (scripts/self_contained_bundle.py). No external command is used, so it works with an
# empty environment and under Android's /system/bin/sh. WRX_EMULATOR, when set, is a
# command to run the loader through (the tests set it to qemu-aarch64 -cpu cortex-a72).
case "$0" in
  */*) d="${{0%/*}}" ;;
  *) d=. ;;
esac
d="$(cd "$d" && pwd)" || exit 127
exec ${{WRX_EMULATOR:-}} "$d/lib/{loader}" --library-path "$d/lib" "$d/libexec/{tool}" "$@"
"""


def needed(elf: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(elf)], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def is_elf(p: Path) -> bool:
    with open(p, "rb") as f:
        return f.read(4) == b"\x7fELF"


def copyright_of(lib: Path) -> tuple[str, Path] | None:
    """The Debian package that ships ``lib`` and its copyright file."""
    r = subprocess.run(["dpkg", "-S", str(lib.resolve())], capture_output=True, text=True)
    if r.returncode != 0:
        r = subprocess.run(["dpkg", "-S", str(lib)], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    pkg = r.stdout.split(":", 1)[0].strip()
    doc = Path("/usr/share/doc") / pkg / "copyright"
    return (pkg, doc) if doc.is_file() else None


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    bundle, sysroot = Path(sys.argv[1]), Path(sys.argv[2])
    libexec, lib = bundle / "libexec", bundle / "lib"
    tools = sorted(p.name for p in libexec.iterdir() if p.is_file() and is_elf(p))
    if not tools:
        print(f"error: no tools in {libexec}", file=sys.stderr)
        return 2
    for tool in tools:
        launcher = bundle / tool
        launcher.write_text(LAUNCHER.format(tool=tool, loader=LOADER))
        launcher.chmod(0o755)
    copied: list[Path] = []
    todo = [libexec / t for t in tools] + [p for p in lib.iterdir() if is_elf(p)]
    seen: set[str] = {p.name for p in lib.iterdir()}
    while todo:
        elf = todo.pop()
        for name in needed(elf):
            if name in seen:
                continue
            src = sysroot / name
            if not src.exists():
                print(f"error: {elf.name} needs {name}, which is not in {sysroot}", file=sys.stderr)
                hint = "HINT: apt-get install g++-aarch64-linux-gnu (scripts/setup.sh does it)"
                print(hint, file=sys.stderr)
                return 2
            shutil.copy2(src.resolve(), lib / name)
            os.chmod(lib / name, 0o755 if name == LOADER else 0o644)
            seen.add(name)
            copied.append(src)
            todo.append(lib / name)
    if not (lib / LOADER).exists():
        shutil.copy2((sysroot / LOADER).resolve(), lib / LOADER)
        os.chmod(lib / LOADER, 0o755)
        copied.append(sysroot / LOADER)
    lic = bundle / "licenses"
    lic.mkdir(exist_ok=True)
    notes = []
    for src in copied:
        found = copyright_of(src)
        if found is None:
            print(f"error: no Debian copyright file for {src}", file=sys.stderr)
            return 2
        pkg, doc = found
        shutil.copy2(doc, lic / f"{pkg}.copyright")
        notes.append(f"{src.name}: Debian package {pkg} ({lic.name}/{pkg}.copyright)")
    (lic / "README").write_text(
        "Runtime libraries shipped in lib/ and where their license texts are:\n"
        + "\n".join(sorted(set(notes)))
        + "\nThe ExecuTorch libraries are BSD-licensed (the executorch wheel's license).\n"
    )
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    n = len(copied)
    print(f"self-contained bundle {bundle}: {len(tools)} tools, {n} runtime libraries, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
