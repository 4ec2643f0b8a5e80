"""The compact spectrum: a clip's 1-Hz one-sided FFT magnitude (of its first, or loudest, second)
pooled into equal bands, the same grid for every sample rate."""

from __future__ import annotations

import numpy as np


def _bin_index(sr: int, fmax: float, n_bins: int) -> tuple[np.ndarray, int]:
    """For the 1-Hz spectrum of 1 s at ``sr``: the compact band of each 1-Hz bin below fmax."""
    n_fft_bins = min(sr // 2, int(fmax))
    k = np.arange(n_fft_bins)
    return (k * n_bins / fmax).astype(np.int64), n_fft_bins


_POOL_CACHE: dict[tuple[int, float, int], tuple[np.ndarray, np.ndarray, int]] = {}


def _pooling(sr: int, fmax: float, n_bins: int) -> tuple[np.ndarray, np.ndarray, int]:
    key = (sr, fmax, n_bins)
    if key not in _POOL_CACHE:
        idx, n_used = _bin_index(sr, fmax, n_bins)
        # Nominal 1-Hz bins per band (bins beyond a file's Nyquist count as zeros).
        nominal = np.bincount((np.arange(int(fmax)) * n_bins / fmax).astype(np.int64), minlength=n_bins)
        _POOL_CACHE[key] = (idx, nominal.astype(np.float64), n_used)
    return _POOL_CACHE[key]


def compact_spectrum(mag_1hz: np.ndarray, sr: int, *, fmax: float = 8000.0, n_bins: int = 256) -> np.ndarray:
    """Pool a 1-Hz magnitude spectrum into ``n_bins`` equal bands over ``0..fmax`` Hz.

    Parameters
    ----------
    mag_1hz : np.ndarray [shape=(..., m)]
        ``2/N |FFT|`` of a 1-s clip (bin ``k`` is ``k`` Hz), ``m >= min(sr // 2, fmax)``.
    sr : int
        The clip's rate in Hz; 1-Hz bins at or above ``sr / 2`` count as zeros.

    Returns
    -------
    np.ndarray [shape=(..., n_bins), dtype=float32]
        Mean magnitude of each band.
    """
    idx, nominal, n_used = _pooling(int(sr), float(fmax), int(n_bins))
    mag = np.asarray(mag_1hz, dtype=np.float32)[..., :n_used]
    flat = mag.reshape(-1, n_used)
    out = np.zeros((flat.shape[0], n_bins), np.float32)
    if n_used:
        used = int(idx[-1]) + 1
        starts = np.searchsorted(idx, np.arange(used))
        out[:, :used] = np.add.reduceat(flat, starts, axis=1)
    out /= nominal.astype(np.float32)
    return out.reshape(mag.shape[:-1] + (n_bins,)).astype(np.float32)


def _one_second(x: np.ndarray, sr: int) -> np.ndarray:
    """The clip padded to 1 s or, when longer, its loudest 1-s window (on a 10-ms grid)."""
    n = x.shape[0]
    if n == sr:
        return x
    if n < sr:
        out = np.zeros(sr, np.float32)
        out[:n] = x
        return out
    block = max(1, sr // 100)
    nb = n // block
    power = np.einsum("ij,ij->i", *(2 * [x[: nb * block].reshape(nb, block).astype(np.float64)]))
    c = np.concatenate(([0.0], np.cumsum(power)))
    width = sr // block
    start = int(np.argmax(c[width:] - c[:-width])) * block if nb > width else 0
    start = min(start, n - sr)
    return np.ascontiguousarray(x[start:start + sr])
