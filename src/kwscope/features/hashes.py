"""The store's listing of DATA: the index without headers (the workers read each header when they
decode the file), with every file's content hash computed on the local worker pool.

The hash (:func:`kwscope.io.scan.content_hash`, part of the store's fingerprint) reads up to
128 KiB of each file; on one process it was most of the listing (60,000 one-second clips: about
2.5 s of 4), while the pool started for the extraction sat idle. Hashing in the pool's workers
halves that on two cores. Small datasets, remote roots and ``--scheduler`` runs hash here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ..engine import run_chunks
from ..io.scan import content_hash
from ..io.sources import locate
from ..settings import RunSettings

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["list_files"]

#: Below this many files, hashing in this process costs less than handing it out.
_POOL_MIN_FILES = 8000
#: Files one hashing task takes.
_HASH_CHUNK = 4000


def list_files(source, settings: RunSettings, *, layout, validation_percentage: float,
               testing_percentage: float) -> "pd.DataFrame":
    """:func:`kwscope.io.index.index_dataset` of ``source`` without headers, hashes included."""
    from ..io.index import index_dataset

    local = isinstance(source, (str, os.PathLike)) and "://" not in os.fspath(source)
    on_pool = local and settings.scheduler is None and settings.workers != 1
    index = index_dataset(source, layout=layout, validation_percentage=validation_percentage,
                          testing_percentage=testing_percentage, probe_headers=False,
                          content_hashes=not on_pool)
    if on_pool:
        _hash_on_pool(index, settings.workers)
    return index


def _hash_on_pool(index: "pd.DataFrame", workers: int | None) -> None:
    """Fill ``index["content_hash"]`` for the rows that are files (a Parquet shard's rows keep
    what a headerless index gives them: the shard's mtime, no hash), on the local pool when there
    are enough of them."""
    root = index.attrs["root"]
    # a file the listing found (it has a size), not a row of a Parquet shard
    rows = np.flatnonzero(index["size_bytes"].notna().to_numpy() & (index["source"].fillna("") == "").to_numpy())
    paths = [locate(root, p) for p in index["path"].iloc[rows].tolist()]
    if len(paths) < _POOL_MIN_FILES:
        hashes = hash_paths((0, tuple(paths)))[1]
    else:
        chunks = [(k, tuple(paths[k:k + _HASH_CHUNK])) for k in range(0, len(paths), _HASH_CHUNK)]
        parts = dict(run_chunks(hash_paths, chunks, workers=workers, sizes=[len(c[1]) for c in chunks],
                                desc="kwscope hashing", progress=False))
        hashes = [h for k, _ in chunks for h in parts[k]]
    column = index["content_hash"].astype(object).to_numpy(copy=True)
    column[rows] = hashes
    index["content_hash"] = column


def hash_paths(chunk: tuple[int, tuple[str, ...]]) -> tuple[int, list]:
    """The task: ``(first, paths)`` -> ``(first, [content_hash(path) or None, ...])``."""
    first, paths = chunk
    return first, [content_hash(None, p) for p in paths]
