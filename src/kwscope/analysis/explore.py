"""The whole exploration in one pass over the audio: :func:`explore` -> :class:`Exploration`, and
the two questions asked of the same pass on their own, :func:`find_anomalies` (a lighter pass)
and :func:`find_duplicates`.

One streaming pass (:mod:`kwscope.analysis.profiles`, on a process pool or a Dask cluster, with an
opt-in disk cache) measures every file; the parent then combines the chunks in order into
aggregates, anomalies and duplicates.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd

from ..engine.base import single_threaded_blas
from ..engine.startup import warm_worker_pool
from ..io.audio import is_url
from ..io.index import index_dataset
from ..settings import RunSettings
from . import FULL_PASS_MODULES, LIGHT_PASS_MODULES
from .aggregates import AggregateAccumulator, label_counts, length_distribution, speaker_stats
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
from .caches import cached_index, load_result, result_path, store_result
from .duplicates import DuplicateFinder, DuplicateReport
from .exploration import PROFILE_COLUMNS, Exploration
from .profiles import (
    SCALAR_COLUMNS,
    ProfileConfig,
    ProfileSpill,
    fingerprint_length,
    iter_chunk_results,
    plan_chunks,
    sample_keys,
)
from .summary import summarize

__all__ = ["Exploration", "explore", "find_anomalies", "find_duplicates", "PROFILE_COLUMNS"]

#: Files a task of the profile pass, unless the settings say otherwise.
DEFAULT_CHUNK_SIZE = 256


def explore(
    data,
    *,
    settings: RunSettings | None = None,
    violin_hz=(1000, 2500, 6000),
    top: int = 50,
    anomaly_config: AnomalyConfig | None = None,
    max_pairs: int | None = 5000,
    near_threshold: float = 0.9,
) -> Exploration:
    """Explore a dataset in one pass over its audio.

    Parameters
    ----------
    data
        A dataset folder (or fsspec URL), or a manifest from :func:`kwscope.index_dataset`.
    settings
        Where and how the pass runs (:class:`~kwscope.settings.RunSettings`: layout -- ignored for
        a manifest --, workers, Dask scheduler, progress, files a task). Its ``cache_dir`` caches
        the per-chunk profiles, the manifest (:func:`~kwscope.analysis.caches.cached_index`) and
        the finished result (reused when nothing at all changed); ``None``, the default, caches
        nothing.
    violin_hz
        Frequencies (Hz) of the violin samples.
    top
        Length of the ranked anomaly list.
    anomaly_config
        Flag thresholds (:class:`~kwscope.analysis.anomalies.AnomalyConfig`).
    max_pairs
        Duplicate pairs listed (all are counted).
    near_threshold
        Fingerprint cosine similarity from which two recordings are near-duplicates.
    """
    with single_threaded_blas():
        return _explore(data, settings or RunSettings(), violin_hz=violin_hz, top=top,
                        anomaly_config=anomaly_config, max_pairs=max_pairs, near_threshold=near_threshold,
                        full=True)


def find_anomalies(data, *, settings: RunSettings | None = None, top: int = 50,
                   config: AnomalyConfig | None = None) -> AnomalyReport:
    """Rank a dataset's recordings by how anomalous they are (one light profile pass).

    Parameters
    ----------
    data
        A dataset folder, or a manifest from :func:`kwscope.index_dataset`.
    settings
        As for :func:`explore`.
    top
        Outliers listed.
    config
        Flag thresholds.
    """
    # Only what the ranking needs (no VAD, log spectrograms, fingerprints): the same results as
    # explore()'s anomalies, at a fraction of the cost; a cache written by explore() serves it.
    with single_threaded_blas():
        ex = _explore(data, settings or RunSettings(), violin_hz=(1000, 2500, 6000), top=top,
                      anomaly_config=config, max_pairs=0, near_threshold=0.9, full=False)
    return ex.anomaly_report()


def find_duplicates(data, *, settings: RunSettings | None = None) -> DuplicateReport:
    """Find exact and near-duplicate recordings of a dataset (one profile pass, see :func:`explore`)."""
    return explore(data, settings=settings).duplicate_report


def _explore(data, settings: RunSettings, *, violin_hz, top, anomaly_config, max_pairs, near_threshold,
             full: bool) -> Exploration:
    """The pass and everything after it. ``full=False`` (``kwscope anomalies``) measures only what
    the anomaly ranking needs and leaves the aggregates and duplicates empty."""
    t0 = time.perf_counter()
    layout, cache_dir = settings.layout, settings.cache_dir
    chunk_size = settings.chunk_size or DEFAULT_CHUNK_SIZE
    if not isinstance(data, pd.DataFrame) or len(data) > chunk_size:  # likely more than one chunk
        warm_worker_pool(workers=settings.workers, scheduler=settings.scheduler,
                         preload=FULL_PASS_MODULES if full else LIGHT_PASS_MODULES)
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
    cached_at = None
    if cache_dir is not None:
        cached_at = result_path(cache_dir, manifest, plan, dict(
            full=full, top=top, max_pairs=max_pairs, near_threshold=near_threshold, chunk_size=chunk_size,
            anomaly_config=acfg.to_dict(), profile_config=config.to_dict()))
        cached = load_result(cached_at)
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
        for res in iter_chunk_results(plan, settings):
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

    unprobed = manifest["sample_rate"].isna().to_numpy() & (manifest["status"] == "ok").to_numpy()
    if unprobed.any():
        # A scan-only manifest: fill its headers in from the pass (only where missing: its
        # tf-challenge _silence_ rows come with theirs, and filling only when every header was
        # missing left NA lengths that crashed the summary).
        manifest = manifest.copy()
        fill = unprobed & (status == "ok")
        sr_col = scalars[:, SCALAR_COLUMNS.index("sample_rate")]
        dur = scalars[:, SCALAR_COLUMNS.index("duration_s")]
        manifest["status"], manifest["error"] = status, errors
        sr = manifest["sample_rate"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        d = manifest["duration_s"].to_numpy(dtype=float, na_value=np.nan).copy()
        ns = manifest["n_samples"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        sr[unprobed], d[unprobed], ns[unprobed] = np.nan, np.nan, np.nan
        sr[fill], d[fill], ns[fill] = sr_col[fill], dur[fill], np.round(dur * sr_col)[fill]
        manifest["sample_rate"] = pd.array(sr, dtype="Float64").astype("Int64")
        manifest["duration_s"] = d
        manifest["n_samples"] = pd.array(ns, dtype="Float64").astype("Int64")
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
        mean_logspec=agg.mean_logspec(release=True),  # the sums become the means: no copy
        violins=agg.violins(),
        anomalies=outliers,
        duplicates=dup_report.groups,
        quality=quality,
        pca=pca_info,
        # The light pass (kwscope anomalies) leaves the aggregates empty: its report has no use
        # for them.
        lengths=length_distribution(prof) if full else {},
        speakers=speaker_stats(prof) if full else {},
        label_counts=label_counts(prof) if full else {},
        audio_sources=_audio_sources(manifest),
        duplicate_report=dup_report,
        pass_info={"chunks": len(plan.tasks), "cache_hits": int(hits), "files": n,
                   "seconds": round(time.perf_counter() - t0, 3)},
    )
    if cached_at is not None:
        store_result(cached_at, result)
    return result


def _audio_sources(manifest: pd.DataFrame) -> dict[str, tuple[str, int]]:
    """``{path: (shard, row)}`` of the rows whose audio is in Parquet shards (the players read them)."""
    if "source" not in manifest.columns:
        return {}
    sel = manifest[manifest["source"].fillna("") != ""]
    return {str(p): (str(s), int(r)) for p, s, r in zip(sel["path"], sel["source"], sel["source_row"])}
