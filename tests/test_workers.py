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


AFTER_OPENMP = """
import torch
from wrx_sdk.procs import process_pool
from tests.test_workers import layer_norm_sum

torch.set_num_threads(2)
layer_norm_sum(0)  # the caller's own parallel region, as after a fine-tune or an evaluation
with process_pool(2) as pool:
    print(sum(pool.map(layer_norm_sum, range(2))))
"""


def layer_norm_sum(seed: int) -> float:
    import torch

    torch.set_num_threads(2)
    x = torch.randn(256, 4096, generator=torch.Generator().manual_seed(seed))
    return float(torch.nn.functional.layer_norm(x, (4096,)).abs().sum())


def test_workers_started_after_torch_ran_do_not_deadlock():
    """A worker forked from a process whose OpenMP pool is running waits forever at its
    first parallel region (GNU libgomp is not fork-safe): the pools start workers from a
    fork server instead. The timeout only turns that deadlock into a failure."""
    root = Path(__file__).resolve().parent.parent
    try:
        r = subprocess.run(
            [sys.executable, "-c", AFTER_OPENMP], cwd=root, capture_output=True, text=True, timeout=600
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the workers deadlocked in their first OpenMP region (were they forked from the caller?)")
    assert r.returncode == 0, r.stderr[-2000:]
    assert float(r.stdout) > 0
