"""Dataset aggregates from the profile pass, in memory that does not grow with the number of files.

- mean FFT per label: the mean of the compact spectra (the notebook's ``custom_fft`` of the clip
  padded to 1 s, pooled to 31.25-Hz bands over 0-8 kHz);
- mean log spectrogram per label: the mean of the notebook's ``log_specgram`` at 16 kHz
  (20-ms window, 10-ms step; 99 frames x 161 bins of 50 Hz); clips recorded at another rate
  are resampled to 16 kHz (soxr) first, so every label is on one grid;
- violins: log-spectrogram values at chosen frequencies (default 1000, 2500, 6000 Hz, the
  notebook's bins 20, 50 and 120), from a deterministic sample of ``violin_clips`` clips a label
  (the clips whose seeded hash of the path is smallest, the same whatever the chunking);
- counts per label, the length distribution and per-speaker statistics (from the profiles table).

Which clips the means use: as the notebook, **only clips of exactly 1 s** when at least half of
the readable speech clips are 1 s long (Speech Commands); otherwise (FSDD: every clip has its own
length) **every clip, zero-padded or cut to 1 s**. ``selection`` says which was used.

Workers return per-chunk partial sums (:class:`~kwscope.analysis.profiles.ChunkResult`);
:class:`AggregateAccumulator` adds them in chunk order, so two runs give identical means.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .profiles import LOGSPEC_SR, ChunkResult, ProfileConfig

__all__ = [
    "MeanSpectrum",
    "MeanLogSpectrogram",
    "AggregateAccumulator",
    "label_counts",
    "length_distribution",
    "violins_to_dict",
    "speaker_stats",
]

EXACT_1S = "exactly-1-s clips"
PADDED = "all clips, zero-padded or cut to 1 s"


def _table_html(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass
class MeanSpectrum:
    """Mean FFT magnitude per label.

    Attributes
    ----------
    freqs_hz : np.ndarray [shape=(bins,)]
        Band centres in Hz (31.25-Hz bands over 0-8 kHz by default).
    by_label : dict of str to np.ndarray [shape=(bins,)]
        Mean magnitude (``2/N |FFT|`` units, full scale 1.0) of each label's clips.
    n_by_label : dict of str to int
        Clips averaged per label.
    selection : str
        Which clips: "exactly-1-s clips" or "all clips, zero-padded or cut to 1 s".
    """

    freqs_hz: np.ndarray
    by_label: dict[str, np.ndarray]
    n_by_label: dict[str, int]
    selection: str

    def to_dict(self) -> dict[str, Any]:
        return {"freqs_hz": [float(f) for f in self.freqs_hz],
                "by_label": {k: [float(v) for v in a] for k, a in self.by_label.items()},
                "n_by_label": dict(self.n_by_label), "selection": self.selection}

    def _repr_html_(self) -> str:
        rows = []
        for lab, a in self.by_label.items():
            peak = float(self.freqs_hz[int(np.argmax(a))]) if a.size else float("nan")
            rows.append([lab, self.n_by_label.get(lab, 0), f"{peak:.0f}"])
        return (f"<p>Mean FFT per label ({html.escape(self.selection)}; {self.freqs_hz.size} bands)</p>"
                + _table_html(["label", "clips", "strongest band (Hz)"], rows))


@dataclass
class MeanLogSpectrogram:
    """Mean log spectrogram per label, at 16 kHz.

    Attributes
    ----------
    times_s : np.ndarray [shape=(frames,)]
        Frame centres in s (99 frames for 1 s).
    freqs_hz : np.ndarray [shape=(bins,)]
        Bin centres in Hz (161 bins of 50 Hz, 0-8 kHz).
    by_label : dict of str to np.ndarray [shape=(frames, bins)]
        Mean of ``log(PSD + 1e-10)`` (natural log) over the label's clips.
    n_by_label : dict of str to int
    selection : str
        As :attr:`MeanSpectrum.selection`. Clips at other rates were resampled to 16 kHz.
    """

    times_s: np.ndarray
    freqs_hz: np.ndarray
    by_label: dict[str, np.ndarray]
    n_by_label: dict[str, int]
    selection: str
    resampled: str = f"clips at other rates are resampled to {LOGSPEC_SR} Hz (soxr HQ)"

    def to_dict(self, *, max_labels: int = 50) -> dict[str, Any]:
        """JSON-able; ``by_label`` holds the ``max_labels`` labels with most clips (16,000 numbers
        a label: a 1,000-word set wrote 287 MB of JSON), ``n_by_label`` every label, and
        ``by_label_shown`` says which were kept."""
        keep = sorted(self.by_label, key=lambda k: (-int(self.n_by_label.get(k, 0)), k))[:max(0, int(max_labels))]
        kept = set(keep)
        n = len(self.by_label)
        shown = (f"all {n:,} label{'' if n == 1 else 's'}" if len(keep) == len(self.by_label) else
                 f"the {len(keep):,} labels with most clips, of {len(self.by_label):,}")
        return {"times_s": [float(t) for t in self.times_s], "freqs_hz": [float(f) for f in self.freqs_hz],
                "by_label": {k: np.round(a.astype(np.float64), 4).tolist() for k, a in self.by_label.items()
                             if k in kept},
                "by_label_shown": shown,
                "n_by_label": dict(self.n_by_label), "selection": self.selection, "resampled": self.resampled}

    def _repr_html_(self) -> str:
        rows = [[lab, self.n_by_label.get(lab, 0), f"{float(a.mean()):.2f}"] for lab, a in self.by_label.items()]
        return (f"<p>Mean log spectrogram per label ({html.escape(self.selection)}; "
                f"{self.times_s.size} frames x {self.freqs_hz.size} bins at {LOGSPEC_SR} Hz)</p>"
                + _table_html(["label", "clips", "mean log power"], rows))


class AggregateAccumulator:
    """Adds the per-chunk partial sums and violin candidates of the profile pass.

    Per label it keeps the sums over its exactly-1-s clips and over its other clips, each only
    when the label has such clips (the mean over all clips is their sum): a dataset of 1-s clips,
    or of clips of every length, holds one ``99 x 161`` sum a label, not two. The spectrogram
    sums are float32 (63.8 kB a label; the chunks' partial sums, float64, are added to them in
    chunk order, so a run is still reproducible), and ``mean_logspec(release=True)`` divides them
    in place into the means: 64 MB held for a thousand labels, where float64 sums and a float32
    copy of the means took 191 MB at once. Plus ``bins`` floats twice (float64) and
    ``violin_clips`` clips a label.
    """

    def __init__(self, config: ProfileConfig):
        self.config = config
        self.n_1s: dict[str, int] = {}
        self.n_all: dict[str, int] = {}
        self.fft_1s: dict[str, np.ndarray] = {}
        self.fft_all: dict[str, np.ndarray] = {}
        self.spec_1s: dict[str, np.ndarray] = {}  # sum of the label's exactly-1-s clips
        self.spec_other: dict[str, np.ndarray] = {}  # sum of its other clips
        # label -> list of (key, values per hz); kept to the violin_clips smallest keys
        self._violin: dict[str, list[tuple[int, list[np.ndarray]]]] = {}

    @staticmethod
    def _add(store: dict[str, np.ndarray], lab: str, part: np.ndarray, dtype=np.float64) -> None:
        if lab in store:
            store[lab] += part
        else:
            store[lab] = part.astype(dtype)  # a copy: the chunk's arrays are not kept

    def add(self, result: ChunkResult) -> None:
        for j, lab in enumerate(result.labels.tolist()):
            n1, na = int(result.n_1s[j]), int(result.n_all[j])
            self._add(self.fft_1s, lab, result.fft_1s[j])
            self._add(self.fft_all, lab, result.fft_all[j])
            if n1 and result.spec_1s.size:
                self._add(self.spec_1s, lab, result.spec_1s[j], np.float32)
            if na > n1 and result.spec_all.size:
                self._add(self.spec_other, lab, result.spec_all[j] - result.spec_1s[j], np.float32)
            self.n_1s[lab] = self.n_1s.get(lab, 0) + n1
            self.n_all[lab] = self.n_all.get(lab, 0) + na
        n_hz = len(self.config.violin_hz)
        names = result.labels.tolist()
        for c, (j, key) in enumerate(zip(result.v_labels.tolist(), result.v_keys.tolist())):
            offs = result.v_offsets[c]
            values = [result.v_values[offs[h]:offs[h + 1]].copy() for h in range(n_hz)]
            bucket = self._violin.setdefault(names[j], [])
            bucket.append((key, values))
            if len(bucket) > 2 * self.config.violin_clips:
                bucket.sort(key=lambda kv: kv[0])
                del bucket[self.config.violin_clips:]

    def selection(self) -> str:
        n_1s, n_all = sum(self.n_1s.values()), sum(self.n_all.values())
        return EXACT_1S if n_all and n_1s >= 0.5 * n_all else PADDED

    def mean_fft(self) -> MeanSpectrum:
        exact = self.selection() == EXACT_1S
        sums, counts = (self.fft_1s, self.n_1s) if exact else (self.fft_all, self.n_all)
        by_label = {lab: (sums[lab] / counts[lab]).astype(np.float32) for lab in sorted(sums) if counts[lab]}
        return MeanSpectrum(self.config.spectrum_freqs_hz, by_label,
                            {lab: int(counts[lab]) for lab in by_label}, self.selection())

    def _spec_sum(self, lab: str, exact: bool, release: bool) -> np.ndarray | None:
        get = dict.pop if release else dict.get
        one, other = get(self.spec_1s, lab, None), get(self.spec_other, lab, None)
        if exact or other is None:
            return one
        if one is None:
            return other
        if release:
            one += other
            return one
        return one + other

    def mean_logspec(self, *, release: bool = False) -> MeanLogSpectrogram:
        """The mean log spectrogram per label; ``release``: the sums become the means in place
        and this accumulator forgets them (no copy a label; a second call has no spectrograms)."""
        exact = self.selection() == EXACT_1S
        counts = self.n_1s if exact else self.n_all
        by_label = {}
        for lab in sorted(counts):
            total = self._spec_sum(lab, exact, release) if counts[lab] else None
            if total is None:
                continue
            if release:
                total /= np.float32(counts[lab])
                by_label[lab] = total
            else:
                by_label[lab] = (total / np.float32(counts[lab])).astype(np.float32)
        if release:
            self.spec_1s.clear()
            self.spec_other.clear()
        times = np.arange(160, LOGSPEC_SR - 160 + 1, 160) / LOGSPEC_SR  # scipy's frame centres
        freqs = np.arange(161) * (LOGSPEC_SR / 320)
        return MeanLogSpectrogram(times, freqs, by_label, {lab: int(counts[lab]) for lab in by_label},
                                  self.selection())

    def violins(self) -> dict[float, dict[str, np.ndarray]]:
        """``{hz: {label: values}}``: log-spectrogram values (natural log of PSD) of every frame of
        the sampled clips at the bin nearest ``hz``; empty for clips whose Nyquist is below ``hz``."""
        out: dict[float, dict[str, np.ndarray]] = {float(h): {} for h in self.config.violin_hz}
        for lab in sorted(self._violin):
            bucket = sorted(self._violin[lab], key=lambda kv: kv[0])[: self.config.violin_clips]
            for h, hz in enumerate(self.config.violin_hz):
                parts = [vals[h] for _, vals in bucket]
                out[float(hz)][lab] = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
        return out


def violins_to_dict(violins: dict[float, dict[str, np.ndarray]], n_by_label: dict[str, int], *,
                    max_labels: int = 50) -> tuple[dict[str, Any], str]:
    """The violins as JSON, ``({"1000": {label: values}}, which labels)``, for the ``max_labels``
    labels with most clips: every label's values would grow the JSON with the label count."""
    labels = sorted({lab for d in violins.values() for lab in d})
    keep = set(sorted(labels, key=lambda k: (-int(n_by_label.get(k, 0)), k))[:max(0, int(max_labels))])
    out = {f"{hz:g}": {lab: np.round(v.astype(np.float64), 4) for lab, v in d.items() if lab in keep}
           for hz, d in violins.items()}
    shown = (f"all {len(labels):,} label{'' if len(labels) == 1 else 's'}" if len(keep) == len(labels) else
             f"the {len(keep):,} labels with most clips, of {len(labels):,}")
    return out, shown


