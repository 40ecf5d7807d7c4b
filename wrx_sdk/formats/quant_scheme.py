"""The quantization recipe a store was built with, recorded in the manifest.

A small versioned dataclass that validates itself and round-trips through JSON, so a
manifest from another recipe version is refused by name instead of misread.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from wrx_sdk.errors import WrxError

SCHEME_VERSION = 1
SUPPORTED_BITS = (2, 3, 4, 5, 6, 8)
FP32_BITS = 32


@dataclass(frozen=True)
class QuantScheme:
    """The quantization recipe a store was built with; recorded in the manifest."""

    bitwidths: tuple[int, ...] = SUPPORTED_BITS
    outlier_sigma: float = 3.0
    kmeans_iters: int = 25
    method: str = "codebook-gobo"
    granularity: str = "tensor"  # one codebook per weight matrix of a shard
    version: int = SCHEME_VERSION

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.version != SCHEME_VERSION:
            raise WrxError(
                f"quant scheme version {self.version} is not supported (this wrx reads {SCHEME_VERSION})",
                hint="re-package the model with this wrx: wrx package MODEL_DIR --task T -o OUT",
            )
        if self.method != "codebook-gobo" or self.granularity != "tensor":
            raise WrxError(f"quant scheme: unknown method/granularity {self.method}/{self.granularity}")
        bad = [b for b in self.bitwidths if b not in SUPPORTED_BITS]
        if bad or not self.bitwidths:
            raise WrxError(
                f"quant scheme: bitwidths {list(self.bitwidths)} invalid; choose from {list(SUPPORTED_BITS)}"
            )
        if list(self.bitwidths) != sorted(set(self.bitwidths)):
            raise WrxError("quant scheme: bitwidths must be sorted and unique")
        if not (self.outlier_sigma > 0):
            raise WrxError(f"quant scheme: outlier_sigma must be > 0, got {self.outlier_sigma}")
        if not (1 <= self.kmeans_iters <= 1000):
            raise WrxError(f"quant scheme: kmeans_iters must be in 1..1000, got {self.kmeans_iters}")

    @property
    def all_bits(self) -> tuple[int, ...]:
        """Every stored fidelity, fp32 included."""
        return (*self.bitwidths, FP32_BITS)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["bitwidths"] = list(self.bitwidths)
        return d

    @classmethod
    def from_json(cls, d: dict | str) -> QuantScheme:
        if isinstance(d, str):
            d = json.loads(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise WrxError(f"quant scheme: unknown fields {sorted(unknown)}")
        d = dict(d)
        if "bitwidths" in d:
            d["bitwidths"] = tuple(int(b) for b in d["bitwidths"])
        return cls(**d)
