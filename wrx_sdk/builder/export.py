"""Export the encoder-layer programs: ExecuTorch, lowered to XNNPACK.

Per model family and geometry there are three programs with the weights as inputs, each
serving every layer and every shard count (k is a dynamic dimension, 1..M, of the weight
inputs): ``layer`` (a whole encoder layer), and its two halves ``attn`` and ``ffn`` without
biases, residuals or LayerNorms, which let the elastic pipeline run a layer a few shards at
a time.

A fourth, ``layer_packed``, is the whole layer at k = M with the weights as *named external
constants*: the loader loads it once per resident layer and serves the names from that
layer's decoded store tensors (an ExecuTorch ``NamedDataMap``), so XNNPACK packs the
weights once, at load. Weights given as inputs are packed on every call, which costs 43%
of a layer call at rt-polarity's median 27 tokens (docs/RESULTS.md). The program holds no
weight bytes either; the manifest maps each layer input to its named-data key. The loader decodes
shards into its own buffers and hands them to the program without a copy, which needs
three settings measured to matter (docs/ARCHITECTURE.md):
``force_non_static_weights_for_f32_linear``,
``alloc_graph_input=False`` and a single export with ``torch.export.Dim``.

The programs hold no weights, so they are cached by geometry under the wrx cache.
Embedding, pooler and classifier run as plain C++ in the loader (docs/FORMAT.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from wrx_sdk import config
from wrx_sdk.formats.files import atomic_open
from wrx_sdk.formats.geometry import LAYER_KEYS, Geometry, ShardSpec
from wrx_sdk.models.families import family

LAYER_INPUTS = ("x", "bias", *LAYER_KEYS)  # the layer weights in canonical order
ATTN_INPUTS = ("x", "bias", "q_w", "q_b", "k_w", "k_b", "v_w", "v_b", "o_w")
FFN_INPUTS = ("h", "ffn1_w", "ffn1_b", "ffn2_w")
PROGRAMS = {"layer": LAYER_INPUTS, "attn": ATTN_INPUTS, "ffn": FFN_INPUTS}
PACKED = "layer_packed"  # the whole layer, weights as named constants (above)
PACKED_INPUTS = ("x", "bias")
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
    """The layer, attention and FFN modules are BERT's for every family: a family's own math
    reaches them through the bias input (``example_inputs``)."""
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
    for name in (*PROGRAMS, PACKED):
        key = _program_key(name, geom, spec, seq, min_seq)
        cached = config.cache_dir() / "programs" / f"{geom.family}-{name}-{key}.pte"
        keys_file = cached.with_suffix(".json")  # the packed program's named-data keys
        if not cached.is_file() or (name == PACKED and not keys_file.is_file()):
            if name == PACKED:
                data, keys = _lower_packed(geom, spec, seq, min_seq)
                with atomic_open(keys_file, "w") as f:
                    json.dump(keys, f)
            else:
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
            "inputs": list(PACKED_INPUTS if name == PACKED else PROGRAMS[name]),
            "seq_len": seq,
            "min_seq_len": min_seq,
            "max_shards": spec.shards_per_layer,
            "backend": "xnnpack",
        }
        if name == PACKED:
            recs[name]["constants"] = json.loads(keys_file.read_text())
    return recs


def _per_head_bias(geom: Geometry) -> bool:
    """The programs' score bias is per head ([k * heads_per_shard, S, S]), not the key mask
    alone ([1, 1, S]): the family declares a relative position bias."""
    return family(geom.family).POSITION_BIAS == "relative"


def example_inputs(name: str, geom: Geometry, spec: ShardSpec, seq: int, k: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    H, a, f = geom.hidden, k * spec.attn_width, k * spec.ffn_per_shard

    def r(*s: int) -> torch.Tensor:
        return torch.randn(*s, generator=g) * 0.05

    x = torch.randn(1, seq, H, generator=g)
    # The score bias: one key mask for every head [1, 1, S], or a family's per-head bias
    # (relative positions) for the call's heads [k * heads_per_shard, S, S].
    per_head = _per_head_bias(geom)
    bias = torch.zeros(k * spec.heads_per_shard, seq, seq) if per_head else torch.zeros(1, 1, seq)
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


def _import_executorch() -> None:
    levels = {n: logging.getLogger(n).level for n in _NOISY_IMPORT_LOGGERS}
    try:
        for n in levels:
            logging.getLogger(n).setLevel(logging.ERROR)
        import executorch.backends.xnnpack.partition.xnnpack_partitioner  # noqa: F401
        import executorch.exir  # noqa: F401
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


@contextlib.contextmanager
def _quiet_lowering() -> Iterator[None]:
    """ExecuTorch's lowering deep-copies pytree specs, and torch 2.13 warns once per copy
    (15 lines per package) about a deprecation inside ExecuTorch, not in WRX."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning
        )
        yield


