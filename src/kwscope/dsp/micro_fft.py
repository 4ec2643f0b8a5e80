"""The 16-bit fixed-point real FFT of KISS FFT (``kiss_fftr`` built with ``FIXED_POINT=16``, as the
TensorFlow Lite Micro audio front end uses it), reproduced integer for integer over many frames.

KISS FFT computes a real FFT of ``n`` points as a complex FFT of ``n / 2`` points (even samples
as real parts, odd samples as imaginary parts) followed by a split step. Its complex FFT is a
recursive mixed-radix decimation in time (radix 4 while 4 divides the length, then 2); in
fixed point every butterfly first divides its inputs by the radix, so the output is the DFT
divided by ``n``, and every product is rounded back to Q15. This module follows that order of
operations with numpy over a whole block of frames at once: the frames sit along the last
axis, so each butterfly is a few elementwise passes over contiguous rows.

Every value the C code stores is an ``int16``; here they are held in ``int32`` arrays. The
sums that can leave the int16 range are wrapped the way a C store wraps them, and only when a
block holds such a value (for Hann-windowed frames it never does; the check is two
reductions).

Also here, the other fixed-point primitive the front end needs whole: :func:`sqrt64`, the integer
square root the filterbank takes of its 64-bit energy sums.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["fixed_rfft", "fixed_rfft_rows", "input_rows", "sqrt64"]

_Q15_ONE = 32767  # SAMP_MAX for 16-bit fixed point: twiddles are round(32767 * cos/sin)
_ROUND = 1 << 14  # sround(): add half of 2**15 before the arithmetic shift
_U32 = 0xFFFFFFFF


def _factors(n: int) -> list[tuple[int, int]]:
    """KISS FFT's factorisation of a complex FFT length: ``[(p1, m1), (p2, m2), ...]`` with
    ``p1 * m1 = n`` and ``p_i * m_i = m_(i-1)``, taking out 4s first, then 2s, then odd primes."""
    out, p, floor_sqrt = [], 4, math.floor(math.sqrt(n))
    while True:
        while n % p:
            p = {4: 2, 2: 3}.get(p, p + 2)
            if p > floor_sqrt:
                p = n
        n //= p
        out.append((p, n))
        if n <= 1:
            return out


def _input_order(n: int, factors: list[tuple[int, int]]) -> np.ndarray:
    """Where the recursion of ``kf_work`` reads its inputs from: ``order[j]`` is the input index
    that lands in output slot ``j`` before the first (innermost) butterfly stage."""

    def place(indices: np.ndarray, level: int) -> np.ndarray:
        p, m = factors[level]
        if m == 1:
            return indices
        return np.concatenate([place(indices[q::p], level + 1) for q in range(p)])

    return place(np.arange(n), 0)


def _q15(phases) -> tuple[np.ndarray, np.ndarray]:
    """``kf_cexp`` in fixed point: ``floor(0.5 + 32767 * cos(phase))`` and the same for sin, with
    the C library's double ``cos``/``sin`` (``math``), as the C code calls them."""
    return (np.array([math.floor(0.5 + _Q15_ONE * math.cos(ph)) for ph in phases], np.int32),
            np.array([math.floor(0.5 + _Q15_ONE * math.sin(ph)) for ph in phases], np.int32))


