"""``wrx inspect``: a readable summary of a package."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.manifest import open_package


def describe(out: Path, entries: bool = False) -> str:
    with open_package(out) as pkg:
        m, g = pkg.manifest, pkg.geometry
        lines = [
            f"package     {out}",
            f"format      manifest v{m['format_version']}, store v{m['store']['format_version']} "
            f"(wrx-sdk {m.get('wrx_sdk_version')}, {m.get('created_utc')})",
            f"model       {m['model']['name']} [{g.family}] {g.layers} layers, hidden {g.hidden}, "
            f"{g.heads} heads, FFN {g.intermediate}, vocab {g.vocab}, "
            f"{m['model']['n_params'] / 1e6:.1f}M params",
            f"sharding    {pkg.spec.shards_per_layer} shards/layer ({pkg.spec.heads_per_shard} head(s)"
            f" + {pkg.spec.ffn_per_shard} FFN rows each)",
            f"quant       {pkg.scheme.method} v{pkg.scheme.version}, bits {list(pkg.scheme.bitwidths)}"
            f" + fp32, outliers > {pkg.scheme.outlier_sigma} sigma",
            f"task        {m['task']['name']}: labels {m['task']['labels']}, sizes {m['task']['sizes']}",
            f"tokens      max_seq_len {pkg.max_seq_len}",
            f"store       {m['store']['file']} {m['store']['file_bytes'] / 1e6:.1f} MB, "
            f"{m['store']['n_entries']} entries",
        ]
        per_bits: dict[str, int] = defaultdict(int)
        for e in pkg.store.entries:
            label = (
                f"{e.key.bits}-bit shards"
                if e.key.kind in F.SHARD_KINDS and e.key.bits != 32
                else "fp32 shards"
                if e.key.kind in F.SHARD_KINDS
                else e.key.kind.name.lower()
            )
            per_bits[label] += e.length
        for k, v in per_bits.items():
            lines.append(f"  {k:<22} {v / 1e6:8.2f} MB")
        for split, d in m["data"].items():
            lines.append(f"data        {split}: {d['rows']} rows in {d['file']}")
        if entries:
            lines.append("entries (kind layer shard bits offset length crc32):")
            for e in pkg.store.entries:
                k = e.key
                lines.append(
                    f"  {k.kind.name.lower():<14} {k.layer!s:>4} {k.shard!s:>4} {k.bits:>3} "
                    f"{e.offset:>11} {e.length:>9} {e.crc32:08x}"
                )
    return "\n".join(lines)
