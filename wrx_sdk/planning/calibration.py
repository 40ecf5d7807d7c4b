"""``wrx profile-device``: measure a device for the planner and keep the result as YAML.

The raw measurements come from ``wrx-loader --profile`` run on the device itself
(``wrx_sdk.measure.device_profile``); this module then runs the real pipeline on a set of
calibration plans and fits what isolated timings miss (docs/PLANNER.md, "Calibration").
The compute timings are for the package's programs and geometry, so a profile belongs to a
package: OUT/profiles/<device>.yaml.
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path

import numpy as np

from wrx_sdk.config import defaults
from wrx_sdk.devices import get_device
from wrx_sdk.errors import WrxError
from wrx_sdk.formats.device_profile import write_profile
from wrx_sdk.formats.manifest import open_package
from wrx_sdk.formats.plan import Knobs, Plan
from wrx_sdk.measure.device_profile import measure_device
from wrx_sdk.planning.cost_model import CostModel, Terms


def profile_device(
    out: str | Path,
    device: str = "local",
    io_bandwidth: float = 0.0,
    threads: int = 2,
    key: str | None = None,
    remote_dir: str | None = None,
    dest: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """``wrx profile-device``: measure the device, calibrate the cost model on its real
    pipeline, and keep both as OUT/profiles/<device>.yaml (or ``dest``)."""
    out = Path(out)
    dev = get_device(device, key=key, remote_dir=remote_dir)
    rep = measure_device(out, dev, threads, io_bandwidth)
    rep["calibration"] = _calibrate(out, rep, dev, threads, io_bandwidth, progress)
    path = Path(dest) if dest else out / "profiles" / f"{dev.name}.yaml"
    write_profile(path, rep)
    return path


CALIBRATION_VERSION = 8  # bumped when the calibration's method changes; wrx demo re-profiles
CALIBRATION_SKIP = 5  # warm-up rows of each calibration run, not measured
CALIBRATION_PASSES = 3  # fit, re-simulate the overlaps with the fitted terms, refit


def reference_plan(layers: int, M: int) -> tuple[Plan, dict]:
    """The ``resident`` calibration plan and its knobs: every shard preloaded at 4 bits, so
    it streams nothing but the word rows and its latency is compute and fixed costs alone,
    which the fit predicts closely. A benchmark runs it beside the plans it checks: its
    measured / predicted tells the machine's drift since the profile from a model error."""
    return Plan.uniform(layers, M, 4, layers), {"readahead_kb": 1024, "chunk_kb": 800, "head_resident": True}


