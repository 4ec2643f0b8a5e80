"""The feature extraction's worker task: read a chunk's files, compute their raw features (steps
1-4), write them once into their row slots (or the chunk's part file), then the chunk's statistics
and skipped files -- written so that an interrupted task is simply run again.

A task implements the engine's per-file retry (:class:`kwscope.engine.retry.PerFileChunk`): when
it raises on something no file's own error path caught, or its worker process is killed on one
file, the engine probes its files one at a time (``one_file``: a probe that computes and writes
nothing) and runs it once more with the culprits listed as skipped (``with_failed``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from ..io import wav as _wav
from ..io.audio import AudioError, probe, read_clip
from ..io.scan import bytes_hash
from ..io.sources import AudioBytes, locate, open_rows
from .config import MAX_SAMPLES
from .hashes import row_hash
from .pipeline import FeaturePipeline, FeatureStats, PipelineConfig, PipelineError
from .store import atomic_save_npy, atomic_save_npz


@dataclass(frozen=True)
class _RawTask:
    """One chunk: read, steps 1-4, statistics. Small and picklable.

    With ``slots`` set (fixed length) the chunk's features are written into the preallocated
    ``features.npy.partial`` at ``offset`` (its first row slot), the clips that gave features
    one after the other; else (variable length) into ``parts/part-K.npy``.
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
    # Why each file failed when the engine reran the chunk without it ("" for a file to read;
    # empty when none failed), and whether this is the engine's probe of one file (writes nothing).
    failed: tuple[str, ...] = ()
    probe: bool = False

    # The engine's per-file retry contract (kwscope.engine.retry.PerFileChunk).
    def n_files(self) -> int:
        return len(self.paths)

    def one_file(self, i: int) -> "_RawTask":
        one = slice(i, i + 1)
        return dataclasses.replace(self, paths=self.paths[one], fit=self.fit[one], sources=self.sources[one],
                                   source_rows=self.source_rows[one], failed=self.failed[one], probe=True)

    def with_failed(self, failed: dict[int, str]) -> "_RawTask":
        reasons = list(self.failed) or [""] * len(self.paths)
        for i, reason in failed.items():
            reasons[i] = reason
        return dataclasses.replace(self, failed=tuple(reasons))

    def locations(self, rows: list[int] | None = None) -> list:
        """Where files ``rows`` (default: all) have their audio: a path, AudioBytes, or the
        AudioError saying why not."""
        rows = list(range(len(self.paths))) if rows is None else rows
        paths = [self.paths[i] for i in rows]
        if not self.sources:
            return [locate(self.root, p) for p in paths]
        return open_rows(self.root, paths, [self.sources[i] for i in rows], [self.source_rows[i] for i in rows],
                         column=self.audio_column)


def _meta_path(work: str, k: int) -> str:
    return os.path.join(work, f"chunk-{k:06d}.npz")


def _part_path(work: str, k: int) -> str:
    """A variable-length chunk's raw frames while the store is written (moved into OUT/features/)."""
    from .store import part_name

    return os.path.join(work, "parts", part_name(k))


