"""Binary layout of ``store.wrx``: header, entry table, tensor records. docs/FORMAT.md is the normative spec.

Enum values are part of the format: never renumber them, only append. The C++ reader
(android_runtime/src/store_format.h) mirrors this file.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

MAGIC = b"WRXSTOR\0"
VERSION = 2
ALIGN = 4096
TENSOR_ALIGN = 16
NONE16 = 0xFFFF
# The HEAD entry is stored at 32 bits and also with its pooler matrix as a
# CODEBOOK at this width (codes are whole bytes, so a reader runs the matvec on them).
HEAD_CODEBOOK_BITS = 8

# magic[8] version:u32 header_bytes:u32 file_bytes:u64 n_entries:u32 n_tensors:u32
# table_offset:u64 table_bytes:u64 data_offset:u64 table_crc32:u32 header_crc32:u32
HEADER = struct.Struct("<8sIIQIIQQQII")
# kind:u16 bits:u8 reserved:u8 layer:u16 shard:u16 offset:u64 length:u64 crc32:u32
# first_tensor:u32 n_tensors:u32 reserved:u32
ENTRY = struct.Struct("<HBBHHQQIIII")
# role:u16 encoding:u8 bits:u8 rows:u32 cols:u32 n_outliers:u32 offset:u64 bytes:u64
TENSOR = struct.Struct("<HBBIIIQQ")

assert HEADER.size == 64 and ENTRY.size == 40 and TENSOR.size == 32


class EntryKind(enum.IntEnum):
    LAYER_SHARD = 1  # version 1 only: a whole shard; v2 splits it into ATTN_SHARD + FFN_SHARD
    LAYER_SHARED = 2  # per-layer tensors every shard count needs (LayerNorms, output biases)
    EMBED_WORD = 3  # word-embedding table, fp32, rows addressable
    EMBED_WORD_CRC = 4  # crc32 of every word-embedding row, so single rows verify
    EMBED_SHARED = 5  # position and type embeddings, embedding LayerNorm
    HEAD = 6  # pooler and classifier
    ATTN_SHARD = 7  # the attention half of one (layer, shard) at one bitwidth
    FFN_SHARD = 8  # the FFN half of one (layer, shard) at one bitwidth


# A shard is stored as two entries so a device can stream, decode and run a layer's
# attention before its FFN without holding both halves (store version 2).
SHARD_KINDS = (EntryKind.ATTN_SHARD, EntryKind.FFN_SHARD)


class Encoding(enum.IntEnum):
    F32 = 0  # rows*cols little-endian float32
    CODEBOOK = 1  # codebook f32[2^bits], outlier idx u32[n], outlier val f32[n], packed codes
    U32 = 2  # rows*cols little-endian uint32 (checksum tables)


class Role(enum.IntEnum):
    # shard tensors
    Q_W = 1
    Q_B = 2
    K_W = 3
    K_B = 4
    V_W = 5
    V_B = 6
    O_W = 7  # [hidden, shard_width] columns of the output projection
    FFN1_W = 8
    FFN1_B = 9
    FFN2_W = 10  # [hidden, ffn_slice] columns of the second FFN matrix
    # layer-shared tensors
    O_B = 20
    LN1_G = 21
    LN1_B = 22
    FFN2_B = 23
    LN2_G = 24
    LN2_B = 25
    # embeddings
    WORD_EMB = 40
    POS_EMB = 41
    TYPE_EMB = 42
    EMB_LN_G = 43
    EMB_LN_B = 44
    WORD_EMB_ROW_CRC = 45
    REL_POS_BIAS = 46  # [heads, 2 * max_seq_len - 1]: relative position bias per head (mpnet)
    # head
    POOLER_W = 60
    POOLER_B = 61
    CLS_W = 62
    CLS_B = 63


ATTN_ROLES = (Role.Q_W, Role.Q_B, Role.K_W, Role.K_B, Role.V_W, Role.V_B, Role.O_W)
FFN_ROLES = (Role.FFN1_W, Role.FFN1_B, Role.FFN2_W)


def align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


@dataclass(frozen=True)
class EntryKey:
    kind: EntryKind
    layer: int | None = None
    shard: int | None = None
    bits: int = 32

    def describe(self) -> str:
        parts = [self.kind.name.lower()]
        if self.layer is not None:
            parts.append(f"layer {self.layer}")
        if self.shard is not None:
            parts.append(f"shard {self.shard}")
        parts.append("fp32" if self.bits == 32 else f"{self.bits}-bit")
        return ", ".join(parts)


@dataclass(frozen=True)
class TensorRecord:
    role: Role
    encoding: Encoding
    bits: int
    rows: int
    cols: int
    n_outliers: int
    offset: int  # within the entry payload
    nbytes: int


@dataclass(frozen=True)
class EntryRecord:
    key: EntryKey
    offset: int
    length: int
    crc32: int
    tensors: tuple[TensorRecord, ...]

    def to_json(self) -> dict:
        return {
            "kind": self.key.kind.name.lower(),
            "layer": self.key.layer,
            "shard": self.key.shard,
            "bits": self.key.bits,
            "offset": self.offset,
            "length": self.length,
            "crc32": self.crc32,
        }


def to_u16(v: int | None) -> int:
    return NONE16 if v is None else v


def from_u16(v: int) -> int | None:
    return None if v == NONE16 else v
