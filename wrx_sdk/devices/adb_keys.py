"""ADB RSA keys: ~/.android/adbkey (the adb client's own), created when missing."""

from __future__ import annotations

import os
from pathlib import Path

from wrx_sdk.errors import WrxError


def default_key_path() -> Path:
    return Path(os.environ.get("ADB_VENDOR_KEYS_WRX", Path.home() / ".android" / "adbkey"))


def load_signer(key: str | os.PathLike | None = None):
    """A signer for adb-shell; generates ~/.android/adbkey (+ .pub) if it does not exist."""
    from adb_shell.auth.keygen import keygen
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    path = Path(key) if key else default_key_path()
    if not path.is_file():
        if key:
            raise WrxError(f"ADB key {path} does not exist", hint="pass an existing private key to --adb-key")
        path.parent.mkdir(parents=True, exist_ok=True)
        keygen(str(path))
        print(
            f"created a new ADB key pair at {path} (+ .pub). The device will ask you to allow it: "
            "accept the 'Allow USB debugging?' prompt on the phone."
        )
    pub = path.with_name(path.name + ".pub")
    try:
        return PythonRSASigner(pub.read_text() if pub.is_file() else "", path.read_text())
    except Exception as e:
        raise WrxError(
            f"ADB key {path} cannot be read: {e}", hint="delete it to have wrx create a new one"
        ) from e
