"""The report's figures, drawn with matplotlib and returned as PNG bytes.

Figures are rendered with the Agg backend at a fixed dpi so their pixel size is known in
advance: the HTML page states it, and the browser test checks the decoded images match.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from wrx_sdk.config import defaults  # noqa: E402
from wrx_sdk.reports.load import Run, fp32_reference  # noqa: E402

COLORS = {"io": "#4C78A8", "decode": "#F58518", "compute": "#54A24B", "stall": "#E45756"}
KIND_COLORS = {"wrx": "#1f77b4", "sti": "#ff7f0e", "elastic": "#9467bd", "baseline": "#7f7f7f"}
MB = 1 << 20


@dataclass
class Figure:
    name: str
    title: str
    caption: str
    png: bytes
    width: int
    height: int


def _cfg() -> dict:
    return defaults("report")


def _png(name: str, title: str, caption: str, fig: plt.Figure) -> Figure:
    dpi = int(_cfg()["dpi"])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)  # no bbox_inches="tight": the size stays as set
    w, h = (int(round(v * dpi)) for v in fig.get_size_inches())
    plt.close(fig)
    return Figure(name, title, caption, buf.getvalue(), w, h)


def _new(height_in: float, ncols: int = 1, nrows: int = 1, **kw) -> tuple[plt.Figure, np.ndarray]:
    fig, axes = plt.subplots(nrows, ncols, figsize=(float(_cfg()["width_in"]), height_in), **kw)
    return fig, np.atleast_1d(axes)


def timeline_run(runs: list[Run]) -> Run | None:
    """The run whose timeline is drawn: a planned elastic run if there is one, since that is
    the pipeline the report is about (the loosest target: the most layers to show); else
    the first run with traced layers."""
    traced = [r for r in runs if r.traced]
    traced.sort(key=lambda r: ({"wrx": 0, "sti": 1, "elastic": 2}.get(r.kind, 3), -(r.target_ms or 0)))
    return traced[0] if traced else None


def timeline(runs: list[Run]) -> Figure | None:
    run = timeline_run(runs)
    if run is None:
        return None
    traced = run.traced
    med = float(np.median([i["latency_ms"] for i in run.report["inferences"]]))
    inf = min(traced, key=lambda i: abs(i["latency_ms"] - med))  # the most typical traced row
    layers = inf["layers"]
    fig, (ax,) = _new(float(_cfg()["timeline_height_in"]))
    names = ["embed"] + [f"L{lt['layer']}" for lt in layers] + ["head"]
    y = {n: len(names) - 1 - k for k, n in enumerate(names)}
    h = 0.26

    def bar(row: str, lane: int, start: float, width: float, key: str, **kw) -> None:
        if width > 0 and start >= 0:
            ax.barh(y[row] + lane * 0.28, width, left=start, height=h, color=COLORS[key], **kw)

    bar("embed", 1, 0.0, inf.get("embed_io_ms", 0), "io")
    bar("embed", -1, 0.0, inf.get("embed_stall_ms", 0), "stall")  # compute waits for the word rows
    interleaved = run.mode == "elastic"
    for lt in layers:
        row = f"L{lt['layer']}"
        if lt["io_start_ms"] >= 0:
            bar(row, 1, lt["io_start_ms"], lt["io_end_ms"] - lt["io_start_ms"], "io")
        if interleaved:  # decoded chunk by chunk inside the compute span: show the total there
            bar(row, 0, lt["compute_start_ms"], lt["decode_ms"], "decode", hatch="//", edgecolor="white")
        elif lt["io_end_ms"] >= 0:
            bar(row, 0, lt["io_end_ms"], lt["decode_ms"], "decode")
        bar(row, -1, lt["compute_start_ms"], lt["compute_end_ms"] - lt["compute_start_ms"], "compute")
        bar(row, -1, lt["compute_start_ms"] - lt["stall_ms"], lt["stall_ms"], "stall")
    end_layers = layers[-1]["compute_end_ms"] if layers else 0.0
    head_stall = inf.get("head_stall_ms", 0)
    bar("head", -1, end_layers, head_stall, "stall")
    bar("head", -1, end_layers + head_stall, inf["latency_ms"] - end_layers - head_stall, "compute")
    ax.set_yticks(list(y.values()), list(y.keys()))
    ax.set_xlabel("ms since the inference started")
    ax.set_xlim(0, inf["latency_ms"] * 1.02)
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=COLORS[k], label=k) for k in ("io", "decode", "compute", "stall")]
    if interleaved:
        handles[1] = Patch(
            facecolor=COLORS["decode"],
            hatch="//",
            edgecolor="white",
            label="decode (per chunk, inside compute)",
        )
    ax.legend(handles=handles, loc="lower right", fontsize=8, ncol=4)
    stall = inf["stall_ms"]
    ax.set_title(
        f"{run.label} [{run.mode}]: one inference, {inf['latency_ms']:.2f} ms, stalled {stall:.2f} ms",
        fontsize=10,
    )
    fig.tight_layout()
    caption = (
        f"Per layer: IO (top), decode (middle), compute (bottom); red is time the compute thread waited "
        f"for weights. The traced row closest to the run's median latency ({med:.2f} ms)."
    )
    return _png("timeline", "Pipeline timeline", caption, fig)


def latency(runs: list[Run]) -> Figure:
    order = sorted(runs, key=lambda r: r.summary["latency_ms"]["p50"])
    fig, (ax,) = _new(1.0 + float(_cfg()["row_height_in"]) * len(order))
    data = [[i["latency_ms"] for i in r.report["inferences"]] for r in order]
    bp = ax.boxplot(
        data, orientation="horizontal", whis=(5, 95), showfliers=False, patch_artist=True, widths=0.6
    )
    for patch, r in zip(bp["boxes"], order, strict=True):
        patch.set_facecolor(KIND_COLORS[r.kind])
        patch.set_alpha(0.6)
    for k, r in enumerate(order, start=1):
        if r.target_ms:
            ax.plot([r.target_ms] * 2, [k - 0.4, k + 0.4], color="#d62728", lw=2)
    ax.set_yticks(range(1, len(order) + 1), [f"{r.label} ({r.summary['n']} rows)" for r in order], fontsize=8)
    ax.set_xlabel("latency per inference, ms (box: quartiles; whiskers: 5th-95th percentile; red: target T)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png("latency", "Latency distribution", "Every row of each run, sorted by median.", fig)


def accuracy_vs_target(runs: list[Run]) -> Figure | None:
    planned = [r for r in runs if r.kind in ("wrx", "sti") and r.target_ms]
    base = [r for r in runs if r.kind in ("baseline", "elastic")]
    if len(runs) < 2 or not (planned or base):
        return None
    fig, (ax,) = _new(4.0)
    for kind in ("wrx", "sti"):
        pts = sorted(
            (r.target_ms, r.summary["accuracy"] * 100, r.summary["latency_ms"]["p50"])
            for r in planned
            if r.kind == kind
        )
        if pts:
            t, a, p50 = zip(*pts, strict=True)
            ax.plot(t, a, "o-", color=KIND_COLORS[kind], label=f"elastic, {kind} planner (at its target T)")
            ax.plot(p50, a, "x", color=KIND_COLORS[kind], alpha=0.6, label=f"{kind}: measured p50")
    markers = "sD^v<>phH*"
    for k, r in enumerate(base):
        ax.plot(
            r.summary["latency_ms"]["p50"],
            r.summary["accuracy"] * 100,
            markers[k % len(markers)],
            color=KIND_COLORS[r.kind],
            ms=8,
            label=f"{r.label} (at its p50)",
        )
    ref = fp32_reference(runs)
    if ref:
        ax.axhline(ref.summary["accuracy"] * 100, ls=":", color="black", label="fp32 accuracy")
    ax.set_xlabel("latency, ms: target T for planned runs, measured p50 for the rest")
    ax.set_ylabel("dev accuracy, %")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    caption = (
        "Higher and further left is better. Planned runs sit at their target; x marks what they measured."
    )
    return _png("accuracy", "Accuracy against target latency", caption, fig)


def memory(runs: list[Run]) -> Figure:
    fig, axes = _new(1.0 + float(_cfg()["row_height_in"]) * len(runs), ncols=2, sharey=True)
    y = np.arange(len(runs))[::-1]
    rss = [r.report["memory"]["peak_rss_kb"] / 1024 for r in runs]
    wts = [r.report["memory"]["weight_bytes_peak"] / MB for r in runs]
    colors = [KIND_COLORS[r.kind] for r in runs]
    for ax, vals, title in ((axes[0], rss, "peak RSS, MB"), (axes[1], wts, "weight bytes held at peak, MB")):
        ax.barh(y, vals, color=colors, alpha=0.8)
        for yy, v in zip(y, vals, strict=True):
            ax.text(v, yy, f" {v:.1f}" if v >= 10 else f" {v:.2f}", va="center", fontsize=7)
        ax.set_xlabel(title)
        ax.set_xlim(0, max(vals) * 1.2 if vals else 1)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [f"{r.label}" for r in runs], fontsize=8)
    fig.tight_layout()
    caption = (
        "Peak RSS is the whole process (runtime, programs, activations); weights are what the plan holds."
    )
    return _png("memory", "Memory per run", caption, fig)


def plans(runs: list[Run]) -> Figure | None:
    cfg = _cfg()
    seen, chosen = set(), []
    for r in runs:
        if r.mode != "elastic":
            continue
        key = r.report["plan_name"]
        if key not in seen:
            seen.add(key)
            chosen.append(r)
    chosen = chosen[: int(cfg["heatmaps_max"])]
    if not chosen:
        return None
    pkg = chosen[0].report["package"]
    n_layers, n_shards = int(pkg["layers"]), int(pkg["shards_per_layer"])
    all_bits = sorted({b for r in chosen for lp in r.report["plan"]["layers"] for b in lp["bits"]})
    ncols = min(int(cfg["heatmap_cols"]), len(chosen))
    nrows = -(-len(chosen) // ncols)
    fig, axes = _new(0.6 + 2.3 * nrows, ncols=ncols, nrows=nrows, squeeze=False)
    cmap = plt.get_cmap("viridis", max(len(all_bits), 2))
    for ax in axes.flat[len(chosen) :]:
        ax.axis("off")
    for ax, r in zip(axes.flat, chosen, strict=False):  # spare axes stay blank
        grid = np.full((n_layers, n_shards), np.nan)
        for lp in r.report["plan"]["layers"]:
            for s, b in zip(lp["shards"], lp["bits"], strict=True):
                grid[lp["layer"], s] = all_bits.index(b)
        ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=max(len(all_bits), 2) - 0.5, aspect="auto")
        for layer, shard in r.report["plan"].get("preload", []):
            ax.text(shard, layer, "P", ha="center", va="center", color="white", fontsize=7, weight="bold")
        ax.set_title(r.label, fontsize=8)
        ax.set_xticks(range(n_shards), [str(s) for s in range(n_shards)], fontsize=6)
        ax.set_yticks(range(n_layers), [f"L{k}" for k in range(n_layers)], fontsize=6)
        ax.set_xlabel("shard", fontsize=7)
    handles = [Patch(color=cmap(k), label=f"{b} bits" if b != 32 else "fp32") for k, b in enumerate(all_bits)]
    handles.append(Patch(facecolor="white", edgecolor="gray", label="dropped"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, title="P = preloaded")
    fig.tight_layout(rect=(0, 0.12 / nrows, 1, 1))
    caption = (
        "Each elastic plan: bitwidth per (layer, shard); blank shards are dropped, P marks preloaded ones."
    )
    return _png("plans", "Plans: layer x shard bitwidths", caption, fig)


def all_figures(runs: list[Run]) -> list[Figure]:
    figs = [timeline(runs), latency(runs), accuracy_vs_target(runs), memory(runs), plans(runs)]
    return [f for f in figs if f is not None]