def label_counts(profiles: pd.DataFrame) -> dict[str, int]:
    """Recordings per label (speech files, readable or not), labels sorted."""
    speech = profiles[profiles["category"] == "speech"] if "category" in profiles else profiles
    vc = speech["label"].dropna().value_counts()
    return {str(k): int(vc[k]) for k in sorted(vc.index, key=str)}


def length_distribution(profiles: pd.DataFrame, *, bins: int = 40) -> dict[str, Any]:
    """Durations of readable speech clips: a histogram, quantiles, and quantiles per label (s)."""
    ok = profiles[(profiles["status"] == "ok") & profiles["duration_s"].notna()]
    if "category" in ok:
        ok = ok[ok["category"] == "speech"]
    if ok.empty:
        return {"histogram": {"edges_s": [], "counts": []}, "quantiles_s": {}, "by_label": {}}
    d = ok["duration_s"].to_numpy(float)
    top = float(np.ceil(max(d.max(), 1.0) * 10) / 10)
    counts, edges = np.histogram(d, bins=bins, range=(0.0, top))
    qs = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)

    def quant(x: np.ndarray) -> dict[str, float]:
        return {f"q{int(q * 100):02d}": round(float(np.quantile(x, q)), 4) for q in qs}

    by_label = {str(lab): {"n": int(len(g)), **quant(g["duration_s"].to_numpy(float)),
                           "n_shorter_than_1s": int((np.round(g["duration_s"].to_numpy(float) * 1000) < 1000).sum())}
                for lab, g in ok.groupby("label", sort=True)}
    return {"histogram": {"edges_s": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]},
            "quantiles_s": quant(d), "by_label": by_label}