def _lower(name: str, geom: Geometry, spec: ShardSpec, seq: int, min_seq: int) -> bytes:
    _import_executorch()
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass
    from torch.export import Dim, export

    M = spec.shards_per_layer
    k = Dim("k", min=1, max=M) if M > 1 else None
    a = spec.attn_width * k if k is not None else None
    f = spec.ffn_per_shard * k if k is not None else None
    inputs = PROGRAMS[name]
    dyn = {i: None for i in inputs}
    per_head = _per_head_bias(geom)
    if k is not None:
        dims = {"q_w": {0: a}, "q_b": {0: a}, "k_w": {0: a}, "k_b": {0: a}, "v_w": {0: a}, "v_b": {0: a},
                "o_w": {1: a}, "ffn1_w": {0: f}, "ffn1_b": {0: f}, "ffn2_w": {1: f}}  # fmt: skip
        if per_head:
            dims["bias"] = {0: spec.heads_per_shard * k}
        dyn.update({i: d for i, d in dims.items() if i in dyn})
    if min_seq < seq:  # one Dim object: x, h and bias agree on the length
        s = Dim("s", min=min_seq, max=seq)
        bias_dims = {**(dyn.get("bias") or {}), 1: s, 2: s} if per_head else {2: s}
        dyn.update({i: d for i, d in {"x": {1: s}, "h": {1: s}, "bias": bias_dims}.items() if i in dyn})
    mod = program_module(name, geom, spec).eval()
    with _quiet_lowering():
        ep = export(mod, example_inputs(name, geom, spec, seq, M), dynamic_shapes=dyn, strict=False)
        edge = to_edge_transform_and_lower(
            ep, partitioner=[XnnpackPartitioner(force_non_static_weights_for_f32_linear=True)]
        )
        prog = edge.to_executorch(
            ExecutorchBackendConfig(memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False))
        )
    return prog.buffer


class _PackedLayer(torch.nn.Module):
    """``ExportLayer`` with the 16 weights as parameters named after LAYER_KEYS."""

    def __init__(self, geom: Geometry, spec: ShardSpec, seq: int):
        super().__init__()
        self.inner = program_module("layer", geom, spec)
        # Distinct random values: the XNNPACK-owned constants are keyed by the sha256 of their
        # bytes, so each weight needs its own bytes for its key to be found (below).
        weights = example_inputs("layer", geom, spec, seq, spec.shards_per_layer)[2:]
        for n, t in zip(LAYER_KEYS, weights, strict=True):
            self.register_parameter(n, torch.nn.Parameter(t.clone(), requires_grad=False))

    def forward(self, x, bias):
        return self.inner(x, bias, *(getattr(self, n) for n in LAYER_KEYS))


def _lower_packed(geom: Geometry, spec: ShardSpec, seq: int, min_seq: int) -> tuple[bytes, dict[str, str]]:
    """The packed-layer program and, per layer input, the named-data key the runtime asks for.

    Both kinds of constant leave the .pte: XNNPACK's (the linear weights and biases, keyed by
    the sha256 of their bytes) through ``delegate_external_constants_pass_unlifted``, and the
    constants the ExecuTorch graph keeps outside the delegate (the LayerNorm scales, keyed by
    their parameter name) through ``external_constants``. The keys are found by matching
    each external blob's bytes against the parameters', so an ExecuTorch change that
    transformed a weight on the way fails the export here, not the device at run time.
    """
    _import_executorch()
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass
    from executorch.exir.passes.external_constants_pass import delegate_external_constants_pass_unlifted
    from torch.export import Dim, export

    mod = _PackedLayer(geom, spec, seq).eval()
    x, bias = example_inputs("layer", geom, spec, seq, spec.shards_per_layer)[:2]
    dyn = None
    if min_seq < seq:
        s = Dim("s", min=min_seq, max=seq)
        dyn = {"x": {1: s}, "bias": {1: s, 2: s} if _per_head_bias(geom) else {2: s}}
    tag = "wrx_layer"
    with _quiet_lowering():
        unlifted = export(mod, (x, bias), dynamic_shapes=dyn, strict=False).module()
        delegate_external_constants_pass_unlifted(
            unlifted, gen_tag_fn=lambda n: tag if n.target in LAYER_KEYS else None
        )
        ep = export(unlifted, (x, bias), dynamic_shapes=dyn, strict=False)
        edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
        prog = edge.to_executorch(
            ExecutorchBackendConfig(
                memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False),
                external_constants=lambda n: tag if n.name.startswith("p_") else None,
            )
        )
    by_bytes = {getattr(mod, n).detach().contiguous().numpy().tobytes(): n for n in LAYER_KEYS}
    keys: dict[str, str] = {}
    nd = prog._named_data  # XNNPACK's constants: sha256 keys
    for key, entry in nd.external_data.get(tag, {}).items():
        name = by_bytes.get(bytes(nd.buffers[entry.buffer_index]))
        if name is None:
            raise RuntimeError(f"layer_packed export: external constant {key[:16]} matches no layer weight")
        keys[name] = key
    for v in prog.executorch_program.execution_plan[0].values:  # the graph's own: named by FQN
        info = getattr(v.val, "extra_tensor_info", None)
        if info is not None and info.fully_qualified_name in LAYER_KEYS:
            keys[info.fully_qualified_name] = info.fully_qualified_name
    missing = [n for n in LAYER_KEYS if n not in keys]
    if missing:
        raise RuntimeError(f"layer_packed export: no external constant for {missing}")
    return prog.buffer, {n: keys[n] for n in LAYER_KEYS}
