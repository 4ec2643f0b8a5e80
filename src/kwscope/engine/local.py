"""The local engine: a task per chunk, in this process or on a process pool of forked workers,
with at most ``max_in_flight`` results pending (bounded memory) and a progress bar.

Every task runs through :func:`kwscope.engine.retry.run_isolating` (a chunk that raises is rerun
file by file). The pool's workers are capped at the cores and memory available, ignore Ctrl-C and
exit with the main process (:mod:`kwscope.engine.workers`); a run stopped early (Ctrl-C, an error,
a caller that stops iterating) cancels the tasks not started and stops the workers at once.
A worker killed outright (SIGKILL, a segfault) breaks the pool: the chunks in flight are rerun
alone and, if one kills again, file by file (:mod:`kwscope.engine.recovery`), then a fresh pool
takes the rest.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator, Sequence, TypeVar

from .recovery import Deaths, rerun_alone
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
        todo: Iterator[tuple[int, T]] = iter(enumerate(chunks))
        deaths = Deaths()
        while True:
            # A pass on a pool until the chunks run out, or a worker dies (the pool is then broken).
            in_flight = yield from _pool_pass(task, todo, ctx=ctx, workers=workers, limit=limit, bar=bar,
                                              sizes=sizes, deaths=deaths)
            if in_flight is None:
                return
            deaths.died("died")
            # Each chunk that was in flight alone, in a fresh process; then a fresh pool for the rest.
            for i, result in rerun_alone(fn, [(i, chunks[i]) for i in in_flight], ctx=ctx, workers=workers,
                                         deaths=deaths):
                bar.update(sizes[i])
                yield result


def _pool_pass(task, todo: Iterator, *, ctx, workers: int, limit: int, bar, sizes, deaths: Deaths):
    """Run ``todo``'s chunks on a fresh pool, yielding their results; return None when all ran,
    or the (sorted) indices of the chunks in flight when a worker process died."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker,
                               initargs=(os.getpid(),))
    finished = False
    pending: dict[Any, int] = {}
    unsent: list[int] = []  # a chunk taken from ``todo`` that a broken pool refused
    try:
        try:
            _fill(pool, task, todo, pending, limit, unsent)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    if isinstance(fut.exception(), BrokenProcessPool):  # a worker died
                        broken = True
                        continue
                    result = fut.result()
                    i = pending.pop(fut)
                    deaths.progress()
                    bar.update(sizes[i])
                    yield result
                if broken:
                    raise BrokenProcessPool
                _fill(pool, task, todo, pending, limit, unsent)
        except BrokenProcessPool:
            return sorted([*pending.values(), *unsent])
        finished = True
        return None
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: no task waits for the running ones to finish (Ctrl-C, an error).

    The pool's manager thread is waited for too (briefly): once ``shutdown`` let go of the
    pool's queues, that thread holds their last references, and it unlinks their semaphores as
    it ends; a process that exits meanwhile (``os._exit`` after a Ctrl-C) leaves one unlinked but
    not unregistered, and the resource tracker then prints a "leaked semaphore" warning.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way to reach them
    manager = getattr(pool, "_executor_manager_thread", None)
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
    if manager is not None:
        manager.join(timeout=5)


def _fill(pool, fn, todo: Iterator, pending: dict, limit: int, unsent: list) -> None:
    while len(pending) < limit:
        try:
            i, chunk = next(todo)
        except StopIteration:
            return
        try:
            pending[pool.submit(fn, chunk)] = i
        except BrokenProcessPool:
            unsent.append(i)
            raise
