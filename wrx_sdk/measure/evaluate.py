"""``wrx eval``: dev-set accuracy of a plan through the host reference executor."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from wrx_sdk import config
from wrx_sdk.formats.manifest import Package, open_package
from wrx_sdk.formats.plan import Plan
from wrx_sdk.measure.reference import ReferenceExecutor


@dataclass
class EvalResult:
    plan: str
    split: str
    accuracy: float
    rows: int
    predictions: np.ndarray
    logits: np.ndarray
    seconds: float

    def to_json(self, with_predictions: bool = True) -> dict:
        d = {
            "plan": self.plan,
            "split": self.split,
            "accuracy": self.accuracy,
            "rows": self.rows,
            "seconds": round(self.seconds, 2),
        }
        if with_predictions:
            d["predictions"] = self.predictions.tolist()
        return d


def plan_for(pkg: Package, bits: int | None = None, plan: str | Path | Plan | None = None) -> Plan:
    if isinstance(plan, Plan):
        return plan
    if plan is not None:
        return Plan.load(plan)
    g = pkg.geometry
    return Plan.uniform(g.layers, pkg.spec.shards_per_layer, 32 if bits is None else int(bits))


def evaluate(
    out: str | Path | Package,
    bits: int | None = None,
    plan: str | Path | Plan | None = None,
    split: str = "dev",
    progress: bool = True,
    executor: ReferenceExecutor | None = None,
) -> EvalResult:
    pkg = out if isinstance(out, Package) else open_package(out)
    try:
        p = plan_for(pkg, bits, plan)
        pkg.store.verify_all()
        enc, labels = pkg.read_data(split)
        ex = executor or ReferenceExecutor(pkg)
        t0 = time.time()
        with tqdm(
            total=len(labels), desc=f"eval {p.name}", unit="row", disable=not progress, leave=False
        ) as bar:
            logits = ex.run(
                p, enc, batch_size=int(config.defaults("eval")["batch_size"]), progress=bar.update
            )
        pred = logits.argmax(-1)
        return EvalResult(
            p.name,
            split,
            float((pred == labels).mean()),
            len(labels),
            pred,
            logits,
            time.time() - t0,
        )
    finally:
        if not isinstance(out, Package):
            pkg.close()
