"""What every dsp module shares: the parameter error, the argument validators, the working-set
chunking and the strided frame view, and window construction."""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Iterator

import numpy as np

# scipy.fft, scipy.signal and soxr are imported where used: together they take a second or more
# to import, which a process that only plans the work (the parent of a pool) should not pay.

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
    if np.issubdtype(arr.dtype, np.floating) and not _all_finite(arr):
        raise ParameterError(f"{name} contains NaN or infinite values")
    return arr


def _all_finite(arr: np.ndarray) -> bool:
    """``np.isfinite(arr).all()`` in one pass with no temporary array: a sum is finite only if
    every term is (NaN and infinities propagate); a sum of finite terms that overflows is
    settled by the exact check."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum()
    return bool(np.isfinite(total)) or bool(np.isfinite(arr).all())


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
