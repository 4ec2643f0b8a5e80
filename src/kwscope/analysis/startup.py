"""What the analysis commands need before their heavy imports (standard library only): the default
cache folder, and an early start of the local worker pool's fork server.

Starting the fork server first lets it import the profile pass's modules (numpy, pandas, scipy.fft,
the pass itself) on another core while this process imports its own and scans the dataset
folder; the pool's workers then fork from it ready to work, instead of each importing everything
after the scan (seconds of a short run spent with every core but one idle).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir", "warm_worker_pool"]

#: Modules a profile-pass worker uses, imported once in the fork server.
_LIGHT_MODULES = ("numpy", "scipy.fft", "soundfile", "kwscope.analysis.profiles")
#: The full pass (``explore``) also takes log spectrograms and resamples.
_FULL_MODULES = _LIGHT_MODULES + ("scipy.signal", "soxr", "kwscope.dsp")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/kwscope`` (usually ``~/.cache/kwscope``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kwscope"


def warm_worker_pool(*, workers: int | None, scheduler: str | None, full: bool) -> None:
    """Start the fork server of :func:`kwscope.engine.run_chunks`'s local pool now, preloading
    the profile pass's modules; returns at once (the server imports in the background).

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
        ctx.set_forkserver_preload(list(_FULL_MODULES if full else _LIGHT_MODULES))
        forkserver.ensure_running()
    except Exception:  # no fork server on this platform: the engine decides what to do
        pass
