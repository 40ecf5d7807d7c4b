"""``manifest.json``: what a package holds and how to read it (FORMAT.md, "Manifest").

``open_package`` is the one entry point for reading a package: it validates the manifest,
opens the store and checks that the two describe the same bytes, so a manifest from
another build or another version is rejected before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wrx_sdk.errors import ManifestError, WrxError
from wrx_sdk.formats import devdata, strict_json
from wrx_sdk.formats import manifest_contract as contract
from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.devdata import Encoded
from wrx_sdk.formats.geometry import Geometry, ShardSpec
from wrx_sdk.formats.quant_scheme import QuantScheme
from wrx_sdk.formats.store_layout import EntryKey
from wrx_sdk.formats.store_reader import Store

FORMAT = "wrx-manifest"
VERSION = 1
REPACKAGE = "re-package: wrx package MODEL_DIR --task TASK -o OUT"


def store_section(store: Store) -> dict:
    h = store.header
    return {
        "file": store.path.name,
        "format_version": h.version,
        "file_bytes": h.file_bytes,
        "n_entries": h.n_entries,
        "n_tensors": h.n_tensors,
        "table_crc32": h.table_crc32,
        "header_crc32": h.header_crc32,
    }


@dataclass
class Package:
    root: Path
    manifest: dict[str, Any]
    store: Store
    geometry: Geometry
    spec: ShardSpec
    scheme: QuantScheme

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["task"]["labels"])

    @property
    def max_seq_len(self) -> int:
        return int(self.manifest["tokenizer"]["max_seq_len"])

    @property
    def min_seq_len(self) -> int:
        """The shortest length every program takes (docs/FORMAT.md, "Programs"): 1 where a
        query runs at its own length, max_seq_len for fixed-length programs (packages
        before 2026-12-02, whose records have no ``min_seq_len``)."""
        return program_min_seq_len(self.root / "manifest.json", self.manifest)

    def read_data(self, split: str) -> tuple[Encoded, np.ndarray]:
        """A split's rows and labels, every token checked against this model's vocabularies."""
        g = self.geometry
        return devdata.read(self.data_path(split), vocab=g.vocab, type_vocab=g.type_vocab)

    def data_path(self, split: str) -> Path:
        try:
            return self.root / self.manifest["data"][split]["file"]
        except KeyError:
            raise ManifestError(
                f"{self.root}/manifest.json: field data.{split} is missing",
                hint=REPACKAGE,
                code="MANIFEST_FIELD",
            ) from None

    def program_path(self, name: str = "layer") -> Path:
        """The program file, checked against the manifest's sha256."""
        from wrx_sdk.formats.files import sha256_file

        path = self.root / "manifest.json"
        rec = self.manifest.get("programs", {}).get(name)
        if rec is None:
            raise ManifestError(
                f"{path}: field programs.{name} is missing (packaged without export?)",
                hint=REPACKAGE,
                code="MANIFEST_FIELD",
            )
        p = self.root / rec["file"]
        if not p.is_file():
            raise ManifestError(
                f"{path}: field programs.{name}.file names {p}, which does not exist",
                hint=REPACKAGE,
                code="MISSING_FILE",
            )
        if sha256_file(p) != rec["sha256"]:
            raise ManifestError(
                f"{p}: sha256 differs from manifest field programs.{name}.sha256",
                hint=REPACKAGE,
                code="MANIFEST_MISMATCH",
            )
        return p

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Package:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_manifest(root: Path) -> dict:
    path = root / "manifest.json"
    if not root.exists():
        raise ManifestError(f"package directory {root} does not exist", hint=REPACKAGE, code="IO")
    try:
        m = strict_json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ManifestError(
            f"{path} does not exist: {root} is not a wrx package", hint=REPACKAGE, code="IO"
        ) from None
    except OSError as e:
        raise ManifestError(f"{path}: cannot read ({e.strerror})", hint=REPACKAGE, code="IO") from None
    except strict_json.StrictJSONError as e:
        # "not valid JSON": the words older messages had; the rest is the device's wording
        raise ManifestError(f"{path}: not valid JSON ({e})", hint=REPACKAGE, code="MANIFEST_FIELD") from None
    contract.check_fields(m, root)  # every field the device checks, in its order
    return m


def program_min_seq_len(path: Path, m: dict) -> int:
    """The largest ``programs.*.min_seq_len`` (each 1..max_seq_len; absent = max_seq_len)."""
    top = int(m["tokenizer"]["max_seq_len"])
    lo = 1
    for name, rec in (m.get("programs") or {}).items():
        v = rec.get("min_seq_len", top) if isinstance(rec, dict) else top
        if type(v) is not int or not 1 <= v <= top:
            raise ManifestError(
                f"{path}: field programs.{name}.min_seq_len = {v!r} is outside 1..{top}",
                hint=REPACKAGE,
                code="MANIFEST_FIELD",
            )
        lo = max(lo, v)
    return lo


