"""``wrx report``: loader reports into one HTML page (or Markdown tables).

``load`` validates and labels the reports, ``tables`` holds the numbers, ``figures``
draws them, ``html`` assembles the page. docs/REPORTS.md describes each section.
"""

from __future__ import annotations

from pathlib import Path

from wrx_sdk.formats.files import atomic_open
from wrx_sdk.reports.load import Run, load_runs
from wrx_sdk.reports.tables import markdown


def write_html(reports: list[str | Path] | list[Run], out: str | Path, title: str = "WRX report") -> Path:
    """Render the reports (paths, or runs already loaded) into ``out`` atomically and
    return its path."""
    from wrx_sdk.reports import figures, page  # matplotlib is imported only when a page is drawn

    runs = reports if reports and all(isinstance(r, Run) for r in reports) else load_runs(reports)
    text = page.render(runs, figures.all_figures(runs), title)
    out = Path(out)
    with atomic_open(out, "w") as f:
        f.write(text)
    return out


def write_markdown(paths: list[str | Path]) -> str:
    return markdown(load_runs(paths))


__all__ = ["Run", "load_runs", "write_html", "write_markdown"]