def _single_threaded():
    """BLAS threads fight the worker processes for the cores; one thread a worker is fastest."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


class _Headers:
    """What each file's header says, and its content hash (:mod:`kwscope.features.hashes`),
    gathered by the workers for the manifest's columns and the store's record of what it read."""

    def __init__(self, n: int):
        self.sample_rate = np.full(n, -1, np.int64)
        self.channels = np.full(n, -1, np.int64)
        self.n_samples = np.full(n, -1, np.int64)
        self.subtype = [""] * n
        self.format = [""] * n
        self.content_hash: list[str | None] = [None] * n  # None: not hashed yet; "": cannot be

    def set(self, i: int, sample_rate: int, channels: int, n_samples: int, subtype: str, fmt: str) -> None:
        self.sample_rate[i], self.channels[i], self.n_samples[i] = sample_rate, channels, n_samples
        self.subtype[i], self.format[i] = subtype, fmt

    def arrays(self) -> dict[str, np.ndarray]:
        return {"hdr_sample_rate": self.sample_rate, "hdr_channels": self.channels,
                "hdr_n_samples": self.n_samples, "hdr_subtype": np.array(self.subtype, dtype=str),
                "hdr_format": np.array(self.format, dtype=str),
                "hdr_content_hash": np.array([h or "" for h in self.content_hash], dtype=str)}


class FileSkipped(Exception):
    """One file gives no features: ``stage`` (index, read, features) and the one-line ``reason``."""

    def __init__(self, stage: str, reason: str):
        super().__init__(f"{stage}: {reason}")
        self.stage, self.reason = stage, reason


def read_file(pipe: FeaturePipeline, location, headers: _Headers, i: int, row: np.ndarray | None = None):
    """Steps 1-3 of one file: decode it, resample, trim, pad or crop.

    Parameters
    ----------
    pipe
        The chunk's pipeline.
    location
        A path, :class:`~kwscope.io.sources.AudioBytes`, or the ``AudioError`` that locating it gave.
    headers, i
        Where its header's values go (file ``i`` of the chunk).
    row : np.ndarray [shape=(length_samples,), dtype=float32], optional
        With a fixed length: the batch row the prepared clip is written into.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32] or None
        The prepared clip, or ``None`` when it went into ``row``.

    Raises
    ------
    FileSkipped
        The file gives no features, with the stage and reason; never anything else.
    """
    cfg = pipe.config
    if isinstance(location, AudioError):
        raise FileSkipped("index", location.reason)
    # The common case -- 16-bit mono WAV already at the target rate and length, no VAD -- is
    # decoded straight into its batch row; anything else goes through probe, read_clip and
    # prepare (the header is read first so that its errors are reported as the index's).
    if row is not None and not cfg.vad:
        decoded, headers.content_hash[i] = _read_pcm16_into(location, row, cfg.sample_rate)
        if decoded:
            headers.set(i, cfg.sample_rate, 1, row.shape[0], "PCM_16", "WAV")
            return None
    try:
        info = probe(location)
        headers.set(i, info.sample_rate, info.channels, info.n_samples, info.subtype, info.format)
    except Exception as exc:  # AudioError, or a decoder failure we did not foresee: still one file
        raise FileSkipped("index", _reason(exc)) from None
    try:
        clip = read_clip(location, max_samples=MAX_SAMPLES)
    except Exception as exc:
        raise FileSkipped("read", _reason(exc)) from None
    if clip.truncated:
        raise FileSkipped("read", f"longer than {MAX_SAMPLES} samples: not a short utterance")
    try:
        x = pipe.prepare(clip.samples, sample_rate=clip.sample_rate)
    except Exception as exc:
        raise FileSkipped("features", _reason(exc)) from None
    if row is None:
        return x
    row[:] = x
    return None


def extract_raw_chunk(task: _RawTask) -> tuple[int, int, int]:
    """The task (top-level, so it pickles for process pools and Dask).

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
        # Files the engine found failing the whole chunk (an exception, a killed worker) are not read.
        errors += [(i, "features", reason) for i, reason in enumerate(task.failed) if reason]
        rows = [i for i in range(n) if not (task.failed and task.failed[i])]
        for i, location in zip(rows, task.locations(rows)):  # a shard's rows of the chunk are read together
            try:
                x = read_file(pipe, location, headers, i, None if batch is None else batch[len(ok)])
            except FileSkipped as skip:
                errors.append((i, skip.stage, skip.reason))
                continue
            if x is not None:
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
            feats = (np.concatenate(feats) if feats else np.zeros((0, cfg.n_coeffs), cfg.stored_dtype))
        if stats.sum is None:
            stats = FeatureStats(0, 0, np.zeros(cfg.n_coeffs), np.zeros(cfg.n_coeffs))
        errors.sort()
        if task.probe:  # the engine's probe of one file: computed, nothing written
            return task.chunk, len(ok), len(errors)
        seen: dict[str, str] = {}
        for i, digest in enumerate(headers.content_hash):  # the rows the fast path did not read whole
            if digest is None:
                headers.content_hash[i] = row_hash(task.root, task.paths[i], task.sources[i] if task.sources else "",
                                                   seen)
        data = np.ascontiguousarray(feats)
        if task.slots is not None:
            _pwrite_all(task.slots, data, task.offset)
        else:
            os.makedirs(os.path.dirname(_part_path(task.work, task.chunk)), exist_ok=True)
            atomic_save_npy(_part_path(task.work, task.chunk), data)
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


