"""The local engine: a task per chunk, in this process or on a process pool of forked workers,
with at most ``max_in_flight`` results pending (bounded memory) and a progress bar."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterator, Sequence, TypeVar

from .base import default_workers, keep_freed_memory, progress_bar

__all__ = ["run_local"]

T = TypeVar("T")
R = TypeVar("R")


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
    workers = default_workers() if workers is None else max(1, int(workers))
    with progress_bar(sum(sizes), desc, progress) as bar:
        if workers == 1 or len(chunks) <= 1:
            for chunk, size in zip(chunks, sizes):
                result = fn(chunk)
                bar.update(size)
                yield result
            return
        limit = max_in_flight or 2 * workers
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["numpy", "scipy.signal", "soundfile", "kwscope"])
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=keep_freed_memory) as pool:
            pending: dict[Any, int] = {}
            todo: Iterator[tuple[int, T]] = iter(enumerate(chunks))
            _fill(pool, fn, todo, pending, limit)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    result = fut.result()
                    bar.update(sizes[i])
                    yield result
                _fill(pool, fn, todo, pending, limit)


def _fill(pool, fn, todo: Iterator, pending: dict, limit: int) -> None:
    while len(pending) < limit:
        try:
            i, chunk = next(todo)
        except StopIteration:
            return
        pending[pool.submit(fn, chunk)] = i
