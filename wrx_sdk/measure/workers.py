"""Where independent evaluations run: local worker processes (the default), or the actors of
a Ray cluster when one machine is not enough (``--ray ADDRESS``).

Both run the same module-level functions on workers prepared by the same initializer, with
the same thread count per worker, so they return the same numbers
(tests/test_workers.py). A Ray cluster's nodes need wrx installed in the Python that runs
the cluster and the package at the same path (a shared filesystem): the workers open it
there, as local processes do.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

from wrx_sdk.errors import WrxError
from wrx_sdk.procs import process_pool

Call = tuple[Callable[..., Any], tuple]
PROBE_S = 5.0  # seconds to wait for the cluster's address to accept a connection


def run_calls(
    init: Callable[..., None],
    initargs: tuple,
    calls: Sequence[Call],
    workers: int,
    threads: int,
    bar: tqdm,
    ray_address: str | None = None,
) -> list[Any]:
    """Each call's result, in order. ``init(*initargs, threads)`` prepares every worker once."""
    if ray_address:
        return _on_ray(ray_address, init, (*initargs, threads), calls, workers, threads, bar)
    out = []
    with process_pool(workers, init, (*initargs, threads)) as pool:
        for f in [pool.submit(fn, *args) for fn, args in calls]:
            out.append(f.result())
            bar.update(1)
    return out


def local_split(n_items: int, workers: int | None) -> tuple[int, int]:
    """(workers, torch threads each) for ``n_items`` items on this machine's cores."""
    nw = max(1, min(workers or os.cpu_count() or 1, n_items))
    return nw, max(1, (os.cpu_count() or 1) // nw)


def _probe(address: str, hint: str) -> None:
    """Fail in seconds on an address nothing listens at: Ray itself waits minutes for the
    cluster's GCS and then exits the process."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", or a ray:// address: Ray resolves it
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=PROBE_S).close()
    except OSError as e:
        why = e.strerror or str(e)
        raise WrxError(f"cannot connect to the Ray cluster at {address!r}: {why}", hint=hint) from None


def _on_ray(address, init, initargs, calls, workers, threads, bar) -> list[Any]:
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise WrxError(
            "--ray needs the ray package, which is not installed",
            hint="re-run scripts/setup.sh, or drop --ray to use local worker processes",
        ) from None
    hint = (
        "start one (ray start --head) and pass its address, e.g. --ray 127.0.0.1:6379, "
        "or 'auto' for the cluster running on this machine"
    )
    _probe(address, hint)
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError, SystemExit) as e:  # ray exits on a lost GCS
        raise WrxError(f"cannot connect to the Ray cluster at {address!r}: {e}", hint=hint) from None
    try:

        @ray.remote(num_cpus=threads)
        class Worker:
            def __init__(self) -> None:
                init(*initargs)

            def call(self, fn: Callable[..., Any], args: tuple) -> Any:
                return fn(*args)

        pool = ActorPool([Worker.remote() for _ in range(workers)])
        out = []
        for r in pool.map(lambda actor, c: actor.call.remote(*c), list(calls)):
            out.append(r)
            bar.update(1)
        return out
    finally:
        ray.shutdown()  # disconnects; a cluster this did not start keeps running
