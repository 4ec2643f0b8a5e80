"""Measuring the decoded clips of a chunk together: every measure batched over clips of equal (or
bucketed) length, and :func:`profile_clip` for one clip."""

from __future__ import annotations

import hashlib
import warnings
from typing import Any, Iterator

import numpy as np

from ...dsp.vad import speech_segments_batch
from ...io import wav as _wav
from .config import _LOGSPEC_FRAMES, LOGSPEC_SR, SCALAR_COLUMNS, ProfileConfig
from .fingerprints import _fingerprints
from .hum import _hum, _tone_stability
from .levels import _bursts, _levels, _rfft
from .spectrum import _one_second, compact_spectrum


def profile_clip(samples: np.ndarray, sample_rate: int, *, config: ProfileConfig | None = None) -> dict[str, Any]:
    """Profile one decoded clip (the per-file part of the pass, for tests and notebooks).

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), dtype=float32]
        Mono audio, full scale 1.0.
    sample_rate : int
        Hz.

    Returns
    -------
    dict
        The scalar measures of :data:`SCALAR_COLUMNS` plus ``spectrum`` (float32
        ``(spectrum_bins,)``), ``fingerprint`` (float16 ``(fingerprint_length,)``), ``digest``
        (bytes), ``segments`` (int64 ``(n_segments, 2)``, samples), ``logspec`` (float32
        ``(frames, 161)`` at 16 kHz, the clip padded to whole seconds) and ``n_valid_frames``.
    """
    cfg = config or ProfileConfig()
    x = np.ascontiguousarray(samples, dtype=np.float32)
    batch = _Batch(cfg, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch.add(0, x, int(sample_rate), speech=True)
        batch.finish()
    out = {c: float(v) for c, v in zip(SCALAR_COLUMNS, batch.scalars[0])}
    out["truncated"] = 0.0
    out.update(batch.arrays[0])
    return out


_COL = {c: j for j, c in enumerate(SCALAR_COLUMNS)}
#: Clips measured together: batching pays off well before this, and it bounds a worker's memory
#: (a 16-kHz second is 64 KB as float32; the VAD's float64 sums and the spectrograms are larger).
SUB_BATCH = 64


def _sub_batches(items: list) -> Iterator[list]:
    for start in range(0, len(items), SUB_BATCH):
        yield items[start:start + SUB_BATCH]


class _Batch:
    """Measures a chunk's clips, batching every measure over clips of equal (or bucketed) shape.

    ``add(i, ...)`` the decoded clips, then ``finish()``; results: ``scalars`` ``(n, columns)``
    (row ``i``, NaN where not measured) and ``arrays[i]`` (spectrum, fingerprint, logspec, ...).
    """

    def __init__(self, cfg: ProfileConfig, n: int, n_labels: int = 0):
        self.cfg = cfg
        self.scalars = np.full((n, len(SCALAR_COLUMNS)), np.nan)
        self.arrays: dict[int, dict[str, Any]] = {}
        self._items: list[tuple[int, np.ndarray, int, bool]] = []
        self._segments: dict[int, np.ndarray] = {}
        self._label: dict[int, int] = {}
        self._keep: set[int] = set()
        #: Per-label sums of the first second of the 16-kHz log spectrograms, all clips and
        #: exactly-1-s clips, and their counts (empty ``(labels, 0, 0)`` in a light pass, which
        #: takes no log spectrogram: nothing to ship back).
        shape = (n_labels, _LOGSPEC_FRAMES, 161) if cfg.full else (n_labels, 0, 0)
        self.spec_all = np.zeros(shape)
        self.spec_1s = np.zeros(shape)

    def add(self, i: int, x: np.ndarray, sr: int, *, speech: bool, label: int = -1,
            keep_logspec: bool = True) -> None:
        """Queue one decoded clip; ``label`` indexes the sums; ``keep_logspec`` keeps its
        log spectrogram in ``arrays[i]`` (memory: only the clips that need it). ``x`` is float32
        (full scale 1.0) or the int16 samples of :func:`kwscope.io.wav.read_pcm16_mono`."""
        if self.cfg.full:
            x = _as_float(x)
            self.arrays[i] = {"digest": hashlib.sha1(np.ascontiguousarray(x)).digest()}
        else:
            self.arrays[i] = {}
        self._items.append((i, x, sr, speech))
        self._label[i] = label
        if keep_logspec:
            self._keep.add(i)

    def _spectra(self, sr: int, X: np.ndarray, items: list) -> None:
        """Compact spectrum and hum of clips already padded to 1 s, ``X`` ``(m, sr)``."""
        cfg, S = self.cfg, self.scalars
        mag = np.abs(_rfft(X))[:, : sr // 2]
        mag *= np.float32(2.0 / sr)
        spectra = compact_spectrum(mag, sr, fmax=cfg.spectrum_fmax_hz, n_bins=cfg.spectrum_bins)
        hz, prom, frac = _hum(mag, cfg)
        ids = np.array([i for i, _, _, _ in items])
        S[ids, _COL["hum_hz"]] = hz
        S[ids, _COL["hum_prominence_db"]] = prom
        S[ids, _COL["hum_fraction"]] = frac
        for row, (i, x, _, _) in enumerate(items):
            self.arrays[i]["spectrum"] = spectra[row]
            if prom[row] >= cfg.hum_candidate_db and frac[row] >= cfg.hum_candidate_fraction:
                S[i, _COL["hum_steadiness_db"]], S[i, _COL["hum_jitter_hz"]] = _tone_stability(
                    _as_float(x), sr, hz[row])

    def finish(self) -> None:
        cfg, S = self.cfg, self.scalars
        # Levels and VAD: clips bucketed by rate and length rounded up to a quarter second.
        buckets: dict[tuple[int, int], list[int]] = {}
        for k, (_, x, sr, _) in enumerate(self._items):
            q = max(1, sr // 4)
            buckets.setdefault((sr, -(-x.shape[0] // q) * q), []).append(k)
        for (sr, length), ks_all in buckets.items():
            for ks in _sub_batches(ks_all):
                items = [self._items[k] for k in ks]
                lengths = np.array([x.shape[0] for _, x, _, _ in items], np.int64)
                X = np.empty((len(items), length), np.float32)
                _fill_rows(X, [x for _, x, _, _ in items])
                # From here on each clip is its (float32) row of X.
                items = [(i, X[row, : lengths[row]], sr, sp) for row, (i, _, sr, sp) in enumerate(items)]
                for k, item in zip(ks, items):
                    self._items[k] = item
                ids = np.array([i for i, _, _, _ in items])
                for name, v in _levels(X, lengths, sr, cfg).items():
                    S[ids, _COL[name]] = v
                S[ids, _COL["duration_s"]] = lengths / sr
                S[ids, _COL["sample_rate"]] = sr
                speech_rows = [row for row, (_, _, _, sp) in enumerate(items) if sp]
                if speech_rows:
                    Xs = X if len(speech_rows) == len(items) else X[speech_rows]  # usually all of them
                    S[ids[speech_rows], _COL["burst_s"]] = _bursts(Xs, lengths[speech_rows], sr, cfg)
                    if length == sr:  # these rows are already the clips padded to 1 s
                        self._spectra(sr, Xs, [items[row] for row in speech_rows])
                if not cfg.full:
                    continue
                segs = speech_segments_batch(X, lengths, sr)
                S[ids, _COL["n_segments"]] = [seg.shape[0] for seg in segs]
                S[ids, _COL["speech_start_s"]] = [seg[0, 0] / sr if seg.shape[0] else np.nan for seg in segs]
                S[ids, _COL["speech_end_s"]] = [seg[-1, 1] / sr if seg.shape[0] else np.nan for seg in segs]
                for i, seg in zip(ids.tolist(), segs):
                    self._segments[i] = seg
                    self.arrays[i]["segments"] = seg
        speech = [item for item in self._items if item[3]]
        # Compact spectrum and hum of the other clips: padded to 1 s (or their loudest second).
        by_rate: dict[int, list[tuple[int, np.ndarray, int, bool]]] = {}
        for item in speech:
            if "spectrum" not in self.arrays[item[0]]:
                by_rate.setdefault(item[2], []).append(item)
        for sr, items_all in by_rate.items():
            for items in _sub_batches(items_all):
                self._spectra(sr, np.stack([_one_second(x, sr) for _, x, _, _ in items]), items)
        if not cfg.full:
            self._items.clear()
            return
        from ... import dsp  # scipy.signal: only the full pass needs it (kept off the light path)

        # Log spectrogram at 16 kHz (resampled), padded to whole seconds, batched by length.
        by_len: dict[int, list[tuple[int, np.ndarray, int, int]]] = {}
        for i, x, sr, _ in speech:
            y = x if sr == LOGSPEC_SR else dsp.resample(x, sr, LOGSPEC_SR)
            n16 = y.shape[0]
            padded = max(1, -(-n16 // LOGSPEC_SR)) * LOGSPEC_SR
            by_len.setdefault(padded, []).append((i, y, n16, sr))
        for padded, items_all in by_len.items():
            for items in _sub_batches(items_all):
                if all(n16 == padded for _, _, n16, _ in items):
                    X = np.stack([y for _, y, _, _ in items])
                else:
                    X = np.zeros((len(items), padded), np.float32)
                    for row, (_, y, n16, _) in enumerate(items):
                        X[row, :n16] = y
                _, _, specs = dsp.log_specgram(X, LOGSPEC_SR)
                n_valid = np.array([max(0, (n16 - 320) // 160 + 1) for _, _, n16, _ in items])
                fps = _fingerprints(specs, cfg)
                ids = [i for i, _, _, _ in items]
                for row, i in enumerate(ids):
                    a = self.arrays[i]
                    a.update(fingerprint=fps[row], n_valid_frames=int(n_valid[row]))
                    if i in self._keep:
                        a["logspec"] = specs[row].copy()
                labs = np.array([self._label[i] for i in ids])
                exact = np.round(S[ids, _COL["duration_s"]] * 1000) == 1000
                for j in np.unique(labs[labs >= 0]):
                    sel = labs == j
                    self.spec_all[j] += specs[sel, :_LOGSPEC_FRAMES].sum(axis=0, dtype=np.float64)
                    sel &= exact
                    if sel.any():
                        self.spec_1s[j] += specs[sel, :_LOGSPEC_FRAMES].sum(axis=0, dtype=np.float64)
        self._items.clear()


def _as_float(x: np.ndarray) -> np.ndarray:
    """Samples as float32, full scale 1.0 (int16 from :func:`kwscope.io.wav.read_pcm16_mono` scaled)."""
    return x * _wav.PCM16_SCALE if x.dtype == np.int16 else x


def _fill_rows(X: np.ndarray, clips: list[np.ndarray]) -> None:
    """Copy clips (float32, or int16 scaled to float32) into the rows of ``X``, zero-padded."""
    for row, x in enumerate(clips):
        n = x.shape[0]
        if x.dtype == np.int16:
            np.multiply(x, _wav.PCM16_SCALE, out=X[row, :n])
        else:
            X[row, :n] = x
        X[row, n:] = 0.0
