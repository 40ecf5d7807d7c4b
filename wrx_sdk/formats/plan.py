"""Execution plans (FORMAT.md, "Plan"): which layers run, which shards each, at which bits.

A plan is data, shared by the host reference executor and the device loader. Layers not
listed are skipped (the submodel is shallower); a listed layer runs with the listed
shards, each at its own bitwidth.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wrx_sdk.errors import PlanError
from wrx_sdk.formats import strict_json
from wrx_sdk.formats.files import write_json
from wrx_sdk.formats.store_layout import HEAD_CODEBOOK_BITS

FORMAT = "wrx-plan"
VERSION = 3  # 2 added the optional `pipeline` knobs, 3 `by_length`; older plans still load
READS = (1, 2, 3)
PIPELINE_KEYS = ("readahead_kb", "chunk_kb", "head_resident")
HEAD_BITS = (32, HEAD_CODEBOOK_BITS)
KB_RANGE = (4, 1 << 22)  # readahead_kb and chunk_kb
LANES_RANGE = (1, 8)
MAX_INDEX, MAX_BITS = 65535, 64  # what either reader accepts before it checks the package


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class Knobs:
    """The elastic pipeline's knobs, with their defaults: the one definition (FORMAT.md,
    ``pipeline``). The C++ loader's defaults (``wrx-loader --print-defaults``) are checked
    against these by tests/test_layout.py."""

    readahead_kb: int = 2048
    chunk_kb: int = 400
    head_resident: bool = False
    lanes: int = 1  # threads a layer half's chunks are dealt to (FORMAT.md, pipeline.lanes)
    head_bits: int = 32  # which stored head runs: fp32, or the pooler at 8 bits (pipeline.head_bits)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class LayerPlan:
    layer: int
    shards: list[int]
    bits: list[int]


@dataclass
class Plan:
    name: str
    layers: list[LayerPlan]
    preload: list[tuple[int, int]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    # Elastic knobs the plan's memory was sized for: readahead_kb, chunk_kb, head_resident,
    # and optionally lanes.
    pipeline: dict[str, Any] | None = None
    # Length buckets (max_len, layers), max_len increasing: a query of L tokens runs the
    # layers of the first bucket with max_len >= L, else `layers` (FORMAT.md, by_length).
    by_length: list[tuple[int, list[LayerPlan]]] = field(default_factory=list)

    def for_length(self, length: int) -> Plan:
        """The plan a query of `length` tokens runs: its bucket's layers, the same preload."""
        for max_len, layers in self.by_length:
            if length <= max_len:
                return Plan(f"{self.name}@{max_len}", layers, list(self.preload), self.meta, self.pipeline)
        return Plan(self.name, self.layers, list(self.preload), self.meta, self.pipeline)

    @property
    def head_bits(self) -> int:
        """Which stored head the plan runs: 32, or 8 (FORMAT.md, ``pipeline.head_bits``)."""
        return int((self.pipeline or {}).get("head_bits", Knobs.head_bits))

    @property
    def knobs(self) -> Knobs:
        """The plan's knobs, defaults filled in where a plan predates a field."""
        return Knobs(**(self.pipeline or {}))

    @classmethod
    def uniform(cls, n_layers: int, shards_per_layer: int, bits: int, preload_layers: int = 0) -> Plan:
        layers = [
            LayerPlan(i, list(range(shards_per_layer)), [bits] * shards_per_layer) for i in range(n_layers)
        ]
        pre = [(i, j) for i in range(min(preload_layers, n_layers)) for j in range(shards_per_layer)]
        name = f"uniform-{bits}" + (f"-pre{preload_layers}" if preload_layers else "")
        return cls(name, layers, pre)

    def to_json(self) -> dict:
        d = {
            "format": FORMAT,
            "format_version": VERSION,
            "name": self.name,
            "layers": _layers_json(self.layers),
            "preload": [list(p) for p in self.preload],
        }
        if self.pipeline is not None:
            d["pipeline"] = dict(self.pipeline)
        if self.by_length:
            d["by_length"] = [{"max_len": n, "layers": _layers_json(ls)} for n, ls in self.by_length]
        else:
            d["format_version"] = 2  # readable by wrx before by_length
        d["meta"] = self.meta
        return d

    def save(self, path: str | os.PathLike) -> Path:
        write_json(Path(path), self.to_json())
        return Path(path)

    @classmethod
    def from_json(cls, d: dict, where: str = "plan") -> Plan:
        def need(obj: dict, k: str, ctx: str) -> Any:
            if not isinstance(obj, dict) or k not in obj:
                raise PlanError(f"{where}: field {ctx}{k} is missing")
            return obj[k]

        if need(d, "format", "") != FORMAT:
            raise PlanError(f"{where}: field format is {d['format']!r}, expected {FORMAT!r}")
        if need(d, "format_version", "") not in READS:
            raise PlanError(f"{where}: format_version {d['format_version']}, this wrx reads {list(READS)}")
        pipeline = d.get("pipeline")
        if pipeline is not None:
            if d["format_version"] < 2 or not isinstance(pipeline, dict):
                raise PlanError(f"{where}: field pipeline needs format_version 2 and must be an object")
            for k in PIPELINE_KEYS:
                need(pipeline, k, "pipeline.")
            for k in ("readahead_kb", "chunk_kb"):
                if not isinstance(pipeline[k], int) or not KB_RANGE[0] <= pipeline[k] <= KB_RANGE[1]:
                    raise PlanError(
                        f"{where}: field pipeline.{k} must be an integer in {KB_RANGE[0]}..{KB_RANGE[1]}"
                    )
            if not isinstance(pipeline["head_resident"], bool):
                raise PlanError(f"{where}: field pipeline.head_resident must be true or false")
            lanes = pipeline.get("lanes", Knobs.lanes)  # optional: older version-2 plans have one lane
            lo, hi = LANES_RANGE
            if not isinstance(lanes, int) or isinstance(lanes, bool) or not lo <= lanes <= hi:
                raise PlanError(f"{where}: field pipeline.lanes must be an integer in {lo}..{hi}")
            head_bits = pipeline.get("head_bits", Knobs.head_bits)  # optional: older plans run the fp32 head
            if head_bits not in HEAD_BITS or isinstance(head_bits, bool):
                raise PlanError(f"{where}: field pipeline.head_bits must be one of {list(HEAD_BITS)}")

        # The same contract as the C++ reader (android_runtime/src/plan.cpp): integers are
        # JSON integers, never coerced (1.9, true and "2" are refused, not read as 1, 1, 2).
        def ints(v: Any, field: str, hi: int) -> list[int]:
            if not isinstance(v, list) or not all(_is_int(x) and 0 <= x <= hi for x in v):
                raise PlanError(
                    f"{where}: field {field} must be a list of integers in 0..{hi}", code="BAD_PLAN"
                )
            return list(v)

        def layer_list(v: Any, ctx: str) -> list[LayerPlan]:
            if not isinstance(v, list):
                raise PlanError(f"{where}: field {ctx} must be a list", code="BAD_PLAN")
            out = []
            for i, lp in enumerate(v):
                shards = ints(need(lp, "shards", f"{ctx}[{i}]."), f"{ctx}[{i}].shards", MAX_INDEX)
                bits = ints(need(lp, "bits", f"{ctx}[{i}]."), f"{ctx}[{i}].bits", MAX_BITS)
                if len(shards) != len(bits):
                    raise PlanError(
                        f"{where}: {ctx}[{i}]: {len(shards)} shards but {len(bits)} bits", code="BAD_PLAN"
                    )
                layer = need(lp, "layer", f"{ctx}[{i}].")
                if not _is_int(layer) or not 0 <= layer <= MAX_INDEX:
                    raise PlanError(f"{where}: field {ctx}[{i}].layer must be an integer in 0..{MAX_INDEX}")
                out.append(LayerPlan(layer, shards, bits))
            return out

        layers = layer_list(need(d, "layers", ""), "layers")
        by_length = []
        if "by_length" in d:
            bl = d["by_length"]
            if d["format_version"] < 3 or not isinstance(bl, list):
                raise PlanError(
                    f"{where}: field by_length needs format_version 3 and must be a list", code="BAD_PLAN"
                )
            prev = 0
            for i, b in enumerate(bl):
                n = need(b, "max_len", f"by_length[{i}].")
                if not _is_int(n) or not prev < n <= MAX_INDEX:
                    raise PlanError(
                        f"{where}: field by_length[{i}].max_len must be an integer in "
                        f"{prev + 1}..{MAX_INDEX} (increasing)",
                        code="BAD_PLAN",
                    )
                prev = n
                by_length.append(
                    (n, layer_list(need(b, "layers", f"by_length[{i}]."), f"by_length[{i}].layers"))
                )
        preload_v = d.get("preload", [])
        if not isinstance(preload_v, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(_is_int(x) and 0 <= x <= MAX_INDEX for x in p)
            for p in preload_v
        ):
            raise PlanError(f"{where}: field preload must hold [layer, shard] pairs", code="BAD_PLAN")
        pre = [(p[0], p[1]) for p in preload_v]
        name = need(d, "name", "")
        if not isinstance(name, str):
            raise PlanError(f"{where}: field name must be a string", code="BAD_PLAN")
        meta = d.get("meta", {})
        if not isinstance(meta, dict):
            raise PlanError(f"{where}: field meta must be an object", code="BAD_PLAN")
        return cls(name, layers, pre, dict(meta), pipeline, by_length)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Plan:
        p = Path(path)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            raise PlanError(f"plan file {p} does not exist", code="MISSING_FILE") from None
        except OSError as e:
            raise PlanError(f"plan file {p}: cannot read ({e.strerror})", code="IO") from None
        try:
            d = strict_json.loads(raw)
        except strict_json.StrictJSONError as e:
            raise PlanError(f"plan {p}: {e}", hint="re-write the plan (wrx plan)") from None
        if not isinstance(d, dict):
            raise PlanError(f"plan {p}: field format must be 'wrx-plan' (the top level is not an object)")
        return cls.from_json(d, str(p))

    def validate(
        self, n_layers: int, shards_per_layer: int, stored_bits: tuple[int, ...], max_seq_len: int = 0
    ) -> None:
        """Reject anything the package cannot serve, naming the offending field."""
        runs = self._validate_layers(self.layers, "", n_layers, shards_per_layer, stored_bits)
        for p in self.preload:
            if p not in runs:
                raise PlanError(f"plan {self.name}: preload {list(p)} is not a shard the plan runs")
        for i, (n, layers) in enumerate(self.by_length):
            if max_seq_len and n >= max_seq_len:
                raise PlanError(
                    f"plan {self.name}: by_length[{i}].max_len {n} must be below max_seq_len {max_seq_len} "
                    "(the top-level layers serve the longest queries)"
                )
            ctx = f"by_length[{i}]."
            bucket = self._validate_layers(layers, ctx, n_layers, shards_per_layer, stored_bits)
            for p in self.preload:  # one preload buffer, encoded once, serves every length
                if bucket.get(p) != runs[p]:
                    raise PlanError(
                        f"plan {self.name}: {ctx}layers must run preloaded shard {list(p)} "
                        f"at {runs[p]} bits, as the top-level layers do"
                    )

    def _validate_layers(
        self, layer_plans: list[LayerPlan], ctx: str, n_layers: int, shards_per_layer: int, stored_bits
    ) -> dict[tuple[int, int], int]:
        seen: dict[tuple[int, int], int] = {}
        if not layer_plans:
            raise PlanError(f"plan {self.name}: no {ctx}layers")
        prev = -1
        for i, lp in enumerate(layer_plans):
            if not 0 <= lp.layer < n_layers:
                raise PlanError(
                    f"plan {self.name}: {ctx}layers[{i}].layer {lp.layer} is not in 0..{n_layers - 1}"
                )
            if lp.layer <= prev:
                raise PlanError(f"plan {self.name}: {ctx}layers must be listed in increasing order")
            prev = lp.layer
            if not lp.shards:
                raise PlanError(
                    f"plan {self.name}: layer {lp.layer} lists no shards (omit the layer to skip it)"
                )
            if len(set(lp.shards)) != len(lp.shards):
                raise PlanError(f"plan {self.name}: layer {lp.layer} lists a shard twice")
            for s, b in zip(lp.shards, lp.bits, strict=True):
                if not 0 <= s < shards_per_layer:
                    raise PlanError(
                        f"plan {self.name}: layer {lp.layer} shard {s} does not exist "
                        f"(the package has {shards_per_layer} shards per layer)"
                    )
                if b not in stored_bits:
                    raise PlanError(
                        f"plan {self.name}: layer {lp.layer} shard {s} at {b} bits is "
                        f"not in the store (stored: {list(stored_bits)})"
                    )
                seen[(lp.layer, s)] = b
        return seen


def _layers_json(layers: list[LayerPlan]) -> list[dict]:
    return [{"layer": lp.layer, "shards": lp.shards, "bits": lp.bits} for lp in layers]
