"""Dataset-scale feature extraction: the pipeline over every readable file, into a feature store.

How a run goes (every step can be killed with SIGKILL; rerunning the same command resumes):

0. **List** DATA (:func:`kwscope.dataset.index_dataset` without opening the files: paths,
   layout keys, sizes, mtimes) and **plan**: the files sorted by path, cut into fixed-size chunks
   (``chunk_size`` files, fixed for the life of the store), so that the local pool and Dask
   compute the very same chunks. ``store.json`` records the config, its hash and a fingerprint of
   the listing; another config or changed data is refused.
1. **Raw features** (steps 1-4), one task a chunk on the engine: each worker reads its files
   (header first: its errors are reported as the index's), computes their features in one batch
   and writes them, then ``.work/chunk-K.npz`` (rows done, files skipped with reasons, the
   headers, float64 sums of the train rows) -- to a temporary name, then renamed. A chunk counts
   as done when its ``chunk-K.npz`` exists; a rerun computes only the others. Where the features
   have one fixed shape raw and final (fixed length, no stacking: the default) the raw features
   go straight into the chunk's row slots of ``.work/features.npy.partial``, preallocated with
   its ``.npy`` header and one slot per file; otherwise into ``.work/raw-K.npy``.
2. **Statistics**: the per-chunk sums are added in chunk order (deterministic, so a resumed run
   gets bit-identical mean and scale) -- train rows only, all rows when the layout has no splits.
   The store's description is then final and written: ``stats.npz``, ``errors.parquet``,
   ``store.json``.
3. **Final features** (steps 5-6), one task a chunk:
   - every file gave features, slots in use: normalize each chunk **in place** (marked
     ``inplace-K.started``, then ``inplace-K``; a chunk found started but not finished is
     computed again from its audio, since its slots may hold half-normalized values);
   - otherwise: normalize and stack the chunk's raw features and write them at their row offset
     into a new preallocated file (``features.npy.compact`` from slots, ``features.npy.partial``
     from ``raw-K``), then mark ``done-K``. Rewriting a chunk writes the same bytes, so a task
     interrupted half way is simply run again.
4. **Publish**: rename the full file to ``features.npy``, write ``manifest.parquet`` (last: the
   store is complete when it exists), remove ``.work``.

Workers write their own results; the parent only holds the index and per-chunk counts, so memory
stays flat whatever the number of files. Broken files are skipped and listed, never fatal.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import __version__, _wav
from .audio import AudioError, probe, read_clip
from .engine import run_chunks
from .pipeline import FeaturePipeline, FeatureStats, PipelineConfig, PipelineError
from .store import (
    CONFIG_FILE, ERRORS_FILE, FEATURES_FILE, FORMAT, FORMAT_VERSION, MANIFEST_FILE, STATS_FILE,
    STORE_FILE, WORK_DIR, StoreError, atomic_save_npy, atomic_save_npz, atomic_write_bytes,
    atomic_write_json, read_store_info,
)

if TYPE_CHECKING:  # pandas is imported only in the parent: workers stay light
    import pandas as pd

__all__ = ["extract_features", "ExtractResult", "DEFAULT_CHUNK_SIZE"]

#: Most files a task. Big enough that a batch FFT amortises per-call costs, small enough that a
#: worker's memory stays around 100-200 MB and the progress bar moves.
DEFAULT_CHUNK_SIZE = 512
#: Bytes of the largest per-task array (audio, raw or final features) the default chunk size
#: aims at: 1-s clips give DEFAULT_CHUNK_SIZE files a task, 10-s clips about 50.
_CHUNK_BYTES = 40 * 2**20
#: Longest recording decoded (samples); longer files are skipped rather than filling memory.
MAX_SAMPLES = 1 << 24

_PARTIAL = "features.npy.partial"
_COMPACT = "features.npy.compact"
_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class ExtractResult:
    """What a run produced."""

    out: Path
    n_rows: int  # clips with features
    n_errors: int  # files skipped (index + read + features)
    shape: tuple[int, ...]  # of features.npy
    config_hash: str
    up_to_date: bool  # True when the store was already complete: nothing was computed
    errors: pd.DataFrame  # path, label, split, stage, error
    seconds: dict  # wall time of each stage: index, features, normalize, publish


# --------------------------------------------------------------------------- tasks (workers)


@dataclass(frozen=True)
class _RawTask:
    """Phase 1 for one chunk: read, steps 1-4, statistics. Small and picklable.

    With ``slots`` set (fixed-length features, no stacking) the raw features are written straight
    into the output file, at ``offset``: the chunk's first row slot; else into ``raw-K.npy``.
    """

    chunk: int
    root: str
    paths: tuple[str, ...]
    fit: tuple[bool, ...]  # does each file count for the normalization statistics
    config: dict
    work: str
    slots: str | None = None  # the preallocated output file
    offset: int = 0  # byte offset of the chunk's first row slot in ``slots``


@dataclass(frozen=True)
class _FinalTask:
    """Phase 2 for one chunk: steps 5-6 of its raw features, written at ``offset`` of ``target``.

    The raw features come from ``raw-K.npy``, or from ``source`` at ``source_offset`` (the row
    slots phase 1 wrote). ``target == source`` and equal offsets normalize in place.
    """

    chunk: int
    work: str
    target: str
    offset: int  # byte offset of the chunk's first value in ``target``
    n_values: int  # float32 values the chunk writes (a check)
    config: dict
    stats: tuple  # (n_frames, n_clips, sum, sumsq) of the whole training set
    source: str | None = None
    source_offset: int = 0
    n_rows: int = 0  # clips of the chunk (with ``source``)

    @property
    def in_place(self) -> bool:
        return self.source == self.target and self.source_offset == self.offset


def _raw_path(work: str, k: int) -> str:
    return os.path.join(work, f"raw-{k:06d}.npy")


def _meta_path(work: str, k: int) -> str:
    return os.path.join(work, f"chunk-{k:06d}.npz")


def _done_path(work: str, k: int) -> str:
    return os.path.join(work, f"done-{k:06d}")


def _in_place_path(work: str, k: int, *, started: bool = False) -> str:
    """Marks of a chunk normalized in place: being rewritten (started), or rewritten."""
    return os.path.join(work, f"inplace-{k:06d}{'.started' if started else ''}")


def _touch(path: str) -> None:
    with open(path, "wb"):
        pass


def _single_threaded():
    """BLAS threads fight the worker processes for the cores; one thread a worker is fastest."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


