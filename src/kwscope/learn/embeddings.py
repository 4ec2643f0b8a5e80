"""The embedding pass over a manifest: fixed chunks of rows run on the engine
(:func:`kwscope.engine.run_chunks`: this process, a local pool or Dask), each chunk's result
cached on disk when a cache folder is given (keyed on the embedding config and every file's
location, size and mtime), and the embeddings gathered in manifest order."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine import run_chunks
from ..settings import RunSettings
from .chunks import EmbedResult, EmbedTask, embed_chunk
from .embedding import EmbeddingConfig

__all__ = ["Embeddings", "clip_embeddings", "DEFAULT_CHUNK_SIZE"]

#: Files a task of the embedding pass, unless the settings say otherwise.
DEFAULT_CHUNK_SIZE = 256
_CACHE = "learn-embeddings-v1"


@dataclass
class Embeddings:
    """Every manifest row's embedding: ``X[i]`` of row ``i`` (NaN where ``ok[i]`` is False, with the
    reason in ``errors[i]``)."""

    X: np.ndarray  # (n, dim) float32
    ok: np.ndarray  # (n,) bool
    errors: np.ndarray  # (n,) str
    config: EmbeddingConfig
    info: dict = field(default_factory=dict)  # chunks, cache hits, seconds


def _tasks(manifest: pd.DataFrame, config: EmbeddingConfig, chunk_size: int, kind: str = "embedding"):
    root = str(manifest.attrs.get("root", ""))
    paths = manifest["path"].astype(str).tolist()
    sizes = (manifest["size_bytes"].astype("object").where(manifest["size_bytes"].notna(), None).tolist()
             if "size_bytes" in manifest else [None] * len(paths))
    mtimes = (manifest["mtime_ns"].astype("object").where(manifest["mtime_ns"].notna(), None).tolist()
              if "mtime_ns" in manifest else [None] * len(paths))
    sources = source_rows = None
    if "source" in manifest.columns and (manifest["source"].fillna("") != "").any():
        sources = manifest["source"].fillna("").astype(str).tolist()
        source_rows = manifest["source_row"].fillna(-1).astype("int64").tolist()
    column = str(manifest.attrs.get("audio_column") or "audio")
    tasks, rows, keys = [], [], []
    for k, start in enumerate(range(0, len(paths), chunk_size)):
        sl = slice(start, start + chunk_size)
        task = EmbedTask(k, root, tuple(paths[sl]), config,
                         sources=tuple(sources[sl]) if sources else (),
                         source_rows=tuple(source_rows[sl]) if sources else (), audio_column=column, kind=kind)
        tasks.append(task)
        rows.append(np.arange(start, min(start + chunk_size, len(paths))))
        keys.append(task.cache_key(sizes[sl], mtimes[sl]))
    return tasks, rows, keys


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / _CACHE / key[:2] / f"{key}.npz"


def embedding_keys(manifest: pd.DataFrame, config: EmbeddingConfig | None = None,
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[str]:
    """The cache keys of the pass's chunks over ``manifest`` (what a cached baseline is keyed on)."""
    return _tasks(manifest, config or EmbeddingConfig(), chunk_size)[2]


def clip_embeddings(manifest: pd.DataFrame, *, config: EmbeddingConfig | None = None,
                    settings: RunSettings | None = None, kind: str = "embedding") -> Embeddings:
    """Embed every row of ``manifest`` (:mod:`kwscope.learn.embedding`) on the engine.

    Parameters
    ----------
    manifest
        From :func:`kwscope.index_dataset` (its ``attrs["root"]`` locates the files).
    config
        The embedding's settings (default :class:`EmbeddingConfig`).
    settings
        Workers, Dask scheduler, progress, files a task, and the cache folder (``None``: no cache).
    kind
        ``embedding`` (``X`` is ``(n, config.dim)`` float32) or ``spectrogram`` (the CNN's input:
        ``(n, n_mels, frames)`` float16, :mod:`kwscope.learn.spectrograms`).
    """
    t0 = time.perf_counter()
    config = config or EmbeddingConfig()
    settings = settings or RunSettings()
    chunk_size = settings.chunk_size or DEFAULT_CHUNK_SIZE
    tasks, rows, keys = _tasks(manifest, config, chunk_size, kind)
    n = len(manifest)
    probe = EmbedTask(0, "", (), config, kind=kind)
    X = np.full((n,) + probe.row_shape(), np.nan, probe.row_dtype())
    ok = np.zeros(n, bool)
    errors = np.full(n, "", dtype=object)
    cdir = Path(settings.cache_dir) if settings.cache_dir is not None else None
    misses, hits = [], 0

    def place(res: EmbedResult) -> None:
        r = rows[res.chunk_id]
        X[r], ok[r], errors[r] = res.X, res.ok, res.errors

    for task, key in zip(tasks, keys):
        if cdir is not None and _cache_path(cdir, key).is_file():
            try:
                place(EmbedResult.load(_cache_path(cdir, key), task.chunk_id))
                hits += 1
                continue
            except (OSError, ValueError, KeyError):  # damaged entry: compute again
                pass
        misses.append(task)
    if misses:
        desc = "embedding" if kind == "embedding" else "spectrograms"
        for res in run_chunks(embed_chunk, misses, workers=settings.workers, scheduler=settings.scheduler,
                              sizes=[len(t.paths) for t in misses], desc=desc, progress=settings.progress):
            place(res)
            if cdir is not None:
                try:
                    res.save(_cache_path(cdir, keys[res.chunk_id]))
                except OSError:
                    pass  # a read-only or full cache never stops the pass
    info = {"chunks": len(tasks), "cache_hits": hits, "files": n, "seconds": round(time.perf_counter() - t0, 3)}
    return Embeddings(X, ok, errors.astype(str), config, info)
