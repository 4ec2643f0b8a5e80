"""The lookup tables of the TensorFlow Lite Micro audio front end (window, mel filterbank, PCAN
gain, logarithm), computed from their defining formulas in the single-precision arithmetic the
front end's ``*_util.c`` files use, so that every table entry is the integer the C code builds.

The C code evaluates these formulas in ``float`` and calls the C library's ``cosf``, ``log1pf``
and ``powf``. Those are not correctly rounded (glibc's ``cosf`` is one unit in the last place off
for about 1 in 70 arguments), and a table entry lands on the other side of a rounding boundary
when they differ, so the same functions are called here through :mod:`ctypes` where the C
library has them; elsewhere the correctly rounded value (the double result rounded to float) is
used.

TensorFlow's copy of the front end (which its ``audio_microfrontend`` op runs) and
tflite-micro's copy (which the device runs) differ only here: TensorFlow's builds the window and
the mel scale with the double-precision ``cos`` and ``log1p``, tflite-micro's with ``cosf`` and
``log1pf`` in float. ``tables`` selects which one to follow; a few table entries differ by one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import sys

import numpy as np

from ._common import ParameterError

f32 = np.float32

_FILTERBANK_BITS = 12  # kFilterbankBits: weights are Q12
_WINDOW_BITS = 12  # kFrontendWindowBits: window coefficients are Q12
_WDF_BITS = 32  # kWideDynamicFunctionBits: the PCAN gain LUT covers 32-bit noise estimates
PCAN_LUT_SIZE = 4 * _WDF_BITS - 3
LOG_SEGMENTS_LOG2 = 7  # kLogSegmentsLog2: 128 segments of the log2 correction table
LOG_SCALE_LOG2 = 16  # kLogScaleLog2: log2 values are Q16
LOG_COEFF = round(math.log(2) * (1 << LOG_SCALE_LOG2))  # kLogCoeff: ln 2 in Q16 (45426)


@functools.lru_cache(maxsize=1)
def _libm():
    """``(cosf, log1pf, powf)`` of the C library, or ``None`` where it cannot be loaded."""
    name = "msvcrt" if sys.platform == "win32" else ctypes.util.find_library("m") or "libm.so.6"
    try:
        lib = ctypes.CDLL(name)
        fns = [getattr(lib, n) for n in ("cosf", "log1pf", "powf")]
    except (OSError, AttributeError):
        return None
    for fn, nargs in zip(fns, (1, 1, 2)):
        fn.restype = ctypes.c_float
        fn.argtypes = [ctypes.c_float] * nargs
    return tuple(fns)


def _cosf(x) -> np.float32:
    lib = _libm()
    return f32(lib[0](float(x))) if lib else f32(math.cos(float(x)))


def _log1pf(x) -> np.float32:
    lib = _libm()
    return f32(lib[1](float(x))) if lib else f32(math.log1p(float(x)))


def _powf(x, y) -> np.float32:
    lib = _libm()
    return f32(lib[2](float(x), float(y))) if lib else f32(math.pow(float(x), float(y)))


# --------------------------------------------------------------------------- window


@functools.lru_cache(maxsize=16)
def window_coefficients(size: int, tables: str = "tensorflow") -> np.ndarray:
    """Hann window of ``size`` samples in Q12 (``WindowPopulateState``): the periodic Hann
    window sampled at half-sample offsets, ``floor(4096 * (0.5 - 0.5 cos(2 pi (i + 0.5) / size))
    + 0.5)``. TensorFlow's copy evaluates the cosine in double precision from a float ``2 pi /
    size``; tflite-micro's evaluates everything in float (``cosf``). Returns int32 ``(size,)``
    (values 0..4096), read-only."""
    coef = np.empty(size, np.int32)
    if tables == "tensorflow":
        arg = float(f32(math.pi * 2.0 / float(f32(size))))
        for i in range(size):
            value = f32(0.5 - 0.5 * math.cos(arg * (i + 0.5)))
            coef[i] = math.floor(float(value * f32(1 << _WINDOW_BITS)) + 0.5)
    else:
        arg = f32(f32(math.pi) * f32(2.0)) / f32(size)
        for i in range(size):
            value = f32(0.5) - f32(0.5) * _cosf(arg * (f32(i) + f32(0.5)))
            coef[i] = math.floor(value * f32(1 << _WINDOW_BITS) + f32(0.5))
    coef.setflags(write=False)
    return coef


# --------------------------------------------------------------------------- filterbank


def _freq_to_mel(freq, tables: str) -> np.float32:
    """``FreqToMel``: the HTK mel scale ``1127 ln(1 + f / 700)`` of a float frequency, in double
    precision rounded to float (TensorFlow) or in float (tflite-micro)."""
    if tables == "tensorflow":
        return f32(1127.0 * math.log1p(float(f32(freq)) / 700.0))
    return f32(1127.0) * _log1pf(f32(freq) / f32(700.0))


@functools.lru_cache(maxsize=16)
def filterbank_matrix(num_channels: int, lower_band_limit: float, upper_band_limit: float,
                      sample_rate: int, spectrum_size: int,
                      tables: str = "tensorflow") -> tuple[int, int, np.ndarray]:
    """The mel filterbank of ``FilterbankPopulateState`` as a dense matrix.

    ``num_channels + 1`` triangular half-bands are centred at equal mel steps above
    ``lower_band_limit``; FFT bin ``f`` of band ``c`` gets the Q12 weight
    ``round(4096 (centre_c - mel(f)) / (centre_c - centre_(c-1)))`` and the Q12 "unweight"
    ``round(4096 (1 - that))``. Output channel ``k`` (``FilterbankAccumulateChannels``) sums the
    weights of band ``k + 1`` and the unweights of band ``k``. ``tables`` chooses the arithmetic
    of TensorFlow's copy of the code (mel values and a few steps in double precision) or of
    tflite-micro's (float throughout).

    Returns
    -------
    (start, end, matrix) : int, int, np.ndarray [shape=(num_channels, end - start), dtype=float64]
        The FFT bins ``start .. end - 1`` that any channel reads, and the integer weights of
        each output channel over them (float64 so that the product with 32-bit energies is an
        exact BLAS product: every partial sum stays below 2**53). Read-only.
    """
    bands = num_channels + 1
    double = tables == "tensorflow"
    mel_low = _freq_to_mel(lower_band_limit, tables)
    mel_spacing = (_freq_to_mel(upper_band_limit, tables) - mel_low) / f32(bands)
    centres = [mel_low + mel_spacing * f32(i + 1) for i in range(bands)]
    if double:
        hz_per_bin = f32(0.5 * sample_rate / float(f32(spectrum_size) - f32(1)))
        start = int(1.5 + float(f32(lower_band_limit) / hz_per_bin))
    else:
        hz_per_bin = f32(0.5) * f32(sample_rate) / (f32(spectrum_size) - f32(1))
        start = int(f32(1.5) + f32(lower_band_limit) / hz_per_bin)
    weights: list[tuple[int, int, int, int]] = []  # (band, bin, weight, unweight)
    end, first = 0, start
    for band in range(bands):
        freq = first
        while _freq_to_mel(f32(freq) * hz_per_bin, tables) <= centres[band]:
            freq += 1
        below = mel_low if band == 0 else centres[band - 1]
        for f in range(first, freq):
            w = (centres[band] - _freq_to_mel(f32(f) * hz_per_bin, tables)) / (centres[band] - below)
            scaled = w * f32(1 << _FILTERBANK_BITS)
            if double:
                q = (math.floor(float(scaled) + 0.5),
                     math.floor((1.0 - float(w)) * (1 << _FILTERBANK_BITS) + 0.5))
            else:
                q = (math.floor(scaled + f32(0.5)),
                     math.floor((f32(1.0) - w) * f32(1 << _FILTERBANK_BITS) + f32(0.5)))
            weights.append((band, f) + q)
        end = max(end, freq)
        first = freq
    if end >= spectrum_size:
        raise ParameterError(
            f"upper_band_limit={upper_band_limit} is too close to the Nyquist frequency "
            f"{sample_rate / 2} Hz: the filterbank's last band needs FFT bin {end}, above the "
            f"{spectrum_size - 1} bins of a {2 * (spectrum_size - 1)}-point FFT (lower it)")
    matrix = np.zeros((num_channels, max(end - start, 0)), np.float64)
    for band, f, weight, unweight in weights:
        weight, unweight = _int16(weight), _int16(unweight)
        if band >= 1:
            matrix[band - 1, f - start] += weight
        if band < num_channels:
            matrix[band, f - start] += unweight
    matrix.setflags(write=False)
    return start, end, matrix


def _int16(v: int) -> int:
    """A C conversion to int16 (two's complement wrap)."""
    return (int(v) + 32768) % 65536 - 32768


# --------------------------------------------------------------------------- PCAN gain


def _pcan_gain(x: int, strength: float, offset: float, gain_bits: int, input_bits: int) -> int:
    """``PcanGainLookupFunction``: ``2**gain_bits * (x / 2**input_bits + offset)**-strength``,
    rounded, at most 32767."""
    x_float = f32(x) / f32(1 << input_bits)
    gain = f32(1 << gain_bits) * _powf(x_float + f32(offset), -f32(strength))
    if gain > 32767:
        return 32767
    return _int16(math.trunc(float(gain + f32(0.5))))


@functools.lru_cache(maxsize=16)
def pcan_gain_lut(strength: float, offset: float, gain_bits: int, input_bits: int) -> np.ndarray:
    """The gain LUT of ``PcanGainControlPopulateState``: entries 0 and 1 are the gains at noise
    estimates 0 and 1; for each octave ``[2**(i-1), 2**i)``, ``i = 2 .. 32``, entries
    ``4 i - 6 .. 4 i - 4`` hold ``y0, a1, a2`` of the quadratic through the gains at the start,
    the middle and the end of the octave (int16 arithmetic). Returns int64 ``(125,)``, read-only;
    the slots the C code leaves unset are 0 (never read)."""
    lut = np.zeros(PCAN_LUT_SIZE, np.int64)
    lut[0] = _pcan_gain(0, strength, offset, gain_bits, input_bits)
    lut[1] = _pcan_gain(1, strength, offset, gain_bits, input_bits)
    for interval in range(2, _WDF_BITS + 1):
        x0 = 1 << (interval - 1)
        x1 = x0 + (x0 >> 1)
        x2 = x0 + (x0 - 1) if interval == _WDF_BITS else 2 * x0
        y0, y1, y2 = (_pcan_gain(x, strength, offset, gain_bits, input_bits) for x in (x0, x1, x2))
        diff1, diff2 = y1 - y0, y2 - y0
        a1 = 4 * diff1 - diff2
        a2 = diff2 - a1
        lut[4 * interval - 6: 4 * interval - 3] = (y0, _int16(a1), _int16(a2))
    lut.setflags(write=False)
    return lut


# --------------------------------------------------------------------------- logarithm


@functools.lru_cache(maxsize=1)
def log_lut() -> np.ndarray:
    """``kLogLut``: the correction ``log2(1 + x) - x`` at ``x = i / 128``, ``i = 0 .. 128``, in
    Q16, rounded, plus one padding entry. Returns int64 ``(130,)``, read-only."""
    segments = 1 << LOG_SEGMENTS_LOG2
    lut = np.array([math.floor((1 << LOG_SCALE_LOG2) * (math.log2(1 + i / segments) - i / segments) + 0.5)
                    for i in range(segments + 1)] + [0], np.int64)
    lut.setflags(write=False)
    return lut
