"""The dataset summary (``kwscope stats``): what is in a dataset, computed from its manifest alone.

Counts per label, lengths and how many differ from the dominant length, sample rates and formats,
speakers per label and clips per speaker, splits, speaker leakage across splits, broken files, and
how the dataset was read (the layout, its evidence, what was left out or set apart).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DatasetSummary", "SUMMARY_UNITS", "summarize", "speaker_leakage"]


@dataclass
class DatasetSummary:
    """A JSON-able description of a dataset. ``to_dict()`` is what ``stats --json`` prints."""

    root: str
    layout: str
    n_files: int
    n_ok: int
    n_broken: int
    labels: list[str]
    recordings_per_label: dict[str, int]
    background_noise: dict[str, Any]
    total_duration_s: float
    lengths: dict[str, Any]
    sample_rates: dict[str, int]
    formats: dict[str, int]
    channels: dict[str, int]
    splits: dict[str, int]
    split_by_label: dict[str, dict[str, int]]
    speakers: dict[str, Any]
    leaking_speakers: list[dict[str, Any]]
    broken_files: list[dict[str, str]] = field(default_factory=list)
    #: How DATA was read: ``evidence`` (one line), ``notes``, ``data_kind``, ``dataset_folder``,
    #: ``left_out``, ``unmatched`` (files the layout did not match), ``excluded``.
    layout_info: dict[str, Any] = field(default_factory=dict)
    #: Recordings far longer than the rest, set apart: ``n_files``, ``duration_s``, ``why``.
    long_recordings: dict[str, Any] = field(default_factory=dict)
    #: Files whose extension disagrees with their content: ``n_files``, ``files`` (path, note).
    format_mismatches: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "units": dict(SUMMARY_UNITS)}


#: What each count of :class:`DatasetSummary` counts (``stats --json`` carries it as ``units``).
SUMMARY_UNITS = {
    "n_files": "files (every file of the dataset: readable, broken, background noise, long recordings)",
    "n_ok": "files (readable headers)",
    "n_broken": "files (unreadable headers)",
    "labels": "labels",
    "recordings_per_label": "files a label (speech files, readable or not)",
    "background_noise.n_files": "files",
    "total_duration_s": "seconds (of the readable files)",
    "lengths.n_*": "files (readable speech files)",
    "sample_rates": "files a sample rate in Hz (readable files)",
    "formats": "files a format (readable files)",
    "channels": "files a channel count (readable files)",
    "splits": "files a split (speech files)",
    "split_by_label": "files a label and split (speech files)",
    "speakers.n_speakers": "speakers",
    "speakers.per_label": "speakers a label",
    "speakers.clips_per_speaker": "files a speaker (speech files)",
    "leaking_speakers": "speakers (n_clips: their files, splits: their files a split)",
    "broken_files": "files",
    "long_recordings.n_files": "files",
    "format_mismatches.n_files": "files",
    "layout_info.unmatched": "files",
    "layout_info.excluded": "files",
}


def _counts(series: pd.Series) -> dict[str, int]:
    vc = series.dropna().value_counts()
    return {str(k): int(v) for k, v in sorted(vc.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def speaker_leakage(manifest: pd.DataFrame) -> list[dict[str, Any]]:
    """Speakers with clips in more than one split, with their clip counts per split.

    Returns
    -------
    list of dict
        ``{"speaker", "splits": {split: n_clips}, "n_clips"}``, most clips first.
    """
    known = manifest[manifest["speaker"].notna() & manifest["split"].notna()]
    if known.empty:
        return []
    table = known.groupby(["speaker", "split"]).size().unstack(fill_value=0)
    leaking = table[(table > 0).sum(axis=1) > 1]
    out = []
    for speaker, row in leaking.iterrows():
        splits = {str(s): int(n) for s, n in row.items() if n > 0}
        out.append({"speaker": str(speaker), "splits": splits, "n_clips": int(sum(splits.values()))})
    out.sort(key=lambda d: (-d["n_clips"], d["speaker"]))
    return out


def _length_stats(ok: pd.DataFrame) -> dict[str, Any]:
    if ok.empty:
        return {"dominant_n_samples": None, "dominant_duration_s": None, "n_dominant": 0, "n_differ": 0,
                "n_shorter": 0, "n_longer": 0, "n_shorter_than_1s": 0, "min_s": None, "median_s": None,
                "max_s": None, "histogram": {"edges_s": [], "counts": []}}
    n = ok["n_samples"].astype("int64")
    dur = ok["duration_s"].to_numpy(dtype=float)
    # The dominant length is counted in seconds rounded to the millisecond so that 1-s clips at
    # 8 kHz and 16 kHz are the same length.
    ms = np.round(dur * 1000).astype(np.int64)
    values, counts = np.unique(ms, return_counts=True)
    dominant_ms = int(values[np.argmax(counts)])
    dominant_rows = ms == dominant_ms
    top = np.ceil(max(dur.max(), 1.0) * 10) / 10
    bins = min(60, max(10, int(round(top / 0.05))))
    hist, edges = np.histogram(dur, bins=bins, range=(0.0, float(top)))
    return {
        "dominant_n_samples": int(n[dominant_rows].mode().iloc[0]),
        "dominant_duration_s": dominant_ms / 1000,
        "n_dominant": int(dominant_rows.sum()),
        "n_differ": int((~dominant_rows).sum()),
        "n_shorter": int((ms < dominant_ms).sum()),
        "n_longer": int((ms > dominant_ms).sum()),
        "n_shorter_than_1s": int((ms < 1000).sum()),
        "min_s": float(dur.min()),
        "median_s": float(np.median(dur)),
        "max_s": float(dur.max()),
        "histogram": {"edges_s": [round(float(e), 4) for e in edges], "counts": [int(c) for c in hist]},
    }


def _speaker_stats(speech: pd.DataFrame) -> dict[str, Any]:
    known = speech[speech["speaker"].notna()]
    if known.empty:
        return {"n_speakers": 0, "known": False, "per_label": {}, "clips_per_speaker": {}, "top": []}
    per_speaker = known.groupby("speaker").size()
    per_label = known.groupby("label")["speaker"].nunique()
    return {
        "n_speakers": int(per_speaker.size),
        "known": True,
        "per_label": {str(k): int(v) for k, v in per_label.items()},
        "clips_per_speaker": {
            "min": int(per_speaker.min()),
            "median": float(per_speaker.median()),
            "mean": float(per_speaker.mean()),
            "max": int(per_speaker.max()),
        },
        "top": [{"speaker": str(s), "n_clips": int(c)} for s, c in per_speaker.sort_values(ascending=False).head(10).items()],
    }


def summarize(manifest: pd.DataFrame) -> DatasetSummary:
    """Summarize a manifest from :func:`kwscope.index_dataset` (no audio is read)."""
    ok_mask = manifest["status"] == "ok"
    speech = manifest[manifest["category"] == "speech"]
    noise = manifest[manifest["category"] == "background_noise"]
    ok_speech = speech[speech["status"] == "ok"]
    labels = sorted(str(x) for x in speech["label"].dropna().unique())
    per_label = speech.groupby("label").size()
    split_by_label: dict[str, dict[str, int]] = {}
    if speech["split"].notna().any():
        tab = speech.groupby(["label", "split"]).size().unstack(fill_value=0)
        split_by_label = {str(l): {str(s): int(n) for s, n in row.items()} for l, row in tab.iterrows()}
    ok = manifest[ok_mask]
    broken = manifest[~ok_mask]
    long = manifest[manifest["category"] == "long_recording"]
    notes = (manifest["format_note"] if "format_note" in manifest.columns
             else pd.Series("", index=manifest.index)).fillna("").astype(str)
    mismatched = manifest.assign(format_note=notes)[notes != ""]
    a = manifest.attrs
    return DatasetSummary(
        root=str(manifest.attrs.get("root", "")),
        layout=str(manifest.attrs.get("layout", "")),
        n_files=int(len(manifest)),
        n_ok=int(ok_mask.sum()),
        n_broken=int((~ok_mask).sum()),
        labels=labels,
        recordings_per_label={l: int(per_label.get(l, 0)) for l in labels},
        background_noise={
            "n_files": int(len(noise)),
            "duration_s": float(noise["duration_s"].sum(skipna=True)),
        },
        total_duration_s=float(ok["duration_s"].sum()),
        lengths=_length_stats(ok_speech),
        sample_rates=_counts(ok["sample_rate"]),
        formats=_counts(ok["format"].astype(str) + " " + ok["subtype"].astype(str)),
        channels=_counts(ok["channels"]),
        splits=_counts(speech["split"]),
        split_by_label=split_by_label,
        speakers=_speaker_stats(speech),
        leaking_speakers=speaker_leakage(speech),
        broken_files=[{"path": p, "error": e} for p, e in zip(broken["path"], broken["error"])],
        layout_info={
            "evidence": str(a.get("layout_evidence", "")),
            "notes": [str(x) for x in a.get("layout_notes", [])],
            "data_kind": str(a.get("data_kind", "folder")),
            "dataset_folder": str(a.get("dataset_folder", "")),
            "left_out": list(a.get("left_out", [])),
            "unmatched": int(a.get("unmatched", 0) or 0),
            "excluded": int(a.get("excluded", 0) or 0),
        },
        long_recordings={
            "n_files": int(len(long)),
            "duration_s": float(long["duration_s"].sum(skipna=True)),
            "why": str(a.get("long_recordings", "")),
        },
        format_mismatches={
            "n_files": int(len(mismatched)),
            "files": [{"path": str(p), "note": str(nt)} for p, nt in zip(mismatched["path"], mismatched["format_note"])],
        },
    )