@functools.lru_cache(maxsize=8)
def _plan(nfft: int):
    """Everything that depends on the real FFT length only: the complex length, the input
    order, each stage's radix and twiddles (innermost stage first) and the split twiddles."""
    if nfft < 4 or nfft & (nfft - 1):
        raise ValueError(f"fixed_rfft needs a power of two >= 4, got {nfft}")
    ncfft = nfft // 2
    factors = _factors(ncfft)
    # kiss_fft_alloc: twiddle i has phase -2 pi i / ncfft.
    tw_r, tw_i = _q15([-2 * math.pi * i / ncfft for i in range(ncfft)])
    stages = []
    for p, m in reversed(factors):
        fstride = ncfft // (p * m)
        u = np.arange(m)
        # the twiddle of input q of butterfly u is twiddles[q * u * fstride]
        tws = tuple((tw_r[q * u * fstride].reshape(m, 1), tw_i[q * u * fstride].reshape(m, 1))
                    for q in range(1, p))
        stages.append((p, m, tws))
    # kiss_fftr_alloc: split twiddle i has phase -pi * ((i + 1) / ncfft + 1/2).
    st_r, st_i = _q15([-math.pi * ((i + 1) / ncfft + 0.5) for i in range(ncfft // 2)])
    return ncfft, _input_order(ncfft, factors), stages, (st_r[:, None], st_i[:, None])


def _wrap16(x: np.ndarray) -> np.ndarray:
    """Store to int16 as C does (two's complement wrap), in place, only if a value needs it."""
    if x.size and (x.min() < -32768 or x.max() > 32767):
        x += 32768
        x &= 0xFFFF
        x -= 32768
    return x


def _fixdiv(x: np.ndarray, p: int) -> np.ndarray:
    """``C_FIXDIV``: ``sround(x * (32767 // p))``, in place."""
    x *= _Q15_ONE // p
    x += _ROUND
    x >>= 15
    return x


def _cmul(ar, ai, br, bi):
    """``C_MUL``: the Q15 complex product, each part rounded once (``sround``)."""
    r = ar * br
    t = ai * bi
    r -= t
    r += _ROUND
    r >>= 15
    i = ar * bi
    np.multiply(ai, br, out=t)
    i += t
    i += _ROUND
    i >>= 15
    return r, i


def _radix4(re: np.ndarray, im: np.ndarray, m: int, tws) -> None:
    """``kf_bfly4`` (forward) on every block of ``4 * m`` rows of ``re``/``im``, in place."""
    shape = (-1, 4, m, re.shape[-1])
    R, I = re.reshape(shape), im.reshape(shape)
    _fixdiv(re, 4)  # every input of every butterfly is divided by the radix first
    _fixdiv(im, 4)
    (t1r, t1i), (t2r, t2i), (t3r, t3i) = tws
    if m == 1:  # innermost stage: every twiddle is (32767, 0), see _cmul_identity
        s0r, s0i = R[:, 1].copy(), I[:, 1].copy()
        s1r, s1i = R[:, 2], I[:, 2]
        s2r, s2i = R[:, 3], I[:, 3]
    else:
        s0r, s0i = _cmul(R[:, 1], I[:, 1], t1r, t1i)
        s1r, s1i = _cmul(R[:, 2], I[:, 2], t2r, t2i)
        s2r, s2i = _cmul(R[:, 3], I[:, 3], t3r, t3i)
    f0r, f0i = R[:, 0], I[:, 0]
    s5r, s5i = f0r - s1r, f0i - s1i          # scratch[5] = Fout - scratch[1]
    f0r += s1r                                 # Fout += scratch[1]
    f0i += s1i
    s3r, s3i = s0r + s2r, s0i + s2i            # scratch[3] = scratch[0] + scratch[2]
    s0r -= s2r                                 # scratch[4] = scratch[0] - scratch[2]
    s0i -= s2i
    np.subtract(f0r, s3r, out=R[:, 2])         # Fout[m2] = Fout - scratch[3]
    np.subtract(f0i, s3i, out=I[:, 2])
    f0r += s3r                                 # Fout += scratch[3]
    f0i += s3i
    np.add(s5r, s0i, out=R[:, 1])              # Fout[m] = scratch[5] + (s4.i, -s4.r)
    np.subtract(s5i, s0r, out=I[:, 1])
    np.subtract(s5r, s0i, out=R[:, 3])         # Fout[m3] = scratch[5] - (s4.i, -s4.r)
    np.add(s5i, s0r, out=I[:, 3])
    _wrap16(re)
    _wrap16(im)


# _cmul_identity: C_MUL by the twiddle (32767, 0) is sround(32767 x) = x + floor((16384 - x) / 32768),
# which is x itself for -16384 < x <= 16384 -- and the butterflies only multiply values already
# divided by the radix (|x| <= 16383). So the first stage's products, all by twiddle 0, are skipped.


def _radix2(re: np.ndarray, im: np.ndarray, m: int, tws) -> None:
    """``kf_bfly2`` on every block of ``2 * m`` rows, in place."""
    shape = (-1, 2, m, re.shape[-1])
    R, I = re.reshape(shape), im.reshape(shape)
    _fixdiv(re, 2)  # every input of every butterfly is divided by the radix first
    _fixdiv(im, 2)
    (t1r, t1i), = tws
    tr, ti = _cmul(R[:, 1], I[:, 1], t1r, t1i)
    np.subtract(R[:, 0], tr, out=R[:, 1])
    np.subtract(I[:, 0], ti, out=I[:, 1])
    R[:, 0] += tr
    I[:, 0] += ti
    _wrap16(re)
    _wrap16(im)


def fixed_rfft(frames: np.ndarray, nfft: int) -> tuple[np.ndarray, np.ndarray]:
    """``kiss_fftr`` in 16-bit fixed point over many frames.

    Parameters
    ----------
    frames : np.ndarray [shape=(n, n_frames), integer values in the int16 range]
        Real input frames, sample-major (column ``j`` is frame ``j``), ``n <= nfft`` samples each
        (zero-padded to ``nfft`` as ``FftCompute`` does).
    nfft : int
        Real FFT length, a power of two >= 4.

    Returns
    -------
    (re, im) : np.ndarray [shape=(nfft // 2 + 1, n_frames), dtype=int32]
        Real and imaginary parts of bins ``0 .. nfft / 2`` (values in the int16 range; bin-major,
        so each bin is one contiguous row), exactly as ``kiss_fftr`` writes them: the DFT
        divided by ``nfft``, rounded the way the fixed-point butterflies round.
    """
    src = input_rows(nfft)
    rows = np.zeros((len(src), frames.shape[1]), np.int32)
    keep = src < frames.shape[0]
    rows[keep] = frames[src[keep]]
    return fixed_rfft_rows(rows, nfft)


def input_rows(nfft: int) -> np.ndarray:
    """The sample each row of :func:`fixed_rfft_rows`' input holds: its ``nfft // 2`` real
    parts (even samples), then its ``nfft // 2`` imaginary parts (odd samples), in the
    recursion's input order. Indices ``>= n`` are the zero padding of an ``n``-sample frame."""
    _, order, _, _ = _plan(nfft)
    return np.concatenate([2 * order, 2 * order + 1])


def fixed_rfft_rows(rows: np.ndarray, nfft: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fixed_rfft` of frames already gathered into the FFT's input order: ``rows``
    (int32, C-contiguous, ``(nfft, n_frames)``) holds sample ``input_rows(nfft)[r]`` of every
    frame in row ``r`` (zeros for padding) and is overwritten. Lets a caller gather, window
    and scale its frames straight into that layout, in one pass."""
    ncfft, _, stages, (st_r, st_i) = _plan(nfft)
    re, im = rows[:ncfft], rows[ncfft:]
    for p, m, tws in stages:
        if p == 4:
            _radix4(re, im, m, tws)
        elif p == 2:
            _radix2(re, im, m, tws)
        else:  # pragma: no cover - a power-of-two length factors into 4s and 2s only
            raise ValueError(f"radix {p} is not supported")
    return _split(re, im, ncfft, st_r, st_i)


def _split(re, im, ncfft, st_r, st_i):
    """The last step of ``kiss_fftr``: the spectrum of the real input from the complex FFT of
    its even/odd pairs."""
    half = ncfft // 2
    out_r = np.empty((ncfft + 1, re.shape[1]), np.int32)
    out_i = np.empty_like(out_r)
    dc_r = _fixdiv(re[0].copy(), 2)
    dc_i = _fixdiv(im[0].copy(), 2)
    np.add(dc_r, dc_i, out=out_r[0])
    np.subtract(dc_r, dc_i, out=out_r[ncfft])
    out_i[0] = 0
    out_i[ncfft] = 0
    k = slice(1, half + 1)
    nk = slice(ncfft - 1, ncfft - half - 1, -1)  # rows ncfft - k for k = 1 .. half
    fpk_r = _fixdiv(re[k].copy(), 2)
    fpk_i = _fixdiv(im[k].copy(), 2)
    fpnk_r = _fixdiv(re[nk].copy(), 2)
    fpnk_i = np.negative(im[nk])
    fpnk_i[fpnk_i == 32768] = -32768  # -(-32768) stored back to int16
    _fixdiv(fpnk_i, 2)
    f1k_r, f1k_i = fpk_r + fpnk_r, fpk_i + fpnk_i
    fpk_r -= fpnk_r  # f2k = fpk - fpnk
    fpk_i -= fpnk_i
    tw_r, tw_i = _cmul(fpk_r, fpk_i, st_r, st_i)
    _wrap16(tw_r)
    _wrap16(tw_i)
    # HALF_OF is an arithmetic shift; rows k first, then rows ncfft - k (which win at k = half).
    np.add(f1k_r, tw_r, out=out_r[k])
    np.add(f1k_i, tw_i, out=out_i[k])
    out_r[k] >>= 1
    out_i[k] >>= 1
    rows_r, rows_i = f1k_r - tw_r, tw_i - f1k_i
    rows_r >>= 1
    rows_i >>= 1
    out_r[nk] = rows_r
    out_i[nk] = rows_i
    return out_r, out_i


def sqrt64(work: np.ndarray) -> np.ndarray:
    """``Sqrt64`` (``Sqrt32`` below 2**32) of the filterbank sums (``filterbank.c``): the integer square root,
    rounded up when the remainder exceeds the root, except at the 16-bit (32-bit) maximum.
    ``work`` holds exact integers as float64; returns int64."""
    if work.size and (work.min() < 0 or work.max() >= 2.0 ** 52):
        return _sqrt64_exact(work)
    root = np.floor(np.sqrt(work))
    root -= root * root > work
    root += (root + 1) * (root + 1) <= work
    rem = work - root * root
    up = (rem > root) & ~((root == 0xFFFF) & (work < 2.0 ** 32))
    return (root + up).astype(np.int64)


def _sqrt64_exact(work: np.ndarray) -> np.ndarray:
    """:func:`sqrt64` in Python integers, for sums that wrapped (negative energies) or are too
    large for float64 square roots; never met with windowed audio, kept for exactness."""
    out = np.empty(work.shape, np.int64)
    flat = out.reshape(-1)
    for i, w in enumerate(work.reshape(-1)):
        v = int(w) % (1 << 64)
        r = math.isqrt(v)
        cap = 0xFFFF if v >> 32 == 0 else _U32
        flat[i] = (r + (v - r * r > r and r != cap)) & _U32
    return out