class _Headers:
    """What each file's header says, gathered by the workers for the manifest's columns."""

    def __init__(self, n: int):
        self.sample_rate = np.full(n, -1, np.int64)
        self.channels = np.full(n, -1, np.int64)
        self.n_samples = np.full(n, -1, np.int64)
        self.subtype = [""] * n
        self.format = [""] * n

    def set(self, i: int, sample_rate: int, channels: int, n_samples: int, subtype: str, fmt: str) -> None:
        self.sample_rate[i], self.channels[i], self.n_samples[i] = sample_rate, channels, n_samples
        self.subtype[i], self.format[i] = subtype, fmt

    def arrays(self) -> dict[str, np.ndarray]:
        return {"hdr_sample_rate": self.sample_rate, "hdr_channels": self.channels,
                "hdr_n_samples": self.n_samples, "hdr_subtype": np.array(self.subtype, dtype=str),
                "hdr_format": np.array(self.format, dtype=str)}


def extract_raw_chunk(task: _RawTask) -> tuple[int, int, int]:
    """Phase 1 task (top-level, so it pickles for process pools and Dask).

    Returns ``(chunk, files with features, files skipped)``; everything else goes to disk.
    """
    with _single_threaded():
        pipe = FeaturePipeline(PipelineConfig.from_dict(task.config))
        cfg = pipe.config
        length = cfg.length_samples
        n = len(task.paths)
        ok: list[int] = []
        errors: list[tuple[int, str, str]] = []
        prepared: list[np.ndarray] = []
        headers = _Headers(n)
        batch = np.empty((n, length), np.float32) if length is not None else None
        # The common case -- 16-bit mono WAV already at the target rate and length, no VAD -- is
        # decoded straight into its batch row; anything else goes through probe, read_clip and
        # prepare (the header is read first so that its errors are reported as the index's).
        direct = length is not None and not cfg.vad
        for i, rel in enumerate(task.paths):
            path = f"{task.root}/{rel}"
            if direct and batch is not None:
                if _read_pcm16_into(path, batch[len(ok)], cfg.sample_rate):
                    headers.set(i, cfg.sample_rate, 1, length, "PCM_16", "WAV")
                    ok.append(i)
                    continue
            try:
                info = probe(path)
            except AudioError as exc:
                errors.append((i, "index", exc.reason))
                continue
            except Exception as exc:  # a decoder failure we did not foresee: still one file
                errors.append((i, "index", f"{type(exc).__name__}: {exc}"))
                continue
            headers.set(i, info.sample_rate, info.channels, info.n_samples, info.subtype, info.format)
            try:
                clip = read_clip(path, max_samples=MAX_SAMPLES)
            except AudioError as exc:
                errors.append((i, "read", exc.reason))
                continue
            except Exception as exc:
                errors.append((i, "read", f"{type(exc).__name__}: {exc}"))
                continue
            if clip.truncated:
                errors.append((i, "read", f"longer than {MAX_SAMPLES} samples: not a short utterance"))
                continue
            try:
                x = pipe.prepare(clip.samples, sample_rate=clip.sample_rate)
            except Exception as exc:
                errors.append((i, "features", _reason(exc)))
                continue
            if batch is not None:
                batch[len(ok)] = x
            else:
                prepared.append(x)
            ok.append(i)

        if batch is not None:
            feats, bad = _compute_fixed(pipe, batch[:len(ok)])
        else:
            feats, bad = _compute_variable(pipe, prepared)
        for j in sorted(bad, reverse=True):  # drop clips whose features failed
            errors.append((ok[j], "features", bad[j]))
            del ok[j]
        # The clips the statistics are taken from (none when nothing is normalized).
        fit = np.array([task.fit[i] and cfg.normalize != "none" for i in ok], dtype=bool)
        if batch is not None:
            n_frames = np.full(len(ok), feats.shape[1], np.int64)
            stats = FeatureStats.of(feats if fit.all() else feats[fit])
        else:
            n_frames = np.array([f.shape[0] for f in feats], np.int64)
            stats = FeatureStats.of([f for f, keep in zip(feats, fit) if keep])
            feats = (np.concatenate(feats) if feats else np.zeros((0, cfg.n_coeffs), np.float32))
        if stats.sum is None:
            stats = FeatureStats(0, 0, np.zeros(cfg.n_coeffs), np.zeros(cfg.n_coeffs))
        errors.sort()
        data = np.ascontiguousarray(feats, dtype=_DTYPE)
        if task.slots is not None:
            _pwrite_all(task.slots, memoryview(data).cast("B"), task.offset)
        else:
            atomic_save_npy(_raw_path(task.work, task.chunk), data)
        # The chunk's result file is written last: its presence means the chunk is done.
        atomic_save_npz(
            _meta_path(task.work, task.chunk),
            rows=np.array(ok, np.int64),
            n_frames=n_frames,
            err_rows=np.array([e[0] for e in errors], np.int64),
            err_stage=np.array([e[1] for e in errors], dtype=str),
            err_reason=np.array([e[2] for e in errors], dtype=str),
            stat_frames=np.int64(stats.n_frames),
            stat_clips=np.int64(stats.n_clips),
            stat_sum=stats.sum,
            stat_sumsq=stats.sumsq,
            **headers.arrays(),
        )
    return task.chunk, len(ok), len(errors)


