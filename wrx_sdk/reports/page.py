"""One self-contained HTML page: figures inlined as base64 PNGs, styles inline, no network.

A short inline script counts the figures whose decoded size matches the size the page
states and writes the count to ``<body data-figures-ok>``: a person sees nothing of it,
and the browser test reads it from the rendered DOM.
"""

from __future__ import annotations

import base64
import html
import time

from wrx_sdk.reports.figures import Figure
from wrx_sdk.reports.load import Run
from wrx_sdk.reports.tables import COLUMNS, LENGTH_COLUMNS, header_facts, length_rows, summary_rows

SECTIONS = (  # (figure name, heading, what to add when it is missing)
    ("timeline", "Pipeline timeline", "no report has per-layer traces: run with --trace-rows 1 or more"),
    ("latency", "Latency distribution", ""),
    ("accuracy", "Accuracy against target latency", "give two or more reports (planned runs and baselines)"),
    ("memory", "Memory per run", ""),
    ("plans", "Plan heatmap", "no elastic run among the reports"),
)

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1040px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
td, th { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; }
td:first-child, th:first-child, td:nth-child(2), th:nth-child(2) { text-align: left; }
table.facts td { text-align: left; }
table.facts td:first-child { font-weight: 600; color: #555; }
.caption { font-size: 12px; color: #666; margin: 2px 0 10px; }
.missing { font-size: 13px; color: #a33; }
.emu { background: #fff3cd; padding: 1px 5px; border-radius: 3px; }
img { display: block; }
"""

SCRIPT = """
window.addEventListener('load', function () {
  var ok = 0, imgs = document.querySelectorAll('img.figure');
  imgs.forEach(function (im) {
    if (im.complete && im.naturalWidth === +im.getAttribute('width') &&
        im.naturalHeight === +im.getAttribute('height')) ok++;
  });
  document.body.setAttribute('data-figures-ok', ok + '/' + imgs.length);
});
"""


def _img(f: Figure) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    return (
        f'<img class="figure" id="fig-{f.name}" alt="{html.escape(f.title)}" width="{f.width}" '
        f'height="{f.height}" src="data:image/png;base64,{data}">'
        f'<p class="caption">{html.escape(f.caption)}</p>'
    )


def render(runs: list[Run], figures: list[Figure], title: str) -> str:
    esc = html.escape
    facts = "".join(
        f"<tr><td>{esc(k)}</td><td>{esc(v).replace('emulated', '<span class=emu>emulated</span>')}</td></tr>"
        for k, v in header_facts(runs)
    )
    head = "".join(f"<th>{esc(h)}</th>" for _, h in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(row[k])}</td>" for k, _ in COLUMNS) + "</tr>"
        for row in summary_rows(runs)
    )
    by_len = length_rows(runs)
    if by_len:
        lhead = "".join(f"<th>{esc(h)}</th>" for _, h in LENGTH_COLUMNS)
        lbody = "".join(
            "<tr>" + "".join(f"<td>{esc(row[k])}</td>" for k, _ in LENGTH_COLUMNS) + "</tr>" for row in by_len
        )
        lengths = f"<table><tr>{lhead}</tr>{lbody}</table>"
    else:
        lengths = '<p class="missing">Not shown: the reports predate per-row lengths (re-run them).</p>'
    by_name = {f.name: f for f in figures}
    sections = []
    for name, heading, missing in SECTIONS:
        f = by_name.get(name)
        content = _img(f) if f else f'<p class="missing">Not drawn: {esc(missing)}.</p>'
        sections.append(f'<section id="{name}"><h2>{esc(heading)}</h2>{content}</section>')
    made = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    sources = "".join(f"<li><code>{esc(str(r.path))}</code>: {esc(r.label)}</li>" for r in runs)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>"
        f'<h1>{esc(title)}</h1><p class="caption">written by wrx report on {esc(made)} from '
        f"{len(runs)} loader report(s)</p>"
        f'<section id="header"><table class="facts">{facts}</table></section>'
        f'<section id="summary"><h2>Summary</h2><table><tr>{head}</tr>{body}</table></section>'
        f'<section id="lengths"><h2>By query length</h2><p class="caption">Each query runs at its own '
        "length; latency and accuracy of the rows in each length bucket.</p>"
        f"{lengths}</section>"
        + "".join(sections)
        + f'<section id="sources"><h2>Reports</h2><ul>{sources}</ul></section>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )
