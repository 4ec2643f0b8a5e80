"""Near-duplicate fingerprints of 16-kHz log spectrograms and their SimHash signatures."""

from __future__ import annotations

import functools

import numpy as np

from .config import ProfileConfig


def _fp_bands(cfg: ProfileConfig) -> np.ndarray:
    # Log-spaced band edges on the 16-kHz log spectrogram's 50-Hz bins, at least one bin each.
    edges = np.geomspace(cfg.fp_fmin_hz, cfg.fp_fmax_hz, cfg.fp_bands + 1) / 50.0
    edges = np.round(edges).astype(np.int64)
    for i in range(1, edges.size):
        edges[i] = max(edges[i], edges[i - 1] + 1)
    return edges


@functools.lru_cache(maxsize=4)
def _band_matrix(cfg: ProfileConfig) -> np.ndarray:
    """0/1 pooling matrix ``(bins, fp_bands)`` of the fingerprint's bands (from ``edges[0]``)."""
    edges = _fp_bands(cfg)
    w = np.zeros((edges[-1] - edges[0], cfg.fp_bands), np.float32)
    for b in range(cfg.fp_bands):
        w[edges[b] - edges[0]:edges[b + 1] - edges[0], b] = 1.0
    w.setflags(write=False)
    return w


_PLANES: dict[tuple[int, int, int], np.ndarray] = {}


def _planes(cfg: ProfileConfig) -> np.ndarray:
    key = (fingerprint_length(cfg), cfg.fp_bits, cfg.seed)
    if key not in _PLANES:
        rng = np.random.default_rng([cfg.seed, 0x5EED])
        _PLANES[key] = rng.standard_normal((key[0], cfg.fp_bits)).astype(np.float32)
    return _PLANES[key]


def fingerprint_length(cfg: ProfileConfig) -> int:
    """Values in a fingerprint: ``(fp_cells - 1) * (fp_bands - 1)``."""
    return (cfg.fp_cells - 1) * (cfg.fp_bands - 1)


def signatures(fingerprints: np.ndarray, cfg: ProfileConfig) -> np.ndarray:
    """SimHash of fingerprints: the signs of ``fp_bits`` fixed random projections, packed
    ``(m, fp_bits // 8)`` uint8. Two fingerprints at angle ``a`` differ in ``a / pi`` of the bits."""
    return np.packbits(np.asarray(fingerprints, np.float32) @ _planes(cfg) > 0, axis=1)


def _fingerprints(specs: np.ndarray, cfg: ProfileConfig) -> np.ndarray:
    """Fingerprints ``(m, fingerprint_length)`` float16 of 16-kHz log spectrograms
    ``(m, frames, 161)``, for near-duplicates.

    Gain-invariant and blind to faint noise: log10 band energies on a grid of ``fp_cells`` cells
    of 20 ms (from the clip's start) x ``fp_bands`` log-spaced bands, floored ``fp_floor_db``
    under the loudest cell, then differenced along time and frequency (the continuous form of the
    Haitsma-Kalker audio fingerprint): different takes of one word by one speaker stay well apart
    (cosine <= 0.8 on FSDD) while a gain-changed, noise-added copy does not (>= 0.97).
    """
    m = specs.shape[0]
    need = cfg.fp_cells * 2
    edges = _fp_bands(cfg)
    frames = np.exp(specs[:, :need, edges[0]:edges[-1]])
    if frames.shape[1] < need:
        frames = np.concatenate([frames, np.full((m, need - frames.shape[1], frames.shape[2]), 1e-10,
                                                 np.float32)], axis=1)
    banded = frames @ _band_matrix(cfg)  # (m, frames, bands): one small BLAS product
    cells = banded.reshape(m, cfg.fp_cells, 2, cfg.fp_bands).mean(axis=2)  # 20-ms cells
    logc = np.log10(np.maximum(cells.astype(np.float64), 1e-30))
    top = logc.max(axis=(1, 2), keepdims=True)
    logc = np.maximum(logc, top - cfg.fp_floor_db / 10.0)
    fp = np.diff(np.diff(logc, axis=2), axis=1).reshape(m, -1)
    return fp.astype(np.float16)