def _read_pcm16_into(path: str, row: np.ndarray, sample_rate: int) -> bool:
    """Decode a plain local 16-bit mono WAV of exactly ``len(row)`` samples at ``sample_rate``
    into ``row`` (scaled as :func:`kwscope.audio.read_clip` does: int16 / 32768).

    Returns False, touching nothing that matters, for anything else (other formats, rates or
    lengths, URLs, unreadable files): the caller then takes the general path, which also
    produces the error messages.
    """
    got = _wav.read_pcm16_mono(path)
    if got is None or got[1] != sample_rate or got[0].shape[0] != row.shape[0]:
        return False
    np.multiply(got[0], _wav.PCM16_SCALE, out=row)
    return True


def _reason(exc: Exception) -> str:
    if isinstance(exc, (PipelineError, ValueError)):
        return " ".join(str(exc).split())
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _compute_fixed(pipe: FeaturePipeline, batch: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """Step 4 on the whole batch; if that fails, clip by clip so one bad clip costs only itself."""
    try:
        return pipe.compute(batch), {}
    except Exception:
        pass
    cfg = pipe.config
    frames = cfg.frames_for(batch.shape[1])
    out = np.empty((batch.shape[0], frames, cfg.n_coeffs), np.float32)
    bad: dict[int, str] = {}
    for j in range(batch.shape[0]):
        try:
            out[j] = pipe.compute(batch[j:j + 1])[0]
        except Exception as exc:
            bad[j] = _reason(exc)
    keep = [j for j in range(batch.shape[0]) if j not in bad]
    return out[keep], bad


def _compute_variable(pipe: FeaturePipeline, clips: list[np.ndarray]) -> tuple[list[np.ndarray], dict[int, str]]:
    feats: list[np.ndarray] = []
    bad: dict[int, str] = {}
    for j, x in enumerate(clips):
        try:
            feats.append(pipe.compute(x[np.newaxis])[0])
        except Exception as exc:
            bad[j] = _reason(exc)
    return feats, bad


def finish_chunk(task: _FinalTask) -> tuple[int, int]:
    """Phase 2 task: normalize and stack one chunk's raw features, write them at their place.

    Returns ``(chunk, values written)``.
    """
    done = (_in_place_path(task.work, task.chunk) if task.in_place else _done_path(task.work, task.chunk))
    if os.path.exists(done):
        # Already written: a rerun of a task whose worker died after finishing (Dask retries it)
        # must not look for the raw file it deleted, nor normalize twice.
        return task.chunk, task.n_values
    with _single_threaded():
        pipe = FeaturePipeline(PipelineConfig.from_dict(task.config))
        cfg = pipe.config
        n_frames, n_clips, total_sum, total_sumsq = task.stats
        if cfg.normalize != "none":
            pipe.partial_fit_stats(FeatureStats(n_frames, n_clips, np.asarray(total_sum), np.asarray(total_sumsq)))
        if task.source is not None:  # row slots: fixed length, no stacking
            mean, scale = pipe._fitted() if cfg.normalize != "none" else (None, None)
            if task.in_place:
                # From here until `done` the slots hold neither raw nor final values for certain:
                # a rerun that finds `started` alone computes the chunk again from its audio.
                _touch(_in_place_path(task.work, task.chunk, started=True))
            _normalize_slots(task, cfg.n_coeffs, mean, scale)
            _touch(done)
            return task.chunk, task.n_values
        raw_path = _raw_path(task.work, task.chunk)
        try:  # mapped: transform_features makes the one copy it needs
            raw = np.load(raw_path, mmap_mode="r", allow_pickle=False)
        except ValueError:  # an empty array cannot be mapped
            raw = np.load(raw_path, allow_pickle=False)
        if cfg.length_samples is not None or cfg.stack == 1:
            # Fixed length: (n, frames, coeffs). Variable length without stacking: normalizing
            # the concatenated frames at once is the same as clip by clip.
            out = pipe.transform_features(raw) if raw.shape[0] else raw
        else:
            with np.load(_meta_path(task.work, task.chunk), allow_pickle=False) as meta:
                counts = meta["n_frames"]
            bounds = np.concatenate(([0], np.cumsum(counts)))
            parts = [pipe.transform_features(raw[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
            out = np.concatenate(parts) if parts else np.zeros((0, cfg.n_coeffs * cfg.stack), np.float32)
        data = np.ascontiguousarray(out, dtype=_DTYPE)
        if data.size != task.n_values:
            raise StoreError(f"chunk {task.chunk}: {data.size} values computed, {task.n_values} planned "
                             "(the store's work files do not match; rerun with --overwrite)")
        _pwrite_all(task.target, memoryview(data).cast("B"), task.offset)
        _touch(done)
        try:
            os.unlink(raw_path)
        except FileNotFoundError:
            pass
    return task.chunk, int(data.size)


_BLOCK_BYTES = 1 << 20  # normalized a block at a time: stays in cache, one buffer reused


def _normalize_slots(task: _FinalTask, n_coeffs: int, mean: np.ndarray | None, scale: np.ndarray | None) -> None:
    """Step 5 on a chunk's row slots, block by block: ``(x - mean) / scale`` in float32 (the very
    operations of :meth:`FeaturePipeline.transform_features`, so the same bits), written at
    ``task.offset`` of ``task.target`` -- the same place for in-place, else a compacted one."""
    per_block = max(1, _BLOCK_BYTES // _DTYPE.itemsize // n_coeffs) * n_coeffs  # whole frames
    buf = np.empty(per_block, _DTYPE)
    src = os.open(task.source, os.O_RDONLY)
    dst = os.open(task.target, os.O_WRONLY)
    try:
        done = 0
        while done < task.n_values:
            block = buf[:min(per_block, task.n_values - done)]
            raw = memoryview(block).cast("B")
            if os.preadv(src, [raw], task.source_offset + done * _DTYPE.itemsize) != len(raw):
                raise StoreError(f"{task.source}: shorter than planned (the store's work files do not "
                                 "match; rerun with --overwrite)")
            if mean is not None:
                rows = block.reshape(-1, n_coeffs)
                rows -= mean
                rows /= scale
            _pwrite_fd(dst, raw, task.offset + done * _DTYPE.itemsize)
            done += block.size
    finally:
        os.close(src)
        os.close(dst)


def _pwrite_all(path: str, data: memoryview, offset: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        _pwrite_fd(fd, data, offset)
    finally:
        os.close(fd)


def _pwrite_fd(fd: int, data: memoryview, offset: int) -> None:
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:done + (1 << 30)], offset + done)


# --------------------------------------------------------------------------- the run (parent)


def extract_features(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    config: PipelineConfig | None = None,
    layout: str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    validation_percentage: float = 10.0,
    testing_percentage: float = 10.0,
) -> ExtractResult:
    """Run the feature pipeline over every readable recording of DATA into the store ``out``.

    Parameters
    ----------
    data
        The dataset folder (a path, ``file://`` or fsspec URL).
    out
        The store folder (local or shared filesystem; Dask workers write into it).
    config
        The pipeline settings; default ``PipelineConfig()``.
    layout
        ``auto``, ``speech-commands``, ``fsdd`` or ``folders`` (labels, speakers, splits).
    workers
        Local worker processes (default: one per core; 1 runs in this process).
    scheduler
        A Dask scheduler address; the tasks run there instead (``out`` must be shared).
    chunk_size
        Files per task for a new store; default: up to 512, fewer for long clips so that a task's
        arrays stay near 40 MiB. A resumed store keeps the chunk size it was started with, which
        is what makes a resumed run identical to an uninterrupted one.
    overwrite
        Replace a store of another config (or of changed data) instead of refusing.
    progress
        Progress bar: ``None`` on a terminal only.
    validation_percentage, testing_percentage
        Speech Commands hash split, when DATA has no split lists.

    Returns
    -------
    ExtractResult

    Raises
    ------
    StoreError
        ``out`` holds a store of another config or of other data (without ``overwrite``), is not
        a store, is being written by another run, or no training clip could be read.
    DatasetError, LayoutError
        DATA is not a usable dataset folder.
    """
    from .dataset import index_dataset
    from .fsspec_io import resolve_data

    cfg = config if config is not None else PipelineConfig()
    if not isinstance(cfg, PipelineConfig):
        raise StoreError(f"config={cfg!r} must be a PipelineConfig")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise StoreError(f"chunk_size={chunk_size!r} must be a positive integer")
    if "://" in os.fspath(out):
        raise StoreError(f"{out}: the feature store must be a folder path (local or shared), not a URL")
    out = Path(os.path.abspath(out))  # workers (Dask's too) may run in another directory
    source = resolve_data(data, distributed=bool(scheduler))
    if scheduler is None and workers != 1:
        _warm_up_workers()
    started = time.perf_counter()
    # Only listed here: the workers open every file anyway, and read its header then.
    index = index_dataset(source, layout=layout, validation_percentage=validation_percentage,
                          testing_percentage=testing_percentage, probe_headers=False)
    plan = _Plan.of(index, cfg)
    seconds = {"index": time.perf_counter() - started}

    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        info = read_store_info(out) if out.is_dir() else None
        if info is not None:
            reason = _mismatch(info, cfg, plan)
            if reason and not overwrite:
                raise StoreError(f"{out}: {reason}; use --overwrite to replace it, or another OUT folder")
            if reason or overwrite:
                _wipe(out)
                info = None
        if info is None:
            _claim(out, cfg, plan, chunk_size or _default_chunk_size(cfg, plan))
            info = read_store_info(out)
        elif info.get("state") == "complete" and (out / MANIFEST_FILE).is_file():
            shutil.rmtree(out / WORK_DIR, ignore_errors=True)
            return _result(out, info, up_to_date=True, seconds=seconds)
        return _run(out, info, cfg, plan, workers=workers, scheduler=scheduler, progress=progress,
                    seconds=seconds)


def _warm_up_workers() -> None:
    """Start the local pool's fork server (and its imports) while this process indexes DATA.

    The engine's pool forks its workers from one fork server a process; started here, in a
    thread, its second or two of imports overlap the index instead of delaying the first task,
    and every worker starts with the feature code already imported.
    """
    import multiprocessing as mp
    import threading
    from multiprocessing import forkserver

    def start():
        try:
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["numpy", "scipy.fft", "scipy.signal", "soxr", "soundfile", "kwscope",
                                        "kwscope.extract"])
            forkserver.ensure_running()
        except Exception:  # pragma: no cover - the engine starts it the usual way then
            pass

    threading.Thread(target=start, name="kwscope-warm-up", daemon=True).start()


class _Plan:
    """The indexed files in the order (and so the chunks) every run of this store uses."""

    def __init__(self, index: pd.DataFrame, ok: pd.DataFrame, fit: np.ndarray, fingerprint: str):
        self.index, self.ok, self.fit, self.fingerprint = index, ok, fit, fingerprint

    @classmethod
    def of(cls, index: pd.DataFrame, cfg: PipelineConfig) -> "_Plan":
        index = index.sort_values("path", kind="stable", ignore_index=True)
        ok = index[index["status"] == "ok"].reset_index(drop=True)
        split = ok["split"]
        has_split = bool(split.notna().any())
        fit = (split == "train").to_numpy(bool) if has_split else np.ones(len(ok), bool)
        digest = hashlib.sha256()
        digest.update(json.dumps({"layout": index.attrs.get("layout")}).encode())
        cols = ["path", "split", "status", "size_bytes", "mtime_ns"]
        listing = index[cols].astype(object).where(index[cols].notna(), None)
        digest.update(json.dumps(listing.to_numpy().tolist(), default=int).encode())
        return cls(index, ok, fit, digest.hexdigest())


def _mismatch(info: dict, cfg: PipelineConfig, plan: _Plan) -> str | None:
    if info.get("config_hash") != cfg.config_hash():
        return (f"it holds features of another pipeline config (hash {str(info.get('config_hash'))[:12]}, "
                f"this one {cfg.config_hash()[:12]})")
    if info.get("plan", {}).get("fingerprint") != plan.fingerprint:
        return "DATA changed since it was written (files added, removed or modified, or another layout)"
    return None


@contextlib.contextmanager
def _locked(out: Path):
    """One run at a time per store (an advisory lock on the folder, released even on SIGKILL)."""
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out}: exists and is not a folder")
    out.mkdir(exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"{out}: another `kwscope features` run is writing this store") from None
        yield
    finally:
        os.close(fd)


_STORE_NAMES = (MANIFEST_FILE, STORE_FILE, ERRORS_FILE, STATS_FILE, FEATURES_FILE, CONFIG_FILE)


def _wipe(out: Path) -> None:
    """Remove a store's own files (the manifest first, so readers see it incomplete at once)."""
    for name in _STORE_NAMES:
        try:
            (out / name).unlink()
        except FileNotFoundError:
            pass
    shutil.rmtree(out / WORK_DIR, ignore_errors=True)


def _default_chunk_size(cfg: PipelineConfig, plan: _Plan) -> int:
    """Files a task such that its largest array stays near ``_CHUNK_BYTES``."""
    if cfg.length_samples is not None:
        samples = cfg.length_samples
    elif len(plan.ok):  # variable length: the mean clip, at the target rate
        rates = plan.ok["sample_rate"].to_numpy(np.float64)
        samples = float(np.mean(plan.ok["n_samples"].to_numpy(np.float64) * cfg.sample_rate / rates))
    else:
        samples = cfg.sample_rate
    frames = cfg.frames_for(int(samples))
    per_clip = 4 * max(samples, frames * cfg.n_coeffs * cfg.stack)
    return int(min(DEFAULT_CHUNK_SIZE, max(8, _CHUNK_BYTES // max(1, per_clip))))


def _claim(out: Path, cfg: PipelineConfig, plan: _Plan, chunk_size: int) -> None:
    """Start a new store in ``out`` (which must be empty but for leftovers of an unborn store)."""
    others = sorted(p.name for p in out.iterdir() if p.name != WORK_DIR)
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise StoreError(f"{out}: not empty and not a kwscope feature store ({shown}); "
                         "choose a new or empty folder")
    shutil.rmtree(out / WORK_DIR, ignore_errors=True)
    info = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kwscope_version": __version__,
        "state": "running",
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash(),
        "data": {"root": plan.index.attrs.get("root"), "layout": plan.index.attrs.get("layout")},
        "plan": {"chunk_size": int(chunk_size), "fingerprint": plan.fingerprint,
                 "n_listed": len(plan.index), "n_planned": len(plan.ok)},
        "created_unix": time.time(),
    }
    atomic_write_json(out / STORE_FILE, info)
    atomic_write_bytes(out / CONFIG_FILE, cfg.to_yaml().encode())


def _forget_chunk(work: str, k: int) -> None:
    """Drop everything known of chunk ``k``: the next pass computes it again from its audio."""
    for path in (_meta_path(work, k), _raw_path(work, k), _done_path(work, k),
                 _in_place_path(work, k), _in_place_path(work, k, started=True)):
        Path(path).unlink(missing_ok=True)


@dataclass
class _Gathered:
    """Phase 1's results over all chunks, in chunk order (so deterministic)."""

    rows: list[np.ndarray]  # per chunk: positions in plan.ok of the clips with features
    frames: list[np.ndarray]  # per chunk: frames of each of those clips
    errors: list[tuple[int, str, str]]  # (position in plan.ok, stage, reason)
    stats: FeatureStats
    headers: dict[str, np.ndarray]  # hdr_* arrays over plan.ok

    @property
    def n_rows(self) -> int:
        return sum(len(r) for r in self.rows)


def _gather(work: str, bounds: list[tuple[int, int]], cfg: PipelineConfig) -> _Gathered:
    rows, frames, errs = [], [], []
    stats = FeatureStats(0, 0, np.zeros(cfg.n_coeffs), np.zeros(cfg.n_coeffs))
    empty = _Headers(0).arrays()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in empty}
    for k, (a, _) in enumerate(bounds):
        with np.load(_meta_path(work, k), allow_pickle=False) as m:
            rows.append(m["rows"] + a)
            frames.append(m["n_frames"])
            for r, stage, reason in zip(m["err_rows"], m["err_stage"], m["err_reason"]):
                errs.append((int(r) + a, str(stage), str(reason)))
            stats = stats + FeatureStats(int(m["stat_frames"]), int(m["stat_clips"]), m["stat_sum"], m["stat_sumsq"])
            for name, chunks in parts.items():
                chunks.append(m[name])
    # The chunks cover the files in order: their arrays end to end are the files' headers.
    headers = {name: np.concatenate([empty[name], *chunks]) for name, chunks in parts.items()}
    return _Gathered(rows, frames, errs, stats, headers)


def _run(out: Path, info: dict, cfg: PipelineConfig, plan: _Plan, *, workers, scheduler, progress,
         seconds: dict) -> ExtractResult:
    work = out / WORK_DIR
    work.mkdir(exist_ok=True)
    for folder in (out, work):  # temporary files of killed writers
        for p in folder.iterdir():
            if ".tmp-" in p.name and p.is_file():
                p.unlink(missing_ok=True)
    w = str(work)
    chunk_size = int(info["plan"]["chunk_size"])
    n_files = len(plan.ok)
    n_chunks = -(-n_files // chunk_size)
    bounds = [(k * chunk_size, min(n_files, (k + 1) * chunk_size)) for k in range(n_chunks)]
    root = str(plan.index.attrs["root"])
    conf = cfg.to_dict()
    final, partial, compact = out / FEATURES_FILE, work / _PARTIAL, work / _COMPACT
    fixed = cfg.length_samples is not None
    # Fixed-length features without stacking have the same shape raw and final: phase 1 writes
    # them straight into their row slots of the output file, and phase 2 normalizes them there.
    slotted = fixed and cfg.stack == 1
    raw_frames = cfg.frames_for(cfg.length_samples) if fixed else 0
    row_bytes = raw_frames * cfg.n_coeffs * _DTYPE.itemsize
    metas_present = all(os.path.exists(_meta_path(w, k)) for k in range(n_chunks))
    if final.is_file() and not metas_present:  # only if .work was tampered with
        final.unlink()
    features_ready = final.is_file()  # only a complete file is ever renamed to it
    slots_offset = 0
    if slotted and not features_ready:
        for k in range(n_chunks):  # caught half way through an in-place rewrite
            if os.path.exists(_in_place_path(w, k, started=True)) and not os.path.exists(_in_place_path(w, k)):
                _forget_chunk(w, k)
        slots_offset = _open_partial(partial, (n_files, raw_frames, cfg.n_coeffs),
                                     on_new=lambda: [_forget_chunk(w, k) for k in range(n_chunks)])

    # Phase 1: raw features and per-chunk statistics.
    started = time.perf_counter()
    paths = plan.ok["path"].tolist()
    while True:
        todo = [] if features_ready else [k for k in range(n_chunks) if not os.path.exists(_meta_path(w, k))]
        tasks = [_RawTask(k, root, tuple(paths[a:b]), tuple(plan.fit[a:b].tolist()), conf, w,
                          slots=str(partial) if slotted else None, offset=slots_offset + a * row_bytes)
                 for k in todo for a, b in [bounds[k]]]
        for _ in run_chunks(extract_raw_chunk, tasks, workers=workers, scheduler=scheduler,
                            sizes=[len(t.paths) for t in tasks], desc="features", progress=progress):
            pass
        got = _gather(w, bounds, cfg)
        in_place = slotted and got.n_rows == n_files  # else the rows are compacted into a new file
        stale = [k for k in range(n_chunks) if os.path.exists(_in_place_path(w, k))
                 or os.path.exists(_in_place_path(w, k, started=True))]
        if features_ready or in_place or not stale:
            break
        # Some file became unreadable after chunks were normalized in place by an interrupted
        # run: compaction reads the slots as raw features, so those chunks are computed again.
        for k in stale:
            _forget_chunk(w, k)
    rows, stats = got.rows, got.stats

    seconds["features"] = time.perf_counter() - started
    started = time.perf_counter()

    # Statistics in chunk order (deterministic), then the final layout.
    if cfg.normalize != "none" and stats.n_frames == 0:
        n_train = int(plan.fit.sum())
        raise StoreError(f"{out}: no training clip could be read ({n_train} files in the train split"
                         f"{'' if n_train else ' -- the layout has splits but none is train'}), so there are "
                         "no normalization statistics; fix the data or set normalize: none")
    per_row = [cfg.stacked_frames(int(f)) for f in np.concatenate(got.frames)] if got.frames else []
    out_coeffs = cfg.n_coeffs * cfg.stack
    if fixed:
        out_frames = cfg.stacked_frames(raw_frames)
        chunk_values = [len(r) * out_frames * out_coeffs for r in rows]
        shape: tuple[int, ...] = (got.n_rows, out_frames, out_coeffs)
    else:
        it = iter(per_row)
        chunk_values = [sum(next(it) for _ in range(len(r))) * out_coeffs for r in rows]
        shape = (sum(per_row), out_coeffs)

    # The store's description -- statistics, skipped files, store.json -- is complete now; it is
    # written before phase 2 because renaming over store.json while phase 2's rewrite is being
    # written back stalled for seconds on ext4. The manifest, written last, still marks the
    # store complete: readers and reruns require it.
    errors = _errors_frame(plan, got.errors)
    stat_arrays = {"n_frames": np.int64(stats.n_frames), "n_clips": np.int64(stats.n_clips),
                   "sum": stats.sum, "sumsq": stats.sumsq}
    if stats.n_frames:
        mean, var, scale = stats.mean_var()
        stat_arrays.update(mean=mean, var=var, scale=scale)
    atomic_save_npz(out / STATS_FILE, **stat_arrays)
    tmp_err = out / f".{ERRORS_FILE}.tmp-{os.getpid()}"
    errors.to_parquet(tmp_err, index=False)
    os.replace(tmp_err, out / ERRORS_FILE)
    info = dict(info)
    info.update(
        state="complete",
        fixed_length=fixed,
        shape=list(shape),
        dtype="float32",
        axes=["clip", "frame", "coeff"] if fixed else ["frame", "coeff"],
        frame_step_s=cfg.hop_samples * cfg.stack_hop / cfg.sample_rate,
        n_rows=got.n_rows,
        n_errors=len(errors),
        statistics={"fit_on": "none (normalize: none)" if cfg.normalize == "none"
                    else "train" if plan.ok["split"].notna().any() else "all",
                    "n_clips": stats.n_clips, "n_frames": stats.n_frames},
        described_unix=time.time(),
    )
    atomic_write_json(out / STORE_FILE, info)

    # Phase 2: normalize (and stack) into the final file.
    if not features_ready:
        stat_tuple = (stats.n_frames, stats.n_clips, stats.sum, stats.sumsq)
        slot_offsets = [slots_offset + a * row_bytes for a, _ in bounds]
        if in_place:
            target = partial
            offsets = slot_offsets
            todo = [] if cfg.normalize == "none" else \
                [k for k in range(n_chunks) if not os.path.exists(_in_place_path(w, k))]
        else:
            target = compact if slotted else partial
            data_offset = _open_partial(target, shape, on_new=lambda: [
                Path(_done_path(w, k)).unlink(missing_ok=True) for k in range(n_chunks)])
            offsets = list(np.concatenate(([0], np.cumsum(chunk_values)))[:-1] * _DTYPE.itemsize + data_offset)
            todo = [k for k in range(n_chunks) if not os.path.exists(_done_path(w, k))]
        tasks2 = [_FinalTask(k, w, str(target), int(offsets[k]), int(chunk_values[k]), conf, stat_tuple,
                             source=str(partial) if slotted else None, source_offset=int(slot_offsets[k]),
                             n_rows=len(rows[k]))
                  for k in todo]
        for _ in run_chunks(finish_chunk, tasks2, workers=workers, scheduler=scheduler,
                            sizes=[len(rows[t.chunk]) for t in tasks2], desc="normalizing", progress=progress):
            pass
        os.replace(target, final)
        partial.unlink(missing_ok=True)
    seconds["normalize"] = time.perf_counter() - started
    started = time.perf_counter()

    # Publish: the manifest, last (its presence marks the store complete); then drop .work.
    from .dataset import write_manifest

    manifest = _with_headers(plan.ok, got.headers).iloc[np.concatenate(rows) if rows else []]
    manifest = manifest.reset_index(drop=True)
    manifest["chunk"] = np.repeat(np.arange(n_chunks, dtype=np.int32), [len(r) for r in rows]) if rows \
        else np.zeros(0, np.int32)
    if not fixed:
        n = np.array(per_row, np.int64)
        manifest["frame_start"] = np.concatenate(([0], np.cumsum(n)))[:-1] if len(n) else n
        manifest["n_frames"] = n
    manifest.attrs = {"layout": plan.index.attrs.get("layout"), "root": plan.index.attrs.get("root"),
                      "config_hash": cfg.config_hash()}
    write_manifest(manifest, out / MANIFEST_FILE)
    shutil.rmtree(work, ignore_errors=True)
    seconds["publish"] = time.perf_counter() - started
    return ExtractResult(out, len(manifest), len(errors), shape, cfg.config_hash(), False, errors, seconds)


def _with_headers(files: pd.DataFrame, headers: dict[str, np.ndarray]) -> pd.DataFrame:
    """The listed files with the header columns the workers read (the index did not open them)."""
    import pandas as pd

    files = files.copy()
    rate = headers["hdr_sample_rate"]
    known = rate > 0
    for column, values in (("sample_rate", rate), ("channels", headers["hdr_channels"]),
                           ("n_samples", headers["hdr_n_samples"])):
        files[column] = pd.array(np.where(known, values, 0), dtype="Int64")
        files.loc[~known, column] = pd.NA
    files["duration_s"] = np.where(known, headers["hdr_n_samples"] / np.where(known, rate, 1), np.nan)
    for column, values in (("subtype", headers["hdr_subtype"]), ("format", headers["hdr_format"])):
        files[column] = [v or None for v in values]
    return files


def _open_partial(path: Path, shape: tuple[int, ...], *, on_new) -> int:
    """A preallocated ``.npy`` file: reuse it when its header matches, else make a new one
    (calling ``on_new()`` first: whatever the old file held is gone).

    Returns the byte offset of its data.
    """
    if path.exists():
        try:
            with open(path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                got_shape, fortran, dtype = read_header(fh)
                offset = fh.tell()
            size = path.stat().st_size
            if tuple(got_shape) == shape and not fortran and dtype == _DTYPE \
                    and size == offset + int(np.prod(shape)) * _DTYPE.itemsize:
                return offset
        except (OSError, ValueError):
            pass
    on_new()
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    header = {"descr": np.lib.format.dtype_to_descr(_DTYPE), "fortran_order": False, "shape": shape}
    with open(tmp, "wb") as fh:
        np.lib.format.write_array_header_2_0(fh, header) if _needs_v2(header) else \
            np.lib.format.write_array_header_1_0(fh, header)
        offset = fh.tell()
        size = offset + int(np.prod(shape)) * _DTYPE.itemsize
        fh.truncate(size)
        _reserve(fh.fileno(), size, path)
    os.replace(tmp, path)
    return offset


def _reserve(fd: int, size: int, path: Path) -> None:
    """Allocate the file's blocks now (Linux ``fallocate``), where the filesystem can.

    Writing into a hole makes the filesystem allocate blocks write by write: on ext4 that took
    writes from ~3 GB/s down to ~0.5-1 GB/s, a third of a feature run. Reserving also fails early
    and clearly when the disk is too small. Where there is no ``fallocate`` (another OS, a
    filesystem without it) the file simply stays sparse: no emulation by writing zeros.
    """
    import ctypes
    import ctypes.util
    import errno

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fallocate = libc.fallocate
    except (OSError, AttributeError):
        return
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    if fallocate(fd, 0, 0, size) != 0:
        err = ctypes.get_errno()
        if err == errno.ENOSPC:
            raise StoreError(f"{path.parent}: not enough disk space for {size / 2**30:.1f} GiB of features")


def _needs_v2(header: dict) -> bool:
    return len(repr(header)) > 60000


def _errors_frame(plan: _Plan, errs: list[tuple[int, str, str]]) -> pd.DataFrame:
    import pandas as pd

    cols = ["path", "label", "split"]
    bad_index = plan.index[plan.index["status"] != "ok"]
    parts = [bad_index[cols].assign(stage="index", error=bad_index["error"].to_numpy())]
    if errs:
        pos = [e[0] for e in errs]
        parts.append(plan.ok.iloc[pos][cols].assign(stage=[e[1] for e in errs], error=[e[2] for e in errs]))
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    frame = frame.astype({"path": str, "stage": str, "error": str})
    return frame.sort_values("path", kind="stable", ignore_index=True)


def _result(out: Path, info: dict, *, up_to_date: bool, seconds: dict) -> ExtractResult:
    import pandas as pd

    try:
        errors = pd.read_parquet(out / ERRORS_FILE)
    except (OSError, ValueError):
        errors = pd.DataFrame(columns=["path", "label", "split", "stage", "error"])
    return ExtractResult(out, int(info.get("n_rows", 0)), int(info.get("n_errors", len(errors))),
                         tuple(info.get("shape", ())), str(info.get("config_hash")), up_to_date, errors, seconds)


def summarize_errors(errors: pd.DataFrame, top: int = 3) -> str:
    """``"12 files skipped: 10x not a valid WAV ...; 2x ..."``, for a one-line report."""
    if errors.empty:
        return "no files skipped"
    counts = errors["error"].value_counts()
    parts = [f"{n}x {reason}" for reason, n in counts.head(top).items()]
    if len(counts) > top:
        parts.append(f"{int(counts.iloc[top:].sum())}x other reasons")
    noun = "file" if len(errors) == 1 else "files"
    return f"{len(errors):,} {noun} skipped: {'; '.join(parts)}"
