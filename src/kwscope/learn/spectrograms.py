"""The CNN's input: each clip's log-mel spectrogram over a fixed one-second window (the embedding's
front end, :mod:`.embedding`: 40 bands, 25-ms Hann window every 10 ms, dB with an 80-dB floor),
kept as float16, and its label-free normalization (per clip, then per speaker).

A clip shorter than the window is padded with its own floor (what zero samples would give); a
longer one keeps the window of ``frames`` frames with the most energy (the word, wherever it
sits). Pure numpy on :mod:`kwscope.dsp`; batch-aware.
"""

from __future__ import annotations

import numpy as np

from ..dsp import mel_spectrogram, power_to_db
from .embedding import EmbeddingConfig, center_by_speaker

__all__ = ["WINDOW_SECONDS", "spectrogram_frames", "spectrogram_batch", "fit_window", "normalize_spectrograms"]

#: Seconds of each clip the CNN sees.
WINDOW_SECONDS = 1.0


def spectrogram_frames(config: EmbeddingConfig) -> int:
    """Frames of the CNN's window (101 at 16 kHz: a centred STFT of one second every 10 ms)."""
    return 1 + int(round(WINDOW_SECONDS * config.sample_rate)) // config.hop_length


def fit_window(D: np.ndarray, frames: int) -> np.ndarray:
    """One clip's ``(n_mels, T)`` dB spectrogram cut or padded to ``(n_mels, frames)``: the loudest
    window of ``frames`` frames (summed power) when longer, its floor appended when shorter."""
    T = D.shape[-1]
    if T == frames:
        return D
    if T < frames:
        out = np.full(D.shape[:-1] + (frames,), D.min(), D.dtype)
        out[..., :T] = D
        return out
    energy = np.power(10.0, D.astype(np.float64) / 10).sum(axis=0)
    c = np.concatenate([[0.0], np.cumsum(energy)])
    start = int(np.argmax(c[frames:] - c[:-frames]))
    return D[..., start:start + frames]


def spectrogram_batch(clips: list[np.ndarray], config: EmbeddingConfig) -> np.ndarray:
    """Log-mel spectrograms of clips already at ``config.sample_rate`` (:func:`.prepare_clip`).

    Returns
    -------
    np.ndarray [shape=(len(clips), config.n_mels, spectrogram_frames(config)), dtype=float16]
        Decibels (power re 1, each clip floored at its peak minus ``config.top_db``).
    """
    frames = spectrogram_frames(config)
    out = np.empty((len(clips), config.n_mels, frames), np.float16)
    lengths = np.array([c.shape[0] for c in clips], np.int64)
    for n in np.unique(lengths):  # clips of one length computed together (same result as one by one)
        same = np.flatnonzero(lengths == n)
        for start in range(0, same.size, 64):
            idx = same[start:start + 64]
            X = np.stack([clips[i] for i in idx]).astype(np.float32, copy=False)
            if X.shape[1] < config.n_fft:  # shorter than one FFT: zero-padded (what the floor is)
                X = np.pad(X, ((0, 0), (0, config.n_fft - X.shape[1])))
            S = mel_spectrogram(X, sr=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                                win_length=config.win_length, n_mels=config.n_mels)
            D = power_to_db(S, top_db=config.top_db)
            for j, i in enumerate(idx):
                out[i] = fit_window(D[j], frames)
    return out


def normalize_spectrograms(S: np.ndarray, speakers=None, *, block: int = 2048) -> np.ndarray:
    """Standardize each clip (its own mean and standard deviation over all bins: loudness and
    gain do not matter), then subtract each speaker's mean band profile (shrunk towards all
    clips' as :func:`.center_by_speaker` does; clips of unknown speaker keep theirs). No label
    is used, so normalizing every clip before the folds leaks nothing. In place, in blocks.

    Parameters
    ----------
    S : np.ndarray [shape=(n, n_mels, frames), dtype=float16]
    speakers : array-like [shape=(n,)] or None
    """
    n = S.shape[0]
    profiles = np.empty((n, S.shape[1]), np.float32)
    for a in range(0, n, block):
        x = S[a:a + block].astype(np.float32)
        x -= x.mean(axis=(1, 2), keepdims=True)
        x /= np.maximum(x.std(axis=(1, 2), keepdims=True), 1e-3)
        profiles[a:a + block] = x.mean(axis=2)
        S[a:a + block] = x
    if speakers is not None:
        offset = profiles - center_by_speaker(profiles, speakers)  # each clip's speaker profile
        for a in range(0, n, block):
            x = S[a:a + block].astype(np.float32)
            x -= offset[a:a + block, :, None]
            S[a:a + block] = x
    return S