def packed_program_keys(path: Path, m: dict, spec: ShardSpec) -> dict[str, str] | None:
    """``programs.layer_packed.constants`` checked as the loader checks it (one record per
    layer weight, each key a 1..256-character string; ``max_shards`` = the shard count), or
    None for packages without the packed program (before 2026-12-02)."""
    from wrx_sdk.formats.geometry import LAYER_KEYS

    rec = (m.get("programs") or {}).get("layer_packed")
    if rec is None:
        return None
    field = "programs.layer_packed"
    if not isinstance(rec, dict) or type(rec.get("max_shards")) is not int:
        raise ManifestError(
            f"{path}: field {field}.max_shards is missing or has the wrong type",
            hint=REPACKAGE,
            code="MANIFEST_FIELD",
        )
    if rec["max_shards"] != spec.shards_per_layer:
        raise ManifestError(
            f"{path}: field {field}.max_shards differs from sharding.shards_per_layer",
            hint=REPACKAGE,
            code="MANIFEST_MISMATCH",
        )
    keys = rec.get("constants")
    if not isinstance(keys, dict) or len(keys) != len(LAYER_KEYS):
        raise ManifestError(
            f"{path}: field {field}.constants (16 layer weights) is missing or has the wrong type",
            hint=REPACKAGE,
            code="MANIFEST_FIELD",
        )
    for k in LAYER_KEYS:
        v = keys.get(k)
        if not isinstance(v, str) or not 1 <= len(v) <= 256:
            raise ManifestError(
                f"{path}: field {field}.constants.{k} (1..256 characters) is missing or has the wrong type",
                hint=REPACKAGE,
                code="MANIFEST_FIELD",
            )
    return {k: keys[k] for k in LAYER_KEYS}


def open_package(root: str | Path) -> Package:
    """The package at ``root``, checked as the device checks it (``manifest_contract``: the
    same order, the same codes), then opened."""
    root = Path(root)
    m = read_manifest(root)
    path = root / "manifest.json"
    geom = Geometry.from_json(m["model"]["geometry"])
    sh = m["sharding"]
    spec = ShardSpec(sh["shards_per_layer"], sh["heads_per_shard"], sh["head_dim"], sh["ffn_per_shard"])
    # The device reads only the bitwidths; the scheme's other fields describe how the store
    # was built, so a value there the build side would refuse does not make the package
    # unreadable on either side.
    try:
        scheme = QuantScheme.from_json(m["quant"])
    except (WrxError, TypeError, ValueError):
        scheme = QuantScheme(bitwidths=tuple(m["quant"]["bitwidths"]))
    store = Store(contract.in_package(root, m["store"]["file"]))
    try:
        contract.check_store(m, root, store, store_section(store))
        _check_matches(path, m, store, geom, spec, scheme)
        program_min_seq_len(path, m)
        packed_program_keys(path, m, spec)
    except BaseException:
        store.close()
        raise
    return Package(root, m, store, geom, spec, scheme)


def _check_matches(
    path: Path, m: dict, store: Store, geom: Geometry, spec: ShardSpec, scheme: QuantScheme
) -> None:
    m_shards = m["sharding"]["shards_per_layer"]
    for layer in range(geom.layers):
        keys = [EntryKey(F.EntryKind.LAYER_SHARED, layer)]
        keys += [
            EntryKey(kind, layer, j, bits)
            for bits in scheme.all_bits
            for kind in F.SHARD_KINDS
            for j in range(spec.shards_per_layer)
        ]
        for key in keys:
            if key not in store.index:
                raise ManifestError(
                    f"{path}: field sharding.shards_per_layer ({m_shards}) and quant.bitwidths name "
                    f"{key.describe()}, but {store.path} has no entry for {key.describe()}",
                    hint=REPACKAGE,
                    code="MISSING_ENTRY",
                )
    if (
        spec.heads_per_shard * spec.shards_per_layer != geom.heads
        or spec.ffn_per_shard * spec.shards_per_layer != geom.intermediate
        or spec.head_dim * geom.heads != geom.hidden
    ):
        raise ManifestError(
            f"{path}: fields sharding.* do not partition the model's heads and FFN",
            hint=REPACKAGE,
            code="MANIFEST_FIELD",
        )
    K = F.EntryKind
    for kind in (K.EMBED_WORD, K.EMBED_WORD_CRC, K.EMBED_SHARED, K.HEAD):
        if EntryKey(kind) not in store.index:
            raise ManifestError(
                f"{path}: the store has no {kind.name.lower()} entry", hint=REPACKAGE, code="MISSING_ENTRY"
            )
