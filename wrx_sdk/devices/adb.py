"""ADB devices through adb-shell: ``adb:HOST:PORT`` (TCP) and ``adb-usb[:SERIAL]`` (USB).

adb-shell 0.4.4's TCP transport ignores short ``send()`` results, which corrupts or hangs
large pushes on small socket buffers, and never sets TCP_NODELAY; ``SendAllTcpTransport``
fixes both. Every call passes explicit timeouts (adb-shell's read timeout defaults to
10 s, which would kill a silent long run), and exit statuses come from a marker line,
since adb-shell's public API returns none.
"""

from __future__ import annotations

import os
import select
import shlex
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

from wrx_sdk.errors import WrxError

MARK = "__WRX_RC="
CONNECT_TIMEOUT_S = 10.0
AUTH_TIMEOUT_S = 5.0  # adbd never rejects an unknown key; it just stays silent
TRANSPORT_TIMEOUT_S = 30.0
RUN_READ_TIMEOUT_S = 24 * 3600.0  # a loader run may be silent for long; the run has its own limits


def _tcp_transport_class():
    from adb_shell.exceptions import TcpTimeoutException
    from adb_shell.transport.tcp_transport import TcpTransport

    class SendAllTcpTransport(TcpTransport):
        """TcpTransport that writes every byte (looping over short sends) and disables Nagle."""

        def connect(self, transport_timeout_s):
            super().connect(transport_timeout_s)
            self._connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def bulk_write(self, data, transport_timeout_s):
            view, sent = memoryview(data), 0
            while sent < len(view):
                _, writeable, _ = select.select([], [self._connection], [], transport_timeout_s)
                if not writeable:
                    raise TcpTimeoutException(
                        f"sending to {self._host}:{self._port} timed out after {transport_timeout_s} s "
                        f"({sent} of {len(view)} bytes sent)"
                    )
                try:
                    sent += self._connection.send(view[sent:])
                except BlockingIOError:
                    continue
            return sent

    return SendAllTcpTransport


