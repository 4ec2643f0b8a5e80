"""Level measures of clips batched to one length: RMS and peak (dBFS), clipping, DC offset,
near-silence, an SNR estimate, and the longest noise burst."""

from __future__ import annotations

import functools

import numpy as np

from .config import _SILENCE_FLOOR_DB, ProfileConfig


def _rfft(x: np.ndarray) -> np.ndarray:
    """``scipy.fft.rfft`` along the last axis (scipy.fft imported here: the parent never needs it,
    and it costs a quarter of a second at start-up; the workers preload it)."""
    import scipy.fft

    return scipy.fft.rfft(x, axis=-1)


@functools.lru_cache(maxsize=8)
def _hann(length: int) -> np.ndarray:
    w = np.hanning(length + 2)[1:-1]
    return w / w.sum()


@functools.lru_cache(maxsize=8)
def _hann_f32(length: int) -> np.ndarray:
    w = _hann(length).astype(np.float32)
    w.setflags(write=False)
    return w


def _levels(X: np.ndarray, lengths: np.ndarray, sr: int, cfg: ProfileConfig) -> dict[str, np.ndarray]:
    """Level measures of clips zero-padded to a common length, ``X`` ``(m, L)``, true lengths
    ``(m,)``; each measure ``(m,)``.

    The SNR estimate needs no VAD: the mean power of the loudest 20 % of 10-ms blocks over that
    of the quietest 10 % (the noise floor), in dB (0..100; 100 when the floor is digital silence).
    """
    m, L = X.shape
    n = lengths.astype(np.float64)
    # Peak |x| without an |X| temporary; clipped samples are counted only in the clips whose
    # peak reaches the clip level (few).
    peak32 = np.maximum(X.max(axis=1), -X.min(axis=1))
    clip_level = np.float32(cfg.clip_level)
    clipped = np.zeros(m, np.int64)
    hot = np.flatnonzero(peak32 >= clip_level)
    if hot.size:
        clipped[hot] = np.count_nonzero(np.abs(X[hot]) >= clip_level, axis=1)
    peak = peak32.astype(np.float64)
    block = max(1, round(sr / 100))
    nbl = max(1, L // block)
    Xb = X[:, : nbl * block] if L >= block else np.pad(X, ((0, 0), (0, block - L)))
    Xb = Xb.reshape(m, nbl, block)
    bpow = np.einsum("ijk,ijk->ij", Xb, Xb).astype(np.float64)
    tail = X[:, nbl * block:]
    total = bpow.sum(axis=1) + np.einsum("ij,ij->i", tail, tail).astype(np.float64) if L >= block else bpow[:, 0]
    # The sum of the samples (DC offset) from float32 block sums, added in float64: exact for
    # 16-bit PCM (a block's partial sums are multiples of 2**-15 under 2**8 in magnitude, which
    # float32 holds exactly), so the same value as a float64 sum of all samples at a fraction of
    # its cost; for other sources it differs in the last bits only.
    block_sums = (Xb @ np.ones(block, np.float32)).astype(np.float64)
    sample_sum = block_sums.sum(axis=1) + (tail.sum(axis=1, dtype=np.float64) if L >= block else 0.0)
    nb = np.maximum(lengths // block, 1)
    short = lengths < block  # a clip under 10 ms is one block of its own length
    bpow /= block
    if short.any():
        bpow[short, 0] = total[short] / lengths[short]
    valid = np.arange(nbl)[None, :] < nb[:, None]
    srt = np.sort(np.where(valid, bpow, np.nan), axis=1)
    cs = np.concatenate([np.zeros((m, 1)), np.cumsum(np.nan_to_num(srt), axis=1)], axis=1)
    rows = np.arange(m)
    k_noise = np.maximum(1, nb // 10)
    k_sig = np.maximum(1, nb // 5)
    p_noise = cs[rows, k_noise] / k_noise
    p_sig = (cs[rows, nb] - cs[rows, nb - k_sig]) / k_sig
    ms = total / n
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(p_noise > 0, 10 * np.log10(p_sig / p_noise), 100.0)
        snr = np.where(p_sig > 0, np.clip(snr, 0.0, 100.0), np.nan)
        rms_db = np.where(ms > 0, 10 * np.log10(ms), _SILENCE_FLOOR_DB)
        peak_db = np.where(peak > 0, 20 * np.log10(peak), _SILENCE_FLOOR_DB)
        quiet = valid & (bpow < 10 ** (cfg.silence_db / 10))
    return {
        "rms_dbfs": rms_db,
        "peak_dbfs": peak_db,
        "clip_ratio": clipped / n,
        "dc_offset": sample_sum / n,
        "silence_ratio": quiet.sum(axis=1) / nb,
        "snr_db": snr,
    }


def _bursts(X: np.ndarray, lengths: np.ndarray, sr: int, cfg: ProfileConfig) -> np.ndarray:
    """Noise-burst seconds of clips zero-padded to a common length ``X`` ``(m, L)``: the longest
    run of loud, spectrally flat 16-ms frames, ``(m,)``.

    A frame is loud when its energy (mean removed) is within ``burst_within_db`` of the clip's
    loudest frame; only loud frames get a spectrum (Hann window), whose Wiener flatness over
    100 Hz .. 0.9 x Nyquist (at most 7.6 kHz) must reach ``burst_flatness``.
    """
    m, L = X.shape
    fl = max(8, round(0.016 * sr))
    nf = L // fl
    df = sr / fl
    lo, hi = int(np.ceil(100 / df)), int(min(0.9 * sr / 2, 7600.0) / df)
    if nf == 0 or hi - lo < 4:
        return np.zeros(m)
    frames = X[:, : nf * fl].reshape(m, nf, fl)
    # Frame sums in float32 (BLAS), exact for 16-bit PCM frames of up to 512 samples (see
    # _levels), then float64.
    s1 = (frames @ np.ones(fl, np.float32)).astype(np.float64)
    energy = np.einsum("ijk,ijk->ij", frames, frames).astype(np.float64) - s1 * s1 / fl
    valid = (np.arange(nf)[None, :] + 1) * fl <= lengths[:, None]
    level = np.where(valid, 10 * np.log10(np.maximum(energy, 0) + 1e-20), -np.inf)
    loud = valid & (level >= level.max(axis=1, keepdims=True) - cfg.burst_within_db)
    r, c = np.nonzero(loud)
    hit = np.zeros((m, nf), bool)
    if r.size:
        sel = frames[r, c]  # a copy: centred and windowed in place
        sel -= sel.mean(axis=1, keepdims=True)
        sel *= _hann_f32(fl)
        spec = _rfft(sel)[:, lo:hi]
        band = spec.real * spec.real
        band += spec.imag * spec.imag
        band += np.float32(1e-20)
        arith = band.mean(axis=1)
        np.log(band, out=band)
        hit[r, c] = np.exp(band.mean(axis=1)) / arith >= cfg.burst_flatness
    return _longest_run(hit) * (fl / sr)


def _longest_run(hit: np.ndarray) -> np.ndarray:
    """Longest run of True along axis 1 of a bool ``(m, t)`` array, ``(m,)``."""
    c = np.cumsum(hit, axis=1)
    last_reset = np.maximum.accumulate(np.where(hit, 0, c), axis=1)
    return (c - last_reset).max(axis=1, initial=0)
