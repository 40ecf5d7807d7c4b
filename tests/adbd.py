"""A real AOSP adbd on 127.0.0.1 for tests (built by scripts/build_test_adbd.sh, cached).

It runs as an unprivileged user (uid 65534 when the tests run as root), with its own
ADB_KEYS_FILE and a device root under a temp dir, and is stopped by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534


def build() -> Path:
    r = subprocess.run([str(ROOT / "scripts" / "build_test_adbd.sh")], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"scripts/build_test_adbd.sh failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}")
    cache = Path(
        os.environ.get("WRX_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wrx"
    )
    return cache / "adbd" / "adbd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Adbd:
    def __init__(self, binary: Path, root: Path):
        from adb_shell.auth.keygen import keygen

        self.binary, self.root = binary, root
        self.root.mkdir(parents=True, exist_ok=True)
        for d in ("home", "tmp", "device"):
            (root / d).mkdir(exist_ok=True)
        self.key = root / "adbkey"
        keygen(str(self.key))
        (root / "adb_keys").write_text(Path(str(self.key) + ".pub").read_text())
        self.as_root = os.geteuid() == 0
        if self.as_root:  # the daemon runs as nobody: give it the tree it needs
            for p in [root, *root.rglob("*")]:
                os.chown(p, NOBODY, NOBODY)
            os.chmod(root, 0o755)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def spec(self) -> str:
        return f"adb:127.0.0.1:{self.port}"

    @property
    def device_dir(self) -> str:
        return str(self.root / "device")

    def start(self, path_prefix: str = "", extra_env: dict | None = None) -> None:
        """path_prefix: directories put before /usr/bin:/bin on the daemon's PATH (a fake
        getprop makes it an Android phone); extra_env: more variables its shells inherit."""
        env = {
            **(extra_env or {}),
            "PATH": f"{path_prefix}:/usr/bin:/bin" if path_prefix else "/usr/bin:/bin",
            "HOME": str(self.root / "home"),
            "TMPDIR": str(self.root / "tmp"),
            "ADBD_PORT": str(self.port),
            "ADB_KEYS_FILE": str(self.root / "adb_keys"),
        }
        cmd = [str(self.binary)]
        if self.as_root:
            cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *cmd]
        self.log = open(self.root.parent / f"adbd-{self.port}.log", "ab")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"adbd exited with {self.proc.returncode}; log: {self.log.name}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"adbd did not listen on port {self.port}; log: {self.log.name}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