def _calibration_plans(cm, layers: int, M: int, bits: tuple[int, ...]) -> dict[str, tuple[Plan, dict]]:
    """``resident`` streams nothing but the word rows: compute alone, and the fixed costs.
    ``contiguous`` streams the back half of the layers, one request per half.
    ``narrow-streamed`` reads one small request per half; ``io-bound`` reads four larger
    ones per half with the smallest read-ahead, so compute mostly waits for them. The
    ``mixed-k`` plans look like what the planners write: per layer a random width at
    random low bitwidths, the first layers preloaded, knobs from the planner's sets, and,
    like a plan made for a latency target, compute-bound: of ``calibration_candidates``
    random plans, the ones the isolated-timing simulation (``cm``, uncalibrated) says
    stall least for their compute. The spread in streamed bytes, requests and overlap is
    what the fit separates (a fixed seed, so a profile is reproducible)."""
    cfg = defaults("planner")
    rng = np.random.default_rng(int(cfg["calibration_seed"]))
    knobs = reference_plan(layers, M)[1]
    narrow = Plan.uniform(layers, M, 4, layers)
    for lp in narrow.layers:
        lp.shards, lp.bits = lp.shards[: max(1, M // 6)], lp.bits[: max(1, M // 6)]
    narrow.preload = [(lp.layer, j) for lp in narrow.layers for j in lp.shards]
    streamed = copy.deepcopy(narrow)
    streamed.preload = []
    wide = max(b for b in bits if b <= 6)
    spread = Plan.uniform(layers, M, wide, 0)
    for lp in spread.layers:
        lp.shards = lp.shards[:: max(1, M // 4)]  # not adjacent in the store: a request each
        lp.bits = [wide] * len(lp.shards)
    io_knobs = {"readahead_kb": min(cfg["readahead_kb"]), "chunk_kb": min(cfg["chunk_kb"])}
    io_knobs["head_resident"] = False
    out = {  # contiguous: many streamed bytes in few requests, to tell the two costs apart
        "resident": reference_plan(layers, M),
        "narrow": (narrow, knobs),  # little compute per half: what each half costs on top
        "contiguous": (Plan.uniform(layers, M, 4, max(1, layers // 2)), knobs),
        "narrow-streamed": (streamed, knobs),  # a small request per half, little compute
        "io-bound": (spread, io_knobs),  # compute waits for the reads: their cost to it is low
    }
    choices = [b for b in bits if b <= 6]  # the bitwidths planned plans mostly use
    cands = []
    for _ in range(int(cfg["calibration_candidates"])):
        plan = Plan.uniform(layers, M, 4, 0)
        for lp in plan.layers:
            w = int(rng.integers(max(1, M // 2), M + 1))
            lp.shards = sorted(int(j) for j in rng.choice(M, w, replace=False))
            lp.bits = [int(rng.choice(choices)) for _ in lp.shards]
        pre = int(rng.integers(1, max(2, layers - 1)))
        plan.preload = [(lp.layer, j) for lp in plan.layers[:pre] for j in lp.shards]
        knobs = {
            "readahead_kb": int(rng.choice(cfg["readahead_kb"])),
            "chunk_kb": int(rng.choice(cfg["chunk_kb"])),
            "head_resident": bool(rng.integers(0, 2)),
            "head_bits": int(rng.choice(cm.head_bits)),
        }
        p = cm.predict(plan, Knobs(**knobs))
        if cm.requests(plan):
            cands.append(((p.stall_ms - cm.words_ms) / p.compute_ms, len(cands), plan, knobs))
    # the least stalled first: planned plans are compute-bound
    for k, (_, _, plan, knobs) in enumerate(sorted(cands)[: int(cfg["calibration_plans"])]):
        out[f"mixed-{k}"] = (plan, knobs)
    # Every plan once per lane count: the terms are fitted per lane count.
    return {
        f"{name}-l{lanes}": (copy.deepcopy(plan), {**knobs, "lanes": lanes})
        for lanes in range(1, cm.max_lanes + 1)
        for name, (plan, knobs) in out.items()
    }


def _run_calibration(
    out: Path,
    dev,
    name: str,
    plan: Plan,
    knobs: dict,
    threads: int,
    io_bandwidth: float,
    rows: int,
    padded: bool = True,
) -> list[dict]:
    """The run's inferences after the warm-up rows: every row padded to max_seq_len, or
    (padded=False) each at its own length."""
    plan.name, plan.pipeline = f"calibrate-{name}", knobs
    path = plan.save(out / "plans" / f"_{plan.name}.json")
    args = [
        *(["--pad-to-max"] if padded else []),
        "--mode",
        "elastic",
        "--plan",
        str(path),
        "--limit",
        str(rows),
        "--threads",
        str(threads),
    ]
    if io_bandwidth:
        args += ["--io-bandwidth", str(io_bandwidth)]
    res = dev.run_loader(out, args, progress=False)
    if res.returncode != 0 or not res.report.get("ok"):
        raise WrxError(
            f"calibration run {plan.name} failed on {dev.name}", hint="see the loader output above"
        )
    return res.report["inferences"][CALIBRATION_SKIP:]


def _medians(rows: list[dict]) -> dict:
    med = {k: float(np.median([r[k] for r in rows])) for k in ("latency_ms", "compute_ms", "stall_ms")}
    med["embed_stall_ms"] = float(np.median([r["embed_stall_ms"] for r in rows]))
    med["other_ms"] = float(np.median([r["latency_ms"] - r["compute_ms"] - r["stall_ms"] for r in rows]))
    return med


def short_length(pkg, lengths: np.ndarray, rows: int) -> int | None:
    """The length the own-length calibration runs are fitted at: the median length of the
    calib rows they measure. A run's median latency is the latency of its median-length
    row, since latency grows with length (a median commutes with a monotone function), so
    the cost model at this length is the one to compare the medians with. None where the
    programs take one length only, or the rows are all as long as the programs' maximum."""
    if pkg.min_seq_len >= pkg.max_seq_len:
        return None
    n = int(round(float(np.median(lengths[CALIBRATION_SKIP:rows]))))
    n = max(n, pkg.min_seq_len)
    return n if n < pkg.max_seq_len else None


def _calibrate(out: Path, rep: dict, dev, threads: int, io_bandwidth: float, progress: bool) -> dict:
    """Run the real pipeline on the calibration plans and fit what isolated timings miss
    (docs/PLANNER.md, "Calibration"), per lane count: the compute scale inside the
    pipeline, the fixed per-inference cost, the word-row reads' extra wait, the compute
    cost of each streamed MB and request, and the IO thread's cost of each request.

    Each plan runs twice per round: padded to max_seq_len (``lanes``: the terms of the
    longest query, the one every plan must meet T for), and with every row at its own
    length (``short``: the terms at the rows' median length). Part of what the terms hold
    shrinks with the length (per-call work on activations), so the cost model takes each
    term on the line through the two fits (``CostModel``, ``terms_at``)."""
    cal: dict = {"version": CALIBRATION_VERSION, "lanes": {}}
    with open_package(out) as pkg:
        g, M = pkg.geometry, pkg.spec.shards_per_layer
        cm = CostModel(pkg, {**rep, "calibration": {}})
        plans = _calibration_plans(cm, g.layers, M, pkg.scheme.all_bits)
        # Rounds interleave the plans, so a slow minute on a shared device lands on every
        # plan a little rather than on one plan a lot; each plan's rows are pooled.
        cfg = defaults("planner")
        rounds, rows = int(cfg["calibration_rounds"]), int(cfg["calibration_rows"])
        if rounds < 1:
            raise WrxError(
                f"configs/wrx.yaml: field planner.calibration_rounds is {rounds}, it must be at least 1",
                hint="set it to 4 (the default) and re-run wrx profile-device",
            )
        if rows <= CALIBRATION_SKIP:
            raise WrxError(
                f"configs/wrx.yaml: field planner.calibration_rows is {rows}, it must be more than "
                f"the {CALIBRATION_SKIP} warm-up rows",
                hint="set it to 60 (the default) and re-run wrx profile-device",
            )
        lengths = pkg.read_data("calib")[0].lengths  # the calib rows' token counts
        n_calib = len(lengths)
        if n_calib <= CALIBRATION_SKIP:
            raise WrxError(
                f"{out}/data/calib.bin: the calib split has {n_calib} rows; calibrating the cost model "
                f"measures rows after the first {CALIBRATION_SKIP} (warm-up), so it needs more",
                hint="package a task with a larger calib split (the built-in tasks have hundreds of rows)",
                code="BAD_DATA",
            )
        short = short_length(pkg, lengths, rows)
        ways = (True, False) if short else (True,)  # padded, own length
        pooled: dict[tuple[str, bool], list] = {(k, w): [] for k in plans for w in ways}
        total, n = rounds * len(plans) * len(ways), 0
        for _ in range(rounds):
            for k, (p, kn) in plans.items():
                for padded in ways:
                    n += 1
                    if progress:
                        how = "padded" if padded else "own length"
                        print(f"\r  calibration run {n}/{total}: {k}, {how}   ", end="", flush=True)
                    pooled[(k, padded)] += _run_calibration(
                        out, dev, k, p, kn, threads, io_bandwidth, rows, padded
                    )
        if progress:
            print()
        cal["lanes"], cal["runs"] = _fit(cm, plans, pooled, padded=True)
        if short:
            cm_short = CostModel(pkg, {**rep, "calibration": {}}, length=short)
            lanes, runs = _fit(cm_short, plans, pooled, padded=False)
            cal["short"] = {"length": short, "lanes": lanes, "runs": runs}
    if progress:
        fits = [("max_seq_len", cal["lanes"])]
        if "short" in cal:
            fits.append((f"{cal['short']['length']} tokens", cal["short"]["lanes"]))
        for at, terms in fits:
            for lanes, t in terms.items():
                print(
                    f"  calibration at {at}, {lanes} lane(s): compute x{t['compute_scale']:.3f}, fixed "
                    f"{t['fixed_ms']:.3f} ms, word rows +{t['words_extra_ms']:.3f} ms; compute "
                    f"+{t['half_ms']:.3f} ms per layer half, "
                    f"+{t['mb_compute_ms']:.3f} ms per streamed MB and +{t['request_compute_ms']:.4f} "
                    f"ms per request; IO +{t['request_io_ms']:.4f} ms per request"
                )
    return cal


def _fit(cm: CostModel, plans: dict, pooled: dict, padded: bool) -> tuple[dict, list]:
    """The terms per lane count fitted on one length's runs, and each run's record."""
    meas = {k: (p, _medians(pooled[(k, padded)])) for k, (p, _) in plans.items()}
    terms = {}
    for lanes in range(1, cm.max_lanes + 1):
        mine = [v for v in meas.values() if v[0].pipeline["lanes"] == lanes]
        terms[lanes] = asdict(fit_terms(cm, mine))
    runs = []
    for plan, m in meas.values():
        pred = cm.predict(plan, Knobs(**plan.pipeline))
        runs.append(
            {
                "plan": plan.name,
                **{k: round(v, 4) for k, v in m.items()},
                "predicted_latency_ms": round(float(pred.latency_ms), 4),
            }
        )
    return terms, runs


def fit_terms(cm: CostModel, runs: list[tuple[Plan, dict]]) -> Terms:
    """One lane count's calibration terms from its runs: (plan, the run's medians) each.
    The terms are also installed in ``cm``, whose simulation the fit iterates on."""
    t = Terms()
    # Every run pays the fixed costs and reads word rows: the median over the runs is
    # steadier than one run's.
    other = [m["other_ms"] - cm.embed_ms - cm.head_ms(p.head_bits) for p, m in runs]
    t.fixed_ms = max(0.0, float(np.median(other)))
    t.words_extra_ms = max(0.0, float(np.median([m["embed_stall_ms"] for _, m in runs])) - cm.words_ms)
    lanes = runs[0][0].pipeline["lanes"]
    cm.terms[lanes] = t
    # Layer compute = scale x isolated sum + h x halves + a x streamed MB + b x requests,
    # least squares over the runs (resident and narrow pin the first two); a term fitted
    # negative is dropped. The MB and requests count as far as their reads overlap
    # compute, which depends on the terms: fit, re-simulate, refit.
    knobs = [Knobs(**p.pipeline) for p, _ in runs]
    iso = [
        cm.compute_only_ms(p, kn) - cm.embed_ms - cm.head_ms(kn.head_bits)
        for (p, _), kn in zip(runs, knobs, strict=True)
    ]
    y = np.array([m["compute_ms"] for _, m in runs])
    streaming = [(p, kn, m["stall_ms"]) for (p, m), kn in zip(runs, knobs, strict=True) if cm.requests(p)]
    # A streamed MB slows compute through the IO thread's checksum of it (and the cold
    # cache it leaves): a few times the checksum's own time at most. Where the runs stream
    # too little to pin the term (the test models stream KBs, in same-sized requests), an
    # unbounded fit hands it noise, tens of ms per MB, that a larger plan would multiply.
    mb_max = float(defaults("planner")["calibration_mb_compute_max_crc"]) / cm.crc_gbps
    upper = np.array([np.inf, np.inf, mb_max, np.inf])
    for _ in range(CALIBRATION_PASSES):
        rows = []
        for (plan, _), kn, i in zip(runs, knobs, iso, strict=True):
            pred = cm.predict(plan, kn)
            rows.append([i, 2 * len(plan.layers), pred.overlap_mb, pred.overlap_requests])
        x = np.array(rows)
        coef = _bounded_lstsq(x, y, upper)
        if coef[0] < 0.5:
            # On a model whose calls are all overhead (the test models), compute per half
            # is nearly constant and the two terms are collinear: keep the scale.
            x[:, 1] = 0.0
            coef = _bounded_lstsq(x, y, upper)
        t.compute_scale, t.half_ms, t.mb_compute_ms, t.request_compute_ms = (float(c) for c in coef)
        t.request_io_ms = _fit_request_io(cm, t, streaming)
    return t


def _bounded_lstsq(x: np.ndarray, y: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Least squares with 0 <= coefficient <= upper: a column fitted negative is dropped (a
    cost cannot be negative), one fitted over its bound is pinned there and the rest refit."""
    out = np.zeros(x.shape[1])
    keep = list(range(x.shape[1]))
    while keep:
        c, *_ = np.linalg.lstsq(x[:, keep], y - x @ out, rcond=None)
        if (c < 0).any() and len(keep) > 1:
            keep.pop(int(np.argmin(c)))
            continue
        over = c - upper[keep]
        if (over > 0).any():
            j = keep.pop(int(np.argmax(over)))
            out[j] = upper[j]
            continue
        out[keep] = np.maximum(c, 0)
        break
    return out


def _fit_request_io(cm, terms, runs: list) -> float:
    """The per-request IO delay whose simulated stalls best match the measured ones, over
    the streaming calibration runs (a grid: the stall is not linear in it)."""
    cfg = defaults("planner")
    grid = np.arange(0.0, float(cfg["calibration_request_io_max_ms"]) + 1e-9, 0.005)
    errs = []
    for x in grid:
        terms.request_io_ms = float(x)
        errs.append(sum((cm.predict(p, k).stall_ms - st) ** 2 for p, k, st in runs))
    terms.request_io_ms = float(grid[int(np.argmin(errs))])
    return terms.request_io_ms
