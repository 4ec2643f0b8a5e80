"""Spectra of clips: the notebook's log spectrogram (scipy's recipe, batched), its one-sided FFT
magnitude (``custom_fft``), and per-bin normalization."""

from __future__ import annotations

import warnings

import numpy as np

from ._common import ParameterError, _as_items, _chunks, _frames, _real, _signal, _window, _work_dtype

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
