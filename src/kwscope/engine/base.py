"""What every engine shares: its error type, the default worker count, the progress bar, chunking,
the allocator setting of worker processes, and single-threaded BLAS beside busy workers."""

from __future__ import annotations

import os
import sys
from typing import Iterable, Sequence, TypeVar

from tqdm import tqdm

from ..errors import KwscopeError

__all__ = ["EngineError", "default_workers", "progress_bar", "chunked", "keep_freed_memory", "single_threaded_blas"]

T = TypeVar("T")


class EngineError(KwscopeError):
    """The engine could not run (e.g. a Dask scheduler cannot be reached)."""


def default_workers() -> int:
    """One worker a usable core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def progress_bar(total: int | None, desc: str, enabled: bool | None):
    """A tqdm bar over files on stderr; ``enabled=None`` shows it on a terminal only."""
    # disable=None lets tqdm hide the bar when stderr is not a terminal (logs stay clean).
    return tqdm(total=total, desc=desc, unit="file", dynamic_ncols=True, file=sys.stderr,
                disable=None if enabled is None else not enabled, smoothing=0.1)


def chunked(items: Sequence[T] | Iterable[T], size: int) -> list[list[T]]:
    """Split items into consecutive lists of ``size`` (the last may be shorter)."""
    items = list(items)
    return [items[i:i + size] for i in range(0, len(items), size)]


def keep_freed_memory() -> None:
    """Make this (worker) process keep the memory it frees, for its next task (glibc malloc).

    A task allocates the same few large arrays (tens of MB) as the one before. By default glibc
    maps each such array fresh from the kernel and unmaps it when freed, so every task pays for
    zero-filled pages again; on a virtual machine that hands idle memory back to its host, a first
    touch costs about 1.6 s a GiB (measured here). Served from the heap, and with up to
    ``_TRIM_BYTES`` of free heap kept, the arrays are reused warm (measured here: a 512-clip
    log-spectrogram batch 35% faster alone, a whole feature worker about 5% faster; the analysis
    pass spent a tenth of its time in such page faults). Memory stays bounded by the largest
    task's needs plus that margin.
    Idempotent; a no-op off glibc. Called in pool and Dask workers, never in the caller's process.
    """
    if _malloc_tuned or not sys.platform.startswith("linux"):
        return
    _malloc_tuned.append(True)
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    mallopt(m_mmap_max, 0)  # large blocks from the heap, not from fresh mappings
    mallopt(m_trim_threshold, _TRIM_BYTES)  # free heap kept for the next task


_TRIM_BYTES = 256 << 20
_malloc_tuned: list[bool] = []  # per process


_BLAS_CONTROLLER: list = []


def single_threaded_blas():
    """A context in which BLAS/LAPACK use one thread.

    The pass's linear algebra is small (a 256 x 256 ``eigh``, 256 x 705 projections) and runs
    beside busy worker processes: a multi-threaded BLAS then spends its time waiting for cores
    (a 1.2-s ``eigh`` instead of 0.07 s on a loaded 2-core machine). Scoped, so a notebook's own
    BLAS settings are untouched afterwards.
    """
    try:
        if not _BLAS_CONTROLLER:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLER.append(ThreadpoolController())
        return _BLAS_CONTROLLER[0].limit(limits=1, user_api="blas")
    except Exception:  # threadpoolctl missing or unable to inspect: run as is
        import contextlib

        return contextlib.nullcontext()
