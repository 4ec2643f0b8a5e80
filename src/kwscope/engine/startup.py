"""An early start of the local worker pool's fork server, with the modules a pass preloads
(light: called before the caller's own heavy imports).

Starting the fork server first lets it import a pass's modules (numpy, scipy.fft, the pass itself)
on another core while this process imports its own and scans the dataset folder; the pool's
workers then fork from it ready to work, instead of each importing everything after the scan
(seconds of a short run spent with every core but one idle).
"""

from __future__ import annotations

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
    from .workers import capped_workers, start_fork_server

    if workers == 1 or capped_workers(workers, announce=False) <= 1:
        return
    start_fork_server(preload)  # deaf to Ctrl-C; False (no fork server): the engine decides
