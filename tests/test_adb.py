"""wrx deploy / run / pull against a real AOSP adbd on 127.0.0.1 (tests/adbd.py)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wrx_sdk.devices.adb import AdbDevice
from wrx_sdk.devices.deploy import bundle_for_abi, choose_bundle, deploy, pull_reports
from wrx_sdk.devices.run import run
from wrx_sdk.errors import WrxError


def wrx(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wrx_sdk.cli", *args], capture_output=True, text=True)


def _leave_report_and_pull(dev, pkg, name: str, limit: int) -> list:
    """Run the deployed loader on the device so that it leaves reports/<name> there, then
    fetch the device's reports with wrx pull."""
    adb = AdbDevice(dev.spec, dev.key)
    rc, _ = adb.sh(
        f"cd {dev.device_dir} && ./bin/wrx-loader --package . --report reports/{name} --quiet --limit {limit}"
    )
    adb.close()
    assert rc == 0
    return pull_reports(pkg, dev.spec, dev.device_dir, str(dev.key))


def test_end_to_end_matches_local(host_build, adbd, tiny_pkg):
    """package -> deploy -> run -> pull; the device report's predictions equal --device local."""
    deploy = ("deploy", str(tiny_pkg), "--device", adbd.spec, "--remote-dir", adbd.device_dir)
    deploy += ("--adb-key", str(adbd.key), "-q")
    r = wrx(*deploy)
    assert r.returncode == 0, r.stderr
    assert "pushed" in r.stdout and "verified by sha256" in r.stdout
    again = wrx(*deploy)
    assert again.returncode == 0 and "nothing transferred" in again.stdout, again.stdout

    remote, kept = run(
        tiny_pkg, device=adbd.spec, mode="elastic", plan="uniform-4-pre1", key=str(adbd.key), progress=False
    )
    local, _ = run(tiny_pkg, device="local", mode="elastic", plan="uniform-4-pre1", progress=False)
    assert kept.parent.name == adbd.spec.replace(":", "_") and kept.is_file()
    assert [i["pred"] for i in remote["inferences"]] == [i["pred"] for i in local["inferences"]]
    assert remote["package"]["root"] == "."  # it really ran in the deployed directory

    # a report left behind on the device is fetched by wrx pull
    got = _leave_report_and_pull(adbd, tiny_pkg, "left.json", limit=2)
    assert [p.name for p in got] == ["left.json"] and json.loads(got[0].read_text())["ok"]
    assert pull_reports(tiny_pkg, adbd.spec, adbd.device_dir, str(adbd.key)) == []


def test_unknown_key_is_unauthorized(adbd, tmp_path, tiny_pkg):
    from adb_shell.auth.keygen import keygen

    keygen(str(tmp_path / "stranger"))
    with pytest.raises(WrxError) as ei:
        deploy(
            tiny_pkg, adbd.spec, remote_dir=adbd.device_dir, key=str(tmp_path / "stranger"), progress=False
        )
    assert "unauthorized" in ei.value.message and "adb_keys" in ei.value.hint


def test_unwritable_remote_dir(adbd, tiny_pkg):
    ro = adbd.root / "readonly"
    ro.mkdir()
    os.chown(ro, os.getuid(), os.getgid())
    os.chmod(ro, 0o555)  # nobody (the daemon) may not write here
    with pytest.raises(WrxError) as ei:
        deploy(tiny_pkg, adbd.spec, remote_dir=str(ro / "wrx"), key=str(adbd.key), progress=False)
    assert "cannot be written" in ei.value.message and "--remote-dir" in ei.value.hint


def test_daemon_killed_mid_push_is_repaired(host_build, adbd, minilm_pkg):
    out, _ = minilm_pkg
    killer = threading.Timer(0.4, adbd.stop, kwargs={"sig": 9})
    killer.start()
    with pytest.raises(WrxError) as ei:
        deploy(out, adbd.spec, remote_dir=adbd.device_dir, key=str(adbd.key), progress=False)
    killer.join()
    assert "connection lost" in ei.value.message or "cannot connect" in ei.value.message, ei.value
    store = Path(adbd.device_dir) / "store.wrx"
    assert not store.exists(), "a half-pushed store must never sit under its final name"
    adbd.start()  # the device comes back
    s = deploy(out, adbd.spec, remote_dir=adbd.device_dir, key=str(adbd.key), progress=False)
    assert s["pushed"] >= 1
    assert (
        hashlib.sha256(store.read_bytes()).hexdigest()
        == hashlib.sha256((out / "store.wrx").read_bytes()).hexdigest()
    )
    rep, _ = run(
        out,
        device=adbd.spec,
        mode="elastic",
        plan="uniform-4-pre1",
        limit=3,
        key=str(adbd.key),
        progress=False,
    )
    assert rep["ok"] and rep["summary"]["n"] == 3


