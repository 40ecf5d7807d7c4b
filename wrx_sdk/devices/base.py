"""What every device offers the build side: run the loader on a package, get its report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class RunResult:
    returncode: int
    report: dict
    stderr_tail: list[str] = field(default_factory=list)


class Device(Protocol):
    name: str

    def run_loader(self, out: Path, args: list[str], progress: bool = True) -> RunResult: ...
