"""Anomalies: the notebook's spectrum PCA, robust per-label distances and quality flags, combined
into one ranked list of recordings with reasons a person understands.

The notebook takes the FFT of every clip padded to 1 s, standardizes each frequency bin, and
projects onto 3 principal components; points far from the centre are noisy recordings. It holds an
``N x 8000`` float64 matrix (4.9 GiB at 20,000 files). Here the same method runs on the compact
spectra (31.25-Hz bands, 0-8 kHz) with an **exact streaming covariance**: float64 sums of ``x`` and
``x x^T`` (shifted by the first batch's mean against cancellation), then ``eigh`` of the
correlation matrix -- the same components as ``StandardScaler`` + ``PCA`` up to summation order,
in ``bins x bins`` memory. Each file keeps its 3 coordinates for the 3-D anomaly map.

Every readable speech clip gets:

- ``pca_distance``: Mahalanobis distance in the 3-component space, then a robust z-score over
  the dataset (median, MAD);
- ``label_distance``: mean over bands of ``|dB - median| / (1.4826 MAD + 1 dB)`` (each term capped
  at 10) against its label's median spectrum, estimated from a deterministic sample of up to
  ``label_sample`` clips a label; then a robust z-score within the label;
- quality flags from its profile (thresholds in :class:`AnomalyConfig`).

``anomaly_score`` = the sum of the flags' severities (20 or more for a clear defect: clipping,
near-silence, noise, hum, wrong length or sample rate; 3-10 for a soft one: too long, DC offset,
low SNR) + the larger robust z-score capped at 10, so clear defects rank first, then soft ones
and spectral outliers. Only files with at least one reason are listed.

Reasons vocabulary: ``clipping 12%``, ``near-silent (peak -62 dBFS)``, ``digital silence``,
``noise burst (0.3 s)``, ``noise only (no speech found)``, ``tonal hum at 50 Hz``,
``0.15 s long``, ``4.2 s long``, ``8.0 h long``, ``44.1 kHz in a 16 kHz set``, ``DC offset 3% of full scale``,
``low SNR 3 dB``, ``far from its label's spectrum``, ``far from the dataset's spectra (PCA)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..io.challenge import SILENCE_LABEL
from .pca import StreamingPCA  # re-exported: it was defined here

__all__ = [
    "AnomalyConfig",
    "StreamingPCA",
    "LabelSpectra",
    "QUALITY_FLAGS",
    "quality_flags",
    "score_anomalies",
    "AnomalyReport",
    "spectrum_db",
    "label_distance",
    "robust_z",
]

#: Flags in the order they are reported, with the profile column that measures each.
QUALITY_FLAGS = ("clipping", "near_silent", "noise_only", "noise_burst", "hum", "too_short", "too_long",
                 "wrong_sample_rate", "dc_offset", "low_snr")

#: Labels whose clips are meant to hold no speech (``--task tf-challenge``'s ``_silence_``, a
#: dataset's own ``silence`` folder; compared case-insensitively). Their clips are silent, or
#: background noise at any volume, by design: the flags of :data:`EXPECTED_OF_SILENCE` and the
#: "far from the dataset's spectra" reason are not raised on them (clipping, hum, a wrong length
#: or rate, a DC offset, and the distance from their own label's spectrum still are).
SILENCE_LABELS = frozenset({SILENCE_LABEL, "silence"})
EXPECTED_OF_SILENCE = ("near_silent", "noise_only", "noise_burst", "low_snr")


def silence_rows(profiles: pd.DataFrame) -> np.ndarray:
    """True for the rows of a label in :data:`SILENCE_LABELS`, shape ``(n,)``."""
    labels = profiles["label"].astype("string").str.strip().str.lower()
    return labels.isin(SILENCE_LABELS).fillna(False).to_numpy(bool)


@dataclass(frozen=True)
class AnomalyConfig:
    """Thresholds of the quality flags and of the statistical reasons.

    Attributes
    ----------
    clip_ratio : float
        Fraction of samples at full scale (profile ``clip_ratio``) from which a clip is "clipping".
    near_silent_dbfs : float
        Peak level (dBFS) under which a clip is near-silent.
    burst_s : float
        Longest loud, spectrally flat stretch (s) that makes a noise burst.
    noise_only_fraction : float
        A burst covering this fraction of the clip means there is only noise.
    hum_prominence_db, hum_fraction, hum_steadiness_db, hum_jitter_hz : float
        A hum is a line this many dB above its neighbourhood, holding this fraction of the power,
        whose amplitude is this steady (p10/p90 of its envelope) and whose frequency moves less than
        ``hum_jitter_hz`` over the clip. A held voiced sound can be as prominent and as steady, but
        its pitch drifts by 0.3 Hz or more (FSDD); mains hum or a test tone moves by 0.01 Hz or less.
    min_duration_s, short_fraction : float
        Clips shorter than ``min_duration_s``, or than ``short_fraction`` of the typical length
        (the dominant length when at least half of the clips share one, else the median).
    long_factor : float
        Longer than this times the typical (dominant, else median) length is too long.
    far_long_factor : float
        Longer than this times the typical length is no utterance (a session among clips): a clear
        defect, weighing more with the log of the ratio. Lengths are the real (header) ones.
    dc_offset : float
        Mean sample value (full scale 1.0) from which a DC offset is reported.
    low_snr_db : float
        SNR estimate under which a clip is "low SNR".
    outlier_z, pca_outlier_z : float
        Robust z-scores from which "far from its label's spectrum" and "far from the dataset's
        spectra (PCA)" are given. The PCA distance of raw magnitudes is heavy-tailed on real
        data (loud clips; p99 of its robust z is about 11 on FSDD), hence the higher bar.
    label_sample : int
        Clips a label used to estimate its median spectrum and MAD.
    """

    clip_ratio: float = 0.001
    near_silent_dbfs: float = -40.0
    burst_s: float = 0.12
    noise_only_fraction: float = 0.8
    hum_prominence_db: float = 20.0
    hum_fraction: float = 0.05
    hum_steadiness_db: float = -6.0
    hum_jitter_hz: float = 0.1
    min_duration_s: float = 0.1
    short_fraction: float = 0.4
    long_factor: float = 2.5
    far_long_factor: float = 10.0
    dc_offset: float = 0.02
    low_snr_db: float = 8.0
    outlier_z: float = 6.0
    pca_outlier_z: float = 12.0
    label_sample: int = 512
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spectrum_db(spectra: np.ndarray) -> np.ndarray:
    """Compact spectra in dB (20 log10, floored at -100 dB: 1e-5 of full scale), float32."""
    x = np.maximum(np.asarray(spectra, np.float32), np.float32(0))
    x += np.float32(1e-5)
    # Natural log times 20 / ln 10: numpy's float32 log is vectorized, log10 is not (3x slower);
    # the two agree to a float32 rounding.
    np.log(x, out=x)
    x *= np.float32(20.0 / np.log(10.0))
    return x


# --------------------------------------------------------------------------- per-label medians


class LabelSpectra:
    """A deterministic sample of each label's dB spectra (the ``k`` smallest path keys), enough
    to estimate a label's median spectrum and MAD in bounded memory."""

    def __init__(self, k: int = 512):
        self.k = k
        self._keys: dict[str, np.ndarray] = {}
        self._spectra: dict[str, np.ndarray] = {}

    def may_enter(self, label: str, keys: np.ndarray) -> np.ndarray:
        """Which of these keys could still enter the label's sample (so only they need dB)."""
        kept = self._keys.get(label)
        if kept is None or kept.size < self.k:
            return np.ones(keys.shape, bool)
        return keys < kept.max()

    def add(self, label: str, keys: np.ndarray, spectra_db: np.ndarray) -> None:
        if label in self._keys:
            keys = np.concatenate([self._keys[label], keys])
            spectra_db = np.concatenate([self._spectra[label], spectra_db])
        if keys.size > self.k:
            keep = np.argsort(keys, kind="stable")[: self.k]
            keys, spectra_db = keys[keep], spectra_db[keep]
        self._keys[label], self._spectra[label] = keys, spectra_db

    def medians(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{label: (median dB (bins,), 1.4826 * MAD dB (bins,))}``."""
        out = {}
        for lab, S in self._spectra.items():
            med = np.median(S, axis=0)
            mad = 1.4826 * np.median(np.abs(S - med), axis=0)
            out[lab] = (med, mad)
        return out


def label_distance(spectra_db: np.ndarray, median: np.ndarray, mad: np.ndarray) -> np.ndarray:
    """Mean over bands of ``min(|dB - median| / (MAD + 1 dB), 10)``, ``(m,)``."""
    z = np.abs(spectra_db - median) / (mad + 1.0)
    return np.minimum(z, 10.0).mean(axis=1)


def robust_z(values: np.ndarray) -> np.ndarray:
    """``(v - median) / (1.4826 MAD)`` of the finite values (MAD floored at 1 % of the median)."""
    out = np.full(values.shape, np.nan)
    ok = np.isfinite(values)
    if not ok.any():
        return out
    v = values[ok]
    med = np.median(v)
    mad = 1.4826 * np.median(np.abs(v - med))
    mad = max(mad, 0.01 * abs(med), 1e-9)
    out[ok] = (v - med) / mad
    return out


# --------------------------------------------------------------------------- flags


def _pct(x: float) -> str:
    p = 100.0 * x
    return f"{p:.0f}%" if p >= 1 else f"{p:.1f}%"


def length_text(seconds: float) -> str:
    """``0.15 s``, ``4.2 s``, ``12.5 min``, ``8.0 h``: a length in the unit a person reads it in."""
    if not np.isfinite(seconds) or seconds < 60:
        return f"{seconds:{'.2g' if seconds < 1 else '.3g'}} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def _khz(sr: float) -> str:
    return f"{sr / 1000:g} kHz"


def _hz(hz: float) -> str:
    return f"{hz / 1000:g} kHz" if hz >= 1000 and hz % 100 == 0 else f"{hz:.0f} Hz"


@dataclass
class DatasetContext:
    """What "normal" is in this dataset, for the flags that are relative to it."""

    dominant_sample_rate: int | None
    typical_duration_s: float | None
    dominant_duration_s: float | None  # set when at least half of the clips share one length

    @classmethod
    def from_profiles(cls, speech_ok: pd.DataFrame) -> "DatasetContext":
        if speech_ok.empty:
            return cls(None, None, None)
        rates = speech_ok["sample_rate"].round().astype("int64")
        dom_sr = int(rates.mode().iloc[0])
        ms = np.round(speech_ok["duration_s"].to_numpy(float) * 1000).astype(np.int64)
        vals, counts = np.unique(ms, return_counts=True)
        j = int(np.argmax(counts))
        dominant = float(vals[j]) / 1000 if counts[j] >= 0.5 * ms.size else None
        typical = dominant if dominant is not None else float(np.median(ms)) / 1000
        return cls(dom_sr, typical, dominant)


#: Base severity of a clear defect (clipping, near-silence, noise, hum, wrong length or rate): above
#: any soft flag (at most 10) plus the capped statistical term (at most 10).
HARD = 20.0


def quality_flags(profiles: pd.DataFrame, context: DatasetContext, config: AnomalyConfig) -> dict[str, dict[str, Any]]:
    """Evaluate every flag on every row.

    Returns
    -------
    dict
        ``{flag: {"mask": bool (n,), "severity": float (n,), "value": float (n,)}}`` for
        :data:`QUALITY_FLAGS`; rows that are not readable speech are never flagged, rows of a
        silence label (:data:`SILENCE_LABELS`) never by :data:`EXPECTED_OF_SILENCE`.
    """
    c = config
    n = len(profiles)
    col = {k: profiles[k].to_numpy(float) for k in (
        "clip_ratio", "peak_dbfs", "burst_s", "duration_s", "hum_prominence_db", "hum_fraction",
        "sample_rate", "dc_offset", "snr_db", "n_segments", "hum_steadiness_db", "hum_jitter_hz")}
    speech = ((profiles["status"] == "ok") & (profiles["category"] == "speech")).to_numpy()
    silence = silence_rows(profiles)
    with np.errstate(invalid="ignore"):
        out: dict[str, dict[str, Any]] = {}

        def put(name, mask, severity, value):
            mask = np.asarray(mask, bool) & speech
            if name in EXPECTED_OF_SILENCE:
                mask &= ~silence
            out[name] = {"mask": mask, "severity": np.where(mask, severity, 0.0), "value": value}

        put("clipping", col["clip_ratio"] >= c.clip_ratio,
            HARD + np.clip(col["clip_ratio"] * 50, 0, 10), col["clip_ratio"])
        silent = col["peak_dbfs"] < c.near_silent_dbfs
        put("near_silent", silent, HARD + np.clip((c.near_silent_dbfs - col["peak_dbfs"]) / 4, 0, 10), col["peak_dbfs"])
        dur = col["duration_s"]
        noise_only = (~silent) & (col["burst_s"] >= c.noise_only_fraction * np.minimum(dur, 0.96))
        put("noise_only", noise_only, HARD + 2.0, col["burst_s"])
        put("noise_burst", (~silent) & (~noise_only) & (col["burst_s"] >= c.burst_s),
            HARD + np.clip(col["burst_s"] * 10, 0, 5), col["burst_s"])
        put("hum", (col["hum_prominence_db"] >= c.hum_prominence_db) & (col["hum_fraction"] >= c.hum_fraction)
            & (col["hum_steadiness_db"] >= c.hum_steadiness_db) & (col["hum_jitter_hz"] <= c.hum_jitter_hz),
            HARD + np.clip((col["hum_prominence_db"] - c.hum_prominence_db) / 5, 0, 5), col["hum_prominence_db"])
        short_limit = c.min_duration_s
        if context.typical_duration_s:
            short_limit = max(short_limit, c.short_fraction * context.typical_duration_s)
        put("too_short", dur < short_limit, HARD + np.clip(5 * (1 - dur / short_limit), 0, 5), dur)
        if context.typical_duration_s:
            long_limit = c.long_factor * context.typical_duration_s
            ratio = dur / context.typical_duration_s
            severity = np.where(ratio >= c.far_long_factor, HARD + np.clip(np.log10(ratio), 0, 10),
                                3.0 + np.clip(dur / long_limit - 1, 0, 2))
            put("too_long", dur > long_limit, severity, dur)
        else:
            put("too_long", np.zeros(n, bool), 0.0, dur)
        if context.dominant_sample_rate:
            put("wrong_sample_rate", np.round(col["sample_rate"]) != context.dominant_sample_rate, HARD,
                col["sample_rate"])
        else:
            put("wrong_sample_rate", np.zeros(n, bool), 0.0, col["sample_rate"])
        put("dc_offset", np.abs(col["dc_offset"]) >= c.dc_offset,
            5 + np.clip(np.abs(col["dc_offset"]) * 20, 0, 5), col["dc_offset"])
        put("low_snr", (~silent) & (col["snr_db"] < c.low_snr_db),
            4 + np.clip((c.low_snr_db - col["snr_db"]) / 2, 0, 4), col["snr_db"])
    return out


def _reason(flag: str, row: pd.Series, context: DatasetContext) -> str:
    if flag == "clipping":
        return f"clipping {_pct(row['clip_ratio'])}"
    if flag == "near_silent":
        if row["peak_dbfs"] <= -119.9:
            return "digital silence"
        return f"near-silent (peak {row['peak_dbfs']:.0f} dBFS)"
    if flag == "noise_only":
        return "noise only (no speech found)"
    if flag == "noise_burst":
        return f"noise burst ({row['burst_s']:.2g} s)"
    if flag == "hum":
        return f"tonal hum at {_hz(row['hum_hz'])}"
    if flag in ("too_short", "too_long"):
        return f"{length_text(row['duration_s'])} long"
    if flag == "wrong_sample_rate":
        return f"{_khz(row['sample_rate'])} in a {_khz(context.dominant_sample_rate)} set"
    if flag == "dc_offset":
        return f"DC offset {_pct(abs(row['dc_offset']))} of full scale"
    if flag == "low_snr":
        return f"low SNR {row['snr_db']:.0f} dB"
    raise KeyError(flag)


def score_anomalies(
    profiles: pd.DataFrame,
    *,
    pca_z: np.ndarray,
    label_z: np.ndarray,
    config: AnomalyConfig | None = None,
    top: int | None = 50,
) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]]:
    """Combine flags and robust z-scores into scores and a ranked list.

    Parameters
    ----------
    profiles : pandas.DataFrame
        The profiles table (one row a manifest row).
    pca_z, label_z : np.ndarray [shape=(n,)]
        Robust z-scores of the PCA and label distances (NaN where not computed).
    top : int or None
        Length of the ranked list (None: every file with a reason).

    Returns
    -------
    scores : np.ndarray [shape=(n,)]
        ``anomaly_score`` (NaN for rows that are not readable speech).
    outliers : list of dict
        ``{"path", "label", "speaker", "split", "score", "reasons", "flags"}``, highest score first.
    quality : dict
        ``{"counts": {flag: n}, "worst": {flag: [{"path", "label", "value"}, ...]}, "thresholds",
        "n_checked", "n_flagged", "n_flags"}``: ``counts`` are recordings per flag; ``n_flagged``
        the recordings with at least one flag; ``n_flags`` the flags raised in all (a recording
        can have several, so ``n_flags >= n_flagged``).
    """
    cfg = config or AnomalyConfig()
    speech = ((profiles["status"] == "ok") & (profiles["category"] == "speech")).to_numpy()
    ctx = DatasetContext.from_profiles(profiles[speech])
    flags = quality_flags(profiles, ctx, cfg)
    severity = np.zeros(len(profiles))
    for f in flags.values():
        severity += f["severity"]
    stat = np.fmax(np.nan_to_num(pca_z, nan=0.0), np.nan_to_num(label_z, nan=0.0))
    scores = np.where(speech, severity + np.clip(stat, 0, 10), np.nan)
    far_label = speech & (np.nan_to_num(label_z, nan=0.0) >= cfg.outlier_z)
    far_pca = speech & ~silence_rows(profiles) & (np.nan_to_num(pca_z, nan=0.0) >= cfg.pca_outlier_z)
    has_reason = far_label | far_pca
    for f in flags.values():
        has_reason |= f["mask"]
    candidates = np.flatnonzero(has_reason)
    path_of = profiles["path"].to_numpy()  # once: a string column's to_numpy copies every path
    order = candidates[np.lexsort((path_of[candidates], -scores[candidates]))]
    if top is not None:
        order = order[:top]
    outliers = []
    for i in order:
        row = profiles.iloc[i]
        names = [name for name in QUALITY_FLAGS if flags[name]["mask"][i]]
        reasons = [_reason(name, row, ctx) for name in sorted(names, key=lambda k: -flags[k]["severity"][i])]
        if far_label[i]:
            reasons.append("far from its label's spectrum")
            names.append("far_from_label")
        if far_pca[i]:
            reasons.append("far from the dataset's spectra (PCA)")
            names.append("far_from_dataset")
        outliers.append({"path": str(row["path"]), "label": _opt(row["label"]), "speaker": _opt(row["speaker"]),
                         "split": _opt(row["split"]), "score": round(float(scores[i]), 3), "reasons": reasons,
                         "flags": names})
    any_flag = np.zeros(len(profiles), bool)
    for name in QUALITY_FLAGS:
        any_flag |= flags[name]["mask"]
    # Recordings and flags are two counts: a recording with two flags is one recording flagged.
    quality: dict[str, Any] = {"counts": {}, "worst": {}, "thresholds": cfg.to_dict(),
                               "context": asdict(ctx), "n_checked": int(speech.sum()),
                               "n_flagged": int(any_flag.sum()),
                               "n_flags": int(sum(int(flags[name]["mask"].sum()) for name in QUALITY_FLAGS))}
    for name in QUALITY_FLAGS:
        f = flags[name]
        idx = np.flatnonzero(f["mask"])
        quality["counts"][name] = int(idx.size)
        worst = idx[np.lexsort((path_of[idx], -f["severity"][idx]))][:10]
        quality["worst"][name] = [
            {"path": str(profiles["path"].iat[i]), "label": _opt(profiles["label"].iat[i]),
             "value": _num(f["value"][i]), "reason": _reason(name, profiles.iloc[i], ctx)} for i in worst]
    return scores, outliers, quality


def _opt(v: Any) -> str | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)


def _num(v: float) -> float | None:
    return None if not np.isfinite(v) else round(float(v), 6)


# --------------------------------------------------------------------------- the report


@dataclass
class AnomalyReport:
    """Ranked outliers with reasons (``kwscope anomalies``), and what they were measured against.

    Attributes
    ----------
    outliers : list of dict
        ``{"path", "label", "speaker", "split", "score", "reasons": [str], "flags": [str]}``,
        highest score first.
    quality : dict
        Counts per flag, worst examples, thresholds (see :func:`score_anomalies`).
    pca : dict
        ``{"explained_variance_ratio": [3], "n_files": int}``.
    n_files, n_checked, n_broken : int
        Files in the manifest, readable speech files scored, unreadable files.
    broken_files : list of dict
        ``{"path", "error"}`` for every file that could not be read (header or samples).
    layout, layout_evidence : str
        The layout the files were read with, and why (``kwscope stats`` says the same).
    """

    root: str
    outliers: list[dict[str, Any]]
    quality: dict[str, Any]
    pca: dict[str, Any] = field(default_factory=dict)
    n_files: int = 0
    n_checked: int = 0
    n_broken: int = 0
    broken_files: list[dict[str, str]] = field(default_factory=list)
    layout: str = ""
    layout_evidence: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        rows = [{**o, "reasons": "; ".join(o["reasons"]), "flags": ", ".join(o["flags"])} for o in self.outliers]
        return pd.DataFrame(rows, columns=["path", "label", "speaker", "split", "score", "reasons", "flags"])

    def _repr_html_(self) -> str:
        head = (f"<p>{self.n_checked:,} recordings checked, {len(self.outliers)} listed "
                f"({self.n_broken:,} unreadable)</p>")
        return head + self.to_frame().to_html(index=False, escape=True)
