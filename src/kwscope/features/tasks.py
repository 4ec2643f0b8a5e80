"""The feature extraction's worker tasks: phase 1 (read a chunk's files, compute their raw features,
write them and the chunk's statistics) and phase 2 (normalize and stack a chunk's rows), each
written so that an interrupted task is simply run again."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np

from ..io import wav as _wav
from ..io.audio import AudioError, probe, read_clip
from ..io.sources import locate, open_rows
from .pipeline import FeaturePipeline, FeatureStats, PipelineConfig, PipelineError
from .store import StoreError, atomic_save_npy, atomic_save_npz

#: Longest recording decoded (samples); longer files are skipped rather than filling memory.
MAX_SAMPLES = 1 << 24
_DTYPE = np.dtype("<f4")


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
    # Rows whose audio is in a Parquet shard (kwscope.io.sources): the shard ("" for a file) and
    # its row there, per file; empty when every row is a file. The worker reads the rows itself.
    sources: tuple[str, ...] = ()
    source_rows: tuple[int, ...] = ()
    audio_column: str = "audio"

    def locations(self) -> list:
        """Where each file's audio is: a path, AudioBytes, or the AudioError saying why not."""
        if not self.sources:
            return [locate(self.root, p) for p in self.paths]
        return open_rows(self.root, self.paths, self.sources, self.source_rows, column=self.audio_column)


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
        for i, path in enumerate(task.locations()):  # a shard's rows of the chunk are read together
            if isinstance(path, AudioError):
                errors.append((i, "index", path.reason))
                continue
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


def _read_pcm16_into(path, row: np.ndarray, sample_rate: int) -> bool:
    """Decode a plain 16-bit mono WAV (a local path, or AudioBytes) of exactly ``len(row)`` samples
    at ``sample_rate`` into ``row`` (scaled as :func:`kwscope.io.audio.read_clip` does: int16 / 32768).

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
