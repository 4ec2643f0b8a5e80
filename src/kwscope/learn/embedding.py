"""A clip's embedding for the baseline: its log-mel spectrogram pooled over the speech the VAD
finds (pure numpy, on top of :mod:`kwscope.dsp`; batch-aware like it).

The embedding of one clip (``EmbeddingConfig.dim`` values, 281 by default):

1. the clip at 16 kHz (resampled with :func:`kwscope.dsp.resample` when it is not), at least
   0.1 s long (zero-padded: the delta filter needs 9 frames);
2. its log-mel spectrogram (40 bands, 25-ms Hann window every 10 ms, dB with an 80-dB floor
   below the clip's loudest bin, :func:`kwscope.dsp.mel_spectrogram` / ``power_to_db``);
3. the speech region: from the start of the first to the end of the last segment that
   :func:`kwscope.dsp.speech_segments_batch` finds (the whole clip when it finds none);
4. pooled over that region: the mean of each of ``segments`` equal parts (the word's shape in
   time), the standard deviation of each band, the standard deviation of each band's delta,
   and the region's length in seconds.

Pooling over the speech region rather than the padded second makes the embedding insensitive
to where the word sits in the clip. :func:`center_by_speaker` then subtracts each speaker's mean
embedding (speaker-level mean normalization, as Kaldi's per-speaker CMVN; no label is used), so
that a voice or a microphone weighs less than the word. On FSDD, logistic regression on it reaches 0.73 accuracy
with speaker-grouped 5-fold cross-validation (prototype measurement, docs/learn.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from ..dsp import delta, mel_spectrogram, power_to_db, resample, speech_segments_batch

__all__ = ["EmbeddingConfig", "embed_batch", "prepare_clip", "pool_embedding", "center_by_speaker"]

#: Bumped when the computation changes, so cached embeddings of an older one are not reused.
_EMBEDDING_VERSION = 1


@dataclass(frozen=True)
class EmbeddingConfig:
    """How a clip becomes its embedding (see the module docstring).

    Attributes
    ----------
    sample_rate
        Hz every clip is brought to.
    n_mels
        Mel bands.
    n_fft, win_length, hop_length
        FFT size, window and hop in samples at ``sample_rate`` (512, 400 = 25 ms, 160 = 10 ms).
    top_db
        Dynamic range kept below each clip's loudest mel bin, dB.
    segments
        Equal parts of the speech region whose mean spectra are kept.
    max_seconds
        Longer recordings are cut to their first ``max_seconds`` seconds.
    """

    sample_rate: int = 16000
    n_mels: int = 40
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    top_db: float = 80.0
    segments: int = 5
    max_seconds: float = 10.0

    @property
    def dim(self) -> int:
        """Values in one embedding: ``(segments + 2) * n_mels + 1``."""
        return (self.segments + 2) * self.n_mels + 1

    def to_dict(self) -> dict:
        return asdict(self)

    def config_hash(self) -> str:
        text = json.dumps({"version": _EMBEDDING_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


#: Shortest clip embedded, samples at 16 kHz (shorter ones are zero-padded): 9 frames for delta.
_MIN_SAMPLES = 1600


def prepare_clip(x: np.ndarray, sr: int, config: EmbeddingConfig) -> np.ndarray:
    """One decoded clip (float32 mono, ``sr`` Hz) at ``config.sample_rate``, cut to ``max_seconds``."""
    x = np.asarray(x, dtype=np.float32)
    cap = int(config.max_seconds * sr)
    if x.shape[0] > cap:
        x = x[:cap]
    if sr != config.sample_rate:
        x = resample(x, sr, config.sample_rate)
    return np.ascontiguousarray(x, dtype=np.float32)


def embed_batch(clips: list[np.ndarray], config: EmbeddingConfig, *, batch: int = 64) -> np.ndarray:
    """Embeddings of clips already at ``config.sample_rate`` (:func:`prepare_clip`).

    Parameters
    ----------
    clips : list of np.ndarray [shape=(n_i,), dtype=float32]
        Mono clips, any lengths.
    config : EmbeddingConfig
    batch : int
        Clips of the same length computed together.

    Returns
    -------
    np.ndarray [shape=(len(clips), config.dim), dtype=float32]
    """
    out = np.empty((len(clips), config.dim), np.float32)
    lengths = np.array([max(c.shape[0], _MIN_SAMPLES) for c in clips], np.int64)
    # Clips of one length are computed together: padding would reach the delta filter and the
    # frames at a clip's end, so a batch would not equal its clips one at a time.
    for n in np.unique(lengths):
        same = np.flatnonzero(lengths == n)
        for start in range(0, same.size, batch):
            idx = same[start:start + batch]
            X = np.zeros((idx.size, int(n)), np.float32)
            for j, i in enumerate(idx):
                X[j, : clips[i].shape[0]] = clips[i]
            out[idx] = _embed_padded(X, lengths[idx], config)
    return out


def _speech_frames(X: np.ndarray, lengths: np.ndarray, config: EmbeddingConfig) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last frame of each clip's speech region (the whole clip without speech)."""
    hop = config.hop_length
    segs = speech_segments_batch(X, lengths, config.sample_rate)
    a = np.array([s[0, 0] if len(s) else 0 for s in segs], np.int64)
    b = np.array([s[-1, 1] if len(s) else n for s, n in zip(segs, lengths)], np.int64)
    n_frames = 1 + lengths // hop  # frames centred within the clip's own samples
    fa = np.minimum(a // hop, n_frames - 1)
    fb = np.clip(-(-b // hop), fa + 1, n_frames)
    return fa, fb


def _embed_padded(X: np.ndarray, lengths: np.ndarray, config: EmbeddingConfig) -> np.ndarray:
    """Embeddings of a batch ``(m, L)`` of clips of ``L`` samples (``lengths``; shorter ones zero-padded
    to the 0.1-s minimum)."""
    S = mel_spectrogram(X, sr=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                        win_length=config.win_length, n_mels=config.n_mels)
    D = power_to_db(S, top_db=config.top_db)  # (m, n_mels, T)
    fa, fb = _speech_frames(X, lengths, config)
    return pool_embedding(D, fa, fb, config)


def pool_embedding(D: np.ndarray, fa: np.ndarray, fb: np.ndarray, config: EmbeddingConfig) -> np.ndarray:
    """Step 4 of the module docstring: pool dB spectrograms over their speech frames.

    Parameters
    ----------
    D : np.ndarray [shape=(m, n_mels, T)]
        Log-mel spectrograms in dB.
    fa, fb : np.ndarray [shape=(m,), dtype=int]
        First and one-past-last frame of each clip's speech region (``fa < fb <= T``).
    config : EmbeddingConfig
        ``segments``, and the hop and rate that turn frames into seconds.

    Returns
    -------
    np.ndarray [shape=(m, (segments + 2) * n_mels + 1), dtype=float32]
    """
    D = np.asarray(D, dtype=np.float32)
    dD = delta(D, width=9, axis=-1)
    m, _, T = D.shape
    t = np.arange(T)[None, :]
    inside = (t >= fa[:, None]) & (t < fb[:, None])
    w = inside / inside.sum(axis=1, keepdims=True)  # (m, T) weights of the region's frames
    mean = np.einsum("mt,mct->mc", w, D)
    std = np.sqrt(np.maximum(np.einsum("mt,mct->mc", w, D * D) - mean * mean, 0.0))
    dmean = np.einsum("mt,mct->mc", w, dD)
    dstd = np.sqrt(np.maximum(np.einsum("mt,mct->mc", w, dD * dD) - dmean * dmean, 0.0))
    parts = []
    span = fb - fa
    k_seg = config.segments
    for k in range(k_seg):
        s0 = fa + (span * k) // k_seg
        s1 = np.maximum(fa + (span * (k + 1)) // k_seg, s0 + 1)
        sel = (t >= s0[:, None]) & (t < s1[:, None])
        parts.append(np.einsum("mt,mct->mc", sel / sel.sum(axis=1, keepdims=True), D))
    seconds = (span * config.hop_length / config.sample_rate)[:, None]
    return np.concatenate(parts + [std, dstd, seconds], axis=1).astype(np.float32)


def center_by_speaker(X: np.ndarray, speakers, *, tau: float = 20.0) -> np.ndarray:
    """Subtract each speaker's mean embedding, shrunk towards the mean of all clips.

    Speaker ``s`` with ``n_s`` clips is centred on ``(sum of its clips + tau * global mean) /
    (n_s + tau)``: a speaker with many clips on its own mean, one with a single clip hardly at all
    (its mean is the clip itself, which would erase the word). No label is used, so centring all
    clips before the cross-validation leaks nothing about the held-out labels. Clips of unknown
    speaker (``None``/NaN/empty) are left as they are.

    Parameters
    ----------
    X : np.ndarray [shape=(n, dim)]
    speakers : array-like [shape=(n,)]
    tau : float
        Shrinkage, in clips.

    Returns
    -------
    np.ndarray [shape=(n, dim), dtype=float32]
        A new array.
    """
    X = np.asarray(X, dtype=np.float32)
    out = X.copy()
    spk = np.array(["" if s is None or s != s else str(s) for s in speakers], dtype=object)
    known = spk != ""
    if not known.any():
        return out
    names, inv = np.unique(spk[known], return_inverse=True)
    g = X.mean(axis=0, dtype=np.float64)
    sums = np.zeros((names.size, X.shape[1]), np.float64)
    np.add.at(sums, inv, X[known])
    n = np.bincount(inv, minlength=names.size)[:, None]
    means = (sums + tau * g) / (n + tau)
    out[known] -= means[inv].astype(np.float32)
    return out
