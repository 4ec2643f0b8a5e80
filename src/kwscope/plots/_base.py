"""What every plotting function shares: the error type, the backend switch, input validation."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..errors import KwscopeError

__all__ = ["PlotError", "Backend", "check_backend", "check_signal", "as_2d"]

#: ``"matplotlib"`` builds a static :class:`matplotlib.figure.Figure`;
#: ``"plotly"`` an interactive :class:`plotly.graph_objects.Figure`.
Backend = Literal["matplotlib", "plotly"]
BACKENDS = ("matplotlib", "plotly")


class PlotError(KwscopeError, ValueError):
    """A figure could not be built or written: bad input arrays, bad backend, unsupported format."""


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise PlotError(f"backend={backend!r} is not one of {', '.join(map(repr, BACKENDS))}")
    return backend


def check_signal(y, sr) -> tuple[np.ndarray, int]:
    """Validate one recording: ``y`` shape ``(n,)`` finite samples, ``sr`` a positive rate in Hz."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise PlotError(f"y must be one recording of shape (n,), got shape {y.shape}")
    if y.size < 2:
        raise PlotError(f"y has {y.size} samples; a plot needs at least 2")
    if not np.issubdtype(y.dtype, np.number):
        raise PlotError(f"y must be numeric samples, got dtype {y.dtype}")
    y = y.astype(np.float32, copy=False)
    if not np.isfinite(y).all():
        raise PlotError(f"y has {int((~np.isfinite(y)).sum())} NaN/Inf samples")
    try:
        sr_int = int(sr)
    except (TypeError, ValueError):
        raise PlotError(f"sr={sr!r} must be a positive sample rate in Hz") from None
    if sr_int <= 0 or sr_int != sr:
        raise PlotError(f"sr={sr!r} must be a positive integer sample rate in Hz")
    return y, sr_int


def as_2d(name: str, a, shape_hint: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or 0 in a.shape:
        raise PlotError(f"{name} must be a non-empty 2-D array {shape_hint}, got shape {a.shape}")
    return a


# ----------------------------------------------------------------------------- array helpers


def edges_from_centers(centers: np.ndarray, fallback_width: float) -> tuple[float, float]:
    """The outer edges of cells centred on ``centers`` (evenly spaced), for ``imshow(extent=...)``."""
    centers = np.asarray(centers, dtype=np.float64)
    if centers.size == 0:
        return 0.0, fallback_width
    step = float(centers[1] - centers[0]) if centers.size > 1 else fallback_width
    return float(centers[0] - step / 2), float(centers[-1] + step / 2)


def wave_points(y: np.ndarray, sr: int, max_points: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and values to draw a wave; long clips become a min/max envelope of ~max_points."""
    n = y.shape[0]
    if n <= max_points:
        return np.arange(n) / sr, y
    bucket = int(np.ceil(n / (max_points // 2)))
    m = n // bucket
    body = y[: m * bucket].reshape(m, bucket)
    lo, hi = body.min(axis=1), body.max(axis=1)
    vals = np.empty(2 * m, dtype=y.dtype)
    vals[0::2], vals[1::2] = lo, hi
    t = np.repeat(np.arange(m) * bucket + bucket / 2, 2) / sr
    return t, vals


def reduce_frames(times: np.ndarray, spec: np.ndarray, max_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Average groups of frames of ``spec`` ``(frames, bins)`` so at most ``max_frames`` remain."""
    frames = spec.shape[0]
    if frames <= max_frames:
        return times, spec
    group = int(np.ceil(frames / max_frames))
    m = frames // group
    spec_r = spec[: m * group].reshape(m, group, spec.shape[1]).mean(axis=1)
    times_r = times[: m * group].reshape(m, group).mean(axis=1)
    return times_r, spec_r


def reduce_bins(freqs: np.ndarray, spec: np.ndarray, max_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Average groups of frequency bins of ``spec`` ``(frames, bins)`` so at most ``max_bins`` remain."""
    t, s = reduce_frames(freqs, spec.T, max_bins)
    return t, s.T


def peak_points(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the maximum of each group of points (spectra: peaks must survive thinning)."""
    n = x.shape[0]
    if n <= max_points:
        return x, y
    group = int(np.ceil(n / max_points))
    m = n // group
    return x[: m * group].reshape(m, group).mean(axis=1), y[: m * group].reshape(m, group).max(axis=1)


def grid_shape(n: int, ncols: int | None = None) -> tuple[int, int]:
    """Rows and columns of a grid of ``n`` small plots (at most 5 columns unless told)."""
    if ncols is None:
        ncols = min(n, 5) if n != 4 else 2
    ncols = max(1, min(int(ncols), n))
    return -(-n // ncols), ncols
