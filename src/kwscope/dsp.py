"""Signal processing for short utterances: spectrograms, mel/MFCC features, resampling, VAD.

Every function is pure, accepts one clip ``(n,)`` or a batch ``(..., n)`` (leading axes are
batch axes) and returns float32 data. Each follows a named reference definition, proven by the
parity tests in ``tests/test_dsp.py``:

* ``log_specgram`` -- the exploration notebook's ``scipy.signal.spectrogram`` recipe;
* ``mel_spectrogram``, ``mel_filterbank``, ``power_to_db``, ``mfcc``, ``delta`` -- librosa 0.10/0.11;
* ``fft_spectrum`` -- the notebook's ``custom_fft``; ``resample`` -- soxr.

Batches are computed with one strided frame view and one real FFT per chunk of clips, so a batch
of thousands of 1-s clips costs a few passes over memory instead of thousands of library calls.
The mel projection and the DCT are BLAS matrix products: on a machine busy with other processes,
run them with one BLAS thread (``threadpoolctl.threadpool_limits(1)``, as kwscope's workers do),
or the threads spend their time waiting for cores.

Precision follows the input the way scipy and librosa choose it: float32 (and 8/16-bit integer)
input is computed in float32, float64 (and 32/64-bit integer) input in float64; outputs are float32.
Integer input is converted to float without rescaling (except for the dBFS thresholds of the VAD).
Axis coordinates (frequencies in Hz, times in s) are float64, exactly as the references compute them.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Iterator

import numpy as np

# scipy.fft, scipy.signal and soxr are imported where used: together they take a second or more
# to import, which a process that only plans the work (the parent of a pool) should not pay.

__all__ = [
    "ParameterError",
    "log_specgram",
    "mel_filterbank",
    "mel_spectrogram",
    "power_to_db",
    "mfcc",
    "delta",
    "fft_spectrum",
    "resample",
    "speech_segments",
    "trim_silence",
    "pad_or_crop",
    "stack_frames",
    "normalize_per_bin",
]

# Working set of one chunk of frames: small enough to stay in cache between the window product,
# the FFT and the power/log passes, large enough that per-call overhead is negligible.
_CHUNK_BYTES = 4 * 2**20
_SOXR_QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")
_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "linear_ramp", "empty")
_SAVGOL_MODES = ("interp", "mirror", "constant", "nearest", "wrap")


class ParameterError(ValueError):
    """A DSP function was called with an invalid argument; the message repeats the bad value."""


# --------------------------------------------------------------------------- validation


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ParameterError(f"{name}={value!r} must be a positive integer")
    return int(value)


def _real(value, name: str, *, positive: bool = False, nonnegative: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and positive and value <= 0:
        ok = False
    if ok and nonnegative and value < 0:
        ok = False
    if not ok:
        kind = "a positive finite" if positive else "a non-negative finite" if nonnegative else "a finite"
        raise ParameterError(f"{name}={value!r} must be {kind} number")
    return float(value)


def _choice(value, name: str, choices) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name}={value!r} must be one of {', '.join(map(repr, choices))}")


def _signal(y, name: str = "y", *, allow_empty: bool = False, min_ndim: int = 1) -> np.ndarray:
    """The one validator for signal/feature arrays: real numbers, finite, enough dimensions."""
    arr = np.asarray(y)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise ParameterError(f"{name} must be a real numeric array, got dtype={arr.dtype}")
    if arr.ndim < min_ndim:
        raise ParameterError(f"{name} must have at least {min_ndim} dimension(s), got shape={arr.shape}")
    if not allow_empty and arr.shape[-1] == 0:
        raise ParameterError(f"{name} is empty (shape={arr.shape})")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ParameterError(f"{name} contains NaN or infinite values")
    return arr


def _work_dtype(arr: np.ndarray) -> type:
    # scipy.signal.spectrogram and librosa.stft both compute in result_type(x, float32).
    return np.float64 if np.result_type(arr.dtype, np.float32) == np.float64 else np.float32


def _as_items(arr: np.ndarray) -> np.ndarray:
    """View the batch axes as one: ``(..., n)`` -> ``(items, n)``."""
    return arr.reshape(-1, arr.shape[-1])


def _chunks(n_items: int, bytes_per_item: int) -> Iterator[slice]:
    step = max(1, _CHUNK_BYTES // max(1, bytes_per_item))
    for start in range(0, n_items, step):
        yield slice(start, min(start + step, n_items))


def _frames(x2d: np.ndarray, frame_length: int, hop: int) -> np.ndarray:
    """Strided ``(items, n_frames, frame_length)`` view; no copy."""
    return np.lib.stride_tricks.sliding_window_view(x2d, frame_length, axis=-1)[:, ::hop, :]


@functools.lru_cache(maxsize=64)
def _named_window(window, length: int) -> np.ndarray:
    import scipy.signal
    win = scipy.signal.get_window(window, length, fftbins=True)
    win.setflags(write=False)
    return win


def _window(window, length: int) -> np.ndarray:
    """librosa.filters.get_window: a name/tuple/number, a callable, or an array of ``length``."""
    if callable(window):
        return np.asarray(window(length), dtype=np.float64)
    if isinstance(window, (str, tuple)) or np.isscalar(window):
        try:
            return _named_window(window, length)
        except (ValueError, TypeError) as err:
            raise ParameterError(f"window={window!r} is not a valid window: {err}") from None
    win = np.asarray(window, dtype=np.float64)
    if win.shape != (length,):
        raise ParameterError(f"window array has shape {win.shape}, expected ({length},)")
    return win


# --------------------------------------------------------------------------- log spectrogram


def log_specgram(
    samples, sample_rate: float, *, window_ms: float = 20.0, step_ms: float = 10.0, eps: float = 1e-10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log power spectrogram, exactly as the exploration notebook computes it.

    The notebook's recipe is ``scipy.signal.spectrogram(samples, fs=sample_rate, window='hann',
    nperseg=nperseg, noverlap=noverlap, detrend=False)`` (PSD density scaling, one-sided, periodic
    Hann window) followed by ``log(spec.T.astype(float32) + eps)``, with
    ``nperseg = round(window_ms * sample_rate / 1000)`` and
    ``noverlap = round(step_ms * sample_rate / 1000)``. Note that the notebook passes the *step*
    as the *overlap*: the hop between frames is ``nperseg - noverlap`` samples. kwscope keeps this
    definition so its features equal the notebook's; with the defaults (20 ms, 10 ms) the hop is
    10 ms anyway. As in scipy, a clip shorter than ``nperseg`` is analysed with
    ``nperseg = len(clip)`` (a warning is issued).

    Parameters
    ----------
    samples : np.ndarray [shape=(..., n)]
        Audio samples, one clip or a batch; integer input is used as is (not rescaled).
    sample_rate : float
        Sampling rate in Hz.
    window_ms : float
        Window length in milliseconds.
    step_ms : float
        The notebook's "step", used as the overlap between windows, in milliseconds.
    eps : float
        Added to the power before the logarithm (avoids ``log(0)``).

    Returns
    -------
    freqs : np.ndarray [shape=(nperseg // 2 + 1,), dtype=float64]
        Bin centre frequencies in Hz (scipy's).
    times : np.ndarray [shape=(frames,), dtype=float64]
        Frame centre times in seconds (scipy's).
    spec : np.ndarray [shape=(..., frames, nperseg // 2 + 1), dtype=float32]
        Natural log of the power spectral density (units²/Hz).

    Raises
    ------
    ParameterError
        On a bad argument, or when ``noverlap >= nperseg``.
    """
    sr = _real(sample_rate, "sample_rate", positive=True)
    window_ms = _real(window_ms, "window_ms", positive=True)
    step_ms = _real(step_ms, "step_ms", nonnegative=True)
    eps = _real(eps, "eps", nonnegative=True)
    nperseg = round(window_ms * sr / 1000)
    noverlap = round(step_ms * sr / 1000)
    if nperseg < 1:
        raise ParameterError(f"window_ms={window_ms} is shorter than one sample at {sr} Hz")
    x = _signal(samples, "samples")
    n = x.shape[-1]
    if nperseg > n:
        warnings.warn(
            f"nperseg = {nperseg} is greater than input length = {n}, using nperseg = {n}",
            stacklevel=2,
        )
        nperseg = n
    if noverlap >= nperseg:
        raise ParameterError(
            f"step_ms={step_ms} gives noverlap={noverlap} samples, which must be less than "
            f"nperseg={nperseg} samples (window_ms={window_ms}, {n} samples of input)"
        )

    dtype = _work_dtype(x)
    nstep = nperseg - noverlap
    n_frames = (n - nperseg) // nstep + 1
    n_bins = nperseg // 2 + 1
    win64 = _window("hann", nperseg)
    win = win64.astype(dtype)
    # Density scaling, and the one-sided doubling of every bin but DC (and Nyquist for even
    # nperseg), folded into one per-bin factor.
    scale = 1.0 / (sr * float(np.sum(win64 * win64)))
    bin_scale = np.full(n_bins, 2.0 * scale)
    bin_scale[0] = scale
    if nperseg % 2 == 0:
        bin_scale[-1] = scale
    bin_scale = bin_scale.astype(dtype)

    import scipy.fft

    x2d = _as_items(x)
    out = np.empty((x2d.shape[0], n_frames, n_bins), dtype=np.float32)
    itemsize = np.dtype(dtype).itemsize
    for sl in _chunks(x2d.shape[0], 3 * n_frames * nperseg * itemsize):
        spec = scipy.fft.rfft(_frames(x2d[sl], nperseg, nstep) * win, axis=-1, overwrite_x=True)
        chunk = out[sl]
        power = chunk if dtype == np.float32 else np.empty(spec.shape, dtype)
        np.abs(spec, out=power)
        power *= power
        power *= bin_scale
        if power is not chunk:
            chunk[...] = power  # scipy casts the float64 PSD to float32 before adding eps
        chunk += np.float32(eps)
        np.log(chunk, out=chunk)

    freqs = scipy.fft.rfftfreq(nperseg, 1 / sr)
    times = np.arange(nperseg / 2, n - nperseg / 2 + 1, nperseg - noverlap) / float(sr)
    return freqs, times, out.reshape(x.shape[:-1] + out.shape[1:])


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
        if center:
            chunk = np.pad(chunk, ((0, 0), (n_fft // 2, n_fft // 2)), mode=pad_mode)
        spec = scipy.fft.rfft(_frames(chunk, n_fft, hop_length) * win, axis=-1, overwrite_x=True)
        mag = np.abs(spec[..., lo:hi])
        if power == 2.0:
            mag *= mag
        elif power != 1.0:
            mag **= power
        rows = mag.reshape(-1, hi - lo)
        mel = np.empty((rows.shape[0], mel_args[0]), dtype=dtype)
        for m0, m1, a, b, weights in groups:
            np.matmul(rows[:, a:b], weights, out=mel[:, m0:m1])
        yield sl, mel.reshape(mag.shape[0], n_frames, -1)


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


@functools.lru_cache(maxsize=32)
def _dct_matrix(n_in: int, n_out: int, dct_type: int, norm, lifter: float) -> np.ndarray:
    """``(n_out, n_in)`` matrix of ``scipy.fft.dct(axis=0)[:n_out]`` with the lifter folded in.

    Only ``n_out`` of ``n_in`` coefficients are kept, so one small matrix product beats a full DCT.
    """
    import scipy.fft
    matrix = scipy.fft.dct(np.eye(n_in), type=dct_type, norm=norm, axis=0)[:n_out]
    if lifter > 0:
        matrix *= (1 + lifter / 2 * np.sin(np.pi * np.arange(1, 1 + n_out) / lifter))[:, None]
    matrix.setflags(write=False)
    return matrix


def mfcc(
    *,
    y=None,
    sr: float = 22050,
    S=None,
    n_mfcc: int = 13,
    dct_type: int = 2,
    norm: str | None = "ortho",
    lifter: float = 0,
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
    mel_norm: str | float | None = "slaney",
) -> np.ndarray:
    """Mel-frequency cepstral coefficients, as ``librosa.feature.mfcc``.

    From audio: ``power_to_db(mel_spectrogram(y, ...))`` (``ref=1``, ``top_db=80`` per item),
    then a DCT over the mel axis, keeping ``n_mfcc`` coefficients. From ``S``: the DCT of that
    log-power mel spectrogram as given. The default ``n_mfcc=13`` is the notebook's
    (librosa's default is 20); every other default is librosa's.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)] or None
        Audio, one clip or a batch.
    sr : float
        Sampling rate in Hz.
    S : np.ndarray [shape=(..., n_mels, frames)] or None
        Log-power mel spectrogram in dB; used instead of ``y`` when given.
    n_mfcc : int
        Number of coefficients kept (<= number of mel bands).
    dct_type : {1, 2, 3, 4}
        DCT type (``scipy.fft.dct``).
    norm : {'ortho', 'backward', 'forward', None}
        DCT normalization.
    lifter : float
        Cepstral liftering ``1 + lifter/2 * sin(pi * k / lifter)`` when > 0.
    n_fft, hop_length, win_length, window, center, pad_mode, power
        STFT parameters, see :func:`mel_spectrogram` (ignored when ``S`` is given).
    n_mels, fmin, fmax, htk, mel_norm
        Filterbank parameters, see :func:`mel_filterbank` (``mel_norm`` is its ``norm``).

    Returns
    -------
    np.ndarray [shape=(..., n_mfcc, frames), dtype=float32]
    """
    n_mfcc = _positive_int(n_mfcc, "n_mfcc")
    if isinstance(dct_type, bool) or dct_type not in (1, 2, 3, 4):
        raise ParameterError(f"dct_type={dct_type!r} must be 1, 2, 3 or 4")
    if norm not in (None, "ortho", "backward", "forward"):
        raise ParameterError(f"norm={norm!r} must be 'ortho', 'backward', 'forward' or None")
    lifter = _real(lifter, "lifter")
    if lifter < 0:
        raise ParameterError(f"lifter={lifter} must be a non-negative number")
    if (y is None) == (S is None):
        raise ParameterError("give exactly one of y= (audio) or S= (log-power mel spectrogram)")

    if S is not None:
        S = _signal(S, "S", min_ndim=2)
        if n_mfcc > S.shape[-2]:
            raise ParameterError(f"n_mfcc={n_mfcc} must be <= the number of mel bands {S.shape[-2]}")
        dtype = _work_dtype(S)
        dct = _dct_matrix(S.shape[-2], n_mfcc, int(dct_type), norm, lifter).astype(dtype)
        return np.matmul(dct, S.astype(dtype, copy=False)).astype(np.float32, copy=False)

    stft = _stft_params(n_fft, hop_length, win_length, window, center, pad_mode, power)
    mel_args = (n_mels, fmin, fmax, htk, mel_norm)
    _check_mel_params(sr, n_fft, *mel_args)
    if n_mfcc > n_mels:
        raise ParameterError(f"n_mfcc={n_mfcc} must be <= n_mels={n_mels}")
    x = _signal(y)
    dct_t = _dct_matrix(n_mels, n_mfcc, int(dct_type), norm, lifter).T.astype(_work_dtype(x))
    n_frames = _stft_frame_count(x.shape[-1], n_fft, hop_length, center)
    out = np.empty((_as_items(x).shape[0], n_mfcc, n_frames), dtype=np.float32)
    for sl, mel in _mel_time_major(x, n_frames, sr, *stft, mel_args):
        coeffs = _to_db(mel, 1.0, 1e-10, 80.0, (-2, -1)) @ dct_t
        out[sl] = coeffs.swapaxes(-1, -2)
    return out.reshape(x.shape[:-1] + out.shape[1:])


def delta(data, *, width: int = 9, order: int = 1, axis: int = -1, mode: str = "interp") -> np.ndarray:
    """Local derivative estimate, as ``librosa.feature.delta`` (a Savitzky-Golay filter).

    ``scipy.signal.savgol_filter(data, width, polyorder=order, deriv=order, axis=axis, mode=mode)``.

    Parameters
    ----------
    data : np.ndarray [shape=(..., coeffs, frames)]
        Features, e.g. :func:`mfcc` output.
    width : int
        Odd filter length in frames, >= 3 (and <= ``data.shape[axis]`` for mode 'interp').
    order : int
        Derivative order (1: delta, 2: delta-delta), < ``width``.
    axis : int
        Axis along which to differentiate (time).
    mode : {'interp', 'mirror', 'constant', 'nearest', 'wrap'}
        Edge handling, as ``savgol_filter``.

    Returns
    -------
    np.ndarray [shape=data.shape, dtype=float32]
    """
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 3 or width % 2 != 1:
        raise ParameterError(f"width={width!r} must be an odd integer >= 3")
    order = _positive_int(order, "order")
    if order >= width:
        raise ParameterError(f"order={order} must be less than width={width}")
    _choice(mode, "mode", _SAVGOL_MODES)
    data = _signal(data, "data", allow_empty=True)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -data.ndim <= axis < data.ndim:
        raise ParameterError(f"axis={axis!r} is out of range for data with shape {data.shape}")
    if mode == "interp" and width > data.shape[axis]:
        raise ParameterError(
            f"when mode='interp', width={width} cannot exceed data.shape[axis]={data.shape[axis]}"
        )
    data = data.astype(_work_dtype(data), copy=False)
    if mode != "interp":
        import scipy.signal

        result = scipy.signal.savgol_filter(data, int(width), polyorder=order, deriv=order, axis=axis, mode=mode)
        return result.astype(np.float32, copy=False)
    # savgol_filter's own steps for mode 'interp' -- the same convolution, then the first and last
    # width // 2 values from a polynomial fit to the first and last `width` samples -- with the
    # fits done as two small precomputed matrices: scipy fits every edge of every row with its
    # own least-squares solve, which cost more than the whole filter on an MFCC batch. Equal to
    # savgol_filter for float64 input; for float32 the edge values, fitted here in float64, agree
    # to float32 rounding.
    import scipy.ndimage

    coeffs, head, tail = _savgol_interp(int(width), order)
    result = scipy.ndimage.convolve1d(data, coeffs, axis=axis, mode="constant")
    x = np.moveaxis(data, axis, -1)
    y = np.moveaxis(result, axis, -1)  # a view: writing the edges writes result
    half = int(width) // 2
    y[..., :half] = x[..., :width].astype(np.float64) @ head.T
    y[..., -half:] = x[..., -width:].astype(np.float64) @ tail.T
    return result.astype(np.float32, copy=False)


@functools.lru_cache(maxsize=32)
def _savgol_interp(width: int, order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """savgol_filter's convolution coefficients for (width, polyorder=deriv=order), and the
    ``(width // 2, width)`` matrices giving its 'interp' edge values from the first / last
    ``width`` samples (the edge fits are linear in the samples: read off the identity)."""
    import scipy.signal

    coeffs = scipy.signal.savgol_coeffs(width, order, deriv=order)
    response = scipy.signal.savgol_filter(np.eye(width), width, polyorder=order, deriv=order, axis=-1,
                                          mode="interp")
    edges = response.T  # edges[i, j]: output i for the unit input at sample j
    half = width // 2
    for a in (coeffs, edges):
        a.setflags(write=False)
    return coeffs, edges[:half], edges[width - half:]


# --------------------------------------------------------------------------- spectrum, resampling


def fft_spectrum(y, sr: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided magnitude spectrum, the notebook's ``custom_fft``.

    ``magnitude = 2/N * |FFT(y)[:N//2]|`` over ``freqs = linspace(0, sr/2, N//2)``, with
    ``N = y.shape[-1]``. (The notebook's frequency axis is a ``linspace``, so bin ``k`` is labelled
    ``k * sr / (N - 2)`` Hz rather than ``k * sr / N``; kept for parity.)

    Parameters
    ----------
    y : np.ndarray [shape=(..., N)]
        Audio, one clip or a batch.
    sr : float
        Sampling rate in Hz.

    Returns
    -------
    freqs : np.ndarray [shape=(N // 2,), dtype=float64]
        Frequencies in Hz.
    magnitude : np.ndarray [shape=(..., N // 2), dtype=float32]
        Amplitude (a full-scale sine of amplitude A shows a peak near A).
    """
    sr = _real(sr, "sr", positive=True)
    x = _signal(y)
    n = x.shape[-1]
    import scipy.fft
    spec = scipy.fft.rfft(x.astype(_work_dtype(x), copy=False), axis=-1)[..., : n // 2]
    magnitude = np.abs(spec).astype(np.float32, copy=False)
    magnitude *= np.float32(2.0 / n)
    return np.linspace(0, sr / 2, n // 2), magnitude


def resample(y, orig_sr: float, target_sr: float, *, quality: str = "HQ") -> np.ndarray:
    """Band-limited (anti-aliased) resampling with soxr.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)]
        Audio, one clip or a batch (the batch is resampled as the channels of one soxr call).
    orig_sr, target_sr : float
        Input and output sampling rates in Hz.
    quality : {'QQ', 'LQ', 'MQ', 'HQ', 'VHQ'}
        soxr quality preset.

    Returns
    -------
    np.ndarray [shape=(..., floor(n * target_sr / orig_sr + 0.5)), dtype=float32]
        A new array, also when the rates are equal. The length is soxr's: the exact ratio
        rounded half up.
    """
    orig_sr = _real(orig_sr, "orig_sr", positive=True)
    target_sr = _real(target_sr, "target_sr", positive=True)
    _choice(quality, "quality", _SOXR_QUALITIES)
    x = _signal(y)
    if orig_sr == target_sr:
        return x.astype(np.float32)
    x2d = np.ascontiguousarray(_as_items(x), dtype=_work_dtype(x))
    if x2d.shape[0] == 0:
        return np.zeros(x.shape[:-1] + (math.floor(x.shape[-1] * target_sr / orig_sr + 0.5),), np.float32)
    import soxr

    parts = []
    # soxr takes (frames, channels); the transposed C-array is its split-channel layout (no copy).
    for sl in _chunks(x2d.shape[0], x2d.shape[1] * x2d.itemsize * 8):
        parts.append(soxr.resample(x2d[sl].T, orig_sr, target_sr, quality=quality).T)
    out = np.concatenate(parts, axis=0).astype(np.float32, copy=False)
    return out.reshape(x.shape[:-1] + out.shape[-1:])


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


# --------------------------------------------------------------------------- shaping


def pad_or_crop(y, length: int, *, mode: str = "center") -> np.ndarray:
    """Zero-pad or crop the last axis to exactly ``length`` samples.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)]
        Audio, one clip or a batch (``n`` may be 0).
    length : int
        Target length in samples, >= 0.
    mode : {'center', 'left', 'right'}
        'center' keeps the content centred (pads or crops both sides, the odd sample at the end);
        'left' keeps the start (pads or crops at the end); 'right' keeps the end.

    Returns
    -------
    np.ndarray [shape=(..., length), dtype=float32]
    """
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 0:
        raise ParameterError(f"length={length!r} must be a non-negative integer")
    _choice(mode, "mode", ("center", "left", "right"))
    x = _signal(y, allow_empty=True)
    n, length = x.shape[-1], int(length)
    keep = min(n, length)
    offset = {"left": 0, "right": abs(n - length), "center": abs(n - length) // 2}[mode]
    out = np.zeros(x.shape[:-1] + (length,), dtype=np.float32)
    if n >= length:
        out[...] = x[..., offset : offset + keep]
    else:
        out[..., offset : offset + keep] = x
    return out


def stack_frames(X, k: int, *, hop: int = 1) -> np.ndarray:
    """Temporal context: concatenate ``k`` consecutive frames into one row.

    Parameters
    ----------
    X : np.ndarray [shape=(..., frames, coeffs)]
        Features, time on axis -2.
    k : int
        Frames per output row, <= ``frames``.
    hop : int
        Frames between the starts of consecutive rows.

    Returns
    -------
    np.ndarray [shape=(..., (frames - k) // hop + 1, k * coeffs), dtype=float32]
        Row ``t`` is ``X[..., t*hop : t*hop + k, :]`` flattened (frame-major).
    """
    k = _positive_int(k, "k")
    hop = _positive_int(hop, "hop")
    X = _signal(X, "X", allow_empty=True, min_ndim=2)
    if k > X.shape[-2]:
        raise ParameterError(f"k={k} must be <= the number of frames {X.shape[-2]}")
    windows = np.lib.stride_tricks.sliding_window_view(X, k, axis=-2)[..., ::hop, :, :]
    stacked = windows.swapaxes(-1, -2).astype(np.float32)
    return stacked.reshape(stacked.shape[:-2] + (k * X.shape[-1],))


def normalize_per_bin(spec) -> np.ndarray:
    """The notebook's per-frequency-bin standardization, ``(spec - mean) / std`` over time.

    Statistics are taken over axis -2 (frames) of each item in float64. A bin that is constant
    over time (``std == 0``) becomes 0 instead of NaN.

    Parameters
    ----------
    spec : np.ndarray [shape=(..., frames, bins)]
        E.g. :func:`log_specgram` output.

    Returns
    -------
    np.ndarray [shape=spec.shape, dtype=float32]
    """
    spec = _signal(spec, "spec", min_ndim=2)
    if spec.shape[-2] == 0:
        raise ParameterError(f"spec has no frames (shape={spec.shape})")
    mean = spec.mean(axis=-2, keepdims=True, dtype=np.float64)
    std = spec.std(axis=-2, keepdims=True, dtype=np.float64)
    # A bin constant over time (e.g. log(eps) of digital silence) can show a float64 rounding
    # residue instead of an exact 0 std; below the input's own resolution it counts as constant.
    resolution = np.finfo(np.float32).eps * np.abs(mean)
    std[std <= resolution] = 1.0
    return ((spec - mean) / std).astype(np.float32)
