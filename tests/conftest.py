"""Shared fixtures. Tiny random models for plumbing; the real fine-tuned MiniLM for accuracy."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"


@pytest.fixture(scope="session")
def tiny_pkg(tmp_path_factory) -> Path:
    """A tiny random BERT (4 heads, 2 layers) packaged with every bitwidth."""
    from tests.fixtures import write_tiny_checkpoint, write_tiny_task
    from wrx_sdk.builder.package import package

    d = tmp_path_factory.mktemp("tiny")
    ck = write_tiny_checkpoint(d / "ckpt")
    task = write_tiny_task(d / "task.jsonl", rows=200)
    package(ck, str(task), d / "pkg", max_seq_len=16, progress=False)
    return d / "pkg"


@pytest.fixture
def tiny_copy(tiny_pkg, tmp_path) -> Path:
    """A private copy of the tiny package that a test may break."""
    dst = tmp_path / "pkg"
    shutil.copytree(tiny_pkg, dst)
    return dst


@pytest.fixture(scope="session")
def minilm_ckpt() -> Path:
    """The real all-MiniLM-L6-v2 fine-tuned on rt-polarity with default steps (cached)."""
    from wrx_sdk import config
    from wrx_sdk.models.finetune import finetune

    out = config.cache_dir() / "test-minilm-rt"
    finetune("minilm-l6", "rt-polarity", out, progress=False)
    return out


@pytest.fixture(scope="session")
def minilm_pkg(minilm_ckpt, tmp_path_factory) -> tuple[Path, float]:
    """(package dir, packaging seconds) for the fine-tuned MiniLM."""
    import time

    from wrx_sdk.builder.package import package

    out = tmp_path_factory.mktemp("minilm") / "pkg"
    t = time.time()
    package(minilm_ckpt, "rt-polarity", out, progress=False)
    return out, time.time() - t


def run_loader(
    bundle_dir: Path, pkg: Path, report: Path, *args: str, prefix=(), env=None, check: bool = True
):
    """Run <bundle_dir>/bundle/wrx-loader (optionally under an emulator prefix); returns
    (completed process, report dict or None)."""
    import json
    import subprocess

    cmd = [
        *prefix,
        str(bundle_dir / "bundle" / "wrx-loader"),
        "--package",
        str(pkg),
        "--report",
        str(report),
        "--quiet",
        *args,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r, (json.loads(report.read_text()) if report.exists() else None)


def _build(*flags: str) -> Path:
    import subprocess

    r = subprocess.run([str(ROOT / "scripts" / "build_runtime.sh"), *flags], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(
            f"scripts/build_runtime.sh {' '.join(flags)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        )
    if "--sanitize" in flags:
        return ROOT / "build" / "host-asan"
    if "--tsan" in flags:
        return ROOT / "build" / "host-tsan"
    return ROOT / "build" / flags[flags.index("--target") + 1]


@pytest.fixture(scope="session")
def host_build() -> Path:
    """build/host (the release loader bundle and the C++ unit tests); incremental."""
    return _build("--target", "host")


@pytest.fixture(scope="session")
def asan_build() -> Path:
    """build/host-asan: the same sources under AddressSanitizer + UBSan."""
    return _build("--target", "host", "--sanitize")


@pytest.fixture(scope="session")
def tsan_build() -> Path:
    """build/host-tsan: the same sources under ThreadSanitizer."""
    return _build("--target", "host", "--tsan")


@pytest.fixture(scope="session")
def aarch64_build() -> Path:
    """build/aarch64-linux, cross-compiled against the aarch64 executorch wheel (cached)."""
    return _build("--target", "aarch64-linux")


@pytest.fixture(scope="session")
def adbd_binary() -> Path:
    """AOSP adbd built from Debian's source package (cached). Fails loudly if it cannot be built."""
    from .adbd import build

    try:
        return build()
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture
def adbd(adbd_binary):
    import tempfile

    from .adbd import Adbd

    # Not under pytest's tmp dirs: those are 0700, and the daemon runs as another user.
    base = Path(tempfile.mkdtemp(prefix="wrx-adbd-"))
    os.chmod(base, 0o755)
    d = Adbd(adbd_binary, base / "root")
    d.start()
    yield d
    d.cleanup()
    shutil.rmtree(base, ignore_errors=True)


QEMU_EMULATOR = "/usr/bin/qemu-aarch64 -cpu cortex-a72"  # the launchers' WRX_EMULATOR in tests


@pytest.fixture
def arm64_phone_adbd(adbd_binary):
    """A real adbd that looks like an arm64 Android phone: its PATH has a getprop that says
    arm64-v8a, and its shells inherit WRX_EMULATOR, so the self-contained bundle's launchers
    run the aarch64 tools under qemu. Nothing else differs from a phone."""
    import tempfile

    from .adbd import Adbd

    base = Path(tempfile.mkdtemp(prefix="wrx-adbd-arm-"))
    os.chmod(base, 0o755)
    fake = base / "fakebin"
    fake.mkdir()
    (fake / "getprop").write_text(
        "#!/bin/sh\n"
        'case "$1" in ro.product.cpu.abi) echo arm64-v8a ;; ro.product.model) echo wrx-test-phone ;; esac\n'
    )
    os.chmod(fake / "getprop", 0o755)
    os.chmod(fake, 0o755)
    d = Adbd(adbd_binary, base / "root")
    d.start(path_prefix=str(fake), extra_env={"WRX_EMULATOR": QEMU_EMULATOR})
    yield d
    d.cleanup()
    shutil.rmtree(base, ignore_errors=True)
