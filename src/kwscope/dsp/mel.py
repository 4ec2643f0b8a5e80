"""The mel filterbank, the mel power spectrogram and ``power_to_db``, following librosa's
definitions (Slaney or HTK scale, centred frames), batched."""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable

import numpy as np

from ._common import (
    _PAD_MODES,
    ParameterError,
    _as_items,
    _choice,
    _chunks,
    _frames,
    _positive_int,
    _real,
    _signal,
    _window,
    _work_dtype,
)

# --------------------------------------------------------------------------- mel / MFCC


def _hz_to_mel(freqs: np.ndarray, htk: bool) -> np.ndarray:
    freqs = np.asarray(freqs, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + freqs / 700.0)
    # Slaney: linear below 1 kHz, logarithmic above.
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    log_part = min_log_mel + np.log(np.maximum(freqs, min_log_hz) / min_log_hz) / logstep
    return np.where(freqs >= min_log_hz, log_part, freqs / f_sp)


def _mel_to_hz(mels: np.ndarray, htk: bool) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    log_part = min_log_hz * np.exp(logstep * (np.maximum(mels, min_log_mel) - min_log_mel))
    return np.where(mels >= min_log_mel, log_part, f_sp * mels)


def _check_mel_params(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    sr = _real(sr, "sr", positive=True)
    n_fft = _positive_int(n_fft, "n_fft")
    n_mels = _positive_int(n_mels, "n_mels")
    fmin = _real(fmin, "fmin", nonnegative=True)
    fmax = sr / 2 if fmax is None else _real(fmax, "fmax", positive=True)
    if fmax <= fmin:
        raise ParameterError(f"fmax={fmax} must be greater than fmin={fmin}")
    if not isinstance(htk, (bool, np.bool_)):
        raise ParameterError(f"htk={htk!r} must be True or False")
    if not (norm is None or norm == "slaney" or (
        isinstance(norm, numbers.Real) and not isinstance(norm, bool) and norm > 0
    )):
        raise ParameterError(f"norm={norm!r} must be 'slaney', None or a positive number (a p-norm)")
    return sr, n_fft, n_mels, fmin, fmax, bool(htk), norm


@functools.lru_cache(maxsize=32)
def _mel_basis(sr, n_fft, n_mels, fmin, fmax, htk, norm) -> np.ndarray:
    # Step for step as librosa.filters.mel (float64 math, float32 storage), so results match.
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin, htk), _hz_to_mel(fmax, htk), n_mels + 2), htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    elif norm is not None:
        lengths = np.linalg.norm(weights, ord=norm, axis=-1, keepdims=True)
        weights = np.where(lengths > np.finfo(np.float32).tiny, weights / np.maximum(lengths, 1e-38), weights)
        weights = weights.astype(np.float32)
    if not np.all((mel_f[:-2] == 0) | (weights.max(axis=1) > 0)):
        warnings.warn(
            "Empty filters detected in mel frequency basis. Some channels will produce empty "
            "responses. Try increasing your sampling rate (and fmax) or reducing n_mels.",
            stacklevel=3,
        )
    weights.setflags(write=False)
    return weights


# Mel filters are triangles over a few neighbouring FFT bins: a dense (bins x n_mels) product
# spends most of its time multiplying zeros. Groups of this many consecutive filters are
# multiplied with only the bins they cover.
_MEL_GROUP = 16


@functools.lru_cache(maxsize=32)
def _mel_groups(sr, n_fft, n_mels, fmin, fmax, htk, norm) -> tuple[int, int, tuple]:
    """The bin range ``[lo, hi)`` any filter covers, and ``(m0, m1, a, b, weights[a:b, m0:m1])``
    per group of filters (bin indices relative to ``lo``)."""
    basis = _mel_basis(sr, n_fft, n_mels, fmin, fmax, htk, norm)
    used = np.flatnonzero(basis.any(axis=0))
    lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
    groups = []
    for m0 in range(0, n_mels, _MEL_GROUP):
        m1 = min(m0 + _MEL_GROUP, n_mels)
        cover = np.flatnonzero(basis[m0:m1].any(axis=0))
        a, b = (int(cover[0]), int(cover[-1]) + 1) if cover.size else (lo, lo + 1)
        weights = np.ascontiguousarray(basis[m0:m1, a:b].T)
        weights.setflags(write=False)
        groups.append((m0, m1, a - lo, b - lo, weights))
    return lo, hi, tuple(groups)


