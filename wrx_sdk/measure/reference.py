"""Host reference executor: runs any plan from the store with torch.

This is the oracle the device loader is checked against. It reads only the store (every
entry CRC-checked), decodes codebooks with numpy, assembles each layer from its planned
shards and runs the family's torch forward. It shares no code with the device loader
beyond the format spec.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from wrx_sdk.builder.shard import assemble
from wrx_sdk.formats import store_layout as F
from wrx_sdk.formats.codebook import CodebookTensor, decode
from wrx_sdk.formats.devdata import Encoded
from wrx_sdk.formats.manifest import Package
from wrx_sdk.formats.plan import LayerPlan, Plan
from wrx_sdk.formats.store_layout import EntryKey
from wrx_sdk.models.families import family

# Biases and LayerNorm scales are stored as [1, n] rows; tables (a one-row type embedding
# included) keep their two dimensions.
_VECTORS = {r for r in F.Role if r.name.endswith(("_B", "_G"))}


def _names(tensors: dict[F.Role, object]) -> dict[str, np.ndarray]:
    return {
        r.name.lower(): decode(t) if isinstance(t, CodebookTensor) else t.reshape(-1) if r in _VECTORS else t
        for r, t in tensors.items()
    }


class ReferenceExecutor:
    def __init__(self, pkg: Package, threads: int | None = None):
        self.pkg = pkg
        self.fwd = family(pkg.geometry.family)
        torch.set_num_threads(threads or os.cpu_count() or 1)
        self._shard_cache: dict[tuple[int, int, int], dict[str, np.ndarray]] = {}
        st = pkg.store
        self.embed = {
            k: torch.from_numpy(v) for k, v in _names(st.tensors(EntryKey(F.EntryKind.EMBED_SHARED))).items()
        }
        self._heads: dict[int, dict[str, torch.Tensor]] = {}
        self.head = self.head_weights(32)

    def head_weights(self, bits: int) -> dict[str, torch.Tensor]:
        """The pooler and classifier from the HEAD entry at ``bits`` (32, or the codebook
        width of FORMAT.md's 8-bit head), decoded to fp32."""
        if bits not in self._heads:
            t = self.pkg.store.tensors(EntryKey(F.EntryKind.HEAD, bits=bits))
            self._heads[bits] = {k: torch.from_numpy(v) for k, v in _names(t).items()}
        return self._heads[bits]

    def shard(self, layer: int, shard: int, bits: int) -> dict[str, np.ndarray]:
        key = (layer, shard, bits)
        if key not in self._shard_cache:
            t = {}
            for kind in F.SHARD_KINDS:
                t.update(self.pkg.store.tensors(EntryKey(kind, layer, shard, bits)))
            self._shard_cache[key] = _names(t)
        return self._shard_cache[key]

    def layer_weights(self, lp: LayerPlan) -> dict[str, torch.Tensor]:
        shared = _names(self.pkg.store.tensors(EntryKey(F.EntryKind.LAYER_SHARED, lp.layer)))
        shards = [self.shard(lp.layer, s, b) for s, b in zip(lp.shards, lp.bits, strict=True)]
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in assemble(shards, shared).items()}

    @torch.no_grad()
    def embed_rows(self, enc: Encoded, idx: np.ndarray, S: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings [len(idx), S, H] of rows ``idx`` cut to S tokens, and their attention bias;
        word rows come from the store, each checked against its row CRC."""
        ids = enc.input_ids[idx, :S]
        mask = torch.from_numpy((np.arange(S)[None, :] < enc.lengths[idx, None]).astype(np.int64))
        rows = torch.from_numpy(self.pkg.store.word_rows(ids))
        x = self.fwd.embed(
            torch.from_numpy(ids.astype(np.int64)),
            torch.from_numpy(enc.token_type_ids[idx, :S].astype(np.int64)),
            rows,
            self.embed,
            self.pkg.geometry.ln_eps,
        )
        return x, self.fwd.attention_bias(mask, self.embed)

    def layer_bias(self, bias: torch.Tensor, lp: LayerPlan) -> torch.Tensor:
        """The attention bias for a layer's shards: all of it where it is the same for every
        head, else the rows of the shards' heads, in plan order (as the device gathers them)."""
        if bias.dim() != 4:
            return bias
        hps = self.pkg.spec.heads_per_shard
        return bias[:, [s * hps + h for s in lp.shards for h in range(hps)]]

    @torch.no_grad()
    def run(
        self, plan: Plan, enc: Encoded, batch_size: int = 64, trim: bool = True, progress=None
    ) -> np.ndarray:
        """Logits [N, C] in input order. ``trim`` cuts each batch to its longest row, which
        changes nothing but float summation order (padded keys get exactly zero weight). A
        plan with length buckets runs each row with its bucket's layers, as the device does."""
        g, pkg = self.pkg.geometry, self.pkg
        plan.validate(g.layers, pkg.spec.shards_per_layer, pkg.scheme.all_bits, pkg.max_seq_len)
        if plan.by_length:
            out = np.zeros((enc.input_ids.shape[0], g.num_labels), dtype=np.float32)
            bounds = [0, *(n for n, _ in plan.by_length), self.pkg.max_seq_len]
            for lo, hi in zip(bounds, bounds[1:], strict=False):
                rows = np.flatnonzero((enc.lengths > lo) & (enc.lengths <= hi))
                if len(rows):
                    sub = Encoded(enc.input_ids[rows], enc.token_type_ids[rows], enc.lengths[rows])
                    out[rows] = self.run(plan.for_length(hi), sub, batch_size, trim, progress)
            return out
        layers = [self.layer_weights(lp) for lp in plan.layers]
        head = self.head_weights(plan.head_bits)
        n = enc.input_ids.shape[0]
        order = np.argsort(enc.lengths, kind="stable") if trim else np.arange(n)
        out = np.zeros((n, g.num_labels), dtype=np.float32)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            S = int(enc.lengths[idx].max()) if trim else enc.input_ids.shape[1]
            x, bias = self.embed_rows(enc, idx, S)
            for w, lp in zip(layers, plan.layers, strict=True):
                x = self.fwd.encoder_layer(x, self.layer_bias(bias, lp), w, g.head_dim, g.ln_eps)
            out[idx] = self.fwd.classify(x, head).numpy()
            if progress is not None:
                progress(len(idx))
        return out
