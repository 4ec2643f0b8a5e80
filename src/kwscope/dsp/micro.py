"""The TensorFlow Lite Micro audio front end (``audio_microfrontend``, the features of the
``micro_speech`` keyword spotter) in numpy, integer for integer equal to TensorFlow's op.

Per frame, as ``tensorflow/lite/experimental/microfrontend/lib`` computes it: a Q12 Hann window,
a shift that brings the frame's peak to 15 bits, the 16-bit fixed-point real FFT of KISS FFT
(:mod:`.micro_fft`), squared magnitudes, a Q12 mel filterbank accumulated in 64 bits, an integer
square root shifted back, noise reduction (a per-channel running minimum tracker, state reset for
every clip), PCAN gain control (gain from a LUT of the noise estimate), and a fixed-point
logarithm. The tables come from :mod:`.micro_tables`.

Clips are computed together: the FFT over all frames of a block of clips, the filterbank as one
exact float64 matrix product, the noise estimate as a loop over frames vectorized over clips and
channels, the rest elementwise.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from ._common import ParameterError, _choice, _signal
from .micro_fft import fixed_rfft_rows, input_rows, sqrt64
from .micro_tables import (
    LOG_COEFF,
    LOG_SCALE_LOG2,
    LOG_SEGMENTS_LOG2,
    filterbank_matrix,
    log_lut,
    pcan_gain_lut,
    window_coefficients,
)

__all__ = ["MicroFrontend", "micro_features", "OUT_TYPES", "TABLES"]

#: ``out_type`` choices: the op's own output, the micro_speech model's int8 input, the training
#: recipe's float features.
OUT_TYPES = ("uint16", "int8", "float")
#: ``tables`` choices: whose copy of the table-building code to follow (see :mod:`.micro_tables`).
TABLES = ("tensorflow", "tflite-micro")

_NR_BITS = 14  # kNoiseReductionBits: smoothing coefficients are Q14
_PCAN_SNR_BITS = 12  # kPcanSnrBits
_PCAN_OUTPUT_BITS = 6  # kPcanOutputBits
_FILTERBANK_BITS = 12  # kFilterbankBits
_U32 = 0xFFFFFFFF
# Frames per FFT block: a block's int32 working arrays stay within a few MiB.
_BLOCK_FRAMES = 512
# int8: micro_features_generator.cc maps a feature v to round(v * 256 / 666) - 128, clamped,
# where 666 = int(25.6 * 26.0 + 0.5): the recipe's v / 25.6 spans about 0..26 (see ``float``).
_INT8_SCALE, _INT8_DIV = 256, int(np.float32(25.6) * np.float32(26.0) + np.float32(0.5))
# float: input_data.py (preprocess='micro') multiplies the op's float output by 10 / 256.
_FLOAT_SCALE = np.float32(10.0 / 256.0)


def _int_param(value, name: str, lo: int, hi: int | None = None) -> int:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < lo or (hi is not None and value > hi):
        rng = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
        raise ParameterError(f"{name}={value!r} must be {rng}")
    return int(value)


def _float_param(value, name: str, lo: float, hi: float | None = None, *, lo_open=False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = (value > lo if lo_open else value >= lo) and (hi is None or value <= hi)
    if not ok:
        left = "(" if lo_open else "["
        rng = f"> {lo}" if hi is None and lo_open else f">= {lo}" if hi is None else f"in {left}{lo}, {hi}]"
        raise ParameterError(f"{name}={value!r} must be a finite number {rng}")
    return float(value)  # the tables round it to float32, as the op's float attributes are


def _bool_param(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{name}={value!r} must be True or False")
    return bool(value)


def _bit_length(x: np.ndarray) -> np.ndarray:
    """``MostSignificantBit32``: bits needed for each value (0 for 0), for 0 <= x < 2**53."""
    return np.frexp(x.astype(np.float64))[1].astype(np.int64)


class MicroFrontend:
    """The TFLM audio front end as a transform: its settings and precomputed tables.

    Parameters are those of TensorFlow's ``audio_microfrontend`` op
    (``tensorflow/lite/experimental/microfrontend/python/ops/audio_microfrontend_op.py``), under
    the same names and units; the defaults are the ``micro_speech`` recipe's (30 ms windows every
    20 ms, 40 channels; the op's own defaults are 25 / 10 ms and 32 channels), with the Python
    op's ``enable_pcan=True``. See :func:`micro_features` for each parameter.

    Attributes
    ----------
    window_samples, step_samples : int
        Window and hop in samples (``window_size * sample_rate // 1000``, as the C code).
    fft_size : int
        FFT length: the window rounded up to a power of two.
    window : np.ndarray [shape=(window_samples,), dtype=int32]
        Q12 Hann window.
    band : (int, int)
        FFT bins ``start .. end - 1`` read by the filterbank.
    filterbank : np.ndarray [shape=(num_channels, end - start), dtype=float64]
        Integer Q12 filterbank weights per output channel.
    smoothing : np.ndarray [shape=(num_channels,), dtype=int64]
        Q14 noise smoothing per channel (even, odd, even, ...).
    pcan_lut : np.ndarray [shape=(125,), dtype=int64]
        PCAN gain LUT (``None`` without PCAN).
    log_lut : np.ndarray [shape=(130,), dtype=int64]
        Q16 log2 correction table.
    """

    def __init__(self, *, sample_rate: int = 16000, window_size: int = 30, window_step: int = 20,
                 num_channels: int = 40, upper_band_limit: float = 7500.0,
                 lower_band_limit: float = 125.0, smoothing_bits: int = 10,
                 even_smoothing: float = 0.025, odd_smoothing: float = 0.06,
                 min_signal_remaining: float = 0.05, enable_pcan: bool = True,
                 pcan_strength: float = 0.95, pcan_offset: float = 80.0, gain_bits: int = 21,
                 enable_log: bool = True, scale_shift: int = 6, left_context: int = 0,
                 right_context: int = 0, frame_stride: int = 1, zero_padding: bool = False,
                 out_scale: int = 1, out_type: str = "uint16", tables: str = "tensorflow"):
        self.sample_rate = _int_param(sample_rate, "sample_rate", 1)
        self.window_size = _int_param(window_size, "window_size", 1)
        self.window_step = _int_param(window_step, "window_step", 1)
        self.num_channels = _int_param(num_channels, "num_channels", 1)
        self.lower_band_limit = _float_param(lower_band_limit, "lower_band_limit", 0.0)
        self.upper_band_limit = _float_param(upper_band_limit, "upper_band_limit", self.lower_band_limit,
                                             lo_open=True)
        self.smoothing_bits = _int_param(smoothing_bits, "smoothing_bits", 0, 31)
        self.even_smoothing = _float_param(even_smoothing, "even_smoothing", 0.0, 1.0)
        self.odd_smoothing = _float_param(odd_smoothing, "odd_smoothing", 0.0, 1.0)
        self.min_signal_remaining = _float_param(min_signal_remaining, "min_signal_remaining", 0.0, 1.0)
        self.enable_pcan = _bool_param(enable_pcan, "enable_pcan")
        self.pcan_strength = _float_param(pcan_strength, "pcan_strength", 0.0)
        self.pcan_offset = _float_param(pcan_offset, "pcan_offset", 0.0)
        self.enable_log = _bool_param(enable_log, "enable_log")
        self.scale_shift = _int_param(scale_shift, "scale_shift", 0, 31)
        self.left_context = _int_param(left_context, "left_context", 0)
        self.right_context = _int_param(right_context, "right_context", 0)
        self.frame_stride = _int_param(frame_stride, "frame_stride", 1)
        self.zero_padding = _bool_param(zero_padding, "zero_padding")
        self.out_scale = _int_param(out_scale, "out_scale", 1, 65535)
        _choice(out_type, "out_type", OUT_TYPES)
        self.out_type = out_type
        _choice(tables, "tables", TABLES)
        self.tables = tables
        if out_type == "int8" and self.out_scale != 1:
            raise ParameterError(f"out_scale={out_scale!r} must be 1 with out_type='int8' (the "
                                 "micro_speech int8 mapping is defined on the op's raw output)")

        self.window_samples = self.window_size * self.sample_rate // 1000
        self.step_samples = self.window_step * self.sample_rate // 1000
        if self.window_samples < 4:
            raise ParameterError(f"window_size={window_size!r} ms gives {self.window_samples} samples at "
                                 f"{self.sample_rate} Hz; it must give at least 4")
        if not 1 <= self.step_samples <= self.window_samples:
            raise ParameterError(f"window_step={window_step!r} ms must give between 1 and window_size's "
                                 f"{self.window_samples} samples at {self.sample_rate} Hz")
        self.fft_size = 1 << (self.window_samples - 1).bit_length()
        # Bits the FFT's 1 / fft_size scaling and the Q12 filterbank leave to correct for.
        self.correction_bits = self.fft_size.bit_length() - 1 - _FILTERBANK_BITS // 2
        self.snr_shift = None
        if self.enable_pcan:
            lo = self.correction_bits + _PCAN_SNR_BITS
            self.gain_bits = _int_param(gain_bits, "gain_bits", max(lo, 0), 31)
            self.snr_shift = self.gain_bits - lo
            if self.smoothing_bits < self.correction_bits:
                raise ParameterError(f"smoothing_bits={smoothing_bits!r} must be >= {self.correction_bits} "
                                     f"with PCAN at this FFT size ({self.fft_size})")
        else:
            self.gain_bits = _int_param(gain_bits, "gain_bits", 0, 31)

        self.window = window_coefficients(self.window_samples, tables)
        # The FFT's input rows straight from the frames: row r is sample rows[r] times its window
        # coefficient; the zero padding reads sample 0 times a zero coefficient.
        rows = input_rows(self.fft_size)
        pad = rows >= self.window_samples
        self._fft_rows = np.where(pad, 0, rows)
        self._fft_window = np.where(pad, 0, self.window[np.minimum(rows, self.window_samples - 1)])[:, None]
        self._fft_rows.flags.writeable = self._fft_window.flags.writeable = False  # shared when cached
        start, end, self.filterbank = filterbank_matrix(
            self.num_channels, self.lower_band_limit, self.upper_band_limit, self.sample_rate,
            self.fft_size // 2 + 1, tables)
        self.band = (start, end)
        q14 = [int(np.float32(s) * np.float32(1 << _NR_BITS)) for s in (self.even_smoothing, self.odd_smoothing)]
        self.smoothing = np.array([q14[c & 1] for c in range(self.num_channels)], np.int64)
        self.min_signal_q14 = int(np.float32(self.min_signal_remaining) * np.float32(1 << _NR_BITS))
        self.pcan_lut = (pcan_gain_lut(self.pcan_strength, self.pcan_offset, self.gain_bits,
                                       self.smoothing_bits - self.correction_bits)
                         if self.enable_pcan else None)
        self.log_lut = log_lut()

    def frames_for(self, n_samples: int) -> int:
        """Output rows for a clip of ``n_samples``: frames at every ``step_samples`` that fit
        whole (the tail shorter than a window is dropped), then every ``frame_stride``-th."""
        if n_samples < self.window_samples:
            return 0
        frames = (n_samples - self.window_samples) // self.step_samples + 1
        return (frames - 1) // self.frame_stride + 1

    @property
    def n_features(self) -> int:
        """Values per output row: ``num_channels * (1 + left_context + right_context)``."""
        return self.num_channels * (1 + self.left_context + self.right_context)

    def __call__(self, y) -> np.ndarray:
        """Features of one clip ``(n,)`` or a batch ``(..., n)``; see :func:`micro_features`."""
        pcm = _as_pcm16(y)
        n = pcm.shape[-1]
        items = pcm.reshape(int(np.prod(pcm.shape[:-1])), n)  # also for n == 0
        frames = 0 if n < self.window_samples else (n - self.window_samples) // self.step_samples + 1
        dtype = {"uint16": np.uint16, "int8": np.int8, "float": np.float32}[self.out_type]
        out = np.empty((items.shape[0], self.frames_for(n), self.n_features), dtype)
        if frames and items.shape[0]:
            per_block = max(1, _BLOCK_FRAMES // frames)
            for lo in range(0, items.shape[0], per_block):
                values = _frontend_values(self, items[lo:lo + per_block], frames)
                out[lo:lo + per_block] = _stack_context(self, _convert(self, values))
        return out.reshape(pcm.shape[:-1] + out.shape[1:])

    def __repr__(self) -> str:
        return (f"MicroFrontend(sample_rate={self.sample_rate}, window_size={self.window_size}, "
                f"window_step={self.window_step}, num_channels={self.num_channels}, "
                f"enable_pcan={self.enable_pcan}, enable_log={self.enable_log}, out_type={self.out_type!r})")


def _as_pcm16(y) -> np.ndarray:
    """int16 PCM from int16 input (as is), other integers within the int16 range, or floats in
    [-1, 1] converted as the training recipe does it."""
    if not isinstance(y, np.ndarray):
        try:
            y = np.asarray(y)
        except ValueError:  # numpy refuses ragged nested sequences
            raise ParameterError("y must be one clip (n,) or a batch of equal-length clips (..., n); "
                                 "got clips of different lengths: pad or crop them first") from None
    arr = _signal(y, allow_empty=True)
    if arr.dtype == np.int16:
        return arr
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < -32768 or arr.max() > 32767):
            raise ParameterError(f"y holds {arr.dtype} values outside the int16 range [-32768, 32767]; "
                                 "pass int16 PCM or floats in [-1, 1]")
        return arr.astype(np.int16)
    # input_data.py: clip_by_value(-1, 1), multiply by 32768 in float32, tf.cast to int16, which
    # truncates toward zero; the one value out of range, +1.0 -> 32768, saturates to 32767 in
    # TensorFlow's vectorized cast (its scalar path, for short arrays and the last few elements of
    # an array, wraps it to -32768 instead).
    scaled = np.clip(arr.astype(np.float32), -1.0, 1.0) * np.float32(32768.0)
    return np.minimum(np.trunc(scaled), 32767).astype(np.int16)


def _frontend_values(fe: MicroFrontend, items: np.ndarray, frames: int) -> np.ndarray:
    """The front end's uint16 outputs ``(clips, frames, channels)`` (as int64) of int16 clips."""
    view = np.lib.stride_tricks.sliding_window_view(items, fe.window_samples, axis=-1)
    # sample-major, in the FFT's input order: each row holds one sample of every frame, so every
    # later pass is over whole rows
    samples = view[:, ::fe.step_samples][:, :frames].transpose(2, 0, 1)[fe._fft_rows]
    windowed, shift = _window(samples.reshape(fe.fft_size, -1), fe._fft_window)
    re, im = fixed_rfft_rows(windowed, fe.fft_size)
    start, end = fe.band
    er, ei = re[start:end], im[start:end]
    energy = er * er
    energy += ei * ei  # int32, wrapping as the C code's int32 energy does
    work = fe.filterbank @ energy.astype(np.float64)  # exact: (channels, frames) 64-bit sums
    amplitude = sqrt64(work) >> shift[np.newaxis, :]
    signal = amplitude.T.reshape(items.shape[0], frames, fe.num_channels)
    signal, estimate = _noise_reduction(fe, signal)
    if fe.enable_pcan:
        signal = _pcan(fe, signal, estimate)
    return _log_scale(fe, signal)


def _window(samples: np.ndarray, coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``WindowProcessSamples`` and the FFT's input scaling: Q12 window, then each frame shifted
    left so that its peak uses 15 bits (int16 stores). ``samples`` is sample-major
    ``(rows, frames)``, ``coefficients`` ``(rows, 1)``; returns the scaled frames (int32, same
    layout) and each frame's shift."""
    w = samples * coefficients
    w >>= 12
    peak = np.abs(w)
    peak[peak == 32768] = 0  # the C code's int16 negation leaves -32768 negative: never the max
    shift = (15 - _bit_length(peak.max(axis=0))).astype(np.int32)
    w <<= shift
    if w.size and (w.min() < -32768 or w.max() > 32767):
        w = ((w + 32768) & 0xFFFF) - 32768
    return w, shift


def _noise_reduction(fe: MicroFrontend, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``NoiseReductionApply`` over ``(clips, frames, channels)`` uint32 values (int64 arrays),
    the estimate starting from zero for every clip. Returns the reduced signal and the noise
    estimate after each frame (what PCAN reads)."""
    sb = fe.smoothing_bits
    scaled = (signal << sb) & _U32
    drive = scaled * fe.smoothing
    keep = (1 << _NR_BITS) - fe.smoothing
    estimates = np.empty_like(signal)
    estimate = np.zeros(signal.shape[::2], np.int64)
    for t in range(signal.shape[1]):
        estimate *= keep
        estimate += drive[:, t]
        estimate >>= _NR_BITS
        estimates[:, t] = estimate
    floor = (signal * fe.min_signal_q14) >> _NR_BITS
    reduced = (scaled - np.minimum(estimates, scaled)) >> sb
    return np.maximum(reduced, floor), estimates


def _wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement wrap of int64 values to a signed ``bits``-bit integer."""
    half = 1 << (bits - 1)
    return ((x + half) & ((1 << bits) - 1)) - half


def _pcan(fe: MicroFrontend, signal: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """``PcanGainControlApply``: gain ``WideDynamicFunction(noise estimate)`` (a quadratic per
    octave from the LUT), SNR ``signal * gain >> snr_shift``, then ``PcanShrink``."""
    lut = fe.pcan_lut
    interval = _bit_length(estimate)
    base = np.maximum(4 * interval - 6, 0)
    up = np.maximum(11 - interval, 0)
    frac = ((estimate << up) >> np.maximum(interval - 11, 0)) & 0x3FF
    result = (lut[base + 2] * frac) >> 5
    result += lut[base + 1] * 32
    result = _wrap(result * frac, 32)
    result = _wrap(result + (1 << 14), 32) >> 15
    gain = _wrap(result + lut[base], 16)
    small = estimate <= 2
    gain[small] = lut[estimate[small]]
    gain &= _U32  # int16 -> uint32
    snr = (signal.astype(np.uint64) * gain.astype(np.uint64)) >> np.uint64(fe.snr_shift)
    snr = (snr & np.uint64(_U32)).astype(np.int64)
    knee = 2 << _PCAN_SNR_BITS
    low = (snr * snr) >> (2 + 2 * _PCAN_SNR_BITS - _PCAN_OUTPUT_BITS)
    high = (snr >> (_PCAN_SNR_BITS - _PCAN_OUTPUT_BITS)) - (1 << _PCAN_OUTPUT_BITS)
    return np.where(snr < knee, low, high)


def _log_scale(fe: MicroFrontend, signal: np.ndarray) -> np.ndarray:
    """``LogScaleApply``: ``round(2**scale_shift * ln(x))`` in fixed point (log2 from the
    position of the top bit plus a LUT-interpolated fraction, times ln 2), saturated to 16
    bits; 0 for x <= 1. Without ``enable_log`` the values are only saturated."""
    if not fe.enable_log:
        return np.minimum(signal, 0xFFFF)
    c = fe.correction_bits
    value = ((signal << c) & _U32) if c >= 0 else (signal >> -c)
    integer = np.maximum(_bit_length(value) - 1, 0)
    frac = value - (np.int64(1) << integer)
    frac = (frac << np.maximum(LOG_SCALE_LOG2 - integer, 0)) >> np.maximum(integer - LOG_SCALE_LOG2, 0)
    seg = frac >> (LOG_SCALE_LOG2 - LOG_SEGMENTS_LOG2)
    seg = np.clip(seg, 0, (1 << LOG_SEGMENTS_LOG2) - 1)
    c0, c1 = fe.log_lut[seg], fe.log_lut[seg + 1]
    unit = (1 << LOG_SCALE_LOG2) >> LOG_SEGMENTS_LOG2
    fraction = frac + c0 + (((c1 - c0) * (frac - unit * seg)) >> LOG_SCALE_LOG2)
    log2 = (integer << LOG_SCALE_LOG2) + fraction
    half = 1 << (LOG_SCALE_LOG2 - 1)
    loge = ((LOG_COEFF * log2 + half) >> LOG_SCALE_LOG2) & _U32
    scaled = ((((loge << fe.scale_shift) & _U32) + half) & _U32) >> LOG_SCALE_LOG2
    return np.where(value > 1, np.minimum(scaled, 0xFFFF), 0)


def _convert(fe: MicroFrontend, values: np.ndarray) -> np.ndarray:
    """The op's uint16 output (``value // out_scale``), the micro_speech int8 input, or the
    training recipe's float features."""
    if fe.out_type == "uint16":
        return (values // fe.out_scale).astype(np.uint16)
    if fe.out_type == "int8":
        q = (values * _INT8_SCALE + _INT8_DIV // 2) // _INT8_DIV - 128
        return np.clip(q, -128, 127).astype(np.int8)
    return (values.astype(np.float32) / np.float32(fe.out_scale)) * _FLOAT_SCALE


def _stack_context(fe: MicroFrontend, feats: np.ndarray) -> np.ndarray:
    """The op's frame stacking: rows at every ``frame_stride``-th frame, each with
    ``left_context`` frames before and ``right_context`` after (edge frames repeated, or zeros
    with ``zero_padding``)."""
    if fe.left_context == fe.right_context == 0 and fe.frame_stride == 1:
        return feats
    frames = feats.shape[1]
    anchors = np.arange(0, frames, fe.frame_stride)
    idx = anchors[:, None] + np.arange(-fe.left_context, fe.right_context + 1)[None, :]
    out = feats[:, np.clip(idx, 0, frames - 1)]
    if fe.zero_padding:
        out[:, (idx < 0) | (idx >= frames)] = 0
    return out.reshape(feats.shape[0], len(anchors), -1)


@functools.lru_cache(maxsize=16, typed=True)  # typed: 1 and True, 30 and 30.0 are not the same
def _cached(**params) -> MicroFrontend:
    return MicroFrontend(**params)


def _cached_frontend(**params) -> MicroFrontend:
    try:
        return _cached(**params)
    except TypeError:  # an unhashable setting: let the constructor name it
        return MicroFrontend(**params)


def micro_features(y, sample_rate: int = 16000, *, window_size: int = 30, window_step: int = 20,
                   num_channels: int = 40, upper_band_limit: float = 7500.0,
                   lower_band_limit: float = 125.0, smoothing_bits: int = 10,
                   even_smoothing: float = 0.025, odd_smoothing: float = 0.06,
                   min_signal_remaining: float = 0.05, enable_pcan: bool = True,
                   pcan_strength: float = 0.95, pcan_offset: float = 80.0, gain_bits: int = 21,
                   enable_log: bool = True, scale_shift: int = 6, left_context: int = 0,
                   right_context: int = 0, frame_stride: int = 1, zero_padding: bool = False,
                   out_scale: int = 1, out_type: str = "uint16",
                   tables: str = "tensorflow") -> np.ndarray:
    """TensorFlow Lite Micro audio front end features (``audio_microfrontend``), bit-exact.

    Parameter names and meanings are those of TensorFlow's op
    (``tensorflow.lite.experimental.microfrontend.python.ops.audio_microfrontend_op``); the
    defaults are the ``micro_speech`` recipe's (the op's own: ``window_size=25``,
    ``window_step=10``, ``num_channels=32``).

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (..., n)]
        One clip ``(n,)``, or a batch of equal-length clips ``(clips, n)`` (any leading axes
        are batch axes; pad or crop clips of other lengths first, e.g. with
        :func:`~kwscope.dsp.pad_or_crop`). Each clip is computed with fresh state, as one call
        of the op. int16 PCM (used as is; other integer types must hold int16 values), or floats
        in [-1, 1] converted as the training recipe converts them before the op
        (``input_data.py``: clipped to [-1, 1], times 32768 in float32, truncated toward zero;
        exactly +1.0 saturates to 32767, as TensorFlow's vectorized cast does).
    sample_rate : int
        Rate of ``y`` in Hz.
    window_size, window_step : int
        Window length and hop in milliseconds; in samples ``ms * sample_rate // 1000``.
    num_channels : int
        Mel filterbank channels.
    upper_band_limit, lower_band_limit : float
        Filterbank edges in Hz (``upper_band_limit`` must leave room below the Nyquist
        frequency for the last band: 7500 needs 16 kHz).
    smoothing_bits : int
        Noise reduction works on the signal times ``2**smoothing_bits``.
    even_smoothing, odd_smoothing : float
        Per-frame update weight of the noise estimate of even / odd channels (0..1).
    min_signal_remaining : float
        Fraction of the signal kept at least after noise subtraction (0..1).
    enable_pcan : bool
        Per-channel energy normalization (PCAN) gain control.
    pcan_strength, pcan_offset : float
        PCAN gain ``(noise + offset) ** -strength``.
    gain_bits : int
        Fractional bits of the PCAN gain.
    enable_log : bool
        Fixed-point natural logarithm of the filterbank values.
    scale_shift : int
        The logarithm is scaled by ``2**scale_shift`` (6: 64 units per neper).
    left_context, right_context : int
        Frames before / after each frame appended to its row (as the op; default none).
    frame_stride : int
        Keep every ``frame_stride``-th row.
    zero_padding : bool
        Context beyond the clip is zeros (else the edge frame repeated).
    out_scale : int
        Divide the op's values by this (integer division for ``uint16``).
    out_type : {'uint16', 'int8', 'float'}
        ``'uint16'``: the op's output (``out_type=tf.uint16``), about 0..670 with the defaults.
        ``'int8'``: what the TFLM ``micro_speech`` example feeds its quantized model
        (``micro_features_generator.cc``): ``(v * 256 + 333) // 666 - 128`` clamped to
        [-128, 127]. ``'float'``: the training recipe's features (``input_data.py``,
        ``preprocess='micro'``): the op's float output times ``10 / 256`` (float32).

    Returns
    -------
    np.ndarray [shape=(frames, channels) or (..., frames, channels)]
        ``frames = (n - window) // hop + 1`` (0 when the clip is shorter than one window; the
        tail after the last whole window is dropped), then every ``frame_stride``-th;
        ``channels = num_channels * (1 + left_context + right_context)``. dtype uint16, int8
        or float32.

    Raises
    ------
    ParameterError
        A setting outside the range the C front end supports (the one-line message names it
        and its allowed range), or ``y`` not a real numeric array of int16 values or floats,
        or ragged.

    Examples
    --------
    >>> pcm = np.zeros((8, 16000), np.int16)  # eight 1-s clips at 16 kHz
    >>> micro_features(pcm).shape  # 49 frames of 40 channels each, uint16
    (8, 49, 40)
    >>> micro_features(pcm[0], out_type="int8").dtype  # one clip, the micro_speech model's input
    dtype('int8')
    """
    fe = _cached_frontend(
        sample_rate=sample_rate, window_size=window_size, window_step=window_step,
        num_channels=num_channels, upper_band_limit=upper_band_limit,
        lower_band_limit=lower_band_limit, smoothing_bits=smoothing_bits,
        even_smoothing=even_smoothing, odd_smoothing=odd_smoothing,
        min_signal_remaining=min_signal_remaining, enable_pcan=enable_pcan,
        pcan_strength=pcan_strength, pcan_offset=pcan_offset, gain_bits=gain_bits,
        enable_log=enable_log, scale_shift=scale_shift, left_context=left_context,
        right_context=right_context, frame_stride=frame_stride, zero_padding=zero_padding,
        out_scale=out_scale, out_type=out_type, tables=tables)
    return fe(y)
