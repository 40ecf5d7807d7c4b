"""``wrx package``: checkpoint -> shards -> codebooks -> store.wrx + manifest.json + data/.

Entries are laid out embedding first, then layer by layer; within a layer by bitwidth,
then half (attention, FFN), then shard. The attention halves of the k shards a uniform
plan needs are one contiguous read on the device, and so are their FFN halves.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from wrx_sdk import __version__, config, models
from wrx_sdk.builder.quant import encode_all
from wrx_sdk.builder.shard import SHARED, make_spec, shard_of
from wrx_sdk.errors import ModelError
from wrx_sdk.formats import devdata
from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.files import sha256_file, write_json
from wrx_sdk.formats.geometry import ShardSpec
from wrx_sdk.formats.manifest import FORMAT, VERSION, store_section
from wrx_sdk.formats.quant_scheme import QuantScheme
from wrx_sdk.formats.store_layout import EntryKey
from wrx_sdk.formats.store_writer import StoreWriter
from wrx_sdk.formats.tokenizer_json import check_device_tokenizer
from wrx_sdk.models.families import family
from wrx_sdk.models.tasks import load_task
from wrx_sdk.models.tokenizer import encode, load_tokenizer
from wrx_sdk.procs import process_pool

# Tensors of each half of a shard, in entry order (docs/FORMAT.md).
PART_ROLES = {F.EntryKind.ATTN_SHARD: F.ATTN_ROLES, F.EntryKind.FFN_SHARD: F.FFN_ROLES}
MATRICES = {"q_w", "k_w", "v_w", "o_w", "ffn1_w", "ffn2_w"}


def role(name: str) -> F.Role:
    return F.Role[name.upper()]


def _encode_layer(args: tuple) -> list[dict[tuple, list]]:
    """For one layer: per shard, per (kind, bitwidth), the ordered (role, tensor) list."""
    layer, spec, scheme = args
    out = []
    for j in range(spec.shards_per_layer):
        s = shard_of(layer, spec, j)
        enc = {k: encode_all(s[k], scheme) for k in MATRICES}
        per_bits = {}
        for bits in scheme.all_bits:
            for kind, roles in PART_ROLES.items():
                tensors = []
                for r in roles:
                    name = r.name.lower()
                    tensors.append((r, enc[name][bits] if name in MATRICES and bits != 32 else s[name]))
                per_bits[kind, bits] = tensors
        out.append(per_bits)
    return out


def package(
    model_dir: str | Path,
    task_name: str,
    out: str | Path,
    shards: int | None = None,
    max_seq_len: int | None = None,
    scheme: QuantScheme | None = None,
    workers: int | None = None,
    progress: bool = True,
    model_name: str | None = None,
    created_utc: str | None = None,
) -> dict:
    """Write a package to ``out``; returns the manifest."""
    t0 = time.time()
    out = Path(out)
    pk = config.defaults("package")
    qd = config.defaults("quant")
    scheme = scheme or QuantScheme(
        bitwidths=tuple(qd["bitwidths"]),
        outlier_sigma=float(qd["outlier_sigma"]),
        kmeans_iters=int(qd["kmeans_iters"]),
    )
    seq = int(max_seq_len or pk["max_seq_len"])
    ckpt = models.load_checkpoint(model_dir)
    w, geom = ckpt.weights, ckpt.weights.geometry
    if ckpt.labels is None:
        raise ModelError(
            f"{ckpt.path} has no classifier head (a base encoder)",
            hint=f"fine-tune it first: wrx finetune {model_dir} --task {task_name} -o DIR",
        )
    if seq > geom.max_positions:
        raise ModelError(f"max_seq_len {seq} exceeds the model's {geom.max_positions} positions")
    task = load_task(task_name)
    if len(task.labels) != geom.num_labels:
        raise ModelError(
            f"{ckpt.path} classifies {geom.num_labels} labels but task {task_name} has {len(task.labels)}",
            hint=f"fine-tune for this task: wrx finetune MODEL --task {task_name} -o DIR",
        )
    spec = shards if isinstance(shards, ShardSpec) else make_spec(geom, shards)
    M, bits_all = spec.shards_per_layer, scheme.all_bits

    tok = load_tokenizer(ckpt.path)
    # The device tokenizes with this file: refuse what it cannot reproduce before any work.
    tok_json = json.loads(tok.to_str())
    check_device_tokenizer(tok_json, f"{ckpt.path}/tokenizer.json")
    out.mkdir(parents=True, exist_ok=True)
    data = {}
    for split in ("dev", "calib"):
        ex = task.splits[split]
        enc = encode(tok, ex.texts, ex.pairs, seq)
        p = out / "data" / f"{split}.bin"
        devdata.write(p, enc, ex.labels, len(task.labels))
        data[split] = {"file": f"data/{split}.bin", "rows": len(ex), "sha256": sha256_file(p)}
    # Every package holds a tokenizer.json, written from the tokenizer the data was encoded
    # with (a vocab.txt-only checkpoint gets the equivalent file); padding and truncation
    # settings are left out: the device pads nothing and truncates to max_seq_len itself.
    tok_json["truncation"], tok_json["padding"] = None, None
    write_json(out / "tokenizer.json", tok_json)

    extra = family(geom.family).extra_embed_tensors(w, seq)  # what the family adds to EMBED_SHARED
    n_entries = 3 + geom.layers * (1 + 2 * M * len(bits_all)) + 2
    n_shard_tensors = len(F.ATTN_ROLES) + len(F.FFN_ROLES)
    n_tensors = 4 + len(extra) + 1 + 1 + geom.layers * (len(SHARED) + M * len(bits_all) * n_shard_tensors)
    n_tensors += 2 * 4
    writer = StoreWriter(out / "store.wrx", n_entries, n_tensors)
    try:
        e = w.embed
        writer.add(
            EntryKey(F.EntryKind.EMBED_SHARED),
            [
                (F.Role.POS_EMB, e["pos_emb"][:seq]),
                (F.Role.TYPE_EMB, e["type_emb"]),
                (F.Role.EMB_LN_G, e["emb_ln_g"]),
                (F.Role.EMB_LN_B, e["emb_ln_b"]),
                *extra,
            ],
        )
        word = np.ascontiguousarray(e["word_emb"], dtype="<f4")
        writer.add(EntryKey(F.EntryKind.EMBED_WORD), [(F.Role.WORD_EMB, word)])
        row_crc = np.array([_crc(word[r]) for r in range(word.shape[0])], dtype=np.uint32)
        writer.add(EntryKey(F.EntryKind.EMBED_WORD_CRC), [(F.Role.WORD_EMB_ROW_CRC, row_crc)])

        jobs = [(layer, spec, scheme) for layer in w.layers]
        nw = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
        bar = tqdm(total=geom.layers, desc="quantize layers", unit="layer", disable=not progress)
        with process_pool(nw) as pool:
            for i, per_shard in enumerate(pool.map(_encode_layer, jobs)):
                writer.add(
                    EntryKey(F.EntryKind.LAYER_SHARED, i),
                    [(role(k), w.layers[i][k]) for k in SHARED],
                )
                for bits in bits_all:
                    for kind in F.SHARD_KINDS:
                        for j in range(M):
                            writer.add(EntryKey(kind, i, j, bits), per_shard[j][kind, bits])
                bar.update(1)
        bar.close()
        h = w.head
        # The head twice: fp32, and with the pooler matrix at HEAD_CODEBOOK_BITS, a quarter
        # of the bytes a streamed or resident head costs (the classifier rows are tiny).
        head8 = replace(scheme, bitwidths=(F.HEAD_CODEBOOK_BITS,))
        for bits, pooler in (
            (32, h["pooler_w"]),
            (F.HEAD_CODEBOOK_BITS, encode_all(h["pooler_w"], head8)[F.HEAD_CODEBOOK_BITS]),
        ):
            writer.add(
                EntryKey(F.EntryKind.HEAD, bits=bits),
                [
                    (F.Role.POOLER_W, pooler),
                    (F.Role.POOLER_B, h["pooler_b"]),
                    (F.Role.CLS_W, h["cls_w"]),
                    (F.Role.CLS_B, h["cls_b"]),
                ],
            )
        writer.close()
    except BaseException:
        writer.abort()
        raise

    # Every package has its programs: the device refuses a manifest without them, and so
    # does the build side's reader (one contract, formats/manifest_contract.py).
    from wrx_sdk.builder.export import export_programs

    programs = export_programs(geom, spec, seq, out)

    from wrx_sdk.formats.store_reader import Store

    with Store(out / "store.wrx") as store:
        manifest = {
            "format": FORMAT,
            "format_version": VERSION,
            "wrx_sdk_version": __version__,
            "created_utc": created_utc or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "model": {
                "name": model_name or str(model_dir),
                "family": geom.family,
                # how the attention scores are biased beyond the key mask (absent: not at all)
                **({"position_bias": pb} if (pb := family(geom.family).POSITION_BIAS) else {}),
                "geometry": geom.to_json(),
                "n_params": w.n_params(),
            },
            "sharding": spec.to_json(),
            "quant": scheme.to_json(),
            "tokenizer": {
                "file": "tokenizer.json",
                "sha256": sha256_file(out / "tokenizer.json"),
                "max_seq_len": seq,
            },
            "task": task.info(),
            "store": store_section(store),
            "entries": [r.to_json() for r in store.entries],
            "data": data,
            "programs": programs,
        }
    write_json(out / "manifest.json", manifest)
    manifest["_seconds"] = time.time() - t0
    return manifest


def _crc(row: np.ndarray) -> int:
    import zlib

    return zlib.crc32(row.tobytes())
