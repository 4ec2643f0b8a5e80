"""The pass over a manifest: fixed chunks that never cross a label, their cache keys, and the
results in chunk order (cache hits read back, misses run on the engine)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:  # the workers never need pandas: keep it off their start-up
    import pandas as pd

from ...engine import run_chunks
from ...settings import RunSettings
from .chunks import ChunkResult, ProfileTask, profile_chunk
from .config import _CACHE_VERSION, ProfileConfig


@dataclass(frozen=True)
class ChunkPlan:
    """The fixed chunks of a manifest: ``tasks[i]`` covers manifest rows ``rows[i]``.

    ``key(i)`` is chunk ``i``'s cache key: the profile config and, for each file, its absolute
    location, size, mtime with its content hash, readability, category and label.
    """

    tasks: list[ProfileTask]
    rows: list[np.ndarray]
    sizes: list
    mtimes: list

    def key(self, i: int, *, config: ProfileConfig | None = None) -> str:
        rows = self.rows[i]
        return self.tasks[i].cache_key([self.sizes[r] for r in rows], [self.mtimes[r] for r in rows],
                                       config=config)


def plan_chunks(manifest: pd.DataFrame, *, config: ProfileConfig, chunk_size: int = 256) -> ChunkPlan:
    """Split the (sorted) manifest into fixed-size chunks that do not cross a label boundary."""
    root = str(manifest.attrs.get("root", ""))
    paths = manifest["path"].astype(str).to_numpy()
    labels = manifest["label"].fillna("").astype(str).to_numpy()
    speech = ((manifest["category"] == "speech") & manifest["label"].notna()).to_numpy()
    readable = (manifest["status"] == "ok").to_numpy()
    sizes = manifest["size_bytes"].astype("object").where(manifest["size_bytes"].notna(), None).tolist()
    mtimes = manifest["mtime_ns"].astype("object").where(manifest["mtime_ns"].notna(), None).tolist()
    if "content_hash" in manifest.columns:  # a file rewritten with its size and mtime kept is new
        mtimes = [f"{m}/{h}" if isinstance(h, str) else m for m, h in zip(mtimes, manifest["content_hash"].tolist())]
    rates = manifest["sample_rate"].astype("object").where(manifest["sample_rate"].notna(), None).tolist()
    limits = [None if r is None else max(1, int(config.max_seconds * int(r))) for r in rates]
    sources = source_rows = None
    if "source" in manifest.columns and (manifest["source"].fillna("") != "").any():
        sources = manifest["source"].fillna("").astype(str).tolist()
        source_rows = manifest["source_row"].fillna(-1).astype("int64").tolist()
    column = str(manifest.attrs.get("audio_column") or "audio")
    tasks, rows = [], []
    n = len(manifest)
    start = 0
    while start < n:
        end = start + 1
        while end < n and end - start < chunk_size and labels[end] == labels[start]:
            end += 1
        sl = slice(start, end)
        tasks.append(ProfileTask(
            chunk_id=len(tasks), root=root, paths=tuple(paths[sl]), labels=tuple(labels[sl]),
            speech=tuple(bool(v) for v in speech[sl]), readable=tuple(bool(v) for v in readable[sl]),
            max_samples=tuple(limits[sl]), config=config,
            sources=tuple(sources[sl]) if sources else (), source_rows=tuple(source_rows[sl]) if sources else (),
            audio_column=column,
        ))
        rows.append(np.arange(start, end))
        start = end
    return ChunkPlan(tasks, rows, sizes, mtimes)


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / _CACHE_VERSION / key[:2] / f"{key}.npz"


def iter_chunk_results(plan: ChunkPlan, settings: RunSettings) -> Iterator[ChunkResult]:
    """Run the pass and yield each chunk's result **in chunk order** (cache hits without work).

    ``settings`` says where the misses run and where the cache is (``cache_dir=None``: none).

    Results that finish early wait in a small reorder buffer, so the parent's sums are combined in
    a fixed order and two runs give bit-identical aggregates.
    """
    cdir = Path(settings.cache_dir) if settings.cache_dir is not None else None
    keys: dict[int, str] = {}
    hits = set()
    if cdir is not None:
        keys = {i: plan.key(i) for i in range(len(plan.tasks))}
        hits = {i for i, key in keys.items() if _cache_path(cdir, key).is_file()}
        if plan.tasks and not plan.tasks[0].config.full:
            # A full entry holds everything a light run needs, computed the same way.
            full = dataclasses.replace(plan.tasks[0].config, full=True)
            for i in range(len(plan.tasks)):
                if i not in hits:
                    key = plan.key(i, config=full)
                    if _cache_path(cdir, key).is_file():
                        keys[i] = key
                        hits.add(i)
    misses = [i for i in range(len(plan.tasks)) if i not in hits]
    ready: dict[int, ChunkResult] = {}
    next_id = 0

    def drain() -> Iterator[ChunkResult]:
        nonlocal next_id
        while next_id < len(plan.tasks):
            if next_id in ready:
                yield ready.pop(next_id)
            elif next_id in hits:
                try:  # an .npz is a zip: every array's CRC-32 is checked as it is read
                    result = ChunkResult.load(_cache_path(cdir, keys[next_id]), next_id)
                except Exception:  # damaged entry (bad CRC, truncated, not a zip): recompute, own key
                    keys[next_id] = plan.key(next_id)
                    result = _store(profile_chunk(plan.tasks[next_id]))
                yield result
            else:
                return
            next_id += 1

    def _store(result: ChunkResult) -> ChunkResult:
        if cdir is not None:
            try:
                result.save(_cache_path(cdir, keys[result.chunk_id]))
            except OSError:
                pass  # a read-only or full cache never stops the analysis
        return result

    yield from drain()
    if misses:
        tasks = [plan.tasks[i] for i in misses]
        sizes = [len(t.paths) for t in tasks]
        for result in run_chunks(profile_chunk, tasks, workers=settings.workers, scheduler=settings.scheduler,
                                 sizes=sizes, desc="profiling", progress=settings.progress):
            ready[result.chunk_id] = _store(result)
            yield from drain()
    yield from drain()
