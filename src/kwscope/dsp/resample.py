"""Resampling with soxr (anti-aliased), any rate to any rate, batched over leading axes."""

from __future__ import annotations

import math

import numpy as np

from ._common import _SOXR_QUALITIES, _as_items, _choice, _chunks, _real, _signal, _work_dtype


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
