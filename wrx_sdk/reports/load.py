"""Read loader reports for ``wrx report``: validate them, label them, and find what each
run was planned for.

A loader report knows its plan's layers but not why the plan was chosen; the planner's
target and predictions live in the plan file (``OUT/plans/<name>.json``, ``meta``). We
look that file up beside the package the report names, and use it only when its layers
match the report's, so a plan re-written since the run is never attributed to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrx_sdk.errors import WrxError

REPORT_VERSIONS = (1,)
HINT_RUN = "wrx run OUT --plan NAME writes one under OUT/reports/<device>/"


@dataclass
class Run:
    """One loader report with the facts the report pages need."""

    path: Path
    report: dict[str, Any]
    label: str
    kind: str  # "wrx", "sti", "elastic" (a hand-written or preset plan), or "baseline"
    meta: dict[str, Any] = field(default_factory=dict)  # the plan file's meta, when found

    @property
    def summary(self) -> dict[str, Any]:
        return self.report["summary"]

    @property
    def mode(self) -> str:
        return self.report["mode"]

    @property
    def target_ms(self) -> float | None:
        t = self.meta.get("target_ms")
        return float(t) if t is not None else None

    @property
    def traced(self) -> list[dict[str, Any]]:
        return [i for i in self.report["inferences"] if i.get("layers")]


def _field(path: Path, d: dict, key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in d or not isinstance(d[key], kind):
        raise WrxError(
            f"{path}: field {key!r} is missing or not {getattr(kind, '__name__', kind)}",
            hint=f"pass reports written by wrx-loader (docs/FORMAT.md, 'Report'); {HINT_RUN}",
        )
    return d[key]


def read_report(path: str | Path) -> dict[str, Any]:
    """A successful loader report, or a WrxError naming the file and the field at fault."""
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise WrxError(f"report {p} does not exist", hint=HINT_RUN) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WrxError(f"{p}: not JSON ({e})", hint=f"a killed run leaves no report; {HINT_RUN}") from None
    if not isinstance(d, dict) or d.get("format") != "wrx-report":
        raise WrxError(f"{p}: field 'format' is not \"wrx-report\"", hint=HINT_RUN)
    if d.get("format_version") not in REPORT_VERSIONS:
        raise WrxError(
            f"{p}: field 'format_version' is {d.get('format_version')!r}; this wrx reads "
            f"{', '.join(map(str, REPORT_VERSIONS))}",
            hint="re-run the plan with this version's loader (scripts/setup.sh rebuilds it)",
        )
    if d.get("ok") is not True:
        err = d.get("error") or {}
        raise WrxError(
            f"{p}: a failed run ({err.get('code', '?')}: {err.get('message', 'no message')})",
            hint="leave failed runs out of the report, or fix and re-run them",
        )
    for key, kind in (
        ("mode", str),
        ("plan_name", str),
        ("plan", dict),
        ("device", dict),
        ("build", dict),
        ("package", dict),
        ("io", dict),
        ("memory", dict),
        ("summary", dict),
        ("inferences", list),
    ):
        _field(p, d, key, kind)
    if not d["inferences"]:
        raise WrxError(f"{p}: field 'inferences' is empty (a run over zero rows)", hint=HINT_RUN)
    return d


def uniform_bits(report: dict[str, Any]) -> int | None:
    """B when the report's plan holds every shard of every layer at B bits, else None."""
    layers, pkg = report["plan"].get("layers", []), report["package"]
    bits = {b for lp in layers for b in lp.get("bits", [])}
    full = len(layers) == pkg.get("layers") and all(
        len(lp.get("shards", [])) == pkg.get("shards_per_layer") for lp in layers
    )
    return bits.pop() if len(bits) == 1 and full else None


def _plan_meta(report: dict[str, Any]) -> dict[str, Any]:
    root = Path(report["package"].get("root", ""))
    f = root / "plans" / f"{report['plan_name']}.json"
    try:
        plan = json.loads(f.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    same = [(lp["layer"], lp["shards"], lp["bits"]) for lp in plan.get("layers", [])] == [
        (lp["layer"], lp["shards"], lp["bits"]) for lp in report["plan"]["layers"]
    ]
    return plan.get("meta") or {} if same else {}


def label_run(path: Path, report: dict[str, Any]) -> Run:
    meta = _plan_meta(report)
    bits = uniform_bits(report)
    mode = report["mode"]
    planner = meta.get("planner")
    if mode == "elastic" and planner in ("wrx", "sti"):
        kind = planner
        label = f"{planner} T={meta['target_ms']:g} ms, M={meta['memory_mb']:g} MB"
    elif mode == "elastic":
        kind, label = "elastic", f"elastic {report['plan_name']}"
    else:
        kind = "baseline"
        label = f"{mode} {'fp32' if bits == 32 else f'{bits}-bit' if bits else report['plan_name']}"
    return Run(path=path, report=report, label=label, kind=kind, meta=meta)


def load_runs(paths: list[str | Path]) -> list[Run]:
    if not paths:
        raise WrxError("no reports given", hint=f"wrx report REPORT.json... -o report.html; {HINT_RUN}")
    runs = [label_run(Path(p), read_report(p)) for p in paths]
    seen: dict[str, int] = {}
    for r in runs:  # two runs of one plan: number them rather than overlay them silently
        seen[r.label] = seen.get(r.label, 0) + 1
        if seen[r.label] > 1:
            r.label += f" (#{seen[r.label]})"
    return runs


def fp32_reference(runs: list[Run]) -> Run | None:
    """The run accuracy is compared against: the full model at fp32, load-all preferred."""
    full = [r for r in runs if uniform_bits(r.report) == 32]
    full.sort(key=lambda r: r.mode != "load-all")
    return full[0] if full else None
