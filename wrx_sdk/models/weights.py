"""Family-independent container of a model's canonical weights (names: formats.geometry)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wrx_sdk.formats.geometry import Geometry


@dataclass
class Weights:
    geometry: Geometry
    embed: dict[str, np.ndarray]
    layers: list[dict[str, np.ndarray]]
    head: dict[str, np.ndarray] = field(default_factory=dict)

    def n_params(self) -> int:
        n = sum(a.size for a in self.embed.values())
        n += sum(a.size for layer in self.layers for a in layer.values())
        return n + sum(a.size for a in self.head.values() if a is not None)
