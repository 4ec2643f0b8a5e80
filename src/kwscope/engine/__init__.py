"""Running per-chunk tasks: in this process, on a local process pool, or on a Dask cluster.

``base`` (errors, worker count, progress, allocator) <- ``local`` (the pool) <- ``run``
(:func:`run_chunks`, which hands ``scheduler=`` runs to ``dask_cluster``, imported only then);
``startup`` starts the pool's fork server early, with the modules a pass preloads.
"""

from .base import EngineError, chunked, default_workers, keep_freed_memory, progress_bar
from .run import run_chunks

__all__ = ["run_chunks", "chunked", "default_workers", "keep_freed_memory", "progress_bar", "EngineError"]
