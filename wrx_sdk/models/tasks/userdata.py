"""User datasets: CSV (header row) or JSONL, fields ``text``, optional ``text_pair``, ``label``.

Labels may be strings (sorted to ids) or integers 0..C-1.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from wrx_sdk.errors import DataError
from wrx_sdk.models.tasks import Examples


def _rows(p: Path) -> list[dict]:
    if not p.is_file():
        raise DataError(f"dataset file {p} does not exist")
    if p.suffix.lower() == ".csv":
        with open(p, encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    rows = []
    with open(p, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(f"{p}:{n}: not valid JSON: {e.msg}") from None
    return rows


def read(p: Path) -> tuple[Examples, list[str]]:
    rows = _rows(p)
    if not rows:
        raise DataError(f"{p}: no rows")
    for n, r in enumerate(rows, 1):
        if not isinstance(r, dict) or "text" not in r or "label" not in r:
            raise DataError(
                f"{p}: row {n} lacks field 'text' or 'label'",
                hint="each row needs text, label and optionally text_pair",
            )
    raw = [r["label"] for r in rows]
    if all(isinstance(x, int) or (isinstance(x, str) and x.strip().isdigit()) for x in raw):
        ids = np.array([int(x) for x in raw], dtype=np.int64)
        labels = [str(i) for i in range(int(ids.max()) + 1)]
    else:
        labels = sorted({str(x) for x in raw})
        ix = {lab: i for i, lab in enumerate(labels)}
        ids = np.array([ix[str(x)] for x in raw], dtype=np.int64)
    if len(labels) < 2:
        raise DataError(f"{p}: field 'label' has a single class; a classifier needs two or more")
    has_pair = any(r.get("text_pair") for r in rows)
    pairs = [str(r.get("text_pair") or "") for r in rows] if has_pair else None
    return Examples([str(r["text"]) for r in rows], ids, pairs), labels
