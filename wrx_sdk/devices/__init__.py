"""Devices that run wrx-loader: one small interface, several transports.

``local`` is the embedded default: a directory on this machine plus the host-built loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..errors import WrxError


@dataclass
class RunResult:
    returncode: int
    report: dict
    stderr_tail: list[str] = field(default_factory=list)


class Device(Protocol):
    name: str

    def run_loader(self, out: Path, args: list[str], progress: bool = True) -> RunResult: ...


class _AdbRunner:
    def __init__(self, spec: str, key: str | None, remote_dir: str | None):
        from .adb import AdbDevice

        self.dev = AdbDevice(spec, key)
        self.name = self.dev.name
        self.remote_dir = remote_dir

    def run_loader(self, out: Path, args: list[str], progress: bool = True) -> RunResult:
        from .adb import run_loader

        try:
            return run_loader(self.dev, out, args, progress, self.remote_dir)
        finally:
            self.dev.close()


def get_device(spec: str, key: str | None = None, remote_dir: str | None = None) -> Device:
    """``local``, ``adb:HOST:PORT`` or ``adb-usb[:SERIAL]``."""
    if spec == "local":
        from .local import LocalDevice

        return LocalDevice()
    if spec.startswith("adb:") or spec == "adb-usb" or spec.startswith("adb-usb:"):
        return _AdbRunner(spec, key, remote_dir)
    raise WrxError(f"unknown device {spec!r}", hint="use local, adb:HOST:PORT or adb-usb[:SERIAL]")


def list_devices(key: str | None = None) -> list[dict]:
    """``local``, every device in configs/devices.yaml (``adb:`` entries are probed), and
    USB devices when the usb extra is installed."""
    from .. import config
    from .local import loader_path

    out = []
    try:
        loader_path()
        out.append({"device": "local", "status": "ready", "detail": "host-built wrx-loader"})
    except WrxError as e:
        out.append({"device": "local", "status": "not built", "detail": e.hint or ""})
    try:
        configured = config.load("devices").get("devices", []) or []
    except WrxError:
        configured = []
    for spec in configured:
        from .adb import AdbDevice

        dev = AdbDevice(str(spec), key)
        try:
            info = dev.info()
            out.append({"device": spec, "status": "reachable", "detail": f"{info['abi']} {info['uname']}"})
        except WrxError as e:
            out.append({"device": spec, "status": "unreachable", "detail": e.message.splitlines()[0]})
        finally:
            dev.close()
    try:
        import usb1  # noqa: F401  (adb-shell[usb])

        out.append(
            {
                "device": "adb-usb",
                "status": "available",
                "detail": "usb extra installed; a running adb server holds USB devices (adb kill-server)",
            }
        )
    except ImportError:
        pass
    return out