def _read_pcm16_into(location, row: np.ndarray, sample_rate: int) -> tuple[bool, str | None]:
    """Decode a plain 16-bit mono WAV (a local path, or AudioBytes) of exactly ``len(row)`` samples
    at ``sample_rate`` into ``row`` (scaled as :func:`kwscope.io.audio.read_clip` does: int16 / 32768).

    Returns ``(decoded, content hash)``: the hash of the bytes read when a local file was read
    whole, else None. ``decoded`` is False, touching nothing that matters, for anything else
    (other formats, rates or lengths, URLs, unreadable files): the caller then takes the general
    path, which also produces the error messages.
    """
    if isinstance(location, AudioBytes):
        buf, digest = location.data, None  # a shard's row or a noise slice: hashed by its source
    else:
        buf = _wav.read_small_file(location)
        digest = bytes_hash(buf) if buf is not None else None
    got = _wav.pcm16_mono_of(buf) if buf is not None else None
    if got is None or got[1] != sample_rate or got[0].shape[0] != row.shape[0]:
        return False, digest
    # Cast, then scale in place: the same float32 numbers as np.multiply(int16, scale, out=row),
    # in about half its time (a mixed-type ufunc goes through numpy's buffered casting).
    row[:] = got[0]
    row *= _wav.PCM16_SCALE
    return True, digest


def _reason(exc: Exception) -> str:
    if isinstance(exc, AudioError):
        return exc.reason
    if isinstance(exc, (PipelineError, ValueError)):
        return " ".join(str(exc).split())
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _compute_fixed(pipe: FeaturePipeline, batch: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """Step 4 on the whole batch, in the stored dtype; if that fails, clip by clip so that one bad
    clip costs only itself. Returns the features of the good clips and the reasons of the others."""
    try:
        out, bad = pipe.compute(batch), {}
    except Exception:
        cfg = pipe.config
        out = np.empty((batch.shape[0], cfg.frames_for(batch.shape[1]), cfg.n_coeffs),
                       cfg.stored_dtype if cfg.kind == "micro" else np.float32)
        bad = {}
        for j in range(batch.shape[0]):
            try:
                out[j] = pipe.compute(batch[j:j + 1])[0]
            except Exception as exc:
                bad[j] = _reason(exc)
    out = _stored(pipe.config, out, bad)
    keep = [j for j in range(batch.shape[0]) if j not in bad]
    return (out if len(keep) == len(out) else out[keep]), bad


def _compute_variable(pipe: FeaturePipeline, clips: list[np.ndarray]) -> tuple[list[np.ndarray], dict[int, str]]:
    feats: list[np.ndarray] = []
    bad: dict[int, str] = {}
    for j, x in enumerate(clips):
        try:
            f = _stored(pipe.config, pipe.compute(x[np.newaxis]), bad, j)[0]
        except Exception as exc:
            bad[j] = _reason(exc)
            continue
        if j not in bad:
            feats.append(f)
    return feats, bad


def _stored(cfg: PipelineConfig, feats: np.ndarray, bad: dict[int, str], first: int = 0) -> np.ndarray:
    """``(n, frames, coeffs)`` features in the store's dtype; a clip that float16 cannot hold
    (|x| > 65504 became inf) is added to ``bad`` (clip ``first + j``)."""
    if cfg.kind == "micro":  # the front end's own integers
        return feats.astype(cfg.stored_dtype, copy=False)
    if cfg.dtype == "float32":
        return feats
    out = feats.astype(cfg.dtype)
    for j in np.flatnonzero(~np.isfinite(out).reshape(len(out), -1).all(axis=1)):
        if np.isfinite(feats[j]).all():
            bad.setdefault(first + int(j), f"features beyond float16's range (|x| up to "
                                           f"{float(np.abs(feats[j]).max()):.3g} > 65504); use dtype: float32")
    return out


def _pwrite_all(path: str, array: np.ndarray, offset: int) -> None:
    """Write ``array``'s bytes at ``offset`` of the existing file ``path`` (nothing when empty)."""
    if not array.size:  # a chunk without a readable file is normal: there is nothing to write
        return
    data = memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
    fd = os.open(path, os.O_WRONLY)
    try:
        _pwrite_fd(fd, data, offset)
    finally:
        os.close(fd)


def _pwrite_fd(fd: int, data: memoryview, offset: int) -> None:
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:done + (1 << 30)], offset + done)
