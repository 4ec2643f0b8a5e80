"""What :func:`kwscope.explore` found about a dataset: the :class:`Exploration` (plots and the
report read it; they never read audio), JSON-able through ``to_dict()``.

One streaming pass (:mod:`kwscope.analysis.profiles`, on a process pool or a Dask cluster, with an
opt-in disk cache) measures every file; the parent then combines the chunks in order into
aggregates, anomalies and duplicates. Plots and the report read an :class:`Exploration`; they
never read audio.

Fields of :class:`Exploration` (``n`` = manifest rows, ``bins`` = 256 compact-spectrum bands)
----------------------------------------------------------------------------------------
summary : DatasetSummary
    The manifest summary of ``kwscope stats`` (labels, lengths, rates, speakers, leakage, broken).
profiles : pandas.DataFrame, n rows (manifest order)
    ``path, label, speaker, split, category, status, error, duration_s, sample_rate, rms_dbfs,
    peak_dbfs, clip_ratio, dc_offset, silence_ratio, snr_db, speech_start_s, speech_end_s,
    n_segments, burst_s, hum_hz, hum_prominence_db, hum_steadiness_db, hum_jitter_hz, truncated,
    pca_x, pca_y, pca_z, pca_distance, label_distance, anomaly_score, hum_fraction``.
    Levels in dBFS (full scale 1.0; -120 for digital silence), times in s, rates and ``hum_hz``
    in Hz, ``clip_ratio``/``silence_ratio`` fractions of samples / 10-ms blocks, ``dc_offset``
    in full-scale units, ``snr_db`` the loudest fifth of 10-ms blocks over the quietest tenth,
    ``burst_s`` the longest loud, spectrally flat stretch, ``pca_*`` the notebook's 3-D anomaly
    map coordinates. NaN where not measured (unreadable files; background noise has levels but
    no spectrum, PCA or score; hum stability only for prominent lines).
mean_fft : MeanSpectrum
    ``freqs_hz`` (bins,) and ``by_label`` {label: (bins,) mean magnitude}; ``n_by_label``,
    ``selection`` (exactly-1-s clips when most clips are 1 s, else all clips padded/cut to 1 s).
mean_logspec : MeanLogSpectrogram
    ``times_s`` (99,), ``freqs_hz`` (161,), ``by_label`` {label: (99, 161) mean log spectrogram
    at 16 kHz}; clips at other rates are **resampled** to 16 kHz (soxr), never skipped.
violins : dict
    {hz (float): {label: 1-D float32 array of log-spectrogram values}}, every frame of up to 100
    deterministically sampled clips a label, at the 50-Hz bin nearest ``hz``.
anomalies : list of dict
    ``{"path", "label", "speaker", "split", "score", "reasons": [str], "flags": [str]}``, highest
    score first, at most ``top``.
duplicates : list of dict
    Duplicate **groups** (a recording copied 50 times is one group of 50 files):
    ``{"kind": "exact"|"near"|"mixed", "size": int, "paths": [...], "labels": [...],
    "splits": [...], "similarity": float, "cross_split": bool, "label_conflict": bool}``.
quality : dict
    ``{"counts": {flag: n}, "worst": {flag: [{"path", "label", "value", "reason"}]},
    "thresholds": {...}, "context": {...}, "n_checked": int, "n_unreadable": int}``; flags:
    clipping, near_silent, noise_only, noise_burst, hum, too_short, too_long, wrong_sample_rate,
    dc_offset, low_snr.
pca : dict
    ``{"explained_variance_ratio": [3], "n_files": int, "freqs_hz": (bins,), "components": (3, bins)}``.
lengths : dict
    Histogram and quantiles of durations, overall and per label (s).
speakers : dict
    Per-speaker clip counts, labels, splits and mean levels.
duplicate_report : DuplicateReport
    The duplicates with their complete counts of groups, files and pairs (``duplicates`` is its
    ``groups``; ``pairs`` the pairs that join them).
pass_info : dict
    ``{"chunks", "cache_hits", "seconds", "files"}`` of the profile pass.
audio_sources : dict
    ``{path: (shard, row)}`` for recordings held as bytes in Parquet shards (empty for files):
    where the report's players read them (:func:`kwscope.io.sources.open_rows`).

``to_dict()`` is JSON-able (arrays as lists, NaN as null).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .aggregates import MeanLogSpectrogram, MeanSpectrum, violins_to_dict
from .anomalies import AnomalyReport
from .duplicates import DuplicateReport
from .summary import DatasetSummary

__all__ = ["Exploration", "PROFILE_COLUMNS"]


#: Columns of :attr:`Exploration.profiles`, in order.
PROFILE_COLUMNS = [
    "path", "label", "speaker", "split", "category", "status", "error", "duration_s", "sample_rate", "rms_dbfs",
    "peak_dbfs", "clip_ratio", "dc_offset", "silence_ratio", "snr_db", "speech_start_s", "speech_end_s",
    "n_segments", "burst_s", "hum_hz", "hum_prominence_db", "hum_steadiness_db", "hum_jitter_hz", "truncated",
    "pca_x", "pca_y", "pca_z", "pca_distance", "label_distance", "anomaly_score",
]


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if v is pd.NA:
        return None
    return v


@dataclass
class Exploration:
    """Everything :func:`explore` found; see the module docstring for each field's shape."""

    summary: DatasetSummary
    profiles: pd.DataFrame
    mean_fft: MeanSpectrum
    mean_logspec: MeanLogSpectrogram
    violins: dict[float, dict[str, np.ndarray]]
    anomalies: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    quality: dict[str, Any]
    pca: dict[str, Any] = field(default_factory=dict)
    lengths: dict[str, Any] = field(default_factory=dict)
    speakers: dict[str, Any] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)
    duplicate_report: DuplicateReport | None = None
    pass_info: dict[str, Any] = field(default_factory=dict)
    audio_sources: dict[str, tuple[str, int]] = field(default_factory=dict)

    def anomaly_report(self) -> AnomalyReport:
        """The anomalies as the ``kwscope anomalies`` report."""
        return AnomalyReport(root=self.summary.root, outliers=self.anomalies, quality=self.quality,
                             pca={k: self.pca[k] for k in ("explained_variance_ratio", "n_files") if k in self.pca},
                             n_files=self.summary.n_files, n_checked=int(self.quality.get("n_checked", 0)),
                             n_broken=int(self.quality.get("n_unreadable", 0)),
                             broken_files=self.broken_files(), layout=self.summary.layout,
                             layout_evidence=str((getattr(self.summary, "layout_info", None) or {}).get("evidence", "")))

    def broken_files(self) -> list[dict[str, str]]:
        """Every file that could not be read, at indexing or decoding, with the reason."""
        prof = self.profiles
        bad = prof[prof["status"] != "ok"]
        return [{"path": str(p), "error": str(e)} for p, e in zip(bad["path"], bad["error"])]

    def to_dict(self) -> dict[str, Any]:
        prof = self.profiles
        violins = violins_to_dict(self.violins, self.mean_logspec.n_by_label or self.label_counts)
        columns = {c: prof[c].astype(object).where(prof[c].notna(), None).tolist() for c in prof.columns}
        return _jsonable({
            "summary": self.summary.to_dict(),
            "profiles": columns,
            "mean_fft": self.mean_fft.to_dict(),
            "mean_logspec": self.mean_logspec.to_dict(),
            "violins": violins[0],
            "violins_shown": violins[1],
            "anomalies": self.anomalies,
            "duplicates": self.duplicates,
            "duplicate_counts": ({} if self.duplicate_report is None else _duplicate_counts(self.duplicate_report)),
            "quality": self.quality,
            "pca": self.pca,
            "lengths": self.lengths,
            "speakers": self.speakers,
            "label_counts": self.label_counts,
            "pass_info": self.pass_info,
        })

    def _repr_html_(self) -> str:
        s = self.summary
        counts = self.quality.get("counts", {})
        flags = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items() if v) or "none"
        parts = [
            f"<h3>kwscope exploration of {html.escape(s.root)}</h3>",
            f"<p>{s.n_files:,} files ({s.n_ok:,} readable), {len(s.labels)} labels, layout {html.escape(s.layout)}; "
            f"mean spectra over {html.escape(self.mean_fft.selection)}</p>",
            f"<p>Quality flags: {html.escape(flags)}</p>",
        ]
        if self.anomalies:
            top = pd.DataFrame([{"path": a["path"], "label": a["label"], "score": a["score"],
                                 "reasons": "; ".join(a["reasons"])} for a in self.anomalies[:15]])
            parts.append("<p>Top anomalies</p>" + top.to_html(index=False, escape=True))
        if self.duplicate_report is not None:
            d = self.duplicate_report
            parts.append(f"<p>Duplicates: {html.escape(d.headline())} ({d.n_cross_split_groups} groups across "
                         f"splits)</p>")
        return "".join(parts)


def _duplicate_counts(d: DuplicateReport) -> dict[str, Any]:
    """Every duplicate count with its unit in its name (groups, files, pairs)."""
    return {"groups": d.n_groups, "files": d.n_files, "exact_groups": d.n_exact_groups,
            "near_groups": d.n_near_groups, "cross_split_groups": d.n_cross_split_groups,
            "cross_split_files": d.n_cross_split_files, "exact_pairs": d.n_exact_pairs,
            "near_pairs": d.n_near_pairs, "cross_split_pairs": d.n_cross_split, "truncated": d.truncated,
            "headline": d.headline()}
