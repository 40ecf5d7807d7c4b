"""Export the encoder-layer program: ExecuTorch, lowered to XNNPACK, weights as inputs.

Per model family and geometry there are three programs, each serving every layer and every
shard count (k is a dynamic dimension, 1..M, of the weight inputs): ``layer`` (a whole
encoder layer), and its two halves ``attn`` and ``ffn`` without biases, residuals or
LayerNorms, which let the elastic pipeline run a layer a few shards at a time. The loader decodes
shards into its own buffers and hands them to the program without a copy, which needs
three settings measured to matter (docs/ARCHITECTURE.md):
``force_non_static_weights_for_f32_linear``,
``alloc_graph_input=False`` and a single export with ``torch.export.Dim``.

The programs hold no weights, so they are cached by geometry under the wrx cache.
Embedding, pooler and classifier run as plain C++ in the loader (docs/FORMAT.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import warnings
from pathlib import Path

import torch

from wrx_sdk import config
from wrx_sdk.formats.files import atomic_open
from wrx_sdk.formats.geometry import LAYER_KEYS, Geometry, ShardSpec

LAYER_INPUTS = ("x", "bias", *LAYER_KEYS)  # the layer weights in canonical order
ATTN_INPUTS = ("x", "bias", "q_w", "q_b", "k_w", "k_b", "v_w", "v_b", "o_w")
FFN_INPUTS = ("h", "ffn1_w", "ffn1_b", "ffn2_w")
PROGRAMS = {"layer": LAYER_INPUTS, "attn": ATTN_INPUTS, "ffn": FFN_INPUTS}
EXPORT_VERSION = 2  # bump when an exported graph changes, to invalidate the cache


def _program_key(name: str, geom: Geometry, spec: ShardSpec, seq: int, min_seq: int) -> str:
    d = {
        "v": EXPORT_VERSION,
        "program": name,
        "family": geom.family,
        "hidden": geom.hidden,
        "eps": geom.ln_eps,
        "spec": spec.to_json(),
        "seq": seq,
        "min_seq": min_seq,
        "torch": torch.__version__,
    }
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def program_module(name: str, geom: Geometry, spec: ShardSpec) -> torch.nn.Module:
    from wrx_sdk.models.families import bert

    if name == "layer":
        return bert.ExportLayer(geom.hidden, spec.head_dim, geom.ln_eps)
    if name == "attn":
        return bert.ExportAttn(spec.head_dim)
    return bert.ExportFfn()


def export_programs(geom: Geometry, spec: ShardSpec, seq: int, out: Path, min_seq: int = 1) -> dict:
    """Write every program into ``out/programs/`` (cached); returns the manifest records.

    The sequence length is a dynamic dimension, min_seq..seq, so a query runs at its own
    length (docs/FORMAT.md, "Programs"); min_seq = seq exports the fixed-length programs
    of packages before 2026-12-02.
    """
    if not 1 <= min_seq <= seq:
        raise ValueError(f"min_seq {min_seq} is outside 1..{seq}")
    recs = {}
    for name, inputs in PROGRAMS.items():
        key = _program_key(name, geom, spec, seq, min_seq)
        cached = config.cache_dir() / "programs" / f"{geom.family}-{name}-{key}.pte"
        if not cached.is_file():
            data = _lower(name, geom, spec, seq, min_seq)
            with atomic_open(cached, "wb") as f:
                f.write(data)
        rel = f"programs/{geom.family}_{name}.pte"
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, dst)
        recs[name] = {
            "file": rel,
            "sha256": hashlib.sha256(dst.read_bytes()).hexdigest(),
            "inputs": list(inputs),
            "seq_len": seq,
            "min_seq_len": min_seq,
            "max_shards": spec.shards_per_layer,
            "backend": "xnnpack",
        }
    return recs


def example_inputs(name: str, geom: Geometry, spec: ShardSpec, seq: int, k: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    H, a, f = geom.hidden, k * spec.attn_width, k * spec.ffn_per_shard

    def r(*s: int) -> torch.Tensor:
        return torch.randn(*s, generator=g) * 0.05

    x, bias = torch.randn(1, seq, H, generator=g), torch.zeros(1, 1, seq)
    if name == "ffn":
        return (x, r(f, H), r(f), r(H, f))
    attn = (x, bias, r(a, H), r(a), r(a, H), r(a), r(a, H), r(a), r(H, a))
    if name == "attn":
        return attn
    return (*attn, r(H), 1 + r(H), r(H), r(f, H), r(f), r(H, f), r(H), 1 + r(H), r(H))


# Importing ExecuTorch imports torchao, which logs a warning for each CUDA kernel library it
# cannot load on a CPU-only host, and torch's pytree, which logs one about torchao's Enum
# registration. Neither concerns a CPU export; both read like failures in `wrx package`.
_NOISY_IMPORT_LOGGERS = ("torchao", "torch.utils._pytree")


def _lower(name: str, geom: Geometry, spec: ShardSpec, seq: int, min_seq: int) -> bytes:
    levels = {n: logging.getLogger(n).level for n in _NOISY_IMPORT_LOGGERS}
    try:
        for n in levels:
            logging.getLogger(n).setLevel(logging.ERROR)
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
        from executorch.exir.passes import MemoryPlanningPass
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)
    from torch.export import Dim, export

    M = spec.shards_per_layer
    k = Dim("k", min=1, max=M) if M > 1 else None
    a = spec.attn_width * k if k is not None else None
    f = spec.ffn_per_shard * k if k is not None else None
    inputs = PROGRAMS[name]
    dyn = {i: None for i in inputs}
    if k is not None:
        dims = {"q_w": {0: a}, "q_b": {0: a}, "k_w": {0: a}, "k_b": {0: a}, "v_w": {0: a}, "v_b": {0: a},
                "o_w": {1: a}, "ffn1_w": {0: f}, "ffn1_b": {0: f}, "ffn2_w": {1: f}}  # fmt: skip
        dyn.update({i: d for i, d in dims.items() if i in dyn})
    if min_seq < seq:  # one Dim object: x, h and bias agree on the length
        s = Dim("s", min=min_seq, max=seq)
        dyn.update({i: d for i, d in {"x": {1: s}, "h": {1: s}, "bias": {2: s}}.items() if i in dyn})
    mod = program_module(name, geom, spec).eval()
    with warnings.catch_warnings():
        # ExecuTorch's lowering deep-copies pytree specs, and torch 2.13 warns once per copy
        # (15 lines per package) about a deprecation inside ExecuTorch, not in WRX.
        warnings.filterwarnings(
            "ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning
        )
        ep = export(mod, example_inputs(name, geom, spec, seq, M), dynamic_shapes=dyn, strict=False)
        edge = to_edge_transform_and_lower(
            ep, partitioner=[XnnpackPartitioner(force_non_static_weights_for_f32_linear=True)]
        )
        prog = edge.to_executorch(
            ExecutorchBackendConfig(memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False))
        )
    return prog.buffer
