"""Read ``store.wrx``: a validated, read-only view (FORMAT.md, "Store").

The reader validates the whole structure (magic, version, counts, offsets, overflow,
tensor sizes) before it trusts a single offset, and checks an entry's CRC-32 every time it
reads it. Errors name the file, the entry (layer, shard, bits) and the field.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wrx_sdk.errors import StoreError
from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.codebook import CodebookTensor, codebook_payload_bytes
from wrx_sdk.formats.store_layout import EntryKey, EntryRecord, TensorRecord, from_u16

REPACKAGE = "re-create it with: wrx package MODEL_DIR --task TASK -o OUT"

TensorData = np.ndarray | CodebookTensor


@dataclass(frozen=True)
class StoreHeader:
    version: int
    file_bytes: int
    n_entries: int
    n_tensors: int
    table_offset: int
    table_bytes: int
    data_offset: int
    table_crc32: int
    header_crc32: int


class Store:
    """A validated, read-only view of a store file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.f = open(self.path, "rb")
        except FileNotFoundError as e:
            raise StoreError(f"store file {self.path} does not exist", hint=REPACKAGE, code="IO") from e
        except IsADirectoryError as e:
            raise StoreError(f"store path {self.path} is a directory, not a store file", code="IO") from e
        self.actual_bytes = os.fstat(self.f.fileno()).st_size
        self.header = self._read_header()
        self.entries = self._read_table()
        self.index = {e.key: e for e in self.entries}
        if len(self.index) != len(self.entries):
            self._fail("BAD_COUNTS", "table", "two entries share the same (kind, layer, shard, bits)")

    def close(self) -> None:
        self.f.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _fail(self, code: str, field: str, why: str, hint: str = REPACKAGE) -> None:
        raise StoreError(f"store {self.path}: {field}: {why}", hint=hint, code=code)

    def _read_header(self) -> StoreHeader:
        if self.actual_bytes < F.HEADER.size:
            self._fail(
                "TRUNCATED",
                "header",
                f"file is {self.actual_bytes} bytes, shorter than the "
                f"{F.HEADER.size}-byte header (truncated, or not a store)",
            )
        raw = self.f.read(F.HEADER.size)
        (magic, version, header_bytes, file_bytes, n_e, n_t, t_off, t_bytes, d_off, t_crc, h_crc) = (
            F.HEADER.unpack(raw)
        )
        if magic != F.MAGIC:
            self._fail("BAD_MAGIC", "magic", f"expected {F.MAGIC!r}, found {magic!r}: not a wrx store")
        if version != F.VERSION:
            newer = version > F.VERSION
            self._fail(
                "UNSUPPORTED_VERSION",
                "version",
                f"format version {version} is "
                + ("newer than this wrx reads" if newer else "older than this wrx reads")
                + f" ({F.VERSION})",
                hint="upgrade wrx-sdk" if newer else REPACKAGE,
            )
        if zlib.crc32(raw[:-4]) != h_crc:
            self._fail("HEADER_CHECKSUM", "header_crc32", "header checksum mismatch (header bytes corrupt)")
        if header_bytes != F.HEADER.size:
            self._fail("BAD_COUNTS", "header_bytes", f"{header_bytes}, expected {F.HEADER.size}")
        if file_bytes != self.actual_bytes:
            what = "truncated" if self.actual_bytes < file_bytes else "longer than written (trailing bytes)"
            self._fail(
                "TRUNCATED",
                "file_bytes",
                f"header says {file_bytes} bytes but the file has {self.actual_bytes}: the store is {what}",
            )
        want = n_e * F.ENTRY.size + n_t * F.TENSOR.size
        if t_off != F.HEADER.size or t_bytes != want or t_off + t_bytes > file_bytes:
            self._fail(
                "BAD_COUNTS",
                "table_bytes",
                f"table at {t_off}+{t_bytes}, expected "
                f"{F.HEADER.size}+{want} for {n_e} entries and {n_t} tensors, within "
                f"{file_bytes} bytes",
            )
        if d_off % F.ALIGN or d_off < t_off + t_bytes or d_off > file_bytes:
            self._fail(
                "OFFSET_OUT_OF_RANGE", "data_offset", f"{d_off} is not an aligned offset after the table"
            )
        return StoreHeader(version, file_bytes, n_e, n_t, t_off, t_bytes, d_off, t_crc, h_crc)

    def _read_table(self) -> list[EntryRecord]:
        h = self.header
        self.f.seek(h.table_offset)
        table = self.f.read(h.table_bytes)
        if zlib.crc32(table) != h.table_crc32:
            self._fail("TABLE_CHECKSUM", "table_crc32", "entry table checksum mismatch (table bytes corrupt)")
        tens_base = h.n_entries * F.ENTRY.size
        tensors = [F.TENSOR.unpack_from(table, tens_base + i * F.TENSOR.size) for i in range(h.n_tensors)]
        out = []
        prev_end = h.data_offset
        next_tensor = 0
        for i in range(h.n_entries):
            kind, bits, _, layer, shard, off, length, crc, first, n, _ = F.ENTRY.unpack_from(
                table, i * F.ENTRY.size
            )
            if kind not in F.EntryKind.__members__.values() or kind == F.EntryKind.LAYER_SHARD:
                self._fail("UNKNOWN_ENUM", f"entry {i}.kind", f"unknown entry kind {kind}")
            key = EntryKey(F.EntryKind(kind), from_u16(layer), from_u16(shard), bits)
            where = f"entry {i} ({key.describe()})"
            if bits not in (2, 3, 4, 5, 6, 8, 32):
                self._fail("UNKNOWN_ENUM", f"{where}.bits", f"invalid bitwidth {bits}")
            # Compare without adding offset + length, so a reader with fixed-width integers
            # (the C++ loader) needs no overflow-prone sum.
            if off > h.file_bytes:
                self._fail(
                    "OFFSET_OUT_OF_RANGE",
                    f"{where}.offset",
                    f"{off} is past the end of the file ({h.file_bytes} bytes)",
                )
            if length > h.file_bytes - off:
                self._fail(
                    "OFFSET_OUT_OF_RANGE",
                    f"{where}.length",
                    f"{off}+{length} runs past the end of the file ({h.file_bytes} bytes)",
                )
            if off % F.ALIGN or off < prev_end:
                self._fail(
                    "OFFSET_OUT_OF_RANGE",
                    f"{where}.offset",
                    f"{off} is unaligned or overlaps the previous entry",
                )
            if first != next_tensor or n > h.n_tensors - first:
                self._fail("BAD_COUNTS", f"{where}.n_tensors", f"tensors {first}+{n} out of sequence")
            next_tensor = first + n
            recs = []
            t_end = 0
            for t in tensors[first : first + n]:
                rec = self._check_tensor(where, t, length, t_end)
                t_end = rec.offset + rec.nbytes
                recs.append(rec)
            prev_end = off + length
            out.append(EntryRecord(key, off, length, crc, tuple(recs)))
        if next_tensor != h.n_tensors:
            self._fail(
                "BAD_COUNTS", "n_tensors", f"entries use {next_tensor} tensors, header says {h.n_tensors}"
            )
        return out

    def _check_tensor(self, where: str, t: tuple, length: int, prev_end: int) -> TensorRecord:
        role, enc, bits, rows, cols, n_out, off, nbytes = t
        if role not in F.Role.__members__.values() or enc not in F.Encoding.__members__.values():
            self._fail("UNKNOWN_ENUM", f"{where}.tensor", f"unknown role {role} or encoding {enc}")
        role, enc = F.Role(role), F.Encoding(enc)
        n = rows * cols
        if enc == F.Encoding.CODEBOOK:
            if bits not in (2, 3, 4, 5, 6, 8) or n_out > n:
                self._fail(
                    "BAD_COUNTS",
                    f"{where}.{role.name}",
                    f"codebook at {bits} bits with {n_out} outliers of {n} elements",
                )
            want = codebook_payload_bytes(bits, n, n_out)
        else:
            want = 4 * n
        if nbytes != want:
            self._fail(
                "BAD_COUNTS",
                f"{where}.{role.name}.bytes",
                f"{nbytes}, expected {want} for {rows}x{cols} {enc.name} at {bits} bits",
            )
        if off < prev_end or off % F.TENSOR_ALIGN or off > length or nbytes > length - off:
            self._fail(
                "TENSOR_OUT_OF_RANGE",
                f"{where}.{role.name}.offset",
                f"{off}+{nbytes} is outside the entry ({length} bytes) or overlaps the previous tensor",
            )
        return TensorRecord(role, enc, bits, rows, cols, n_out, off, nbytes)

    def entry(self, key: EntryKey) -> EntryRecord:
        try:
            return self.index[key]
        except KeyError:
            raise StoreError(
                f"store {self.path} has no entry for {key.describe()}", hint=REPACKAGE, code="MISSING_ENTRY"
            ) from None

    def read_payload(self, rec: EntryRecord, verify: bool = True) -> bytes:
        self.f.seek(rec.offset)
        data = self.f.read(rec.length)
        if len(data) != rec.length:
            self._fail("TRUNCATED", rec.key.describe(), "short read (file truncated while open?)")
        if verify and zlib.crc32(data) != rec.crc32:
            raise StoreError(
                f"store {self.path}: crc32: checksum mismatch in {rec.key.describe()} "
                f"(offset {rec.offset}, {rec.length} bytes): the entry is corrupt",
                hint=REPACKAGE,
                code="ENTRY_CHECKSUM",
            )
        return data

    def verify_all(self, progress=None) -> None:
        """CRC-check every entry (about 1 GB/s with zlib); raises on the first corrupt one."""
        for rec in self.entries:
            self.read_payload(rec)
            if progress is not None:
                progress(rec.length)

    def tensors(self, key: EntryKey) -> dict[F.Role, TensorData]:
        """Read, verify and parse one entry into its tensors (codebooks left encoded)."""
        rec = self.entry(key)
        data = self.read_payload(rec)
        out: dict[F.Role, TensorData] = {}
        for t in rec.tensors:
            if t.encoding == F.Encoding.CODEBOOK:
                k = 1 << t.bits
                o = t.offset
                cb = np.frombuffer(data, "<f4", k, o)
                idx = np.frombuffer(data, "<u4", t.n_outliers, o + 4 * k)
                val = np.frombuffer(data, "<f4", t.n_outliers, o + 4 * k + 4 * t.n_outliers)
                codes = data[o + 4 * k + 8 * t.n_outliers : o + t.nbytes]
                out[t.role] = CodebookTensor(
                    t.bits, (t.rows, t.cols), cb.copy(), idx.copy(), val.copy(), codes
                )
            else:
                dt = "<u4" if t.encoding == F.Encoding.U32 else "<f4"
                a = np.frombuffer(data, dt, t.rows * t.cols, t.offset).reshape(t.rows, t.cols)
                out[t.role] = a.copy()
        return out

    def word_rows(self, ids: np.ndarray) -> np.ndarray:
        """Read only the embedding rows of ``ids``, each verified against its row CRC."""
        rec = self.entry(EntryKey(F.EntryKind.EMBED_WORD))
        crcs = self.tensors(EntryKey(F.EntryKind.EMBED_WORD_CRC))[F.Role.WORD_EMB_ROW_CRC].ravel()
        t = rec.tensors[0]
        uniq = np.unique(ids)
        if uniq.size and (uniq[0] < 0 or uniq[-1] >= t.rows):
            raise StoreError(
                f"token id {int(uniq[-1])} is outside the vocabulary ({t.rows} rows)", code="BAD_DATA"
            )
        row_bytes = 4 * t.cols
        table = {}
        for r in uniq.tolist():
            self.f.seek(rec.offset + t.offset + r * row_bytes)
            raw = self.f.read(row_bytes)
            if zlib.crc32(raw) != int(crcs[r]):
                raise StoreError(
                    f"store {self.path}: checksum mismatch in word-embedding row {r}",
                    hint=REPACKAGE,
                    code="ENTRY_CHECKSUM",
                )
            table[r] = np.frombuffer(raw, "<f4")
        return np.stack([table[r] for r in ids.ravel().tolist()]).reshape(*ids.shape, t.cols)
