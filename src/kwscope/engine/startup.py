"""An early start of the local worker pool's fork server, with the modules a pass preloads
(standard library only: called before the caller's own heavy imports).

Starting the fork server first lets it import a pass's modules (numpy, scipy.fft, the pass itself)
on another core while this process imports its own and scans the dataset folder; the pool's
workers then fork from it ready to work, instead of each importing everything after the scan
(seconds of a short run spent with every core but one idle).
"""

from __future__ import annotations

import os
from typing import Sequence

__all__ = ["warm_worker_pool"]


def warm_worker_pool(*, workers: int | None, scheduler: str | None, preload: Sequence[str]) -> None:
    """Start the fork server of :func:`kwscope.engine.run_chunks`'s local pool now, preloading
    ``preload`` (module names); returns at once (the server imports in the background).

    Does nothing for a Dask scheduler, a single worker, or when the server already runs (its
    preloads are fixed when it starts; the engine's own later request is then a no-op, and a
    worker imports whatever else it needs after forking, as it always could).
    """
    if scheduler:
        return
    import multiprocessing as mp

    if workers is None:
        try:
            workers = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            workers = os.cpu_count() or 1
    if workers <= 1:
        return
    try:
        from multiprocessing import forkserver

        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        forkserver.ensure_running()
    except Exception:  # no fork server on this platform: the engine decides what to do
        pass
