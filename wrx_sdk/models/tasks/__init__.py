"""Tasks: labelled text, split into train / calib / dev with a fixed seed.

``dev`` is what accuracy is reported on; ``calib`` feeds importance profiling and plan
confirmation, so no decision is ever tuned on the rows it is judged on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wrx_sdk import config
from wrx_sdk.errors import DataError

SPLITS = ("train", "calib", "dev")


@dataclass
class Examples:
    texts: list[str]
    labels: np.ndarray  # int64
    pairs: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, idx: np.ndarray) -> Examples:
        il = idx.tolist()
        return Examples(
            [self.texts[i] for i in il],
            self.labels[idx],
            None if self.pairs is None else [self.pairs[i] for i in il],
        )


@dataclass
class Task:
    name: str
    labels: list[str]
    splits: dict[str, Examples] = field(default_factory=dict)
    description: str = ""
    split_info: dict = field(default_factory=dict)

    def info(self) -> dict:
        return {
            "name": self.name,
            "labels": self.labels,
            "num_labels": len(self.labels),
            "split": self.split_info,
            "sizes": {k: len(v) for k, v in self.splits.items()},
        }


def builtin_tasks() -> dict[str, dict]:
    return config.load("tasks")


def split(
    name: str,
    labels: list[str],
    ex: Examples,
    dev_size: int,
    calib_size: int,
    seed: int,
    description: str = "",
) -> Task:
    n = len(ex)
    if n < dev_size + calib_size + 1:
        raise DataError(
            f"task {name}: {n} examples are too few for dev {dev_size} + calib {calib_size} + train"
        )
    perm = np.random.default_rng(seed).permutation(n)
    dev, calib, train = (
        perm[:dev_size],
        perm[dev_size : dev_size + calib_size],
        perm[dev_size + calib_size :],
    )
    return Task(
        name,
        labels,
        {"train": ex.take(train), "calib": ex.take(calib), "dev": ex.take(dev)},
        description,
        {"seed": seed, "method": "permutation", "dev_size": dev_size, "calib_size": calib_size},
    )


def load_task(name_or_path: str) -> Task:
    """A built-in task by name, or a user CSV/JSONL file."""
    tasks = builtin_tasks()
    if name_or_path in tasks:
        from wrx_sdk.models.tasks import builtin

        spec = tasks[name_or_path]
        ex, labels = builtin.read(name_or_path, spec)
        return split(
            name_or_path,
            labels,
            ex,
            int(spec["dev_size"]),
            int(spec["calib_size"]),
            int(spec["seed"]),
            spec.get("description", ""),
        )
    p = Path(name_or_path)
    if p.suffix.lower() in (".csv", ".jsonl", ".json") or p.exists():
        from wrx_sdk.models.tasks import userdata

        ex, labels = userdata.read(p)
        n = len(ex)
        dev = min(872, max(1, n // 10))
        calib = min(512, max(1, n // 10))
        return split(p.stem, labels, ex, dev, calib, seed=1234, description=f"user data {p}")
    raise DataError(
        f"unknown task {name_or_path!r}: not a built-in ({', '.join(tasks)}) nor a CSV/JSONL file",
        hint="pass a built-in task name, or a .csv/.jsonl with columns text[, text_pair], label",
    )
