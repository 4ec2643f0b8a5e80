"""Tonal hum: the strongest stationary line of a 1-Hz spectrum (its fundamental, prominence and
power share) and how steady that line is over the clip."""

from __future__ import annotations

import numpy as np

from .config import ProfileConfig
from .levels import _hann


def _prominence_at(mag: np.ndarray, power_total: np.ndarray, rows: np.ndarray, bins: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Prominence (ratio) and power fraction of the lines ``mag[rows, bins]`` (same shapes).

    Prominence: the line's magnitude over the mean magnitude 4-30 bins away on both sides; power
    fraction: the power within +-2 bins over the clip's total power.
    """
    off = np.arange(-30, 31)
    win = mag[rows[..., None], bins[..., None] + off]  # (..., 61)
    outer = np.concatenate([win[..., :27], win[..., 34:]], axis=-1).astype(np.float64)
    baseline = outer.mean(axis=-1) + 1e-12
    centre = win[..., 30].astype(np.float64)
    near = win[..., 28:33].astype(np.float64)
    frac = (near * near).sum(axis=-1) / power_total[rows]
    return centre / baseline, frac


def _hum(mag: np.ndarray, cfg: ProfileConfig, *, candidates: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strongest stationary tone in 1-Hz magnitude spectra ``(m, bins)``: its fundamental (Hz),
    prominence (dB) and the fraction of the clip's power within +-2 Hz of the strongest line,
    each ``(m,)`` (NaN Hz when none).

    Prominence compares a line with the mean magnitude 4-30 Hz away on both sides: a tone that
    lasts the whole second is about 1 Hz wide, a voiced harmonic whose pitch moves is wider. The
    ``candidates`` largest bins of each clip in ``hum_fmin_hz..hum_fmax_hz`` compete (a line that
    holds 1 % of a clip's power is always among them), those holding at least 1 % of the power.
    When the winner is a harmonic (mains hum at 100 or 150 Hz), the lowest prominent
    sub-multiple is reported as the hum's frequency.
    """
    m_rows, n = mag.shape
    lo, hi = int(cfg.hum_fmin_hz), min(int(cfg.hum_fmax_hz), n - 31)
    nan = np.full(m_rows, np.nan)
    if hi <= lo or m_rows == 0:
        return nan, nan.copy(), nan.copy()
    total = np.einsum("ij,ij->i", mag, mag, dtype=np.float64)
    total[total <= 0] = np.inf
    k = min(candidates, hi - lo)
    top = np.argpartition(mag[:, lo:hi], -k, axis=1)[:, -k:] + lo  # (m, k) bins
    rows = np.repeat(np.arange(m_rows)[:, None], k, axis=1)
    prom, frac = _prominence_at(mag, total, rows, top)
    score = np.where(frac >= 0.01, prom, 0.0)
    j = np.argmax(score, axis=1)
    r = np.arange(m_rows)
    best = score[r, j]
    hz = np.where(best > 0, top[r, j].astype(np.float64), np.nan)
    prom_db = np.where(best > 0, 20 * np.log10(np.maximum(best, 1e-12)), 0.0)
    for i in np.flatnonzero(prom_db >= cfg.hum_candidate_db):
        f0 = hz[i]
        for d in (5, 4, 3, 2):  # lowest sub-multiple first
            b = int(round(f0 / d))
            if b - 1 < lo or b + 1 >= hi:
                continue
            bins = np.array([b - 1, b, b + 1])
            p, fr = _prominence_at(mag, total, np.full(3, i), bins)
            if p.max() >= 10 ** (cfg.hum_candidate_db / 20) and fr.max() >= 0.005:
                hz[i] = float(bins[int(np.argmax(p))])
                break
    return hz, prom_db, frac[r, j]


def _tone_stability(x: np.ndarray, sr: int, hz: float) -> tuple[float, float]:
    """How stationary the ``hz`` line is: ``(steadiness_db, jitter_hz)``.

    The line is demodulated (``x * exp(-2 pi i hz t)``) and averaged over Hann windows of 100 ms
    every 50 ms (a +-20-Hz band: other lines, e.g. the hum's own harmonics, stay out).
    ``steadiness_db`` is 20 log10(p10 / p90) of the windows' amplitudes: 0 dB is a constant
    amplitude (hum), a voice's pitch follows the word (-10 dB or less). ``jitter_hz`` is the
    amplitude-weighted spread of the line's frequency from window to window (phase advance): a hum
    stays within a few hundredths of a Hz, a held voiced sound drifts by 0.3 Hz or more. NaN for
    clips under 300 ms: over fewer windows a short held vowel can look as steady as a hum.
    """
    hop = max(1, round(0.05 * sr))
    win = 2 * hop
    n = x.shape[0]
    nw = (n - win) // hop + 1 if n >= win else 0
    if nw < 5 or not np.isfinite(hz):  # 4 steps at least: a 0.25-s held vowel can look steady
        return np.nan, np.nan
    # One DFT bin a window: sum_tau x[s + tau] w[tau] e^{-i omega (s + tau)}, as strided real
    # frames times one complex kernel, then the phase of each window's start.
    omega = 2 * np.pi * hz / sr
    w = _hann(win)
    tau = np.arange(win)
    kernel = np.stack([w * np.cos(omega * tau), -w * np.sin(omega * tau)], axis=1).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float32), win)[::hop][:nw]
    parts = (frames @ kernel).astype(np.float64)
    zc = (parts[:, 0] + 1j * parts[:, 1]) * np.exp(-1j * omega * hop * np.arange(nw))
    env = np.sort(np.abs(zc))
    p10, p90 = np.interp([0.1 * (nw - 1), 0.9 * (nw - 1)], np.arange(nw), env)
    steadiness = float(20 * np.log10(max(p10, 1e-12) / max(p90, 1e-12)))
    d = zc[1:] * np.conj(zc[:-1])
    weight = np.abs(d)
    if weight.sum() <= 0:
        return steadiness, np.nan
    f = np.angle(d) / (2 * np.pi * hop / sr)
    mean = np.sum(weight * f) / weight.sum()
    return steadiness, float(np.sqrt(np.sum(weight * (f - mean) ** 2) / weight.sum()))
