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


def get_device(spec: str) -> Device:
    if spec == "local":
        from .local import LocalDevice

        return LocalDevice()
    raise WrxError(f"unknown device {spec!r}", hint="use --device local")
