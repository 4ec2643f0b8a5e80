"""The local engine: a task per chunk, in this process or on a process pool of forked workers,
with at most ``max_in_flight`` results pending (bounded memory) and a progress bar.

Every task runs through :func:`kwscope.engine.retry.run_isolating` (a chunk that raises is rerun
file by file). The pool's workers are capped at the cores and memory available, ignore Ctrl-C and
exit with the main process (:mod:`kwscope.engine.workers`); a run stopped early (Ctrl-C, an error,
a caller that stops iterating) cancels the tasks not started and stops the workers at once.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterator, Sequence, TypeVar

from .retry import run_isolating
from .workers import capped_workers, init_worker, start_fork_server

__all__ = ["run_local", "POOL_PRELOAD"]

T = TypeVar("T")
R = TypeVar("R")

#: Modules the fork server imports once, before it forks workers.
POOL_PRELOAD = ["numpy", "scipy.signal", "soundfile", "kwscope"]


def run_local(
    fn: Callable[[T], R],
    chunks: Sequence[T],
    *,
    workers: int | None,
    sizes: Sequence[int],
    desc: str,
    progress: bool | None,
    max_in_flight: int | None,
) -> Iterator[R]:
    """:func:`kwscope.engine.run_chunks` without a scheduler (see there for the parameters)."""
    from .base import progress_bar

    task = functools.partial(run_isolating, fn)
    workers = 1 if workers == 1 or len(chunks) <= 1 else min(capped_workers(workers), len(chunks))
    with progress_bar(sum(sizes), desc, progress) as bar:
        if workers == 1:
            for chunk, size in zip(chunks, sizes):
                result = task(chunk)
                bar.update(size)
                yield result
            return
        limit = max_in_flight or 2 * workers
        start_fork_server(POOL_PRELOAD)
        ctx = mp.get_context("forkserver")
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker,
                                   initargs=(os.getpid(),))
        finished = False
        try:
            pending: dict[Any, int] = {}
            todo: Iterator[tuple[int, T]] = iter(enumerate(chunks))
            _fill(pool, task, todo, pending, limit)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    result = fut.result()
                    bar.update(sizes[i])
                    yield result
                _fill(pool, task, todo, pending, limit)
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:
                _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: no task waits for the running ones to finish (Ctrl-C, an error)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way to reach them
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        try:
            proc.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    for proc in processes:
        try:
            proc.join(timeout=5)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


def _fill(pool, fn, todo: Iterator, pending: dict, limit: int) -> None:
    while len(pending) < limit:
        try:
            i, chunk = next(todo)
        except StopIteration:
            return
        pending[pool.submit(fn, chunk)] = i
