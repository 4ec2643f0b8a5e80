"""Energy voice activity detection: the speech segments of a clip (or of a batch of clips at once,
with the same arithmetic), and trimming a clip to them."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import numpy as np

from ._common import ParameterError, _real, _signal

# --------------------------------------------------------------------------- VAD


def _energy_db(power_cumsum: np.ndarray, starts: np.ndarray, length: int, n: int) -> np.ndarray:
    """Mean-square level in dBFS of windows ``[start, start + length)``, zero outside ``[0, n)``."""
    lo = np.clip(starts, 0, n)
    hi = np.clip(starts + length, 0, n)
    mean_square = np.maximum(power_cumsum[hi] - power_cumsum[lo], 0.0) / length
    return 10.0 * np.log10(np.maximum(mean_square, 1e-20))


def speech_segments(
    y,
    sr: float,
    *,
    frame_ms: float = 25.0,
    hop_ms: float = 10.0,
    top_db: float = 40.0,
    floor_db: float = -60.0,
    min_speech_ms: float = 50.0,
    min_gap_ms: float = 100.0,
) -> np.ndarray:
    """Find the sounding parts of one clip with an energy-based voice activity detector.

    1. The RMS level of frames of ``frame_ms`` every ``hop_ms`` (frames centred on multiples of
       the hop, zero beyond the clip) is measured in dBFS (0 dB = a full-scale square wave;
       float audio is full scale at 1.0, integer PCM at 2**(bits - 1), unsigned PCM centred).
    2. A frame is speech when it is within ``top_db`` of the clip's loudest frame -- relative, so
       quiet recordings keep their words -- AND above ``floor_db`` dBFS -- absolute, so a clip of
       pure hiss or digital silence has no "loudest word" to keep and yields nothing.
    3. Each run of speech frames becomes a segment, its edges sharpened to the hop grid: the first
       and last hop-long block inside it that passes the same two thresholds.
    4. Segments separated by less than ``min_gap_ms`` are merged (pauses inside a word), then
       segments shorter than ``min_speech_ms`` are dropped (clicks).

    Only one clip (1-D input) is accepted.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio samples.
    sr : float
        Sampling rate in Hz.
    frame_ms, hop_ms : float
        Analysis frame length and hop in milliseconds.
    top_db : float
        Relative threshold in dB below the loudest frame, >= 0.
    floor_db : float
        Absolute threshold in dBFS.
    min_speech_ms, min_gap_ms : float
        Shortest segment kept and shortest pause kept, in milliseconds.

    Returns
    -------
    np.ndarray [shape=(n_segments, 2), dtype=int64]
        Start and end sample of each segment (end exclusive), in order; ``(0, 2)`` when the clip
        has no speech (silence, or everything below ``floor_db``).
    """
    sr = _real(sr, "sr", positive=True)
    frame_ms = _real(frame_ms, "frame_ms", positive=True)
    hop_ms = _real(hop_ms, "hop_ms", positive=True)
    top_db = _real(top_db, "top_db", nonnegative=True)
    floor_db = _real(floor_db, "floor_db")
    min_speech = round(_real(min_speech_ms, "min_speech_ms", nonnegative=True) * sr / 1000)
    min_gap = round(_real(min_gap_ms, "min_gap_ms", nonnegative=True) * sr / 1000)
    frame_length = max(1, round(frame_ms * sr / 1000))
    hop = round(hop_ms * sr / 1000)
    if hop < 1:
        raise ParameterError(f"hop_ms={hop_ms} is shorter than one sample at {sr} Hz")
    x = _signal(y, allow_empty=True)
    if x.ndim != 1:
        raise ParameterError(f"y must be one clip of shape (n,), got shape={x.shape}")
    empty = np.zeros((0, 2), dtype=np.int64)
    n = x.shape[0]
    if n == 0:
        return empty

    if np.issubdtype(x.dtype, np.integer):
        # Integer PCM: full scale is 2**(bits - 1); unsigned formats (8-bit WAV) are offset by it.
        info = np.iinfo(x.dtype)
        full_scale = float(info.max) + 1.0 if info.min < 0 else (float(info.max) + 1.0) / 2
        x = (x.astype(np.float64) - (0.0 if info.min < 0 else full_scale)) / full_scale
    else:
        x = x.astype(np.float64)
    power_cumsum = np.concatenate(([0.0], np.cumsum(x * x)))
    centres = np.arange(0, n, hop)
    frame_db = _energy_db(power_cumsum, centres - frame_length // 2, frame_length, n)
    loudest = frame_db.max()
    is_speech = (frame_db >= loudest - top_db) & (frame_db > floor_db)
    if not is_speech.any():
        return empty

    blocks = np.arange(0, n, hop)
    block_db = _energy_db(power_cumsum, blocks, hop, n)
    block_len = np.minimum(blocks + hop, n) - blocks
    # A short last block is zero-padded by _energy_db; measure it over its own samples.
    block_db[-1] += 10.0 * np.log10(hop / block_len[-1])
    block_ok = (block_db >= loudest - top_db) & (block_db > floor_db)

    edges = np.diff(np.concatenate(([0], is_speech.astype(np.int8), [0])))
    segments = []
    for first, last in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1):
        start = max(0, centres[first] - frame_length // 2)
        end = min(n, centres[last] - frame_length // 2 + frame_length)
        inside = np.flatnonzero(block_ok[start // hop : -(-end // hop)]) + start // hop
        if inside.size:
            start, end = blocks[inside[0]], min(n, blocks[inside[-1]] + hop)
        if segments and start - segments[-1][1] < min_gap:
            segments[-1][1] = max(segments[-1][1], end)
        else:
            segments.append([start, end])
    kept = [seg for seg in segments if seg[1] - seg[0] >= min_speech]
    return np.array(kept, dtype=np.int64).reshape(-1, 2)


def trim_silence(
    y,
    sr: float,
    *,
    frame_ms: float = 25.0,
    hop_ms: float = 10.0,
    top_db: float = 40.0,
    floor_db: float = -60.0,
    min_speech_ms: float = 50.0,
    min_gap_ms: float = 100.0,
) -> tuple[np.ndarray, tuple[int, int]]:
    """Cut one clip to its speech: from the first segment's start to the last segment's end.

    Segments come from :func:`speech_segments` with the same parameters (see there for the
    thresholds). Only one clip (1-D input) is accepted.

    Returns
    -------
    trimmed : np.ndarray [shape=(end - start,), dtype=float32]
        The kept samples (values not rescaled); empty when the clip has no speech.
    span : tuple of int
        ``(start, end)`` sample indices, end exclusive; ``(0, 0)`` when the clip has no speech.
    """
    segments = speech_segments(
        y, sr, frame_ms=frame_ms, hop_ms=hop_ms, top_db=top_db, floor_db=floor_db,
        min_speech_ms=min_speech_ms, min_gap_ms=min_gap_ms,
    )
    x = np.asarray(y)
    if segments.shape[0] == 0:
        return np.zeros(0, dtype=np.float32), (0, 0)
    start, end = int(segments[0, 0]), int(segments[-1, 1])
    return x[start:end].astype(np.float32), (start, end)


@functools.lru_cache(maxsize=1)
def _vad_defaults() -> dict[str, Any]:
    """The keyword defaults of :func:`speech_segments`."""
    return {name: p.default for name, p in inspect.signature(speech_segments).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def speech_segments_batch(X: np.ndarray, lengths: np.ndarray, sr: int) -> list[np.ndarray]:
    """:func:`speech_segments` (its default parameters) of many clips at once.

    Parameters
    ----------
    X : np.ndarray [shape=(m, L), dtype=float32]
        Clips zero-padded to a common length ``L``.
    lengths : np.ndarray [shape=(m,)]
        Each clip's own length in samples.
    sr : int
        Hz.

    Returns
    -------
    list of np.ndarray [shape=(n_segments, 2), dtype=int64]
        Exactly what ``speech_segments(X[i, :lengths[i]], sr)`` returns (the same float64
        arithmetic, vectorized over the clips; parity-tested). The per-clip calls cost more in
        Python overhead than in arithmetic, which made the VAD the largest part of the pass.
    """
    _VAD = _vad_defaults()
    m, L = X.shape
    min_speech = round(_VAD["min_speech_ms"] * sr / 1000)
    min_gap = round(_VAD["min_gap_ms"] * sr / 1000)
    frame_length = max(1, round(_VAD["frame_ms"] * sr / 1000))
    hop = round(_VAD["hop_ms"] * sr / 1000)
    top_db, floor_db = float(_VAD["top_db"]), float(_VAD["floor_db"])
    cs = X.astype(np.float64)
    np.multiply(cs, cs, out=cs)
    np.cumsum(cs, axis=1, out=cs)  # cs[:, k] = power_cumsum[k + 1] of dsp
    n = lengths.astype(np.int64)[:, None]
    centres = np.arange(0, L, hop)
    valid = centres[None, :] < n

    def energy_db(starts: np.ndarray, length: int) -> np.ndarray:
        lo = np.clip(starts[None, :], 0, n)
        hi = np.clip(starts[None, :] + length, 0, n)
        rows = np.arange(m)[:, None]
        c_hi = np.where(hi > 0, cs[rows, np.maximum(hi - 1, 0)], 0.0)
        c_lo = np.where(lo > 0, cs[rows, np.maximum(lo - 1, 0)], 0.0)
        mean_square = np.maximum(c_hi - c_lo, 0.0) / length
        return 10.0 * np.log10(np.maximum(mean_square, 1e-20))

    frame_db = energy_db(centres - frame_length // 2, frame_length)
    loudest = np.where(valid, frame_db, -np.inf).max(axis=1, initial=-np.inf)[:, None]
    is_speech = valid & (frame_db >= loudest - top_db) & (frame_db > floor_db)
    F = centres.size
    # Blocks share the frames' grid (starts at multiples of the hop); dsp measures a clip's short
    # last block over its own samples.
    block_db = energy_db(centres, hop)
    nb = -(-lengths.astype(np.int64) // hop)
    has = nb > 0
    rows_h = np.flatnonzero(has)
    last = nb[has] - 1
    block_db[rows_h, last] += 10.0 * np.log10(hop / (lengths[has] - last * hop))
    block_ok = valid & (block_db >= loudest - top_db) & (block_db > floor_db)
    # Runs of speech frames, all clips at once (row-major order).
    sp = np.zeros((m, F + 2), np.int8)
    sp[:, 1:-1] = is_speech
    d = np.diff(sp, axis=1)
    r, first = np.nonzero(d == 1)
    _, last = np.nonzero(d == -1)
    last -= 1
    start = np.maximum(0, centres[first] - frame_length // 2)
    end = np.minimum(lengths[r], centres[last] - frame_length // 2 + frame_length)
    # Sharpen each run to its first and last passing block: counts of passing blocks per row,
    # offset so that one searchsorted serves every row.
    okc = np.zeros((m, F + 1), np.int64)
    np.cumsum(block_ok, axis=1, out=okc[:, 1:])
    flat = (okc + (np.arange(m) * (F + 2))[:, None]).ravel()
    a_blk, b_blk = start // hop, -(-end // hop)
    base = r * (F + 2)
    c_a, c_b = okc[r, a_blk], okc[r, b_blk]
    j_first = np.searchsorted(flat, base + c_a + 1) - r * (F + 1) - 1
    j_last = np.searchsorted(flat, base + c_b) - r * (F + 1) - 1
    inside = c_b > c_a
    start = np.where(inside, centres[np.clip(j_first, 0, F - 1)], start)
    end = np.where(inside, np.minimum(lengths[r], centres[np.clip(j_last, 0, F - 1)] + hop), end)
    segments: list[list[list[int]]] = [[] for _ in range(m)]
    for ri, s0, e0 in zip(r.tolist(), start.tolist(), end.tolist()):
        segs = segments[ri]
        if segs and s0 - segs[-1][1] < min_gap:
            segs[-1][1] = max(segs[-1][1], e0)
        else:
            segs.append([s0, e0])
    empty = np.zeros((0, 2), dtype=np.int64)
    out = []
    for segs in segments:
        kept = [seg for seg in segs if seg[1] - seg[0] >= min_speech]
        out.append(np.array(kept, dtype=np.int64).reshape(-1, 2) if kept else empty)
    return out
