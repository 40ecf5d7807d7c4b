"""Export the encoder-layer program: ExecuTorch, lowered to XNNPACK, weights as inputs.

One program per model family and geometry serves every layer and every shard count: the
shard count k is a dynamic dimension (1..M) of the weight inputs. The loader decodes
shards into its own buffers and hands them to the program without a copy, which needs
three settings measured to matter (DESIGN.md): ``force_non_static_weights_for_f32_linear``,
``alloc_graph_input=False`` and a single export with ``torch.export.Dim``.

The programs hold no weights, so they are cached by geometry under the wrx cache.
Embedding, pooler and classifier run as plain C++ in the loader (docs/FORMAT.md).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch

from . import config
from .fsutil import atomic_open
from .models.weights import Geometry
from .shard import ShardSpec

LAYER_INPUTS = (
    "x",
    "bias",
    "q_w",
    "q_b",
    "k_w",
    "k_b",
    "v_w",
    "v_b",
    "o_w",
    "o_b",
    "ln1_g",
    "ln1_b",
    "ffn1_w",
    "ffn1_b",
    "ffn2_w",
    "ffn2_b",
    "ln2_g",
    "ln2_b",
)
EXPORT_VERSION = 1  # bump when the exported graph changes, to invalidate the cache


def _program_key(geom: Geometry, spec: ShardSpec, seq: int) -> str:
    d = {
        "v": EXPORT_VERSION,
        "family": geom.family,
        "hidden": geom.hidden,
        "eps": geom.ln_eps,
        "spec": spec.to_json(),
        "seq": seq,
        "torch": torch.__version__,
    }
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def layer_module(geom: Geometry, spec: ShardSpec, seq: int) -> torch.nn.Module:
    from .models import bert

    return bert.ExportLayer(geom.hidden, spec.head_dim, geom.ln_eps, seq)


def export_layer(geom: Geometry, spec: ShardSpec, seq: int, dst: Path) -> dict:
    """Write the layer program to ``dst`` (cached); returns its manifest record."""
    key = _program_key(geom, spec, seq)
    cached = config.cache_dir() / "programs" / f"{geom.family}-layer-{key}.pte"
    if not cached.is_file():
        data = _lower(geom, spec, seq)
        with atomic_open(cached, "wb") as f:
            f.write(data)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, dst)
    return {
        "file": str(dst.name),
        "sha256": hashlib.sha256(dst.read_bytes()).hexdigest(),
        "inputs": list(LAYER_INPUTS),
        "seq_len": seq,
        "max_shards": spec.shards_per_layer,
        "backend": "xnnpack",
    }


def example_inputs(geom: Geometry, spec: ShardSpec, seq: int, k: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    H, a, f = geom.hidden, k * spec.attn_width, k * spec.ffn_per_shard

    def r(*s: int) -> torch.Tensor:
        return torch.randn(*s, generator=g) * 0.05

    return (
        torch.randn(1, seq, H, generator=g),
        torch.zeros(1, 1, seq),
        r(a, H),
        r(a),
        r(a, H),
        r(a),
        r(a, H),
        r(a),
        r(H, a),
        r(H),
        1 + r(H),
        r(H),
        r(f, H),
        r(f),
        r(H, f),
        r(H),
        1 + r(H),
        r(H),
    )


def _lower(geom: Geometry, spec: ShardSpec, seq: int) -> bytes:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass
    from torch.export import Dim, export

    M = spec.shards_per_layer
    k = Dim("k", min=1, max=M) if M > 1 else None
    a = spec.attn_width * k if k is not None else None
    f = spec.ffn_per_shard * k if k is not None else None
    dyn = {name: None for name in LAYER_INPUTS}
    if k is not None:
        dyn.update(
            {
                "q_w": {0: a},
                "q_b": {0: a},
                "k_w": {0: a},
                "k_b": {0: a},
                "v_w": {0: a},
                "v_b": {0: a},
                "o_w": {1: a},
                "ffn1_w": {0: f},
                "ffn1_b": {0: f},
                "ffn2_w": {1: f},
            }
        )
    mod = layer_module(geom, spec, seq).eval()
    ep = export(mod, example_inputs(geom, spec, seq, M), dynamic_shapes=dyn, strict=False)
    edge = to_edge_transform_and_lower(
        ep, partitioner=[XnnpackPartitioner(force_non_static_weights_for_f32_linear=True)]
    )
    prog = edge.to_executorch(
        ExecutorchBackendConfig(memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False))
    )
    return prog.buffer
