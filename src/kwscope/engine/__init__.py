"""Running per-chunk tasks: in this process, on a local process pool, or on a Dask cluster.

``base`` (errors, worker count, progress, allocator) <- ``local`` (the pool) <- ``run``
(:func:`run_chunks`, which hands ``scheduler=`` runs to ``dask_cluster``, imported only then);
``startup`` starts the pool's fork server early, with the modules a pass preloads; ``retry``
reruns a chunk that raised file by file; ``recovery`` takes over when a pool worker is killed
outright (the chunks in flight rerun alone, a killing one file by file); ``workers`` caps,
starts and reaps the pool's processes.
"""

from .base import EngineError, chunked, default_workers, keep_freed_memory, progress_bar
from .retry import PerFileChunk, failure_reason
from .run import run_chunks

__all__ = ["run_chunks", "PerFileChunk", "failure_reason", "chunked", "default_workers", "keep_freed_memory", "progress_bar", "EngineError"]
