"""Devices that run wrx-loader: one small interface, several transports.

``local`` is the embedded default: a directory on this machine plus the host-built loader.
"""

from __future__ import annotations

from wrx_sdk.devices.base import Device, RunResult
from wrx_sdk.errors import WrxError

__all__ = ["Device", "RunResult", "get_device", "list_devices"]


def get_device(spec: str, key: str | None = None, remote_dir: str | None = None) -> Device:
    """``local``, ``adb:HOST:PORT`` or ``adb-usb[:SERIAL]``."""
    if spec == "local":
        from wrx_sdk.devices.local import LocalDevice

        return LocalDevice()
    if spec.startswith("adb:") or spec == "adb-usb" or spec.startswith("adb-usb:"):
        from wrx_sdk.devices.adb_runner import AdbRunner

        return AdbRunner(spec, key, remote_dir)
    raise WrxError(f"unknown device {spec!r}", hint="use local, adb:HOST:PORT or adb-usb[:SERIAL]")


def list_devices(key: str | None = None) -> list[dict]:
    """``local``, every device in configs/devices.yaml (``adb:`` entries are probed), and
    USB devices when the usb extra is installed."""
    from wrx_sdk import config
    from wrx_sdk.devices.local import loader_path

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
        from wrx_sdk.devices.adb import AdbDevice

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
