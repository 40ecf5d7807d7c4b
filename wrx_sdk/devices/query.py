"""``wrx query``: text in, labels out, through a libwrx session on a device.

The device runs ``wrx-query`` from the deploy bundle: one process, one session, one JSON
answer per query line (docs/SESSION.md). This module starts it, feeds it queries and reads
the answers, so a stream of queries pays the session's open once.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from wrx_sdk.devices.local import tool_path
from wrx_sdk.errors import CODES, WrxError

DEFAULT_PLAN = "uniform-4-pre1"  # what a session runs without --plan (android_runtime/src/session.h)


def query_path() -> Path:
    return tool_path("wrx-query", "WRX_QUERY")


def query_args(
    plan: str | None, threads: int, io_bandwidth: float, direct: bool = True, load_all: bool = False
) -> list[str]:
    args = ["--threads", str(threads)]
    if plan:
        args += ["--plan", plan]
    if io_bandwidth:
        args += ["--io-bandwidth", str(io_bandwidth)]
    if not direct:
        args.append("--no-direct")
    if load_all:
        args.append("--load-all")
    return args


def _raise_open_error(answer: dict | None, stderr: str, where: str) -> None:
    err = (answer or {}).get("error") or {}
    raise WrxError(
        f"{where}: the session did not open: {err.get('code', 'no answer')}: "
        f"{err.get('message') or stderr.strip()[-2000:]}",
        hint=err.get("hint") or "see the message above",
        code=err.get("code") if err.get("code") in CODES else None,
    )


class LocalQuery:
    """A running ``wrx-query`` on this machine."""

    def __init__(self, out: Path, args: list[str], exe: Path | None = None):
        exe = exe or query_path()
        self.cmd = [str(exe), "--package", str(out), *args]
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            bufsize=1,
        )
        self.ready = self._read()
        if not self.ready or not self.ready.get("ready"):
            stderr = self.proc.stderr.read() if self.proc.stderr else ""
            self.proc.wait()
            _raise_open_error(self.ready, stderr, str(out))

    def _read(self) -> dict | None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def ask(self, text: str, pair: str | None = None) -> dict:
        """One query; the answer dict (``ok`` false with ``error`` for a rejected query)."""
        assert self.proc.stdin is not None
        q = {"text": text} if pair is None else {"text": text, "pair": pair}
        try:
            self.proc.stdin.write(json.dumps(q, ensure_ascii=False) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        a = self._read()
        if a is None:
            raise WrxError(
                f"wrx-query exited with status {self.proc.wait()} mid-stream", hint=" ".join(self.cmd)
            )
        return a

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()

    def __enter__(self) -> LocalQuery:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_query(
    out: str | Path,
    device: str = "local",
    plan: str | None = None,
    threads: int = 2,
    io_bandwidth: float = 0.0,
    key: str | None = None,
    remote_dir: str | None = None,
):
    """A session on ``device`` answering queries over ``out``'s package."""
    out = Path(out)
    if plan and Path(plan).is_file():
        plan = str(Path(plan).resolve())
    args = query_args(plan, threads, io_bandwidth)
    if device == "local":
        return LocalQuery(out, args)
    if device.startswith("adb:") or device.startswith("adb-usb"):
        from wrx_sdk.devices.adb_runner import AdbQuery

        return AdbQuery(out, device, args, key=key, remote_dir=remote_dir)
    raise WrxError(f"unknown device {device!r}", hint="use local, adb:HOST:PORT or adb-usb[:SERIAL]")


def parse_query_line(line: str) -> tuple[str, str | None]:
    """A stdin line: a JSON object {"text": ..., "pair": ...} or plain text."""
    s = line.rstrip("\n").rstrip("\r")
    if s.startswith("{"):
        try:
            d = json.loads(s)
        except json.JSONDecodeError as e:
            raise WrxError(
                f"query line is not valid JSON: {e.msg}", hint='send {"text": "..."} or plain text'
            ) from None
        if not isinstance(d, dict) or not isinstance(d.get("text"), str):
            raise WrxError('a JSON query needs "text" (a string)', hint='send {"text": "...", "pair": "..."}')
        pair = d.get("pair")
        if pair is not None and not isinstance(pair, str):
            raise WrxError('a JSON query\'s "pair" must be a string')
        return d["text"], pair
    return s, None


def queries(lines: IO[str]) -> Iterator[tuple[str, str | None] | WrxError]:
    for line in lines:
        try:
            yield parse_query_line(line)
        except WrxError as e:
            yield e


def describe(answer: dict) -> str:
    """One human line for an answer."""
    if not answer.get("ok"):
        err = answer.get("error") or {}
        hint = f"\nHINT: {err['hint']}" if err.get("hint") else ""
        return f"error: {err.get('code')}: {err.get('message')}{hint}"
    scores = sorted(answer["scores"].items(), key=lambda kv: -kv[1])
    rest = ", ".join(f"{k} {v:.3f}" for k, v in scores[1:])
    t = answer["timings_ms"]
    return (
        f"{answer['label']} {answer['scores'][answer['label']]:.3f}"
        + (f" ({rest})" if rest else "")
        + (f"  [{t['total']:.1f} ms, {answer['bytes_read'] / 1e6:.2f} MB read]")
    )
