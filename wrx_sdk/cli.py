"""The ``wrx`` command line. Each subcommand is a thin shell over one pipeline module."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from wrx_sdk.errors import WrxError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def cmd_finetune(a: argparse.Namespace) -> int:
    from wrx_sdk.models.finetune import finetune

    stamp = finetune(
        a.model,
        a.task,
        Path(a.output),
        steps=a.steps,
        use_cache=not a.no_cache,
        progress=not a.quiet,
    )
    print(f"wrote {a.output} (dev accuracy {stamp['dev_accuracy']:.4f})")
    return 0


def cmd_package(a: argparse.Namespace) -> int:
    from wrx_sdk.builder.package import package

    m = package(
        a.model_dir,
        a.task,
        a.output,
        shards=a.shards,
        max_seq_len=a.max_seq_len,
        progress=not a.quiet,
    )
    mb = m["store"]["file_bytes"] / 1e6
    print(
        f"packaged {m['model']['name']} for {m['task']['name']}: {a.output}/store.wrx "
        f"({mb:.1f} MB, {m['store']['n_entries']} entries) in {m['_seconds']:.1f} s"
    )
    return 0


def cmd_inspect(a: argparse.Namespace) -> int:
    from wrx_sdk.builder.describe import describe

    print(describe(Path(a.out), entries=a.entries))
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    from wrx_sdk.measure.evaluate import evaluate

    r = evaluate(a.out, bits=a.bits, plan=a.plan, split=a.split, progress=not a.json)
    if a.logits:
        import numpy as np

        np.save(a.logits, r.logits)
    if a.json:
        print(json.dumps(r.to_json()))
    else:
        print(f"{r.plan}: accuracy {r.accuracy:.4f} on {r.rows} {r.split} rows ({r.seconds:.1f} s)")
    return 0


def cmd_run(a: argparse.Namespace) -> int:
    from wrx_sdk.devices.run import run, summary

    report, kept = run(
        a.out,
        device=a.device,
        mode=a.mode,
        bits=a.bits,
        plan=a.plan,
        threads=a.threads,
        limit=a.limit,
        io_bandwidth=a.io_bandwidth,
        progress=not a.quiet,
        key=a.adb_key,
        remote_dir=a.remote_dir,
    )
    print(summary(report))
    print(f"report: {kept}")
    return 0


def cmd_deploy(a: argparse.Namespace) -> int:
    from wrx_sdk.devices.deploy import deploy

    s = deploy(a.out, a.device, remote_dir=a.remote_dir, key=a.adb_key, progress=not a.quiet)
    print(f"{a.device} ({s['abi']}): {s['bundle']}")
    if s["pushed"] == 0:
        print(
            f"{a.device}: all {s['files']} files already up to date in {s['remote_dir']}: nothing transferred"
        )
    else:
        print(
            f"{a.device} ({s['abi']}): pushed {s['pushed']} files, {s['bytes'] / 1e6:.1f} MB in "
            f"{s['seconds']} s ({s['mb_per_s']} MB/s), skipped {s['skipped']} unchanged; "
            f"verified by sha256 in {s['remote_dir']}"
        )
    return 0


def cmd_pull(a: argparse.Namespace) -> int:
    from wrx_sdk.devices.deploy import pull_reports

    got = pull_reports(Path(a.out), a.device, a.remote_dir, a.adb_key)
    for p in got:
        print(p)
    print(f"pulled {len(got)} report(s)")
    return 0


def cmd_devices(a: argparse.Namespace) -> int:
    from wrx_sdk.devices import list_devices

    for d in list_devices(a.adb_key):
        print(f"{d['device']:<28} {d['status']:<12} {d.get('detail', '')}")
    return 0


def cmd_profile(a: argparse.Namespace) -> int:
    from wrx_sdk.formats.device_profile import load_profile
    from wrx_sdk.planning.calibration import profile_device

    path = profile_device(
        a.out,
        a.device,
        io_bandwidth=a.io_bandwidth,
        threads=a.threads,
        key=a.adb_key,
        remote_dir=a.remote_dir,
        dest=a.output,
    )
    p = load_profile(path)
    reads = p["io"]["read_mbps_by_request_bytes"]
    big = reads[max(reads, key=int)]
    print(
        f"{a.device}: {p['device']['cpu']}, {p['device']['cores']} cores; reads {big:.0f} MB/s at "
        f"{int(max(reads, key=int)) >> 10} KiB requests ({p['io']['mode']}); whole layer "
        f"{p['compute_ms_by_shards']['layer'][-1]:.2f} ms at {p['shards_per_layer']} shards"
    )
    print(f"profile: {path}")
    return 0


def cmd_importance(a: argparse.Namespace) -> int:
    import numpy as np

    from wrx_sdk.measure.importance import importance

    r = importance(
        a.out,
        samples=a.samples,
        workers=a.workers,
        progress=not a.quiet,
        use_cache=not a.no_cache,
        ray_address=a.ray,
    )
    imp = np.array(r["importance"])  # [layer, shard, fidelity, metric]
    print(f"importance on {r['samples']} calibration rows; mean KL from fp32 when one shard changes:")
    print("layer " + " ".join(f"{('drop' if f == 0 else f'{f}-bit'):>9}" for f in r["fidelities"]))
    for layer in range(imp.shape[0]):
        print(f"{layer:>5} " + " ".join(f"{imp[layer, :, k, 1].mean():9.2e}" for k in range(imp.shape[2])))
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    from wrx_sdk.planning.planner import make_plan

    plan, path = make_plan(
        a.out,
        a.target_ms,
        a.memory_mb,
        profile=a.profile,
        planner=a.planner,
        name=a.name,
        samples=a.samples,
        progress=not a.quiet,
        headroom=a.headroom,
        length_percentile=a.length_percentile,
    )
    p = plan.meta["predicted"]
    shards = sum(len(lp.shards) for lp in plan.layers)
    print(
        f"{plan.name} ({a.planner}): {len(plan.layers)} layers, {shards} shards, "
        f"{len(plan.preload)} preloaded; "
        f"predicted {p['latency_ms']:.2f} ms (T {a.target_ms:g}, planned for "
        f"{plan.meta['budget_ms']:g} with {plan.meta['latency_headroom']:.0%} headroom), memory "
        f"{p['memory_bytes']['total'] / (1 << 20):.2f} MB (M {a.memory_mb:g}), weights "
        f"{p['weight_bytes'] / (1 << 20):.2f} MB; calib accuracy {p['calib_accuracy'] * 100:.2f}%"
    )
    for n, layers in plan.by_length:
        q = plan.meta["predicted_by_length"][str(n)]
        shards = sum(len(lp.shards) for lp in layers)
        print(
            f"  queries of <= {n} tokens: {len(layers)} layers, {shards} shards, "
            f"predicted {q['latency_ms']:.2f} ms"
        )
    print(
        f"  planned for queries of {plan.meta['planned_length']} tokens "
        "(longer ones run the top-level layers)"
    )
    print(f"plan: {path}\nrun it: wrx run {a.out} --plan {plan.name} --io-bandwidth CAP (the profile's cap)")
    return 0


def cmd_query(a: argparse.Namespace) -> int:
    from wrx_sdk.devices.query import DEFAULT_PLAN, describe, open_query, queries

    if a.pair is not None and a.text is None:
        raise WrxError("--pair needs the query text", hint='wrx query OUT "text" --pair "second text"')
    with open_query(
        a.out,
        a.device,
        plan=a.plan,
        threads=a.threads,
        io_bandwidth=a.io_bandwidth,
        key=a.adb_key,
        remote_dir=a.remote_dir,
    ) as session:
        plan = session.ready["plan"]
        if not a.json:
            note = " (the default; choose one with --plan)" if a.plan is None and plan == DEFAULT_PLAN else ""
            print(f"plan: {plan}{note}", file=sys.stderr)

        def show(answer: dict) -> None:
            if a.json:
                print(json.dumps({**answer, "plan": plan}, ensure_ascii=False), flush=True)
            else:
                print(describe(answer), flush=True)

        if a.text is not None:
            answer = session.ask(a.text, a.pair)
            show(answer)
            return 0 if answer.get("ok") else 2
        failed = 0
        for q in queries(sys.stdin):
            if isinstance(q, WrxError):
                err = {"code": "INVALID_ARGUMENT", "message": q.message, "hint": q.hint, "user_error": True}
                show({"ok": False, "error": err})
                failed += 1
                continue
            answer = session.ask(*q)
            failed += not answer.get("ok")
            show(answer)
        return 0 if failed == 0 else 2


def cmd_report(a: argparse.Namespace) -> int:
    from wrx_sdk.reports import write_html, write_markdown

    if a.format == "md":
        print(write_markdown(a.reports), end="")
        return 0
    path = write_html(a.reports, a.output, title=a.title)
    print(f"report: {path.resolve()}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from wrx_sdk.demo import demo

    demo(Path(a.workdir), steps=a.steps, model=a.model)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wrx", description="WRX: elastic on-device NLP inference SDK")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = sub.add_parser("finetune", help="fine-tune a model into a classifier (cached)")
    s.add_argument("model", help="checkpoint directory or built-in name (minilm-l6, mpnet-base)")
    s.add_argument("--task", required=True, help="built-in task or CSV/JSONL file")
    s.add_argument("-o", "--output", required=True, help="output checkpoint directory")
    s.add_argument("--steps", type=int, default=None, help="training steps (configs/wrx.yaml)")
    s.add_argument("--no-cache", action="store_true", help="retrain even if cached")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(fn=cmd_finetune)

    s = sub.add_parser("package", help="shard, quantize and write store + manifest + data")
    s.add_argument("model_dir", help="fine-tuned checkpoint directory (wrx finetune)")
    s.add_argument("--task", required=True)
    s.add_argument("-o", "--output", required=True, help="package directory OUT")
    s.add_argument("--shards", type=int, default=None, help="shards per layer (default: heads)")
    s.add_argument("--max-seq-len", type=int, default=None)
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(fn=cmd_package)

    s = sub.add_parser("inspect", help="print a package's manifest readably")
    s.add_argument("out")
    s.add_argument("--entries", action="store_true", help="list every store entry")
    s.set_defaults(fn=cmd_inspect)

    s = sub.add_parser("eval", help="dev accuracy of a plan on the host reference executor")
    s.add_argument("out")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--bits", type=int, help="uniform bitwidth (2,3,4,5,6,8 or 32)")
    g.add_argument("--plan", help="plan JSON file")
    s.add_argument("--split", default="dev", choices=["dev", "calib"])
    s.add_argument("--json", action="store_true", help="print a JSON object with predictions")
    s.add_argument("--logits", help="save logits to this .npy file")
    s.set_defaults(fn=cmd_eval)

    s = sub.add_parser("run", help="run a plan with wrx-loader on a device")
    s.add_argument("out", help="package directory")
    s.add_argument("--device", default="local", help="device (default: local)")
    s.add_argument("--mode", default="elastic", choices=["elastic", "load-all", "load-then-exec", "stdpl"])
    g = s.add_mutually_exclusive_group()
    g.add_argument("--bits", type=int, help="uniform bitwidth (same as --plan uniform-B)")
    g.add_argument("--plan", help="plan JSON file, a plan name in OUT/plans/, or a preset uniform-B[-preL]")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--limit", type=int, default=0, help="first N dev rows only")
    s.add_argument("--io-bandwidth", type=float, default=0.0, metavar="MBPS", help="emulated read cap")
    s.add_argument("--adb-key", help="ADB private key (default ~/.android/adbkey)")
    s.add_argument("--remote-dir", help="package directory on the device (default: where wrx deploy put it)")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser(
        "query",
        help="classify text on a device with a libwrx session: the label, the scores, the token ids",
        description="Without TEXT, reads one query per stdin line (a JSON object "
        '{"text": ..., "pair": ...} or a plain line) and answers each as it comes, with one session.',
    )
    s.add_argument("out", help="package directory")
    s.add_argument("text", nargs="?", help="the query (UTF-8); omit to read queries from stdin")
    s.add_argument("--pair", help="the second text of a text-pair query")
    s.add_argument(
        "--plan",
        help="plan JSON file, a plan name in OUT/plans/, or a preset uniform-B[-preL] "
        "(default: uniform-4-pre1; the answer says which plan answered)",
    )
    s.add_argument("--device", default="local", help="local (default), adb:HOST:PORT or adb-usb[:SERIAL]")
    s.add_argument(
        "--json", action="store_true", help="one JSON object per answer (label, scores, token_ids, ...)"
    )
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--io-bandwidth", type=float, default=0.0, metavar="MBPS", help="emulated read cap")
    s.add_argument("--adb-key", help="ADB private key (default ~/.android/adbkey)")
    s.add_argument("--remote-dir", help="package directory on the device (default: where wrx deploy put it)")
    s.set_defaults(fn=cmd_query)

    s = sub.add_parser("profile-device", help="measure a device for the planner (wrx-loader --profile)")
    s.add_argument("out", help="package directory (compute is timed with its programs)")
    s.add_argument("--device", default="local")
    s.add_argument("--io-bandwidth", type=float, default=0.0, metavar="MBPS", help="emulated read cap")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("-o", "--output", help="default OUT/profiles/<device>.yaml")
    s.add_argument("--adb-key")
    s.add_argument("--remote-dir")
    s.set_defaults(fn=cmd_profile)

    s = sub.add_parser("importance", help="importance of every (layer, shard, bitwidth) on the calib split")
    s.add_argument("out")
    s.add_argument("--samples", type=int, default=128, help="calibration rows (default 128)")
    s.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    s.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="run the layers on a Ray cluster (host:port, or auto: the one started on this machine "
        "with `ray start --head`); default: local worker processes",
    )
    s.add_argument("--no-cache", action="store_true")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(fn=cmd_importance)

    s = sub.add_parser("plan", help="choose a plan for a target latency and memory budget")
    s.add_argument("out")
    s.add_argument("--profile", help="device profile YAML or device name (default OUT/profiles/local.yaml)")
    s.add_argument("--target-ms", type=float, required=True, help="latency target T (ms per inference)")
    s.add_argument(
        "--memory-mb", type=float, required=True, help="memory budget M (MiB): weights + activations"
    )
    s.add_argument("--planner", default="wrx", choices=["wrx", "sti"])
    s.add_argument(
        "--headroom",
        type=float,
        help="fraction of T kept free against run-to-run noise: plans are predicted at most "
        "T x (1 - headroom) (default planner.latency_headroom in configs/wrx.yaml)",
    )
    s.add_argument(
        "--length-percentile",
        type=float,
        help="meet T for queries up to this percentile of the task's token lengths; 100 = every "
        "query, up to max_seq_len (default planner.length_percentile in configs/wrx.yaml)",
    )
    s.add_argument("--name", help="plan name (default <planner>-t<T>-m<M>); written to OUT/plans/<name>.json")
    s.add_argument("--samples", type=int, default=128, help="importance calibration rows (cached)")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(fn=cmd_plan)

    s = sub.add_parser("deploy", help="push loader bundle and package to an ADB device, verified by sha256")
    s.add_argument("out")
    s.add_argument("--device", required=True, help="adb:HOST:PORT or adb-usb[:SERIAL]")
    s.add_argument("--remote-dir", help="default /data/local/tmp/wrx/<model>")
    s.add_argument("--adb-key", help="ADB private key (default ~/.android/adbkey)")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(fn=cmd_deploy)

    s = sub.add_parser("pull", help="fetch reports left on a device into OUT/reports/<device>/")
    s.add_argument("out")
    s.add_argument("--device", required=True)
    s.add_argument("--remote-dir")
    s.add_argument("--adb-key")
    s.set_defaults(fn=cmd_pull)

    s = sub.add_parser("devices", help="list configured and reachable devices")
    s.add_argument("--adb-key")
    s.set_defaults(fn=cmd_devices)

    s = sub.add_parser("report", help="loader reports into one self-contained HTML page, or Markdown tables")
    s.add_argument(
        "reports", nargs="+", metavar="REPORT.json", help="reports written by wrx run / wrx-loader"
    )
    s.add_argument("-o", "--output", default="report.html", help="HTML file to write (default report.html)")
    s.add_argument(
        "--format", default="html", choices=["html", "md"], help="md: print tables to the terminal"
    )
    s.add_argument("--title", default="WRX report")
    s.set_defaults(fn=cmd_report)

    s = sub.add_parser(
        "demo", help="the whole story: fine-tune, package, importance, profile, plan, run, report.html"
    )
    s.add_argument("--workdir", default="wrx-demo", help="where artefacts go (default ./wrx-demo)")
    s.add_argument("--steps", type=int, default=None)
    s.add_argument("--model", default=None, help="built-in name or checkpoint directory (default minilm-l6)")
    s.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except WrxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print(
            "internal error: this is a bug in wrx, please report it with the trace above",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    t0 = time.time()
    sys.exit(main())