def mel_filterbank(
    *,
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | float | None = "slaney",
) -> np.ndarray:
    """Mel filterbank matrix, identical to ``librosa.filters.mel`` (same defaults).

    Parameters
    ----------
    sr : float
        Sampling rate in Hz.
    n_fft : int
        FFT length in samples.
    n_mels : int
        Number of mel bands.
    fmin, fmax : float
        Lowest and highest band edge in Hz; ``fmax=None`` means ``sr / 2``.
    htk : bool
        HTK mel scale instead of Slaney's (linear below 1 kHz, logarithmic above).
    norm : {'slaney', None} or float
        'slaney' divides each triangle by its width in Hz (constant energy per band); a number
        p normalizes each filter to unit p-norm; None leaves unit-peak triangles.

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + n_fft // 2), dtype=float32]
        Read-only and cached: the same arguments return the same array object.
    """
    return _mel_basis(*_check_mel_params(sr, n_fft, n_mels, fmin, fmax, htk, norm))


def _stft_params(n_fft, hop_length, win_length, window, center, pad_mode, power):
    n_fft = _positive_int(n_fft, "n_fft")
    hop_length = _positive_int(hop_length, "hop_length")
    win_length = n_fft if win_length is None else _positive_int(win_length, "win_length")
    if win_length > n_fft:
        raise ParameterError(f"win_length={win_length} must be <= n_fft={n_fft}")
    if not isinstance(center, (bool, np.bool_)):
        raise ParameterError(f"center={center!r} must be True or False")
    _choice(pad_mode, "pad_mode", _PAD_MODES)
    power = _real(power, "power", positive=True)
    # librosa.util.pad_center: a short window sits in the middle of the n_fft frame.
    win = _window(window, win_length)
    lpad = (n_fft - win_length) // 2
    win = np.pad(win, (lpad, n_fft - win_length - lpad))
    return n_fft, hop_length, win, bool(center), pad_mode, power


