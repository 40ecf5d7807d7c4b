"""Run wrx-loader on a package deployed to an adb device, and bring its report back.

Where a package lives on a device is recorded by ``wrx deploy`` (OUT/.deploy/<device>.json);
this module reads that record, so deploying and running share it without importing each
other's transport code.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from pathlib import Path

from tqdm import tqdm

from wrx_sdk.devices.adb import MARK, RUN_READ_TIMEOUT_S, TRANSPORT_TIMEOUT_S, AdbDevice, q, split_rc
from wrx_sdk.devices.base import RunResult
from wrx_sdk.errors import WrxError


def deployed_dir(out: Path, device: str, remote_dir: str | None) -> str:
    if remote_dir:
        return remote_dir
    state = out / ".deploy" / f"{AdbDevice(device).name}.json"
    if state.is_file():
        return json.loads(state.read_text())["remote_dir"]
    raise WrxError(f"{out} has not been deployed to {device}", hint=f"wrx deploy {out} --device {device}")


def push_plan(dev: AdbDevice, remote: str, args: list[str]) -> list[str]:
    """The tool's arguments with a local ``--plan`` file pushed to the device's plans/ (under a
    temporary name, then renamed); plan names and presets pass as they are."""
    args = list(args)
    if "--plan" in args:
        i = args.index("--plan") + 1
        local = Path(args[i])
        if local.is_file():
            rel = f"plans/{local.name}"
            dev.push(local, f"{remote}/{rel}.wrx-partial")
            dev.sh(f"mv -f {q(remote + '/' + rel + '.wrx-partial')} {q(remote + '/' + rel)}")
            args[i] = rel
    return args


class AdbRunner:
    """A ``Device`` over adb: one connection per loader run, closed after it."""

    def __init__(self, spec: str, key: str | None, remote_dir: str | None):
        self.dev = AdbDevice(spec, key)
        self.name = self.dev.name
        self.remote_dir = remote_dir

    def run_loader(self, out: Path, args: list[str], progress: bool = True) -> RunResult:
        try:
            return run_loader(self.dev, out, args, progress, self.remote_dir)
        finally:
            self.dev.close()


def run_loader(
    dev: AdbDevice, out: Path, args: list[str], progress: bool = True, remote_dir: str | None = None
):
    """Run wrx-loader in the deployed package dir; stream its log; pull its report."""
    remote = deployed_dir(out, dev.spec, remote_dir)
    args = push_plan(dev, remote, args)
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.json"
    cmd = (
        f"cd {q(remote)} && ./bin/wrx-loader --package . --report reports/{name} "
        + " ".join(q(a) for a in args)
        + " 2>&1"
    )
    tail: deque[str] = deque(maxlen=40)
    bar = None
    buf = ""
    rc = 255
    for chunk in dev.stream(cmd, read_timeout_s=RUN_READ_TIMEOUT_S):
        buf += chunk
        *lines, buf = buf.split("\n")
        for line in lines:
            if line.startswith("PROGRESS "):
                i, n = (int(x) for x in line.split()[1:3])
                if bar is None:
                    bar = tqdm(total=n, desc=f"wrx-loader on {dev.spec}", unit="row", disable=not progress)
                bar.update(i - bar.n)
            elif line.startswith(MARK):
                rc, _ = split_rc(line)
            elif line.strip():
                tail.append(line)
                if "executorch:" not in line:
                    print(f"[{dev.spec}] {line}", file=sys.stderr)
    if bar is not None:
        bar.close()
    if MARK in buf:
        rc, _ = split_rc(buf)
    local = out / "reports" / dev.name / name
    code, listing = dev.sh(f"ls {q(remote)}/reports/{name} 2>/dev/null")
    if code != 0:
        raise WrxError(
            f"{dev.spec}: wrx-loader exited with status {rc} and wrote no report; its last output:\n"
            + "\n".join(tail),
            hint=f"re-deploy (wrx deploy {out} --device {dev.spec}) and re-run",
        )
    dev.pull(f"{remote}/reports/{name}", local)
    report = json.loads(local.read_text())
    local.unlink()  # wrx run keeps it under a readable name; remember it was fetched
    with open(local.parent / ".pulled", "a") as f:
        f.write(name + "\n")
    return RunResult(rc, report, list(tail))


class AdbQuery:
    """``wrx-query`` running on an adb device: one session for a whole stream of queries.

    The shell service's raw mode forwards what we write to the process's stdin, so each
    query is one write and each answer one line back; adb-shell has no public call for a
    two-way stream, so this speaks the protocol's OPEN/WRTE/OKAY/CLSE packets through its
    connection directly.
    """

    def __init__(
        self, out: Path, device: str, args: list[str], key: str | None = None, remote_dir: str | None = None
    ):
        from adb_shell import constants
        from adb_shell.adb_message import AdbMessage

        self._c, self._msg = constants, AdbMessage
        self.dev = AdbDevice(device, key)
        remote = deployed_dir(out, device, remote_dir)
        args = push_plan(self.dev, remote, args)
        cmd = f"cd {q(remote)} && exec ./bin/wrx-query --package . {' '.join(q(a) for a in args)} 2>/dev/null"
        d = self.dev.connect()
        try:
            self.info = d._open(b"shell:" + cmd.encode(), TRANSPORT_TIMEOUT_S, RUN_READ_TIMEOUT_S, None)
        except Exception as e:  # noqa: BLE001 - adb-shell's own exception types
            self.dev._lost(e)
        self.buf = b""
        self.ready = self._line()
        if not self.ready or not self.ready.get("ready"):
            self.close()
            err = (self.ready or {}).get("error") or {}
            code, message = err.get("code", "no answer"), err.get("message", "")
            raise WrxError(
                f"{device}: the session did not open: {code}: {message}",
                hint=err.get("hint") or f"re-deploy (wrx deploy {out} --device {device}) and re-run",
            )

    def _line(self) -> dict | None:
        d, c = self.dev.connect(), self._c
        try:
            while b"\n" not in self.buf:
                cmd, _, _, data = d._io_manager.read([c.WRTE, c.CLSE, c.OKAY], self.info, allow_zeros=True)
                if cmd == c.WRTE:
                    d._okay(self.info)
                    self.buf += data
                elif cmd == c.CLSE:
                    return None
        except Exception as e:  # noqa: BLE001
            self.dev._lost(e)
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.decode("utf-8", "replace"))

    def ask(self, text: str, pair: str | None = None) -> dict:
        q_ = {"text": text} if pair is None else {"text": text, "pair": pair}
        data = (json.dumps(q_, ensure_ascii=False) + "\n").encode("utf-8", "surrogateescape")
        d = self.dev.connect()
        try:
            d._io_manager.send(
                self._msg(self._c.WRTE, self.info.local_id, self.info.remote_id, data), self.info
            )
        except Exception as e:  # noqa: BLE001
            self.dev._lost(e)
        a = self._line()
        if a is None:
            raise WrxError(f"{self.dev.spec}: wrx-query ended mid-stream", hint="re-run; check the device")
        return a

    def close(self) -> None:
        try:
            if self.dev._dev is not None:
                d = self.dev._dev
                d._io_manager.send(
                    self._msg(self._c.CLSE, self.info.local_id, self.info.remote_id), self.info
                )
        except Exception:  # noqa: BLE001 - closing a stream that may already be gone
            pass
        self.dev.close_quietly()

    def __enter__(self) -> AdbQuery:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
