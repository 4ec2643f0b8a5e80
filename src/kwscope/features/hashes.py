"""What a store read: each row's content hash (:func:`kwscope.io.scan.content_hash`), so that a
file rewritten with its size and mtime kept (``cp -p``, ``rsync -t``) is a changed file.

A new store hashes nothing before the work. Each worker hashes the bytes it reads (a 1-s clip is
read whole in one call, so its hash costs one SHA-1 of 32 KiB, about 20 us), and each chunk's
record keeps them; the manifest gets them at the end. A pass over every file before the work
cost about 2 s of a 12-s run over 60,000 clips, while the pool sat idle. Only a run that finds a
store, to resume it or to find it up to date, hashes the listed files again (:func:`hash_rows`,
on the worker pool for many local files) and compares.
"""

from __future__ import annotations

from ..engine import run_chunks
from ..io.scan import location_hash
from ..io.sources import NoiseSlice, locate
from ..io.urls import is_url
from ..settings import RunSettings

__all__ = ["row_hash", "hash_rows"]

#: Below this many rows, hashing in this process costs less than handing it out.
_POOL_MIN_FILES = 8000
#: Rows one hashing task takes.
_HASH_CHUNK = 4000


def row_hash(root: str, path: str, source: str, seen: dict[str, str]) -> str:
    """The content hash of the file a row's audio comes from, ``""`` when there is none to hash
    or it cannot be read (its read says why).

    A file row hashes its file; a ``_silence_`` row (a :class:`~kwscope.io.sources.NoiseSlice`)
    its background recording (hashed once per ``seen``); a Parquet shard's row nothing: the
    shard's size and mtime are in the store's plan.
    """
    if not source:
        return location_hash(locate(root, path)) or ""
    piece = NoiseSlice.parse(source)
    if piece is None or not piece.file:
        return ""
    if piece.file not in seen:
        seen[piece.file] = location_hash(locate(root, piece.file)) or ""
    return seen[piece.file]


def hash_rows(root: str, paths: list[str], sources: list[str], settings: RunSettings) -> list[str]:
    """:func:`row_hash` of every row, on the local worker pool when there are many (a local
    root, no ``--scheduler``), else here."""
    sources = sources or [""] * len(paths)
    on_pool = (len(paths) >= _POOL_MIN_FILES and not is_url(root) and settings.scheduler is None
               and settings.workers != 1)
    if not on_pool:
        return hash_rows_task((0, root, tuple(paths), tuple(sources)))[1]
    chunks = [(k, root, tuple(paths[k:k + _HASH_CHUNK]), tuple(sources[k:k + _HASH_CHUNK]))
              for k in range(0, len(paths), _HASH_CHUNK)]
    parts = dict(run_chunks(hash_rows_task, chunks, workers=settings.workers, sizes=[len(c[2]) for c in chunks],
                            desc="kwscope hashing", progress=False))
    return [h for k, *_ in chunks for h in parts[k]]


def hash_rows_task(chunk: tuple[int, str, tuple[str, ...], tuple[str, ...]]) -> tuple[int, list[str]]:
    """The task: ``(first, root, paths, sources)`` -> ``(first, [row_hash, ...])``."""
    first, root, paths, sources = chunk
    seen: dict[str, str] = {}
    return first, [row_hash(root, p, s, seen) for p, s in zip(paths, sources)]
