"""Worker processes for the build side (quantizing layers, importance).

Workers start from a fork server, never by forking the caller: the caller has usually run
torch already, and GNU OpenMP (torch's CPU thread pool) does not survive ``fork``. A child
forked after the parent's first parallel region waits forever at its first OpenMP barrier
(seen as a test run hanging inside ``layer_norm``). The fork server is a fresh process that
has run nothing, so what it forks starts clean, and it costs one import of torch per worker
rather than one per call.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def process_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=initializer,
        initargs=initargs,
    )
