"""The manifest's contract, checked in the order and with the codes of the device's reader
(``open_package`` in android_runtime/src/manifest.cpp), so that one manifest gets one
verdict on both sides (tests/test_differential.py replays every golden and mutated manifest
through both). Each check names the field; types are checked before values are compared,
so a wrong type is ``MANIFEST_FIELD`` and a well-typed value that disagrees with the store
or the programs is ``MANIFEST_MISMATCH``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wrx_sdk.errors import ManifestError
from wrx_sdk.formats.files import sha256_file

REPACKAGE = "re-package: wrx package MODEL_DIR --task TASK -o OUT"
PROGRAMS = ("layer", "attn", "ffn", "layer_packed")  # layer_packed: optional
VALID_BITS = (2, 3, 4, 5, 6, 8)  # store_format.cpp valid_bits, without fp32
INT64 = (-(2**63), 2**63 - 1)


class _Reader:
    def __init__(self, path: Path):
        self.path = path

    def missing(self, field: str) -> ManifestError:
        msg = f"{self.path}: field {field} is missing or has the wrong type"
        return ManifestError(msg, hint=REPACKAGE, code="MANIFEST_FIELD")

    def get(self, obj: Any, field: str, key: str) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            raise self.missing(field + key)
        return obj[key]

    def i64(self, obj: Any, field: str, key: str) -> int:
        v = self.get(obj, field, key)
        if type(v) is not int or not INT64[0] <= v <= INT64[1]:
            raise self.missing(field + key)
        return v

    def i32(self, obj: Any, field: str, key: str, lo: int, hi: int) -> int:
        v = self.i64(obj, field, key)
        if not lo <= v <= hi:
            msg = f"{self.path}: field {field}{key} = {v} is outside {lo}..{hi}"
            raise ManifestError(msg, hint=REPACKAGE, code="MANIFEST_FIELD")
        return v

    def str(self, obj: Any, field: str, key: str) -> str:
        v = self.get(obj, field, key)
        if not isinstance(v, str):
            raise self.missing(field + key)
        return v


def check_fields(m: Any, root: Path) -> None:
    """Everything the device checks before it opens the store (format and version, then
    the model, sharding, quant, tokenizer, task, data and program fields)."""
    path = root / "manifest.json"
    r = _Reader(path)
    if not isinstance(m, dict):
        raise r.missing("(top level object)")
    fmt = r.str(m, "", "format")
    if fmt != "wrx-manifest":
        raise ManifestError(
            f"{path}: field format is '{fmt}', expected 'wrx-manifest'", hint=REPACKAGE, code="MANIFEST_FIELD"
        )
    v = r.i64(m, "", "format_version")
    if v != 1:
        raise ManifestError(
            f"{path}: field format_version is {v}; this wrx reads version 1",
            hint="upgrade wrx-sdk" if v > 1 else REPACKAGE,
            code="UNSUPPORTED_VERSION",
        )
    model = r.get(m, "", "model")
    geom = r.get(model, "model.", "geometry")
    sh, quant, tok = r.get(m, "", "sharding"), r.get(m, "", "quant"), r.get(m, "", "tokenizer")
    task, data = r.get(m, "", "task"), None
    for key in ("store", "entries"):
        r.get(m, "", key)
    data = r.get(m, "", "data")
    r.str(model, "model.", "name")
    family = r.str(geom, "model.geometry.", "family")
    if family not in ("bert", "mpnet"):
        raise ManifestError(
            f"{path}: field model.geometry.family '{family}' is not supported by this wrx",
            hint="upgrade wrx-sdk",
            code="MANIFEST_FIELD",
        )
    if "position_bias" in model and model["position_bias"] != "relative":
        raise ManifestError(
            f'{path}: field model.position_bias must be "relative" or absent (a newer family?)',
            hint=f"upgrade wrx-sdk, or {REPACKAGE}",
            code="MANIFEST_FIELD",
        )
    g = "model.geometry."
    hidden = r.i32(geom, g, "hidden", 1, 65536)
    r.i32(geom, g, "layers", 1, 1024)
    heads = r.i32(geom, g, "heads", 1, 1024)
    inter = r.i32(geom, g, "intermediate", 1, 1 << 20)
    r.i32(geom, g, "vocab", 1, 1 << 24)
    r.i32(geom, g, "type_vocab", 1, 1024)
    num_labels = r.i32(geom, g, "num_labels", 1, 65536)
    eps = r.get(geom, g, "ln_eps")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise r.missing(g + "ln_eps")
    shards = r.i32(sh, "sharding.", "shards_per_layer", 1, 4096)
    r.i32(sh, "sharding.", "heads_per_shard", 1, heads)
    r.i32(sh, "sharding.", "head_dim", 1, hidden)
    r.i32(sh, "sharding.", "ffn_per_shard", 1, inter)
    bits = r.get(quant, "quant.", "bitwidths")
    if not isinstance(bits, list):
        raise r.missing("quant.bitwidths")
    if any(type(b) is not int or b not in VALID_BITS for b in bits):
        raise r.missing("quant.bitwidths[]")
    max_seq = r.i32(tok, "tokenizer.", "max_seq_len", 1, 65536)
    tf = tok.get("file")
    if tf is not None and (not isinstance(tf, str) or tf in ("", ".", "..") or "/" in tf):
        raise r.missing("tokenizer.file")
    r.str(task, "task.", "name")
    labels = r.get(task, "task.", "labels")
    if not isinstance(labels, list):
        raise r.missing("task.labels")
    if len(labels) != num_labels:
        raise ManifestError(
            f"{path}: field task.labels has {len(labels)} labels, "
            f"model.geometry.num_labels says {num_labels}",
            hint=REPACKAGE,
            code="MANIFEST_FIELD",
        )
    r.str(r.get(data, "data.", "dev"), "data.dev.", "file")
    if "calib" in data:
        r.str(data["calib"], "data.calib.", "file")
    programs = m.get("programs")
    absent = object()
    for name in PROGRAMS:
        field = f"programs.{name}"
        prog = programs.get(name, absent) if isinstance(programs, dict) else absent
        if prog is absent and name == "layer_packed":
            continue
        if prog is absent:
            raise ManifestError(
                f"{path}: field {field} is missing (packaged without export, or by an older wrx?)",
                hint=REPACKAGE,
                code="MANIFEST_FIELD",
            )
        f = in_package(root, r.str(prog, field + ".", "file"))
        if not f.is_file():
            raise ManifestError(
                f"{path}: field {field}.file names {f}, which does not exist",
                hint=f"re-deploy or {REPACKAGE}",
                code="MISSING_FILE",
            )
        want = r.str(prog, field + ".", "sha256")
        if sha256_file(f) != want:
            raise ManifestError(
                f"{f}: sha256 differs from manifest field {field}.sha256 "
                "(a swapped, truncated or corrupt program)",
                hint=f"re-deploy (wrx deploy) or {REPACKAGE}",
                code="MANIFEST_MISMATCH",
            )
        seq = r.i32(prog, field + ".", "seq_len", 1, 65536)
        if seq != max_seq:
            raise ManifestError(
                f"{path}: field {field}.seq_len differs from tokenizer.max_seq_len",
                hint=REPACKAGE,
                code="MANIFEST_MISMATCH",
            )
        if "min_seq_len" in prog:
            r.i32(prog, field + ".", "min_seq_len", 1, seq)
        if name != "layer_packed":
            continue
        if r.i64(prog, field + ".", "max_shards") != shards:
            raise ManifestError(
                f"{path}: field {field}.max_shards differs from sharding.shards_per_layer",
                hint=REPACKAGE,
                code="MANIFEST_MISMATCH",
            )
        keys = r.get(prog, field + ".", "constants")
        if not isinstance(keys, dict) or len(keys) != 16:
            raise r.missing(field + ".constants (16 layer weights)")
        from wrx_sdk.formats.geometry import LAYER_KEYS

        for k in LAYER_KEYS:
            key = r.str(keys, field + ".constants.", k)
            if not 1 <= len(key.encode()) <= 256:
                raise r.missing(f"{field}.constants.{k} (1..256 characters)")
    r.str(m["store"], "store.", "file")


def in_package(root: Path, name: str) -> Path:
    """``name`` as the device resolves it: appended to the package directory, never an
    absolute path that replaces it."""
    return Path(f"{root}/{name}")


def check_store(m: dict, root: Path, store, h: dict) -> None:
    """The store's header (``h``, manifest.store_section) and entry table against the
    manifest, after the store opened."""
    path = root / "manifest.json"
    r = _Reader(path)
    for key in ("format_version", "file_bytes", "n_entries", "n_tensors", "table_crc32", "header_crc32"):
        v = r.i64(m["store"], "store.", key)
        if v != h[key]:
            raise ManifestError(
                f"{path}: field store.{key} is {v} but {store.path} has {h[key]}: "
                "the manifest does not match its store (mixed files from two builds?)",
                hint=REPACKAGE,
                code="MANIFEST_MISMATCH",
            )
    entries = m["entries"]
    if not isinstance(entries, list) or len(entries) != len(store.entries):
        raise ManifestError(
            f"{path}: field entries does not list the store's {len(store.entries)} entries",
            hint=REPACKAGE,
            code="MANIFEST_MISMATCH",
        )
    for i, (me, se) in enumerate(zip(entries, store.entries, strict=True)):
        f = f"entries[{i}]."
        kind = r.str(me, f, "kind")
        got = [r.i64(me, f, k) for k in ("offset", "length", "crc32", "bits")]
        want = [se.offset, se.length, se.crc32, se.key.bits]
        # crc32 as the device compares it: the low 32 bits
        got[2] &= 0xFFFFFFFF
        if kind != se.key.kind.name.lower() or got != want:
            raise ManifestError(
                f"{path}: field entries[{i}] disagrees with the store's {se.key.describe()}",
                hint=REPACKAGE,
                code="MANIFEST_MISMATCH",
            )


__all__ = ["check_fields", "check_store", "in_package"]
