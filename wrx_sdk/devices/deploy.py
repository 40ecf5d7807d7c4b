"""``wrx deploy`` / ``wrx pull``: put a package and the right loader bundle on an ADB device.

Every file is pushed under a temporary name, checked by sha256 on the device, then
renamed, so a half-pushed file is never used; files whose remote sha256 already matches
are skipped, so a second deploy of unchanged artefacts transfers nothing.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from tqdm import tqdm

from wrx_sdk.config import REPO_ROOT
from wrx_sdk.devices.adb import AdbDevice, q
from wrx_sdk.devices.adb_runner import deployed_dir
from wrx_sdk.errors import WrxError
from wrx_sdk.formats.files import sha256_file, write_json
from wrx_sdk.formats.manifest import read_manifest

# Device ABI -> bundle target (scripts/build_runtime.sh --target ...)
ABI_TARGETS = {"arm64-v8a": "android-arm64", "aarch64": "aarch64-linux", "x86_64": "host"}
PARTIAL = ".wrx-partial"


def bundle_for_abi(abi: str) -> Path:
    """The bundle built for the device's ABI. An arm64 Android phone gets the NDK build when
    there is one, else the self-contained aarch64 bundle, which brings its own dynamic
    loader and C/C++ runtime (README, "Phones without the NDK")."""
    return choose_bundle(abi)[0]


def choose_bundle(abi: str) -> tuple[Path, str]:
    """(bundle directory, what it is, for the user)."""
    target = ABI_TARGETS.get(abi)
    if target is None:
        raise WrxError(f"no wrx-loader bundle for device ABI {abi!r} (known: {', '.join(ABI_TARGETS)})")
    b = REPO_ROOT / "build" / target / "bundle"
    if (b / "wrx-loader").is_file():
        return b, f"the {target} bundle"
    if abi == "arm64-v8a":
        sc = REPO_ROOT / "build" / "aarch64-linux" / "bundle"
        if (sc / "lib" / "ld-linux-aarch64.so.1").is_file() and (sc / "wrx-loader").is_file():
            return sc, "the self-contained aarch64 bundle (no NDK build; it brings its own libc)"
        raise WrxError(
            "the device is an arm64 Android phone, and neither its NDK bundle nor the self-contained "
            "aarch64 bundle is built",
            hint="scripts/build_runtime.sh --target aarch64-linux (no NDK needed)",
        )
    raise WrxError(
        f"the device's ABI is {abi}, but the {target} bundle is not built ({b} is missing)",
        hint=f"scripts/build_runtime.sh --target {target}",
    )


def default_remote_dir(out: Path) -> str:
    name = Path(str(read_manifest(out)["model"]["name"])).name or "model"
    return f"/data/local/tmp/wrx/{re.sub(r'[^A-Za-z0-9._-]', '_', name)}"


def files_to_deploy(out: Path, bundle: Path) -> list[tuple[Path, str, int]]:
    """(local file, path relative to the remote dir, mode): the whole bundle under bin/ (its
    tools or their launchers, libexec/, lib/, licenses/), then the package."""
    files = []
    for p in sorted(bundle.rglob("*")):
        if p.is_file():
            mode = 0o755 if os.access(p, os.X_OK) and not p.name.endswith((".so", ".txt")) else 0o644
            if p.parent.name == "lib" and p.name.startswith("ld-linux"):
                mode = 0o755  # the bundled dynamic loader is run as a program
            files.append((p, f"bin/{p.relative_to(bundle).as_posix()}", mode))
    files += [(out / name, name, 0o644) for name in ("manifest.json", "store.wrx")]
    if (out / "tokenizer.json").is_file():
        files.append((out / "tokenizer.json", "tokenizer.json", 0o644))
    for sub in ("programs", "data", "plans"):
        files += [(p, f"{sub}/{p.name}", 0o644) for p in sorted((out / sub).glob("*")) if p.is_file()]
    return files


def remote_hashes(dev: AdbDevice, remote: str, rels: list[str]) -> dict[str, str]:
    rc, out = dev.sh(f"cd {q(remote)} && sha256sum {' '.join(q(r) for r in rels)} 2>/dev/null", timeout_s=600)
    found = {}
    for line in out.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            found[parts[1].lstrip("*")] = parts[0]
    return found


def deploy(
    out: str | Path, device: str, remote_dir: str | None = None, key: str | None = None, progress: bool = True
) -> dict:
    out = Path(out)
    read_manifest(out)  # a clear error if OUT is not a package
    dev = AdbDevice(device, key)
    remote = remote_dir or default_remote_dir(out)
    try:
        abi = dev.abi()
        bundle, shipped = choose_bundle(abi)
        files = files_to_deploy(out, bundle)
        dirs = sorted({str(Path(rel).parent) for _, rel, _ in files} | {"reports"})
        rc, msg = dev.sh(
            f"mkdir -p {' '.join(q(f'{remote}/{d}') for d in dirs)} && "
            f"touch {q(remote)}/.wrx-write-test && rm -f {q(remote)}/.wrx-write-test"
        )
        if rc != 0:
            raise WrxError(
                f"{device}: remote directory {remote} cannot be written: {msg.strip()}",
                hint="choose a writable directory with --remote-dir (e.g. /data/local/tmp/wrx)",
            )
        have = remote_hashes(dev, remote, [rel for _, rel, _ in files])
        todo = []
        for local, rel, mode in files:
            digest = sha256_file(local)
            if have.get(rel) != digest:
                todo.append((local, rel, mode, digest))
        total = sum(local.stat().st_size for local, *_ in todo)
        t0 = time.time()
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"deploy to {device}",
            disable=not progress or not todo,
        ) as bar:
            for local, rel, mode, digest in todo:
                final = f"{remote}/{rel}"
                tmp = final + PARTIAL
                try:
                    dev.push(local, tmp, progress=bar.update, mode=mode)
                except WrxError as e:  # the transport died under us (daemon killed, cable pulled)
                    raise WrxError(
                        f"{device}: connection lost while pushing {rel}: {e.message}",
                        hint=f"re-run wrx deploy {out} --device {device}: files are pushed under a temporary "
                        "name and only renamed into place after their sha256 matches, so nothing partial "
                        "is ever used, and the next deploy resends what is missing",
                    ) from e
                got = remote_hashes(dev, remote, [rel + PARTIAL]).get(rel + PARTIAL)
                if got != digest:
                    dev.sh(f"rm -f {q(tmp)}")
                    raise WrxError(
                        f"{device}: {final} arrived corrupt (sha256 {got} != {digest})",
                        hint="re-run wrx deploy; it resends the file",
                    )
                rc, msg = dev.sh(f"chmod {mode:o} {q(tmp)} && mv -f {q(tmp)} {q(final)}")
                if rc != 0:
                    raise WrxError(f"{device}: cannot move {tmp} into place: {msg.strip()}")
        secs = max(time.time() - t0, 1e-9)
        stats = {
            "device": device,
            "abi": abi,
            "bundle": shipped,
            "remote_dir": remote,
            "files": len(files),
            "pushed": len(todo),
            "skipped": len(files) - len(todo),
            "bytes": total,
            "seconds": round(secs, 2),
            "mb_per_s": round(total / secs / 1e6, 2) if todo else 0.0,
        }
        write_json(out / ".deploy" / f"{dev.name}.json", stats)
        return stats
    finally:
        dev.close()


def pull_reports(out: Path, device: str, remote_dir: str | None = None, key: str | None = None) -> list[Path]:
    remote = deployed_dir(out, device, remote_dir)
    dev = AdbDevice(device, key)
    try:
        rc, listing = dev.sh(f"ls {q(remote)}/reports 2>/dev/null")
        got = []
        local_dir = out / "reports" / dev.name
        ledger = local_dir / ".pulled"
        seen = set(ledger.read_text().split()) if ledger.is_file() else set()
        for name in listing.split():
            if not name.endswith(".json") or ".tmp." in name or name in seen:
                continue
            dst = local_dir / name
            if not dst.exists():
                dev.pull(f"{remote}/reports/{name}", dst)
                got.append(dst)
        return got
    finally:
        dev.close()
