"""MFCC (DCT of a log-mel spectrogram) and delta features, following librosa's definitions."""

from __future__ import annotations

import functools
import numbers

import numpy as np

from ._common import _SAVGOL_MODES, ParameterError, _as_items, _choice, _positive_int, _real, _signal, _work_dtype
from .mel import _check_mel_params, _mel_time_major, _stft_frame_count, _stft_params, _to_db


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
