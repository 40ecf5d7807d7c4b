"""Read loader reports for ``wrx report``: validate them, label them, and find what each
run was planned for.

A loader report knows its plan's layers but not why the plan was chosen; the planner's
target and predictions live in the plan file (``OUT/plans/<name>.json``, ``meta``). We
look that file up beside the package the report names, and use it only when its layers
match the report's, so a plan re-written since the run is never attributed to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrx_sdk.errors import WrxError
from wrx_sdk.formats import strict_json
from wrx_sdk.formats.plan import Plan
from wrx_sdk.formats.schema import INT, NUM, TIME, check

REPORT_VERSIONS = (1,)
# What the report pages read (formats/schema.py): a report that lacks one, or has it of
# another type, is a user error naming the field, not a KeyError while drawing a figure.
_LAYERS = ({"layer": INT, "shards": (INT,), "bits": (INT,)},)
# One traced layer (wrx-loader --trace-rows): the timeline figure draws these.
_TRACE = (
    {
        "layer": INT,
        "io_start_ms": TIME,
        "io_end_ms": TIME,
        "decode_ms": NUM,
        "compute_start_ms": TIME,
        "compute_end_ms": TIME,
        "stall_ms": NUM,
        "?compute_ms": NUM,
        "?bytes": INT,
        "?requests": INT,
        "?chunks": INT,
    },
)
REPORT_SCHEMA = {
    "mode": str,
    "plan_name": str,
    "plan": {"layers": _LAYERS, "?preload": ((INT,),)},
    "device": {},
    "build": {},
    "package": {"?layers": INT, "?shards_per_layer": INT, "?max_seq_len": INT, "?root": str},
    "io": {"?bandwidth_cap_mbps": NUM, "?mode": str},
    "memory": {"peak_rss_kb": NUM, "weight_bytes_peak": NUM},
    "summary": {"n": INT, "latency_ms": {"p50": NUM}, "?accuracy": NUM},
    "inferences": (
        {
            "latency_ms": NUM,
            "?stall_ms": NUM,
            "?embed_io_ms": NUM,
            "?embed_stall_ms": NUM,
            "?head_stall_ms": NUM,
            "?length": INT,
            "?pred": INT,
            "?label": INT,
            "?layers": _TRACE,
        },
    ),
}
HINT_RUN = "wrx run OUT --plan NAME writes one under OUT/reports/<device>/"
HINT_REPORT = f"pass reports written by wrx-loader (docs/FORMAT.md, 'Report'); {HINT_RUN}"


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
        return float(t) if isinstance(t, (int, float)) else None

    @property
    def traced(self) -> list[dict[str, Any]]:
        return [i for i in self.report["inferences"] if i.get("layers")]


def read_report(path: str | Path) -> dict[str, Any]:
    """A successful loader report, or a WrxError naming the file and the field at fault."""
    p = Path(path)
    try:
        d = strict_json.loads(p.read_bytes())
    except FileNotFoundError:
        raise WrxError(f"report {p} does not exist", hint=HINT_RUN, code="MISSING_FILE") from None
    except OSError as e:
        raise WrxError(f"report {p}: cannot read ({e.strerror})", hint=HINT_RUN, code="IO") from None
    except strict_json.StrictJSONError as e:
        raise WrxError(
            f"{p}: not JSON ({e})", hint=f"a killed run leaves no report; {HINT_RUN}", code="BAD_DATA"
        ) from None
    if not isinstance(d, dict) or d.get("format") != "wrx-report":
        raise WrxError(f"{p}: field 'format' is not \"wrx-report\"", hint=HINT_RUN, code="BAD_DATA")
    if d.get("format_version") not in REPORT_VERSIONS:
        raise WrxError(
            f"{p}: field 'format_version' is {d.get('format_version')!r}; this wrx reads "
            f"{', '.join(map(str, REPORT_VERSIONS))}",
            hint="re-run the plan with this version's loader (scripts/setup.sh rebuilds it)",
            code="UNSUPPORTED_VERSION",
        )
    if d.get("ok") is not True:
        err = d["error"] if isinstance(d.get("error"), dict) else {}
        raise WrxError(
            f"{p}: field ok is not true: a failed run "
            f"({err.get('code', '?')}: {err.get('message', 'no message')})",
            hint="leave failed runs out of the report, or fix and re-run them",
            code="BAD_DATA",
        )
    check(d, REPORT_SCHEMA, "", p, HINT_REPORT)
    if not isinstance(d["mode"], str) or not isinstance(d["plan_name"], str):
        raise WrxError(f"{p}: fields mode and plan_name must be strings", hint=HINT_RUN, code="BAD_DATA")
    if not d["inferences"]:
        raise WrxError(
            f"{p}: field 'inferences' is empty (a run over zero rows)", hint=HINT_RUN, code="BAD_DATA"
        )
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
        plan = Plan.load(f)
    except WrxError:
        return {}  # no plan file, or not one: the run is labelled from its report alone
    same = [(lp.layer, lp.shards, lp.bits) for lp in plan.layers] == [
        (lp["layer"], lp["shards"], lp["bits"]) for lp in report["plan"]["layers"]
    ]
    return plan.meta if same else {}


def label_run(path: Path, report: dict[str, Any]) -> Run:
    meta = _plan_meta(report)
    bits = uniform_bits(report)
    mode = report["mode"]
    planner = meta.get("planner")
    numbers = all(isinstance(meta.get(k), (int, float)) for k in ("target_ms", "memory_mb"))
    if mode == "elastic" and planner in ("wrx", "sti") and numbers:
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