def speaker_stats(profiles: pd.DataFrame, *, top: int = 20) -> dict[str, Any]:
    """Per-speaker statistics of readable speech clips: clips, labels, splits, mean levels.

    Returns ``{"n_speakers", "clips_per_speaker": {min, median, mean, max}, "speakers": [...]}``;
    ``speakers`` lists the ``top`` speakers with most clips, each with ``n_clips``, ``n_labels``,
    ``splits``, ``mean_rms_dbfs`` and ``mean_snr_db``.
    """
    ok = profiles[(profiles["status"] == "ok") & profiles["speaker"].notna()]
    if "category" in ok:
        ok = ok[ok["category"] == "speech"]
    if ok.empty:
        return {"n_speakers": 0, "clips_per_speaker": {}, "speakers": []}
    g = ok.groupby("speaker", sort=True)
    n = g.size()
    out = []
    for spk in n.sort_values(ascending=False, kind="stable").index[:top]:
        rows = g.get_group(spk)
        splits = rows["split"].dropna().value_counts()
        out.append({"speaker": str(spk), "n_clips": int(n[spk]), "n_labels": int(rows["label"].nunique()),
                    "splits": {str(k): int(v) for k, v in splits.items()},
                    "mean_rms_dbfs": round(float(rows["rms_dbfs"].mean()), 2),
                    "mean_snr_db": round(float(rows["snr_db"].mean()), 2)})
    return {"n_speakers": int(n.size),
            "clips_per_speaker": {"min": int(n.min()), "median": float(n.median()), "mean": round(float(n.mean()), 3),
                                  "max": int(n.max())},
            "speakers": out}
