"""wrx report: real loader reports of the tiny model into HTML and Markdown, the rejection
of every kind of bad report, and headless Chromium rendering the page."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from wrx_sdk.cli import main as wrx_main
from wrx_sdk.errors import WrxError
from wrx_sdk.formats.plan import Plan
from wrx_sdk.planning.calibration import profile_device
from wrx_sdk.planning.planner import make_plan
from wrx_sdk.reports import load_runs, write_html
from wrx_sdk.reports.browser import check_page, screenshot
from wrx_sdk.reports.load import read_report

SECTIONS = ("header", "summary", "lengths", "timeline", "latency", "accuracy", "memory", "plans")


@pytest.fixture(scope="module")
def runs(host_build, tiny_pkg, tmp_path_factory):
    """(package, report paths): load-all fp32, stdpl 4-bit, and wrx and sti plans at two
    targets, all run by the real loader with IO capped at 20 MB/s."""
    from wrx_sdk.devices.run import run
    from wrx_sdk.formats.device_profile import load_profile
    from wrx_sdk.formats.manifest import open_package
    from wrx_sdk.measure.importance import importance
    from wrx_sdk.planning.common import smallest_plans
    from wrx_sdk.planning.cost_model import CostModel

    pkg = tmp_path_factory.mktemp("report") / "pkg"
    shutil.copytree(tiny_pkg, pkg)
    prof = profile_device(pkg, "local", io_bandwidth=20, progress=False)
    importance(pkg, samples=16, workers=2, progress=False)
    with open_package(pkg) as p:
        loose = max(lat for lat, *_ in smallest_plans(CostModel(p, load_profile(prof)))) * 4
    extra = ["--trace-rows", "3"]
    paths = []
    for mode, bits in (("load-all", 32), ("stdpl", 4)):
        paths.append(
            run(pkg, mode=mode, bits=bits, io_bandwidth=20, limit=40, progress=False, extra=extra)[1]
        )
    for t in (round(loose, 1), round(2 * loose, 1)):
        for planner in ("wrx", "sti"):
            plan, _ = make_plan(pkg, t, 64, planner=planner, progress=False)
            paths.append(run(pkg, plan=plan.name, io_bandwidth=20, limit=40, progress=False, extra=extra)[1])
    return pkg, paths


def test_html_has_every_section_with_the_runs_numbers(runs, tmp_path):
    _, paths = runs
    page = write_html(paths, tmp_path / "r.html")
    text = page.read_text()
    for sec in SECTIONS:
        m = re.search(rf'<section id="{sec}">(.*?)</section>', text, re.S)
        assert m, f"section {sec} missing"
        if sec not in ("header", "summary", "lengths"):
            assert '<img class="figure"' in m.group(1), f"section {sec} has no figure"
    assert "http://" not in text and "https://" not in text  # self-contained: nothing to fetch
    assert "20 MB/s" in text and "emulated" in text
    for p in paths:  # every run's accuracy and p50 appear in the summary table
        rep = json.loads(p.read_text())
        s = rep["summary"]
        assert f"<td>{s['accuracy'] * 100:.2f}</td>" in text
        assert f"<td>{s['latency_ms']['p50']:.2f}</td>" in text
    labels = [r.label for r in load_runs(paths)]
    assert labels[:2] == ["load-all fp32", "stdpl 4-bit"]
    assert (
        sum(lab.startswith("wrx T=") for lab in labels) == 2
        and sum(lab.startswith("sti T=") for lab in labels) == 2
    )


def test_markdown_prints_one_row_per_report(runs, capsys):
    _, paths = runs
    assert wrx_main(["report", *map(str, paths), "--format", "md"]) == 0
    out = capsys.readouterr().out
    summary = out.split("By query length:")[0]
    rows = [ln for ln in summary.splitlines() if ln.startswith("| ") and "---" not in ln]
    assert len(rows) == 1 + len(paths)  # heading + one per report
    fp32 = json.loads(paths[0].read_text())["summary"]["accuracy"]
    assert f"{fp32 * 100:.2f}% (load-all fp32" in out
    assert rows[1].split("|")[10].strip() == "+0.00"  # fp32 against itself


def test_latency_and_accuracy_by_query_length(runs, tmp_path):
    """Every row lands in one length bucket, whose numbers are its rows'; a report from
    before per-row lengths is left out of the table, not mistaken for one."""
    import numpy as np

    from wrx_sdk.reports.tables import length_buckets, length_rows

    _, paths = runs
    assert length_buckets(128) == [(1, 16), (17, 32), (33, 64), (65, 128)]
    assert length_buckets(16) == [(1, 2), (3, 4), (5, 8), (9, 16)]
    loaded = load_runs(paths)
    table = length_rows(loaded)
    for r in loaded:
        mine = [row for row in table if row["label"] == r.label]
        assert sum(int(row["rows"]) for row in mine) == r.summary["n"]
        for row in mine:
            lo, hi = map(int, row["bucket"].split("-"))
            sel = [i for i in r.report["inferences"] if lo <= i["length"] <= hi]
            assert row["p50"] == f"{np.percentile([i['latency_ms'] for i in sel], 50):.2f}"
            assert row["accuracy"] == f"{np.mean([i['pred'] == i['label'] for i in sel]) * 100:.2f}"
    old = json.loads(paths[0].read_text())
    for i in old["inferences"]:
        del i["length"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert length_rows(load_runs([tmp_path / "old.json"])) == []


def test_a_rewritten_plan_is_not_attributed_to_an_older_run(runs, tmp_path):
    pkg, paths = runs
    rep = json.loads(paths[2].read_text())
    plan_file = pkg / "plans" / f"{rep['plan_name']}.json"
    saved = plan_file.read_text()
    try:
        p = Plan.load(plan_file)
        p.layers = p.layers[:1]
        p.save(plan_file)
        (r,) = load_runs([paths[2]])
        assert r.kind == "elastic" and r.label == f"elastic {rep['plan_name']}" and r.target_ms is None
    finally:
        plan_file.write_text(saved)


def _broken(tmp_path, src, mutate):
    d = json.loads(src.read_text())
    mutate(d)
    f = tmp_path / "broken.json"
    f.write_text(json.dumps(d))
    return f


@pytest.mark.parametrize(
    "mutate,expect",
    [
        (lambda d: d.update(format="wrx-plan"), "field 'format' is not"),
        (lambda d: d.update(format_version=99), "field 'format_version' is 99"),
        (
            lambda d: d.update(ok=False, error={"code": "BAD_PLAN", "message": "m"}),
            "a failed run (BAD_PLAN: m)",
        ),
        (lambda d: d.pop("memory"), "field memory is missing"),
        (lambda d: d.update(summary=[]), "field summary is missing or not a map"),
        (lambda d: d.update(inferences=[]), "field 'inferences' is empty"),
    ],
)
def test_bad_reports_are_rejected_by_file_and_field(runs, tmp_path, mutate, expect):
    f = _broken(tmp_path, runs[1][0], mutate)
    with pytest.raises(WrxError) as e:
        read_report(f)
    assert str(f) in str(e.value) and expect in str(e.value) and "HINT" in str(e.value)


def test_missing_and_truncated_reports(runs, tmp_path):
    with pytest.raises(WrxError, match="does not exist"):
        read_report(tmp_path / "nope.json")
    f = tmp_path / "cut.json"
    f.write_text(runs[1][0].read_text()[:500])
    with pytest.raises(WrxError, match="not JSON"):
        read_report(f)
    assert wrx_main(["report", str(f), "-o", str(tmp_path / "x.html")]) == 2
    assert not (tmp_path / "x.html").exists()  # nothing half-written


def test_plans_are_reused_only_for_the_same_inputs(runs):
    pkg, paths = runs
    meta = Plan.load(pkg / "plans" / f"{json.loads(paths[2].read_text())['plan_name']}.json").meta
    t, m = meta["target_ms"], meta["memory_mb"]
    first, _ = make_plan(pkg, t, m, name="reuse-check", progress=False)
    again, _ = make_plan(pkg, t, m, name="reuse-check", progress=False, reuse=True)
    assert again.meta["planning_s"] == first.meta["planning_s"]  # read back, not searched again
    other, _ = make_plan(pkg, t, m, name="reuse-check", progress=False, reuse=True, confirm_top=1)
    assert other.meta["inputs_sha256"] != first.meta["inputs_sha256"]
    assert other.meta["candidates_confirmed"] <= 2 < first.meta["candidates_confirmed"]


def test_chromium_renders_every_figure_without_console_errors(runs, tmp_path):
    page = write_html(runs[1], tmp_path / "report.html")
    n_imgs = page.read_text().count('<img class="figure"')
    got = check_page(page)
    assert got.console == []
    assert (got.figures_ok, got.figures) == (n_imgs, n_imgs) == (5, 5)
    from PIL import Image

    png = screenshot(page, tmp_path / "shot.png", 1100, 2400)
    with Image.open(png) as im:
        assert im.size == (1100, 2400)
        gray = im.convert("L")
        assert gray.getextrema()[0] < 100  # dark pixels: text and plots were drawn, not a blank page
        colors = im.convert("RGB").resize((275, 600)).getcolors(maxcolors=1 << 20)
        assert len(colors) > 50  # figures are colourful; a text-only page has a handful of greys


def test_the_browser_check_catches_a_broken_page(tmp_path):
    """The check above could fail: the report's own figure counter on a page with an
    undecodable figure, a script error and a console message."""
    from wrx_sdk.reports.page import SCRIPT

    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img class="figure" width="10" height="10" src="data:image/png;base64,AAAA">'
        f"<script>{SCRIPT}</script><script>console.error('boom'); undefined_fn();</script></body></html>"
    )
    got = check_page(bad)
    assert any("boom" in c for c in got.console) and any("undefined_fn" in c for c in got.console)
    assert (got.figures_ok, got.figures) == (0, 1)
