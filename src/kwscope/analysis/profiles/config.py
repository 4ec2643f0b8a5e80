"""What the profile pass measures and how (:class:`ProfileConfig`, part of every cache key), the
scalar columns it returns, and the deterministic per-path sample keys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


_CACHE_VERSION = "profiles-v7"  # v7: duration_s of a truncated clip is the whole file's
#: The log spectrogram of the aggregates is taken at this rate (the notebook's Speech Commands rate).
LOGSPEC_SR = 16000
_LOGSPEC_FRAMES = 99  # frames of one second with the notebook's 20-ms window and 10-ms step
_SILENCE_FLOOR_DB = -120.0  # level reported for digital silence (log of 0)

#: Scalar columns measured per file (float64; NaN where not measured).
SCALAR_COLUMNS = (
    "duration_s", "sample_rate", "rms_dbfs", "peak_dbfs", "clip_ratio", "dc_offset", "silence_ratio",
    "snr_db", "speech_start_s", "speech_end_s", "n_segments", "burst_s", "hum_hz", "hum_prominence_db",
    "hum_fraction", "hum_steadiness_db", "hum_jitter_hz", "truncated",
)


@dataclass(frozen=True)
class ProfileConfig:
    """What the profile pass measures and how; part of the cache key (``config_hash``).

    Attributes
    ----------
    spectrum_fmax_hz, spectrum_bins
        The compact spectrum's grid: ``spectrum_bins`` equal bands over 0..fmax Hz.
    clip_level
        ``|x| >= clip_level`` (full scale 1.0) counts as a clipped sample.
    silence_db
        10-ms blocks quieter than this (dBFS, mean square) count as near-silent.
    burst_flatness, burst_within_db
        A noise-burst frame (16 ms, not overlapping) is loud (within ``burst_within_db`` of the
        clip's loudest frame) and spectrally flat (Wiener flatness >= ``burst_flatness`` over
        100 Hz .. 0.9 x Nyquist, at most 7.6 kHz; white noise is about 0.56, voiced speech well
        under 0.1); ``burst_s`` is the longest run.
    hum_fmin_hz, hum_fmax_hz, hum_candidate_db, hum_candidate_fraction
        Band searched for a stationary tone (hum, whistle) in the 1-Hz spectrum. Lines at least
        ``hum_candidate_db`` above their neighbourhood and holding ``hum_candidate_fraction`` of
        the power get stability measures (steadiness, jitter; NaN otherwise): these are the
        lowest prominence and fraction the hum flag can use.
    fp_cells, fp_bands, fp_fmin_hz, fp_fmax_hz, fp_floor_db, fp_bits
        The near-duplicate fingerprint grid (20-ms cells x bands), its floor below the loudest
        cell, and the bits of its SimHash signature.
    violin_hz, violin_clips, seed
        Violin frequencies (Hz, on the 16-kHz log spectrogram's 50-Hz bins), clips sampled per
        label, and the seed of that deterministic sample.
    max_seconds
        At most this much of a recording is read (long background-noise files).
    full
        ``True``: everything (what :func:`~kwscope.analysis.explore.explore` needs). ``False``:
        only what the anomaly ranking uses -- levels, SNR, clipping, noise bursts, the compact
        spectrum and hum -- skipping the VAD, the sample digest, the notebook log spectrogram
        (mean spectrograms, violins) and the fingerprints (``kwscope anomalies``). The measures
        both compute are computed identically, and a full cache entry serves a light run.
    """

    spectrum_fmax_hz: float = 8000.0
    spectrum_bins: int = 256
    clip_level: float = 0.99
    silence_db: float = -60.0
    burst_flatness: float = 0.35
    burst_within_db: float = 12.0
    hum_fmin_hz: float = 40.0
    hum_fmax_hz: float = 4000.0
    hum_candidate_db: float = 20.0
    hum_candidate_fraction: float = 0.05
    fp_cells: int = 48
    fp_bands: int = 16
    fp_fmin_hz: float = 100.0
    fp_fmax_hz: float = 3800.0
    fp_floor_db: float = 30.0
    fp_bits: int = 256
    violin_hz: tuple[float, ...] = (1000.0, 2500.0, 6000.0)
    violin_clips: int = 100
    seed: int = 0
    max_seconds: float = 30.0
    full: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["violin_hz"] = [float(h) for h in self.violin_hz]
        return d

    def config_hash(self) -> str:
        text = json.dumps({"version": _CACHE_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def spectrum_freqs_hz(self) -> np.ndarray:
        """Centre frequency of each compact-spectrum band, Hz, shape ``(spectrum_bins,)``."""
        width = self.spectrum_fmax_hz / self.spectrum_bins
        return (np.arange(self.spectrum_bins) + 0.5) * width

    def violin_bins(self) -> list[int]:
        """Bin index of each violin frequency in the 16-kHz log spectrogram (50-Hz bins)."""
        step = 1000.0 / 20.0  # Hz per bin: sr / nperseg with the 20-ms window
        return [int(round(h / step)) for h in self.violin_hz]


def sample_key(path: str, seed: int) -> int:
    """A deterministic pseudo-random 63-bit key of a path: the sample of a label is the files with
    the smallest keys, which is the same whatever the chunking or completion order."""
    digest = hashlib.blake2b(f"{seed}:{path}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def sample_keys(paths, seed: int) -> np.ndarray:
    """:func:`sample_key` of many paths at once, int64 ``(len(paths),)`` (the same values; the
    digests are converted by numpy instead of one Python integer at a time)."""
    blake, prefix = hashlib.blake2b, f"{seed}:"
    raw = b"".join([blake((prefix + p).encode(), digest_size=8).digest() for p in paths])
    return (np.frombuffer(raw, "<u8") >> np.uint64(1)).astype(np.int64)
