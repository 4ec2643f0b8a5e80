"""Shaping features for a model: padding or cropping clips to one length, stacking frames."""

from __future__ import annotations

import numbers

import numpy as np

from ._common import ParameterError, _choice, _positive_int, _signal

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
