"""Importance fans out to a Ray cluster with the same results as local worker processes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from wrx_sdk.errors import WrxError
from wrx_sdk.measure.importance import importance

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    """A Ray head on loopback, started and stopped by the ray CLI, as a user would."""
    port = _free_port()
    cmd = [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    cmd += ["--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run(cmd, check=True, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True)


def test_ray_importance_equals_local(tiny_pkg, ray_head):
    local = importance(tiny_pkg, samples=24, workers=2, progress=False, use_cache=False)
    dist = importance(tiny_pkg, samples=24, workers=2, progress=False, use_cache=False, ray_address=ray_head)
    assert dist == local  # same code, same threads per worker: the same floats
    assert len(dist["importance"]) == 2 and dist["head"]


def test_ray_unreachable_is_a_user_error(tiny_pkg, tmp_path):
    out = tmp_path / "pkg"
    shutil.copytree(tiny_pkg, out)
    with pytest.raises(WrxError) as e:
        importance(out, samples=8, workers=1, progress=False, use_cache=False, ray_address="127.0.0.1:1")
    assert "Ray cluster at '127.0.0.1:1'" in e.value.message and "ray start --head" in e.value.hint