def test_loader_failure_shows_its_stderr(host_build, adbd, tiny_pkg):
    deploy(tiny_pkg, adbd.spec, remote_dir=adbd.device_dir, key=str(adbd.key), progress=False)
    store = Path(adbd.device_dir) / "store.wrx"
    raw = bytearray(store.read_bytes())
    raw[8] ^= 0xFF  # the version field: the loader must refuse the store
    store.write_bytes(raw)
    with pytest.raises(WrxError) as ei:
        run(tiny_pkg, device=adbd.spec, bits=4, key=str(adbd.key), progress=False)
    msg = str(ei.value)
    assert "UNSUPPORTED_VERSION" in msg and "error:" in msg  # the loader's own stderr line, relayed
    # and the next deploy notices the corrupt file by its hash and repairs it
    s = deploy(tiny_pkg, adbd.spec, remote_dir=adbd.device_dir, key=str(adbd.key), progress=False)
    assert s["pushed"] == 1


def test_silent_long_command_does_not_time_out(adbd):
    dev = AdbDevice(adbd.spec, adbd.key)
    t = time.time()
    rc, out = dev.sh("sleep 11; echo done; exit 4", timeout_s=60)
    dev.close()
    assert time.time() - t >= 11 and rc == 4 and out.strip() == "done"


def test_bundle_is_chosen_by_abi(host_build, aarch64_build):
    assert bundle_for_abi("x86_64") == host_build / "bundle"
    assert bundle_for_abi("aarch64") == aarch64_build / "bundle"
    # no NDK build here: an Android phone gets the self-contained aarch64 bundle, and is told so
    bundle, what = choose_bundle("arm64-v8a")
    assert bundle == aarch64_build / "bundle" and "self-contained" in what
    with pytest.raises(WrxError, match="no wrx-loader bundle for device ABI 'mips'"):
        bundle_for_abi("mips")


def test_arm64_phone_gets_the_self_contained_bundle(aarch64_build, host_build, arm64_phone_adbd, tiny_pkg):
    """An adbd whose getprop says arm64-v8a: wrx deploy ships the self-contained aarch64
    bundle and says so; wrx run goes through its launcher (under the emulator seam) and gives
    the host's predictions; wrx query answers through it; the report comes back by wrx pull."""
    dev = arm64_phone_adbd
    key = ("--adb-key", str(dev.key))
    r = wrx("deploy", str(tiny_pkg), "--device", dev.spec, "--remote-dir", dev.device_dir, *key, "-q")
    assert r.returncode == 0, r.stderr
    assert "(arm64-v8a): the self-contained aarch64 bundle" in r.stdout, r.stdout
    shipped = Path(dev.device_dir) / "bin"
    assert (shipped / "lib" / "ld-linux-aarch64.so.1").is_file() and (
        shipped / "libexec" / "wrx-loader"
    ).is_file()

    args = dict(mode="elastic", plan="uniform-4-pre1", limit=3, progress=False)
    remote, _ = run(tiny_pkg, device=dev.spec, key=str(dev.key), **args)
    local, _ = run(tiny_pkg, device="local", **args)
    assert remote["build"]["target"] == "aarch64-linux" and remote["device"]["arch"] == "aarch64"
    la = [i["logits"] for i in remote["inferences"]]
    lh = [i["logits"] for i in local["inferences"]]
    diff = max(abs(a - b) for ra, rh in zip(la, lh, strict=True) for a, b in zip(ra, rh, strict=True))
    assert len(la) == 3 and diff < 1e-4

    q = wrx("query", str(tiny_pkg), "the film is good", "--device", dev.spec, *key, "--json")
    assert q.returncode == 0 and json.loads(q.stdout)["ok"], q.stderr

    # the device profile (wrx profile-device's measurement step) through the launcher too
    from wrx_sdk.devices import get_device
    from wrx_sdk.measure.device_profile import measure_device

    prof = measure_device(tiny_pkg, get_device(dev.spec, key=str(dev.key)), threads=2, io_bandwidth=0.0)
    assert prof["device"]["arch"] == "aarch64" and prof["format"] == "wrx-profile"

    got = _leave_report_and_pull(dev, tiny_pkg, "arm.json", limit=1)
    assert "arm.json" in [p.name for p in got]
    assert (
        json.loads([p for p in got if p.name == "arm.json"][0].read_text())["build"]["target"]
        == "aarch64-linux"
    )