def _stft_frame_count(n: int, n_fft: int, hop_length: int, center: bool) -> int:
    if center:
        if n_fft > n:
            warnings.warn(f"n_fft={n_fft} is too large for input signal of length={n}", stacklevel=3)
        return (n + 2 * (n_fft // 2) - n_fft) // hop_length + 1
    if n_fft > n:
        raise ParameterError(
            f"n_fft={n_fft} is too large for uncentered analysis of input signal of length={n}"
        )
    return (n - n_fft) // hop_length + 1


def _zero_centred_frames(chunk: np.ndarray, n_fft: int, hop: int, n_frames: int, win: np.ndarray) -> np.ndarray:
    """``_frames(np.pad(chunk, n_fft // 2 zeros each side), n_fft, hop) * win`` without the padded
    copy of the chunk: the frames wholly inside the signal are windowed from it directly, only
    the few that overhang an end are assembled with their zeros. Bit-identical to padding."""
    n, half = chunk.shape[-1], n_fft // 2
    out = np.empty((chunk.shape[0], n_frames, n_fft), win.dtype)
    first = -(-half // hop)  # the first and last frames with no padding in them
    last = min(n_frames - 1, (n + half - n_fft) // hop)
    if last >= first:
        inside = _frames(chunk[:, first * hop - half:], n_fft, hop)[:, :last - first + 1]
        np.multiply(inside, win, out=out[:, first:last + 1])
    for t in [*range(min(first, n_frames)), *range(max(last + 1, first), n_frames)]:
        start = t * hop - half
        a, b = max(0, start), min(n, start + n_fft)
        frame = np.zeros((chunk.shape[0], n_fft), win.dtype)
        if b > a:
            frame[:, a - start:b - start] = chunk[:, a:b]
        np.multiply(frame, win, out=out[:, t])
    return out


def _mel_time_major(x, n_frames, sr, n_fft, hop_length, win, center, pad_mode, power, mel_args):
    """Yield ``(item_slice, mel)`` with mel shaped ``(chunk, frames, n_mels)`` in the work dtype."""
    import scipy.fft

    dtype = _work_dtype(x)
    win = win.astype(dtype)
    lo, hi, groups = _mel_groups(*_check_mel_params(sr, n_fft, *mel_args))
    groups = [(m0, m1, a, b, w.astype(dtype, copy=False)) for m0, m1, a, b, w in groups]
    x2d = _as_items(x)
    itemsize = np.dtype(dtype).itemsize
    for sl in _chunks(x2d.shape[0], 3 * n_frames * n_fft * itemsize):
        chunk = x2d[sl]
        if center and pad_mode == "constant":
            framed = _zero_centred_frames(chunk, n_fft, hop_length, n_frames, win)
        else:
            if center:
                chunk = np.pad(chunk, ((0, 0), (n_fft // 2, n_fft // 2)), mode=pad_mode)
            framed = _frames(chunk, n_fft, hop_length) * win
        spec = scipy.fft.rfft(framed, axis=-1, overwrite_x=True)
        mag = np.abs(spec[..., lo:hi])
        if power == 2.0:
            mag *= mag
        elif power != 1.0:
            mag **= power
        # One product per clip (a stack of matrices), not one over all the batch's frames: BLAS
        # kernels round a row by where it falls in the matrix (OpenBLAS on AMD EPYC: rows past
        # the last multiple of 16), so a clip's features would depend on its batch.
        mel = np.empty(mag.shape[:-1] + (mel_args[0],), dtype=dtype)
        for m0, m1, a, b, weights in groups:
            mel[..., m0:m1] = np.matmul(mag[..., a:b], weights)
        yield sl, mel


def mel_spectrogram(
    y,
    *,
    sr: float = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | float | None = "slaney",
) -> np.ndarray:
    """Mel spectrogram, as ``librosa.feature.melspectrogram(y=y, ...)`` with the same defaults.

    ``|STFT(y)| ** power`` (Hann window, frames centred on ``t * hop_length`` with ``n_fft // 2``
    samples of ``pad_mode`` padding at both ends) projected on :func:`mel_filterbank`.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)]
        Audio, one clip or a batch.
    sr : float
        Sampling rate in Hz.
    n_fft, hop_length, win_length : int
        FFT length, hop and window length in samples (``win_length=None`` means ``n_fft``).
    window : str, tuple, callable or np.ndarray
        Window specification, as ``librosa.filters.get_window`` (periodic).
    center : bool
        Centre frames on ``t * hop_length`` by padding; otherwise frames start there.
    pad_mode : str
        ``np.pad`` mode used when centring.
    power : float
        Exponent of the magnitude: 1 for energy, 2 for power.
    n_mels, fmin, fmax, htk, norm
        Filterbank parameters, see :func:`mel_filterbank`.

    Returns
    -------
    np.ndarray [shape=(..., n_mels, frames), dtype=float32]
        ``frames = 1 + n // hop_length`` when centred (even ``n_fft``).
    """
    stft = _stft_params(n_fft, hop_length, win_length, window, center, pad_mode, power)
    mel_args = (n_mels, fmin, fmax, htk, norm)
    _check_mel_params(sr, n_fft, *mel_args)
    x = _signal(y)
    n_frames = _stft_frame_count(x.shape[-1], n_fft, hop_length, center)
    out = np.empty((_as_items(x).shape[0], n_mels, n_frames), dtype=np.float32)
    for sl, mel in _mel_time_major(x, n_frames, sr, *stft, mel_args):
        out[sl] = mel.swapaxes(-1, -2)
    return out.reshape(x.shape[:-1] + out.shape[1:])


def log_mel_frames(
    y,
    *,
    sr: float,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """``power_to_db(mel_spectrogram(y, ...), ref=1.0, amin=amin, top_db=top_db)`` with frames
    before bands, ``(..., frames, n_mels)``: the layout a model (and a feature store) takes,
    computed in it, without the two transposes and the copy of going through those functions.
    Bit-identical to them (Hann window, centred frames, zero padding, power 2, Slaney filters).
    """
    stft = _stft_params(n_fft, hop_length, win_length, "hann", True, "constant", 2.0)
    mel_args = (n_mels, fmin, fmax, False, "slaney")
    amin = _real(amin, "amin", positive=True)
    if top_db is not None:
        top_db = _real(top_db, "top_db", nonnegative=True)
    x = _signal(y)
    n_frames = _stft_frame_count(x.shape[-1], n_fft, hop_length, True)
    out = np.empty((_as_items(x).shape[0], n_frames, n_mels), dtype=np.float32)
    for sl, mel in _mel_time_major(x, n_frames, sr, *stft, mel_args):
        out[sl] = _to_db(mel.astype(np.float32, copy=False), 1.0, amin, top_db, (-2, -1))
    return out.reshape(x.shape[:-1] + out.shape[1:])


def _ref_values(S: np.ndarray, ref) -> np.ndarray | float:
    """``ref`` for each 2-D item of ``S`` (broadcastable over its last two axes)."""
    if not callable(ref):
        return abs(float(ref))
    if S.ndim <= 2:
        return float(ref(S))
    if ref in (np.max, np.amax):
        return S.max(axis=(-2, -1), keepdims=True)
    items = S.reshape((-1,) + S.shape[-2:])
    values = np.array([ref(item) for item in items], dtype=np.float64)
    return values.reshape(S.shape[:-2] + (1, 1))


def _to_db(S: np.ndarray, ref_value, amin: float, top_db: float | None, item_axes) -> np.ndarray:
    """In-place ``10 log10(max(amin, S) / max(amin, ref))`` with the top_db floor per item."""
    np.maximum(S, amin, out=S)
    # 10 log10(x) as a natural log times a constant: numpy's float32 log is ~2x faster than its
    # log10 here, and the results agree to float32 rounding (~1e-6 dB).
    np.log(S, out=S)
    S *= S.dtype.type(10.0 / math.log(10.0))
    if np.ndim(ref_value) == 0:
        if max(amin, ref_value) != 1.0:  # ref=1 (the features' case) subtracts an exact 0
            S -= np.asarray(10.0 * np.log10(max(amin, ref_value)), dtype=S.dtype)
    else:
        S -= (10.0 * np.log10(np.maximum(amin, ref_value))).astype(S.dtype)
    if top_db is not None:
        floor = S.max(axis=item_axes, keepdims=True) - np.asarray(top_db, dtype=S.dtype)
        np.maximum(S, floor, out=S)
    return S


def power_to_db(S, *, ref: float | Callable = 1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> np.ndarray:
    """Power to decibels, as ``librosa.power_to_db``: ``10 log10(max(amin, S) / max(amin, ref))``.

    Batch semantics (a decision where librosa has none): each 2-D item ``S[..., :, :]`` is one
    spectrogram. A callable ``ref`` (e.g. ``np.max``) is evaluated per item, and ``top_db`` clips
    each item at its own maximum minus ``top_db``, so a batch equals its items converted one at a
    time. For input of at most 2 dimensions this is exactly librosa (whole-array ``ref`` and max).

    Parameters
    ----------
    S : np.ndarray [shape=(..., n_mels, frames)]
        Power (non-negative), e.g. :func:`mel_spectrogram` output.
    ref : float or callable
        Reference power (0 dB); a callable receives each item and returns it.
    amin : float
        Smallest power considered (avoids ``log(0)``), > 0.
    top_db : float or None
        Dynamic range kept below each item's peak in dB, >= 0; None keeps everything.

    Returns
    -------
    np.ndarray [shape=S.shape, dtype=float32]
        Decibels relative to ``ref``.
    """
    amin = _real(amin, "amin", positive=True)
    if top_db is not None:
        top_db = _real(top_db, "top_db", nonnegative=True)
    if not callable(ref):
        ref = _real(ref, "ref")
    S = _signal(S, "S", allow_empty=True)
    if S.size == 0:
        return S.astype(np.float32)
    ref_value = _ref_values(S, ref)
    item_axes = tuple(range(-min(S.ndim, 2), 0))
    return _to_db(S.astype(np.float32), ref_value, amin, top_db, item_axes)