class AdbDevice:
    """One ADB device; the transport is chosen by ``spec``."""

    def __init__(self, spec: str, key: str | os.PathLike | None = None, patched: bool = True):
        self.spec = spec
        self.name = spec.replace(":", "_")
        self._key = key
        self._patched = patched
        self._dev = None

    # -- connection
    def connect(self):
        if self._dev is not None:
            return self._dev
        try:
            from adb_shell.adb_device import AdbDevice as _Dev
        except ImportError as e:
            raise WrxError("adb devices need the adb-shell package", hint="run scripts/setup.sh") from e
        from wrx_sdk.devices.adb_keys import load_signer

        signer = load_signer(self._key)
        if self.spec.startswith("adb-usb"):
            dev = self._usb_device()
        else:
            host, port = self._host_port()
            transport = (_tcp_transport_class() if self._patched else _plain_tcp())(host, port)
            dev = _Dev(transport, default_transport_timeout_s=TRANSPORT_TIMEOUT_S)
        try:
            dev.connect(
                rsa_keys=[signer],
                transport_timeout_s=CONNECT_TIMEOUT_S,
                auth_timeout_s=AUTH_TIMEOUT_S,
                read_timeout_s=CONNECT_TIMEOUT_S,
            )
        except ConnectionRefusedError as e:
            raise WrxError(
                f"{self.spec}: connection refused (no adbd listening there)",
                hint="check the address; on a phone run `adb tcpip 5555` first, or use --device adb-usb",
            ) from e
        except OSError as e:
            raise WrxError(
                f"{self.spec}: cannot connect: {e}", hint="check that the device is reachable"
            ) from e
        except Exception as e:  # adb-shell raises its own exception types
            name = type(e).__name__
            if "Auth" in name or "auth" in str(e).lower() or "Timeout" in name:
                raise WrxError(
                    f"{self.spec}: unauthorized: the device did not accept this computer's ADB key "
                    f"({name}: {e})",
                    hint="unlock the phone and accept 'Allow USB debugging?' for this key, or add the "
                    "public key (~/.android/adbkey.pub, or --adb-key's .pub) to the device's adb_keys, "
                    "then re-run",
                ) from e
            raise WrxError(f"{self.spec}: ADB connection failed: {name}: {e}") from e
        self._dev = dev
        return dev

    def _host_port(self) -> tuple[str, int]:
        parts = self.spec.split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            raise WrxError(
                f"device {self.spec!r}: expected adb:HOST:PORT", hint="e.g. --device adb:192.168.1.20:5555"
            )
        return parts[1], int(parts[2])

    def _usb_device(self):
        try:
            from adb_shell.adb_device import AdbDeviceUsb
        except ImportError as e:
            raise WrxError(
                "USB devices need adb-shell's usb extra", hint="pip install 'adb-shell[usb]' (wrx-sdk[usb])"
            ) from e
        serial = self.spec.split(":", 1)[1] if ":" in self.spec else None
        try:
            return AdbDeviceUsb(serial=serial, default_transport_timeout_s=TRANSPORT_TIMEOUT_S)
        except Exception as e:
            raise WrxError(
                f"{self.spec}: no usable USB device ({e})",
                hint="a running adb server holds the device: run `adb kill-server` first",
            ) from e

    def close(self) -> None:
        if self._dev is not None:
            try:
                self._dev.close()
            finally:
                self._dev = None

    # -- primitives
    def sh(self, cmd: str, timeout_s: float = 120.0) -> tuple[int, str]:
        """Run a shell command; returns (exit status, output)."""
        out = "".join(self.stream(cmd, timeout_s))
        return split_rc(out)

    def stream(self, cmd: str, read_timeout_s: float = RUN_READ_TIMEOUT_S) -> Iterator[str]:
        dev = self.connect()
        # stdin from /dev/null: the shell service leaves it open and a reader would hang
        # In a subshell, so that an `exit` in cmd still reaches the status marker.
        full = f"exec </dev/null; ({cmd}); echo {MARK}$?"
        try:
            yield from dev.streaming_shell(
                full, transport_timeout_s=TRANSPORT_TIMEOUT_S, read_timeout_s=read_timeout_s, decode=True
            )
        except Exception as e:
            self._lost(e)

    def _lost(self, e: Exception) -> None:
        """A transport failure after connecting: the device went away mid-call."""
        self.close_quietly()
        raise WrxError(
            f"{self.spec}: connection lost ({type(e).__name__}: {e})",
            hint="check the device (cable, adbd, network) and re-run the command",
        ) from e

    def close_quietly(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the transport is already broken
            self._dev = None

    def push(
        self, local: Path, remote: str, progress: Callable[[int], None] | None = None, mode: int = 0o644
    ) -> None:
        dev = self.connect()

        def cb(_path, n, _total):
            if progress:
                progress(n)

        try:
            dev.push(
                str(local),
                remote,
                st_mode=0o100000 | mode,
                progress_callback=cb,
                transport_timeout_s=TRANSPORT_TIMEOUT_S,
                read_timeout_s=TRANSPORT_TIMEOUT_S,
            )
        except Exception as e:
            self._lost(e)

    def pull(self, remote: str, local: Path) -> None:
        dev = self.connect()
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.partial")
        try:
            dev.pull(
                remote, str(tmp), transport_timeout_s=TRANSPORT_TIMEOUT_S, read_timeout_s=TRANSPORT_TIMEOUT_S
            )
        except Exception as e:
            tmp.unlink(missing_ok=True)
            self._lost(e)
        os.replace(tmp, local)

    def abi(self) -> str:
        rc, out = self.sh("getprop ro.product.cpu.abi 2>/dev/null")
        abi = out.strip()
        if rc == 0 and abi:
            return abi
        rc, out = self.sh("uname -m")
        return out.strip()

    def info(self) -> dict:
        rc, out = self.sh("uname -srm; getprop ro.product.model 2>/dev/null; nproc 2>/dev/null")
        lines = out.strip().splitlines()
        return {
            "device": self.spec,
            "abi": self.abi(),
            "uname": lines[0] if lines else "",
            "details": lines[1:],
        }


def _plain_tcp():
    from adb_shell.transport.tcp_transport import TcpTransport

    return TcpTransport


def split_rc(out: str) -> tuple[int, str]:
    i = out.rfind(MARK)
    if i < 0:
        return 255, out
    tail = out[i + len(MARK) :].strip().split()
    try:
        rc = int(tail[0]) if tail else 255
    except ValueError:
        rc = 255
    return rc, out[:i]


def q(path: str) -> str:
    return shlex.quote(path)
