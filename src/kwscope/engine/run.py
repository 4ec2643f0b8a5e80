"""``run_chunks``: map a function over chunks of files, in this process, on a local process pool,
or (with ``scheduler=``) on a Dask cluster, with bounded memory and a progress bar.

A task is ``fn(chunk)`` where ``fn`` is a picklable top-level function and ``chunk`` a small
picklable object (typically a list of paths plus settings). Results are yielded as tasks finish,
never more than ``max_in_flight`` at once, so memory does not grow with the number of chunks.
Callers must not depend on completion order: each result should carry its chunk id.

One bad file never stops a run: a chunk whose task raises is rerun file by file where it runs,
and returns its ordinary result with the files that raise reported among its per-file errors,
if the chunk implements :class:`kwscope.engine.retry.PerFileChunk` (``n_files``, ``one_file``,
``with_failed``). A local worker killed outright (the OOM killer, a segfault) costs the file it
died on, not the run (:mod:`kwscope.engine.recovery`). Local workers are capped at the cores and
memory available and end with the process that started them (:mod:`kwscope.engine.workers`).
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence, TypeVar

from .local import run_local

__all__ = ["run_chunks"]

T = TypeVar("T")
R = TypeVar("R")


def run_chunks(
    fn: Callable[[T], R],
    chunks: Sequence[T],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    sizes: Sequence[int] | None = None,
    desc: str = "kwscope",
    progress: bool | None = None,
    max_in_flight: int | None = None,
) -> Iterator[R]:
    """Run ``fn`` over ``chunks`` and yield each result as its task finishes.

    Parameters
    ----------
    fn
        Picklable top-level function taking one chunk.
    chunks
        The tasks' inputs.
    workers
        Local worker processes; ``1`` runs in this process (no pool). Default: one per core;
        never more than the usable cores, the memory available, or the chunks.
    scheduler
        A Dask scheduler address (``tcp://host:port``); then Dask runs the tasks.
    sizes
        Files in each chunk, for the progress bar's files/s and ETA.
    progress
        ``True``/``False`` to force the bar on or off; ``None`` shows it on a terminal only.
    max_in_flight
        Tasks submitted but not yet consumed; bounds memory. Default ``2 * workers``.
    """
    sizes = list(sizes) if sizes is not None else [1] * len(chunks)
    if scheduler:
        from .dask_cluster import run_chunks_dask  # distributed is an optional extra

        yield from run_chunks_dask(fn, chunks, scheduler=scheduler, sizes=sizes, desc=desc,
                                   progress=progress, max_in_flight=max_in_flight)
        return
    yield from run_local(fn, chunks, workers=workers, sizes=sizes, desc=desc, progress=progress,
                         max_in_flight=max_in_flight)
