"""The whole exploration in one pass over the audio: :func:`explore` -> :class:`Exploration`.

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
    ``{"kind": "exact"|"near", "paths": [a, b], "labels": [la, lb], "splits": [sa, sb],
    "similarity": float, "cross_split": bool}``.
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
    The duplicates with their complete counts (``duplicates`` is its ``pairs``).
pass_info : dict
    ``{"chunks", "cache_hits", "seconds", "files"}`` of the profile pass.

``to_dict()`` is JSON-able (arrays as lists, NaN as null).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import pickle
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..audio import is_url
from ..dataset import index_dataset, read_manifest, scan_audio_files, write_manifest
from .aggregates import (
    AggregateAccumulator,
    MeanLogSpectrogram,
    MeanSpectrum,
    label_counts,
    length_distribution,
    speaker_stats,
)
from .anomalies import (
    AnomalyConfig,
    AnomalyReport,
    LabelSpectra,
    StreamingPCA,
    label_distance,
    robust_z,
    score_anomalies,
    spectrum_db,
)
from .duplicates import DuplicateFinder, DuplicateReport
from .profiles import (
    SCALAR_COLUMNS,
    ProfileConfig,
    ProfileSpill,
    fingerprint_length,
    iter_chunk_results,
    plan_chunks,
    sample_keys,
    single_threaded_blas,
)
from .startup import warm_worker_pool
from .summary import DatasetSummary, summarize

__all__ = ["Exploration", "explore", "cached_index", "PROFILE_COLUMNS"]

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

    def anomaly_report(self) -> AnomalyReport:
        """The anomalies as the ``kwscope anomalies`` report."""
        return AnomalyReport(root=self.summary.root, outliers=self.anomalies, quality=self.quality,
                             pca={k: self.pca[k] for k in ("explained_variance_ratio", "n_files") if k in self.pca},
                             n_files=self.summary.n_files, n_checked=int(self.quality.get("n_checked", 0)),
                             n_broken=int(self.quality.get("n_unreadable", 0)),
                             broken_files=self.broken_files())

    def broken_files(self) -> list[dict[str, str]]:
        """Every file that could not be read, at indexing or decoding, with the reason."""
        prof = self.profiles
        bad = prof[prof["status"] != "ok"]
        return [{"path": str(p), "error": str(e)} for p, e in zip(bad["path"], bad["error"])]

    def to_dict(self) -> dict[str, Any]:
        prof = self.profiles
        columns = {c: prof[c].astype(object).where(prof[c].notna(), None).tolist() for c in prof.columns}
        return _jsonable({
            "summary": self.summary.to_dict(),
            "profiles": columns,
            "mean_fft": self.mean_fft.to_dict(),
            "mean_logspec": self.mean_logspec.to_dict(),
            "violins": {f"{hz:g}": {lab: np.round(v.astype(np.float64), 4) for lab, v in d.items()}
                        for hz, d in self.violins.items()},
            "anomalies": self.anomalies,
            "duplicates": self.duplicates,
            "duplicate_counts": ({} if self.duplicate_report is None else {
                "exact_pairs": self.duplicate_report.n_exact_pairs, "near_pairs": self.duplicate_report.n_near_pairs,
                "cross_split": self.duplicate_report.n_cross_split, "truncated": self.duplicate_report.truncated}),
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
            parts.append(f"<p>Duplicates: {d.n_exact_pairs} exact, {d.n_near_pairs} near "
                         f"({d.n_cross_split} across splits)</p>")
        return "".join(parts)


_MANIFEST_CACHE = "manifests-v1"
_SPLIT_LISTS = ("validation_list.txt", "testing_list.txt")


def cached_index(data, *, layout: str = "auto", cache_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """:func:`kwscope.index_dataset`, reused from ``cache_dir`` when nothing changed.

    The key is the folder, the layout, every recording's relative path with its size and mtime
    (one ``stat`` each, no file opened) and the split lists' size and mtime; any difference
    re-indexes the folder (reading every header again). Without ``cache_dir``, or for a URL, it
    is ``index_dataset(data, layout=layout)``.
    """
    if cache_dir is None or is_url(os.fspath(data)) or not Path(data).is_dir():
        return index_dataset(data, layout=layout)
    root = Path(data).resolve()
    relpaths, problems = scan_audio_files(root)
    h = hashlib.sha256(json.dumps([_MANIFEST_CACHE, str(root), layout, problems]).encode())
    for rel in relpaths + list(_SPLIT_LISTS):
        try:
            st = os.stat(root / rel)
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{rel}\0-\n".encode())
    path = Path(cache_dir) / _MANIFEST_CACHE / f"{h.hexdigest()}.parquet"
    if path.is_file():
        try:
            return read_manifest(path)
        except Exception:  # a damaged cache entry: index again
            pass
    manifest = index_dataset(data, layout=layout)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_manifest(manifest, path)
    except OSError:
        pass  # a read-only or full cache never stops the analysis
    return manifest


def explore(
    data,
    *,
    layout: str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    violin_hz=(1000, 2500, 6000),
    top: int = 50,
    progress: bool | None = None,
    anomaly_config: AnomalyConfig | None = None,
    chunk_size: int = 256,
    max_pairs: int | None = 5000,
    near_threshold: float = 0.9,
) -> Exploration:
    """Explore a dataset in one pass over its audio.

    Parameters
    ----------
    data
        A dataset folder (or fsspec URL), or a manifest from :func:`kwscope.index_dataset`.
    layout
        ``auto``, ``speech-commands``, ``fsdd`` or ``folders`` (ignored for a manifest).
    workers
        Local worker processes (default one a core); ``1`` runs in this process.
    scheduler
        A Dask scheduler address (``tcp://host:port``).
    cache_dir
        Opt-in cache folder (e.g. :func:`~kwscope.analysis.profiles.default_cache_dir`) for the
        per-chunk profiles, the manifest (:func:`cached_index`) and the finished result (reused
        when nothing at all changed); ``None`` disables caching.
    violin_hz
        Frequencies (Hz) of the violin samples.
    top
        Length of the ranked anomaly list.
    progress
        Progress bar on stderr: ``None`` on a terminal only.
    anomaly_config
        Flag thresholds (:class:`~kwscope.analysis.anomalies.AnomalyConfig`).
    chunk_size
        Files a task (a fixed, deterministic split of the sorted manifest).
    max_pairs
        Duplicate pairs listed (all are counted).
    near_threshold
        Fingerprint cosine similarity from which two recordings are near-duplicates.
    """
    with single_threaded_blas():
        return _explore(data, layout=layout, workers=workers, scheduler=scheduler, cache_dir=cache_dir,
                        violin_hz=violin_hz, top=top, progress=progress, anomaly_config=anomaly_config,
                        chunk_size=chunk_size, max_pairs=max_pairs, near_threshold=near_threshold, full=True)


def _explore(data, *, layout, workers, scheduler, cache_dir, violin_hz, top, progress, anomaly_config,
             chunk_size, max_pairs, near_threshold, full: bool) -> Exploration:
    """The pass and everything after it. ``full=False`` (``kwscope anomalies``) measures only what
    the anomaly ranking needs and leaves the aggregates and duplicates empty."""
    t0 = time.perf_counter()
    if not isinstance(data, pd.DataFrame) or len(data) > chunk_size:  # likely more than one chunk
        warm_worker_pool(workers=workers, scheduler=scheduler, full=full)
    if isinstance(data, pd.DataFrame):
        manifest = data.reset_index(drop=True)
        manifest.attrs.update(data.attrs)
    elif not full and not is_url(os.fspath(data)):
        # Listed only: the light pass reads every file anyway and learns its header then.
        manifest = index_dataset(data, layout=layout, probe_headers=False, stat=cache_dir is not None)
    else:
        manifest = cached_index(data, layout=layout, cache_dir=cache_dir)
    config = ProfileConfig(violin_hz=tuple(float(h) for h in violin_hz), full=full)
    acfg = anomaly_config or AnomalyConfig()
    plan = plan_chunks(manifest, config=config, chunk_size=chunk_size)
    result_path = None
    if cache_dir is not None:
        result_path = _result_path(cache_dir, manifest, plan, dict(
            full=full, top=top, max_pairs=max_pairs, near_threshold=near_threshold, chunk_size=chunk_size,
            anomaly_config=acfg.to_dict(), profile_config=config.to_dict()))
        cached = _load_result(result_path)
        if cached is not None:
            cached.pass_info = {**cached.pass_info, "cache_hits": len(plan.tasks), "result_cache": True,
                                "seconds": round(time.perf_counter() - t0, 3)}
            return cached
    n = len(manifest)
    paths = manifest["path"].astype(str).to_numpy()
    labels = manifest["label"].astype(object).to_numpy()
    splits = manifest["split"].astype(object).to_numpy()

    scalars = np.full((n, len(SCALAR_COLUMNS)), np.nan)
    status = manifest["status"].astype(str).to_numpy().copy()
    errors = manifest["error"].fillna("").astype(str).to_numpy().copy()
    agg = AggregateAccumulator(config)
    pca = StreamingPCA(3)
    label_spectra = LabelSpectra(acfg.label_sample)
    finder = DuplicateFinder(near_threshold=near_threshold)
    coords = np.full((n, 3), np.nan)
    pca_d = np.full(n, np.nan)
    label_d = np.full(n, np.nan)
    hits = 0
    pca_info: dict[str, Any] = {}

    with ProfileSpill(config.spectrum_bins, fingerprint_length(config) if full else 0) as spill:
        for res in iter_chunk_results(plan, workers=workers, scheduler=scheduler, cache_dir=cache_dir,
                                      progress=progress):
            rows = plan.rows[res.chunk_id]
            hits += res.from_cache
            scalars[rows] = res.scalars
            failed = (status[rows] == "ok") & ~res.ok  # the header was fine, decoding was not
            status[rows[failed]] = "error"
            errors[rows[failed]] = res.errors[failed]
            if full:
                agg.add(res)
            has = res.ok & ~np.isnan(res.spectra[:, 0])
            if has.any():
                spec = res.spectra[has]
                pca.partial_fit(spec)
                lab_rows = labels[rows[has]]
                keys = sample_keys(paths[rows[has]], acfg.seed)
                for lab in pd.unique(lab_rows):
                    m = np.flatnonzero(lab_rows == lab)
                    m = m[label_spectra.may_enter(str(lab), keys[m])]
                    if m.size:
                        label_spectra.add(str(lab), keys[m], spectrum_db(spec[m]))
            if full:
                finder.add(rows, res.ok, res.digests, res.signatures, res.has_fp)
            spill.append(res.spectra, res.fingerprints if full else res.fingerprints[:, :0])

        if pca._n >= 4:
            pca.finalize()
            medians = label_spectra.medians()
            ev = np.maximum(pca.explained_variance_, 1e-12)
            for start, spec, _ in spill.blocks(2048):
                ok = ~np.isnan(spec[:, 0])
                if not ok.any():
                    continue
                idx = start + np.flatnonzero(ok)
                c = pca.transform(spec[ok])
                coords[idx] = c
                pca_d[idx] = np.sqrt((c * c / ev).sum(axis=1))
                db = spectrum_db(spec[ok])
                lab_rows = labels[idx]
                for lab in pd.unique(lab_rows):
                    m = lab_rows == lab
                    med, mad = medians[str(lab)]
                    label_d[idx[m]] = label_distance(db[m], med, mad)
            pca_info = {"explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio_],
                        "n_files": int(pca.n_samples_seen_), "freqs_hz": config.spectrum_freqs_hz,
                        "components": pca.components_.astype(np.float32)}
        dup_report = finder.find(spill, paths, labels, splits, max_pairs=max_pairs)

    if manifest["sample_rate"].isna().all() and len(manifest):  # a scan-only manifest: fill it in
        manifest = manifest.copy()
        ok_rows = status == "ok"
        sr_col = scalars[:, SCALAR_COLUMNS.index("sample_rate")]
        dur = scalars[:, SCALAR_COLUMNS.index("duration_s")]
        manifest["status"], manifest["error"] = status, errors
        manifest["sample_rate"] = pd.array(np.where(ok_rows, sr_col, np.nan), dtype="Float64").astype("Int64")
        manifest["duration_s"] = np.where(ok_rows, dur, np.nan)
        manifest["n_samples"] = pd.array(np.where(ok_rows, np.round(dur * sr_col), np.nan),
                                         dtype="Float64").astype("Int64")
    summary = summarize(manifest)
    pca_z = robust_z(pca_d)
    label_z = np.full(n, np.nan)
    for lab in pd.unique(labels[np.isfinite(label_d)]):
        m = (labels == lab) & np.isfinite(label_d)
        label_z[m] = robust_z(label_d[m])

    # The manifest's own string columns (index 0..n-1), not numpy copies: pandas would convert
    # every value back to its string type.
    col = {c: manifest[c].reset_index(drop=True) for c in ("path", "label", "speaker", "split", "category")}
    prof = pd.DataFrame({
        "path": col["path"].astype(str), "label": col["label"], "speaker": col["speaker"], "split": col["split"],
        "category": col["category"], "status": status, "error": errors,
    })
    for j, col in enumerate(SCALAR_COLUMNS):
        if col != "hum_fraction":
            prof[col] = scalars[:, j]
    prof["hum_fraction"] = scalars[:, SCALAR_COLUMNS.index("hum_fraction")]
    prof["pca_x"], prof["pca_y"], prof["pca_z"] = coords[:, 0], coords[:, 1], coords[:, 2]
    prof["pca_distance"] = pca_d
    prof["label_distance"] = label_d
    scores, outliers, quality = score_anomalies(prof, pca_z=pca_z, label_z=label_z, config=acfg, top=top)
    prof["anomaly_score"] = scores
    quality["n_unreadable"] = int((status != "ok").sum())
    prof = prof[PROFILE_COLUMNS + ["hum_fraction"]]
    prof.attrs.update(manifest.attrs)

    result = Exploration(
        summary=summary,
        profiles=prof,
        mean_fft=agg.mean_fft(),
        mean_logspec=agg.mean_logspec(),
        violins=agg.violins(),
        anomalies=outliers,
        duplicates=dup_report.pairs,
        quality=quality,
        pca=pca_info,
        # The light pass (kwscope anomalies) leaves the aggregates empty: its report has no use
        # for them.
        lengths=length_distribution(prof) if full else {},
        speakers=speaker_stats(prof) if full else {},
        label_counts=label_counts(prof) if full else {},
        duplicate_report=dup_report,
        pass_info={"chunks": len(plan.tasks), "cache_hits": int(hits), "files": n,
                   "seconds": round(time.perf_counter() - t0, 3)},
    )
    if result_path is not None:
        _store_result(result_path, result)
    return result


_RESULT_CACHE = "results-v1"


def _result_path(cache_dir, manifest: pd.DataFrame, plan, params: dict) -> Path:
    """Where the finished analysis of this exact input is cached: the key covers every chunk's
    key (config, files' locations, sizes and mtimes), the manifest's identity columns (a split
    list can change without touching the audio) and every parameter."""
    h = hashlib.sha256(json.dumps([_RESULT_CACHE, str(manifest.attrs.get("root", "")),
                                   str(manifest.attrs.get("layout", "")), params], sort_keys=True,
                                  default=str).encode())
    for i in range(len(plan.tasks)):
        h.update(plan.key(i).encode())
    ident = manifest[["path", "label", "speaker", "split", "category", "status", "error"]]
    h.update(pd.util.hash_pandas_object(ident.astype(str), index=False).to_numpy().tobytes())
    return Path(cache_dir) / _RESULT_CACHE / f"{h.hexdigest()}.pkl"


def _load_result(path: Path) -> Exploration | None:
    # A pickle: the cache folder must be as trusted as the user's own files (it is the user's).
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            result = pickle.load(fh)
        return result if isinstance(result, Exploration) else None
    except Exception:  # damaged or from another version: recompute
        return None


def _store_result(path: Path, result: Exploration) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache never stops the analysis
