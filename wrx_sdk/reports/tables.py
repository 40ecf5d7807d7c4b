"""The numbers of a report as tables: one source for the HTML page and ``--format md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from wrx_sdk.reports.load import Run, fp32_reference

MB = 1 << 20

COLUMNS = (  # (key, heading)
    ("label", "run"),
    ("mode", "mode"),
    ("target", "target T ms"),
    ("p50", "p50 ms"),
    ("p90", "p90 ms"),
    ("stall", "stall %"),
    ("rss", "peak RSS MB"),
    ("weights", "weights held MB"),
    ("accuracy", "accuracy %"),
    ("delta", "vs fp32 pt"),
    ("rows", "rows"),
)


def header_facts(runs: list[Run]) -> list[tuple[str, str]]:
    """(name, value) pairs for the page header, from the first run; differences across
    runs are flagged rather than hidden."""
    r0 = runs[0].report
    dev, build, io, pkg = r0["device"], r0["build"], r0["io"], r0["package"]

    def varies(get) -> str:
        vals = {str(get(r.report)) for r in runs}
        return "" if len(vals) == 1 else f" (differs across reports: {', '.join(sorted(vals))})"

    cap = io.get("bandwidth_cap_mbps")
    if cap:
        bw = f"{cap:g} MB/s, emulated ({io.get('note', 'token-bucket read cap')})"
    else:
        bw = "none: the device's own storage speed"
    ref = fp32_reference(runs)
    facts = [
        ("device", f"{dev.get('cpu')}, {dev.get('cores')} cores, {dev.get('arch')}, {dev.get('kernel')}"),
        (
            "build",
            f"wrx-loader {build.get('loader_version')}, ExecuTorch {build.get('executorch')}, "
            f"{build.get('compiler')}, {build.get('build_type')}, {build.get('target')}",
        ),
        ("IO", f"{io.get('mode')}; bandwidth cap {bw}" + varies(lambda r: r["io"].get("bandwidth_cap_mbps"))),
        ("model", _model(pkg)),
        ("task", f"{pkg.get('task')}, split {pkg.get('split')}, up to {pkg.get('max_seq_len')} tokens"),
        (
            "fp32 accuracy",
            f"{ref.summary['accuracy'] * 100:.2f}% ({ref.label}, {ref.summary['n']} rows)"
            if ref
            else "no fp32 run among the reports: add one (wrx run OUT --mode load-all --bits 32)",
        ),
        ("threads", str(r0.get("threads")) + varies(lambda r: r.get("threads"))),
    ]
    return facts


def _model(pkg: dict[str, Any]) -> str:
    """The checkpoint path, plus family, size and provenance when the package and the
    checkpoint are still where the run left them (optional: reports travel alone)."""
    desc = f"{pkg.get('model')} ({pkg.get('layers')} layers x {pkg.get('shards_per_layer')} shards"
    try:
        m = json.loads((Path(pkg["root"]) / "manifest.json").read_text())["model"]
        desc += f", {m['family']}, {m['n_params'] / 1e6:.1f}M parameters"
        ft = json.loads((Path(pkg["model"]) / "wrx_finetune.json").read_text())
        steps = ft["hyperparameters"]["steps"]
        desc += f", fine-tuned from {Path(ft['source']).parent.name} for {steps} steps"
    except (OSError, KeyError, TypeError, ValueError):
        pass
    return desc + ")"


def summary_rows(runs: list[Run]) -> list[dict[str, Any]]:
    ref = fp32_reference(runs)
    rows = []
    for r in runs:
        s, m = r.summary, r.report["memory"]
        ref_ok = ref is not None and ref.summary["n"] == s["n"]
        rows.append(
            {
                "label": r.label,
                "mode": r.mode,
                "target": f"{r.target_ms:g}" if r.target_ms else "-",
                "p50": f"{s['latency_ms']['p50']:.2f}",
                "p90": f"{s['latency_ms']['p90']:.2f}",
                "stall": f"{s.get('stall_fraction', 0) * 100:.1f}",
                "rss": f"{m['peak_rss_kb'] / 1024:.1f}",
                "weights": f"{m['weight_bytes_peak'] / MB:.2f}",
                "accuracy": f"{s['accuracy'] * 100:.2f}",
                "delta": f"{(s['accuracy'] - ref.summary['accuracy']) * 100:+.2f}" if ref_ok else "-",
                "rows": str(s["n"]),
            }
        )
    return rows


LENGTH_COLUMNS = (  # (key, heading)
    ("label", "run"),
    ("bucket", "tokens"),
    ("rows", "rows"),
    ("p50", "p50 ms"),
    ("p90", "p90 ms"),
    ("accuracy", "accuracy %"),
)


def length_buckets(max_seq_len: int) -> list[tuple[int, int]]:
    """(first, last) token counts: up to an eighth of max_seq_len, a quarter, a half, all
    (the lengths the device profile times, docs/FORMAT.md)."""
    tops = sorted({max(1, max_seq_len // d) for d in (8, 4, 2)} | {max_seq_len})
    return [(lo + 1, hi) for lo, hi in zip([0, *tops], tops, strict=False)]


def length_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """Latency and accuracy per query-length bucket, for runs whose rows record their length
    (reports from before length-aware execution do not, and are left out)."""
    rows = []
    for r in runs:
        inf = r.report["inferences"]
        if not all(isinstance(i.get("length"), int) for i in inf):
            continue
        for lo, hi in length_buckets(int(r.report["package"]["max_seq_len"])):
            sel = [i for i in inf if lo <= i["length"] <= hi]
            if not sel:
                continue
            lat = np.array([i["latency_ms"] for i in sel])
            acc = np.mean([i["pred"] == i["label"] for i in sel])
            rows.append(
                {
                    "label": r.label,
                    "bucket": f"{lo}-{hi}",
                    "rows": str(len(sel)),
                    "p50": f"{np.percentile(lat, 50):.2f}",
                    "p90": f"{np.percentile(lat, 90):.2f}",
                    "accuracy": f"{acc * 100:.2f}",
                }
            )
    return rows


def _md_table(columns: tuple, rows: list[dict[str, Any]], text_keys: tuple[str, ...]) -> list[str]:
    lines = ["| " + " | ".join(h for _, h in columns) + " |"]
    lines.append("|" + "|".join("---" if k in text_keys else "---:" for k, _ in columns) + "|")
    lines += ["| " + " | ".join(row[k] for k, _ in columns) + " |" for row in rows]
    return lines


def markdown(runs: list[Run]) -> str:
    lines = [f"- **{k}**: {v}" for k, v in header_facts(runs)]
    lines += ["", *_md_table(COLUMNS, summary_rows(runs), ("label", "mode"))]
    by_len = length_rows(runs)
    if by_len:
        lines += ["", "By query length:", "", *_md_table(LENGTH_COLUMNS, by_len, ("label", "bucket"))]
    return "\n".join(lines) + "\n"


def short_table(runs: list[Run]) -> str:
    """A terminal-width table for the end of ``wrx demo``."""
    ref = fp32_reference(runs)
    lines = [f"{'run':<30} {'p50 ms':>7} {'T ms':>6} {'weights MB':>10} {'accuracy':>9} {'vs fp32':>8}"]
    for r in runs:
        s = r.summary
        delta = f"{(s['accuracy'] - ref.summary['accuracy']) * 100:+8.2f}" if ref else f"{'-':>8}"
        lines.append(
            f"{r.label:<30} {s['latency_ms']['p50']:7.2f} {r.target_ms or 0:6.1f} "
            f"{r.report['memory']['weight_bytes_peak'] / MB:10.2f} {s['accuracy'] * 100:8.2f}% {delta}"
        )
    return "\n".join(lines)
