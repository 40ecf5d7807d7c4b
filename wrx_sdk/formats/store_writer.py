"""Write ``store.wrx``: every shard at every fidelity, each entry checksummed (FORMAT.md, "Store").

The writer streams entries to a temp file beside the target and renames it into place only
after the table and header are written, so a killed ``wrx package`` never leaves a store
that looks valid.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.codebook import CodebookTensor
from wrx_sdk.formats.store_layout import EntryKey, EntryRecord, TensorRecord, to_u16

TensorData = np.ndarray | CodebookTensor


def _tensor_bytes(t: TensorData) -> tuple[F.Encoding, int, int, int, int, int, list[bytes]]:
    """(encoding, bits, rows, cols, n_outliers, nbytes, chunks) for one tensor."""
    if isinstance(t, CodebookTensor):
        chunks = [
            t.codebook.astype("<f4").tobytes(),
            t.outlier_idx.astype("<u4").tobytes(),
            t.outlier_val.astype("<f4").tobytes(),
            t.codes,
        ]
        rows, cols = t.shape
        return F.Encoding.CODEBOOK, t.bits, rows, cols, len(t.outlier_idx), t.nbytes(), chunks
    a = np.asarray(t)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.dtype == np.uint32:
        enc, data = F.Encoding.U32, a.astype("<u4").tobytes()
    else:
        enc, data = F.Encoding.F32, np.ascontiguousarray(a, dtype="<f4").tobytes()
    return enc, 32, a.shape[0], a.shape[1], 0, len(data), [data]


class StoreWriter:
    """Streams entries to a temp file; ``close`` writes the table and renames into place.

    Counts are fixed up front so the table can sit before the data, where a reader finds
    it with one read.
    """

    def __init__(self, path: str | os.PathLike, n_entries: int, n_tensors: int):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.n_entries, self.n_tensors = n_entries, n_tensors
        self.table_bytes = n_entries * F.ENTRY.size + n_tensors * F.TENSOR.size
        self.data_offset = F.align_up(F.HEADER.size + self.table_bytes, F.ALIGN)
        self.entries: list[EntryRecord] = []
        self.pos = self.data_offset
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.tmp, "wb")
        self.f.truncate(self.data_offset)

    def add(self, key: EntryKey, tensors: Iterable[tuple[F.Role, TensorData]]) -> EntryRecord:
        recs, payload, crc, off = [], [], 0, 0
        for role, t in tensors:
            enc, bits, rows, cols, n_out, nbytes, chunks = _tensor_bytes(t)
            pad = F.align_up(off, F.TENSOR_ALIGN) - off
            if pad:
                payload.append(b"\0" * pad)
                crc = zlib.crc32(b"\0" * pad, crc)
                off += pad
            recs.append(TensorRecord(F.Role(role), enc, bits, rows, cols, n_out, off, nbytes))
            for c in chunks:
                payload.append(c)
                crc = zlib.crc32(c, crc)
            off += nbytes
        self.f.seek(self.pos)
        for c in payload:
            self.f.write(c)
        rec = EntryRecord(key, self.pos, off, crc, tuple(recs))
        self.entries.append(rec)
        self.pos = F.align_up(self.pos + off, F.ALIGN)
        return rec

    def close(self) -> None:
        n_t = sum(len(e.tensors) for e in self.entries)
        if len(self.entries) != self.n_entries or n_t != self.n_tensors:
            self.abort()
            raise RuntimeError(
                f"store writer: expected {self.n_entries} entries / {self.n_tensors} tensors, "
                f"got {len(self.entries)} / {n_t}"
            )
        self.f.truncate(self.pos)  # last entry padded to the alignment: O_DIRECT reads stay in-file
        table = bytearray()
        first = 0
        for e in self.entries:
            k = e.key
            table += F.ENTRY.pack(
                k.kind,
                k.bits,
                0,
                to_u16(k.layer),
                to_u16(k.shard),
                e.offset,
                e.length,
                e.crc32,
                first,
                len(e.tensors),
                0,
            )
            first += len(e.tensors)
        for e in self.entries:
            for t in e.tensors:
                table += F.TENSOR.pack(
                    t.role, t.encoding, t.bits, t.rows, t.cols, t.n_outliers, t.offset, t.nbytes
                )
        head = F.HEADER.pack(
            F.MAGIC,
            F.VERSION,
            F.HEADER.size,
            self.pos,
            self.n_entries,
            self.n_tensors,
            F.HEADER.size,
            len(table),
            self.data_offset,
            zlib.crc32(table),
            0,
        )
        head = head[:-4] + zlib.crc32(head[:-4]).to_bytes(4, "little")
        self.f.seek(0)
        self.f.write(head)
        self.f.write(table)
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if not self.f.closed:
            self.f.close()
        self.tmp.unlink(missing_ok=True)
