"""``wrx report``: loader reports into one HTML page (or Markdown tables).

``load`` validates and labels the reports, ``tables`` holds the numbers, ``figures``
draws them, ``html`` assembles the page. docs/REPORTS.md describes each section.
"""

from __future__ import annotations

from pathlib import Path

from ..fsutil import atomic_open
from .load import Run, load_runs
from .tables import markdown


def write_html(reports: list[str | Path] | list[Run], out: str | Path, title: str = "WRX report") -> Path:
    """Render the reports (paths, or runs already loaded) into ``out`` atomically and
    return its path."""
    from . import figures, html  # matplotlib is imported only when a page is drawn

    runs = reports if reports and all(isinstance(r, Run) for r in reports) else load_runs(reports)
    page = html.render(runs, figures.all_figures(runs), title)
    out = Path(out)
    with atomic_open(out, "w") as f:
        f.write(page)
    return out


def write_markdown(paths: list[str | Path]) -> str:
    return markdown(load_runs(paths))


__all__ = ["Run", "load_runs", "write_html", "write_markdown"]
