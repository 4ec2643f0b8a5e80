"""Dataset-scale feature extraction: every readable recording of DATA through steps 1-4, written
once into a raw feature store, resumable after any kill (the phases: docs/feature-store.md).

A run: **list** DATA and plan fixed chunks (sorted paths; ``store.json`` records the config hash
and a fingerprint of the listing; a store found there is checked against the files' contents
too, :mod:`kwscope.features.hashes`) -> **compute and write** each chunk's raw rows once, on the
engine, into their preallocated slots (a chunk is done when its ``.work/chunk-K.npz`` exists,
with the content hash of each file as read) ->
**add up** the per-chunk statistics in chunk order (bit-identical on resume) -> **publish** (the
last rows fill the slots of skipped files, ``stats.npz``, ``errors.parquet``, ``store.json``,
then ``manifest.parquet``: the store is complete when it exists). Normalization and stacking are
applied when the store is read (:func:`kwscope.features.store.load_features`).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..engine import run_chunks
from ..io.layouts import check_split_percentages
from ..settings import RunSettings
from .hashes import hash_rows
from .pipeline import FeatureStats, PipelineConfig
from .store import (
    ERRORS_FILE, FEATURES_FILE, LOAD_FORMULA, MANIFEST_FILE, PARTS_DIR, STATS_FILE, STORE_FILE, WORK_DIR,
    StoreError, atomic_save_npz, atomic_write_json, read_store_info,
)
from .tasks import _Headers, _meta_path, _RawTask, extract_raw_chunk
from .views import npy_layout
from .workspace import (
    _claim, _content_changed, _forget_chunk, _locked, _mismatch, _open_partial, _Plan, _wipe, check_space,
    compact_rows, content_digest, row_order, tail_moves,
)

if TYPE_CHECKING:  # pandas is imported only in the parent: workers stay light
    import pandas as pd

__all__ = ["extract_features", "ExtractResult", "DEFAULT_CHUNK_SIZE"]

#: Most files a task. Big enough that a batch FFT amortises per-call costs, small enough that a
#: worker's memory stays around 100-200 MB and the progress bar moves.
DEFAULT_CHUNK_SIZE = 512
#: Bytes of the largest per-task array (audio, raw or final features) the default chunk size
#: aims at: 1-s clips give DEFAULT_CHUNK_SIZE files a task, 10-s clips about 50.
_CHUNK_BYTES = 40 * 2**20
_PARTIAL = "features.npy.partial"


@dataclass(frozen=True)
class ExtractResult:
    """What a run produced."""

    out: Path
    n_rows: int  # clips with features
    n_errors: int  # files skipped (index + read + features)
    shape: tuple[int, ...]  # of features.npy
    config_hash: str
    up_to_date: bool  # True when the store was already complete: nothing was computed
    errors: pd.DataFrame  # path, label, split, stage, error
    seconds: dict  # wall time of each phase: index, features, statistics, publish
    data: dict = field(default_factory=dict)  # root, layout and the layout's evidence (store.json "data")


# --------------------------------------------------------------------------- the run (parent)


def extract_features(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    config: PipelineConfig | None = None,
    settings: RunSettings | None = None,
    overwrite: bool = False,
    validation_percentage: float = 10.0,
    testing_percentage: float = 10.0,
) -> ExtractResult:
    """Run the feature pipeline over every readable recording of DATA into the store ``out``.

    Parameters
    ----------
    data
        The dataset folder (a path, ``file://`` or fsspec URL).
    out
        The store folder (local or shared filesystem; Dask workers write into it).
    config
        The pipeline settings; default ``PipelineConfig()``.
    settings
        Where and how it runs (:class:`~kwscope.settings.RunSettings`): the layout (labels,
        speakers, splits), local workers (1 runs in this process) or a Dask scheduler (``out``
        must then be shared), the progress bar, and ``chunk_size``: files per task for a new
        store (default: up to 512, fewer for long clips so that a task's arrays stay near 40 MiB;
        a resumed store keeps the chunk size it was started with, which is what makes a resumed
        run identical to an uninterrupted one). Its ``cache_dir`` is not used.
    overwrite
        Replace a store of another config (or of changed data) instead of refusing.
    validation_percentage, testing_percentage
        Speech Commands hash split, when DATA has no split lists.

    Returns
    -------
    ExtractResult

    Raises
    ------
    StoreError
        ``out`` holds a store of another config, of other data or of an older format (without
        ``overwrite``), is not a store, is being written by another run, or the store cannot fit
        (file-size limit, free disk space: refused before any work).
    DatasetError, LayoutError
        DATA is not a usable dataset folder.
    """
    from ..io.urls import resolve_data

    settings = settings or RunSettings()
    layout, scheduler, chunk_size = settings.layout, settings.scheduler, settings.chunk_size
    cfg = config if config is not None else PipelineConfig()
    if not isinstance(cfg, PipelineConfig):
        raise StoreError(f"config={cfg!r} must be a PipelineConfig")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise StoreError(f"chunk_size={chunk_size!r} must be a positive integer")
    if "://" in os.fspath(out):
        raise StoreError(f"{out}: the feature store must be a folder path (local or shared), not a URL")
    check_split_percentages(validation_percentage, testing_percentage)  # before any work
    out = Path(os.path.abspath(out))  # workers (Dask's too) may run in another directory
    _check_writable(out)  # before the listing: a wrong OUT is said at once, not after the work
    source = resolve_data(data, distributed=bool(scheduler))
    if scheduler is None and settings.workers != 1:
        _warm_up_workers()
    started = time.perf_counter()
    from ..io.index import index_dataset  # pandas and pyarrow: while the workers' imports run
    # Only listed here: the workers open every file anyway, and read its header and hash it then.
    index = index_dataset(source, layout=layout, validation_percentage=validation_percentage,
                          testing_percentage=testing_percentage, probe_headers=False, content_hashes=False)
    plan = _Plan.of(index, cfg)
    seconds = {"index": time.perf_counter() - started}

    with _locked(out):
        info = read_store_info(out) if out.is_dir() else None
        reason = _mismatch(info, cfg, plan) if info is not None else None
        checked = None  # each planned row's hash now, when a store was found
        if info is not None and not (reason or overwrite):  # a store found: do the files hold what it read?
            started = time.perf_counter()
            hashes = hash_rows(str(plan.index.attrs["root"]), plan.index["path"].tolist(),
                               plan.index["source"].fillna("").astype(str).tolist(), settings)
            checked = [h for h, ok in zip(hashes, plan.index["status"] == "ok") if ok]
            reason = _content_changed(out, info, plan, hashes, checked)
            seconds["index"] += time.perf_counter() - started
        if reason and not overwrite:
            raise StoreError(f"{out}: {reason}; use --overwrite to replace it, or another OUT folder")
        if info is not None and not (reason or overwrite) and info.get("state") == "complete" \
                and (out / MANIFEST_FILE).is_file():
            shutil.rmtree(out / WORK_DIR, ignore_errors=True)
            return _result(out, info, up_to_date=True, seconds=seconds)
        # Before any work (and before a replaced store is wiped): the store must fit. Its old
        # features file and a resumed run's partial one are freed or reused.
        old = [out / FEATURES_FILE, out / WORK_DIR / _PARTIAL]
        check_space(out, cfg, plan, reusable=sum(p.stat().st_size for p in old if p.is_file()))
        if reason or overwrite:
            _wipe(out)
            info = None
        if info is None:
            _claim(out, cfg, plan, chunk_size or _default_chunk_size(cfg, plan))
            info = read_store_info(out)
        # A store keyed the older way has chunk records without hashes: they are the ones just checked.
        return _run(out, info, cfg, plan, settings, seconds=seconds, checked=checked)


def _check_writable(out: Path) -> None:
    """OUT (or the folder it will be made in) must be a folder this process can write into."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StoreError(f"{out}: cannot create the store's folder (a part of its path is a file, "
                         "not a folder)") from None
    except OSError as exc:
        raise StoreError(f"{out}: cannot create the store's folder ({exc.strerror or exc})") from None
    folder = out if out.is_dir() else out.parent
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out}: exists and is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"{folder}: not writable (permission denied); choose another OUT folder")


def _warm_up_workers() -> None:
    """Start the local pool's fork server (and its imports) while this process indexes DATA.

    The engine's pool forks its workers from one fork server a process; started here, in a
    thread, its second or two of imports overlap the index instead of delaying the first task,
    and every worker starts with the feature code already imported.
    """
    import multiprocessing as mp
    import threading
    from multiprocessing import forkserver

    def start():
        try:
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["numpy", "scipy.fft", "scipy.signal", "soxr", "soundfile", "kwscope",
                                        "kwscope.features.tasks"])
            forkserver.ensure_running()
        except Exception:  # pragma: no cover - the engine starts it the usual way then
            pass

    threading.Thread(target=start, name="kwscope-warm-up", daemon=True).start()


def _default_chunk_size(cfg: PipelineConfig, plan: _Plan) -> int:
    """Files a task such that its largest array stays near ``_CHUNK_BYTES``."""
    if cfg.length_samples is not None:
        samples = float(cfg.length_samples)
    else:  # variable length: the mean clip, from the headers or else the sizes (as 16-bit audio)
        n = _float_column(plan.ok, "n_samples") * cfg.sample_rate / _float_column(plan.ok, "sample_rate")
        if not np.isfinite(n).any():
            n = _float_column(plan.ok, "size_bytes") / 2
        samples = float(np.nanmean(n)) if np.isfinite(n).any() else float(cfg.sample_rate)
    samples = min(max(samples, 1.0), float(cfg.sample_rate) * 3600)
    frames = cfg.frames_for(int(samples))
    per_clip = 4 * max(samples, frames * cfg.n_coeffs)
    return int(min(DEFAULT_CHUNK_SIZE, max(1, _CHUNK_BYTES // max(1, int(per_clip)))))


def _float_column(frame, column: str) -> np.ndarray:
    """A column as float64, NaN where missing (all NaN when there is no such column)."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return frame[column].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass
class _Gathered:
    """Phase 1's results over all chunks, in chunk order (so deterministic)."""

    rows: list[np.ndarray]  # per chunk: positions in plan.ok of the clips with features
    frames: list[np.ndarray]  # per chunk: frames of each of those clips
    errors: list[tuple[int, str, str]]  # (position in plan.ok, stage, reason)
    stats: FeatureStats
    headers: dict[str, np.ndarray]  # hdr_* arrays over plan.ok

    @property
    def n_rows(self) -> int:
        return sum(len(r) for r in self.rows)


def _gather(work: str, bounds: list[tuple[int, int]], cfg: PipelineConfig, checked: list[str] | None) -> _Gathered:
    rows, frames, errs = [], [], []
    stats = FeatureStats(0, 0, np.zeros(cfg.n_coeffs), np.zeros(cfg.n_coeffs))
    empty = _Headers(0).arrays()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in empty}
    for k, (a, _) in enumerate(bounds):
        with np.load(_meta_path(work, k), allow_pickle=False) as m:
            rows.append(m["rows"] + a)
            frames.append(m["n_frames"])
            for r, stage, reason in zip(m["err_rows"], m["err_stage"], m["err_reason"]):
                errs.append((int(r) + a, str(stage), str(reason)))
            stats = stats + FeatureStats(int(m["stat_frames"]), int(m["stat_clips"]), m["stat_sum"], m["stat_sumsq"])
            for name, chunks in parts.items():
                if name == "hdr_content_hash" and name not in m.files:  # an older kwscope's, just checked
                    chunks.append(np.array(checked[a:bounds[k][1]], str))
                else:
                    chunks.append(m[name])
    # The chunks cover the files in order: their arrays end to end are the files' headers.
    headers = {name: np.concatenate([empty[name], *chunks]) for name, chunks in parts.items()}
    return _Gathered(rows, frames, errs, stats, headers)


def _run(out: Path, info: dict, cfg: PipelineConfig, plan: _Plan, settings: RunSettings, *,
         seconds: dict, checked: list[str] | None) -> ExtractResult:
    work = out / WORK_DIR
    work.mkdir(exist_ok=True)
    for folder in (out, work):  # temporary files of killed writers
        for p in folder.iterdir():
            if ".tmp-" in p.name and p.is_file():
                p.unlink(missing_ok=True)
    chunk_size = int(info["plan"]["chunk_size"])
    n_files = len(plan.ok)
    bounds = [(k * chunk_size, min(n_files, (k + 1) * chunk_size)) for k in range(-(-n_files // chunk_size))]
    final, partial = out / FEATURES_FILE, work / _PARTIAL
    try:
        return _phases(out, info, cfg, plan, settings, seconds, str(work), bounds, final, partial, checked)
    except Exception:
        # A failed run frees the disk space it reserved (a kill or Ctrl-C keeps it, to resume).
        partial.unlink(missing_ok=True)
        if not (out / MANIFEST_FILE).is_file():
            final.unlink(missing_ok=True)
        raise


def _phases(out: Path, info: dict, cfg: PipelineConfig, plan: _Plan, settings: RunSettings, seconds: dict,
            w: str, bounds: list[tuple[int, int]], final: Path, partial: Path,
            checked: list[str] | None) -> ExtractResult:
    n_files, n_chunks = len(plan.ok), len(bounds)
    fixed = cfg.length_samples is not None
    dtype = np.dtype(cfg.stored_dtype)
    raw_frames = cfg.frames_for(cfg.length_samples) if fixed else 0
    row_bytes = raw_frames * cfg.n_coeffs * dtype.itemsize
    metas_present = all(os.path.exists(_meta_path(w, k)) for k in range(n_chunks))
    parts, published_parts = Path(w) / "parts", out / PARTS_DIR
    state, offset, cut_rows = "slots", 0, -1
    if fixed:
        if final.is_file() and not metas_present:  # only if .work was tampered with
            final.unlink()
        if final.is_file():
            state = "published"  # killed after the rename, before the manifest
        else:
            layout = _npy_layout_or_none(partial)
            if metas_present and layout and layout[0][0] < n_files and layout[0][1:] == (raw_frames, cfg.n_coeffs) \
                    and layout[1] == dtype:
                state, offset, cut_rows = "cut", layout[2], layout[0][0]  # killed while cutting the file
            else:
                offset = _open_partial(partial, (n_files, raw_frames, cfg.n_coeffs), dtype,
                                       on_new=lambda: [_forget_chunk(w, k) for k in range(n_chunks)])
    elif published_parts.is_dir() and not parts.exists():
        os.replace(published_parts, parts)  # killed after moving the parts, before the manifest

    # Compute and write the raw rows, one task a chunk not yet done.
    started = time.perf_counter()
    paths = plan.ok["path"].tolist()
    sources, source_rows = plan.sources()
    column = str(plan.index.attrs.get("audio_column") or "audio")
    todo = [k for k in range(n_chunks) if not os.path.exists(_meta_path(w, k))] if state == "slots" else []
    tasks = [_RawTask(k, str(plan.index.attrs["root"]), tuple(paths[a:b]), tuple(plan.fit[a:b].tolist()),
                      cfg.to_dict(), w, slots=str(partial) if fixed else None, offset=offset + a * row_bytes,
                      sources=tuple(sources[a:b]), source_rows=tuple(source_rows[a:b]), audio_column=column)
             for k in todo for a, b in [bounds[k]]]
    for _ in run_chunks(extract_raw_chunk, tasks, workers=settings.workers, scheduler=settings.scheduler,
                        sizes=[len(t.paths) for t in tasks], desc="features", progress=settings.progress):
        pass
    got = _gather(w, bounds, cfg, checked)
    seconds["features"] = time.perf_counter() - started

    # The statistics, added up in chunk order (deterministic: bit-identical however it ran).
    started = time.perf_counter()
    stats = got.stats
    stat_arrays = {"n_frames": np.int64(stats.n_frames), "n_clips": np.int64(stats.n_clips),
                   "sum": stats.sum, "sumsq": stats.sumsq}
    if stats.n_frames:
        mean, var, scale = stats.mean_var()
        stat_arrays.update(mean=mean, var=var, scale=scale)
    atomic_save_npz(out / STATS_FILE, **stat_arrays)
    seconds["statistics"] = time.perf_counter() - started

    # Publish: fill the skipped files' slots, the description, then the manifest (last: its
    # presence marks the store complete); then drop .work.
    started = time.perf_counter()
    errors = _errors_frame(plan, got.errors)
    tmp_err = out / f".{ERRORS_FILE}.tmp-{os.getpid()}"
    errors.to_parquet(tmp_err, index=False)
    os.replace(tmp_err, out / ERRORS_FILE)
    order, chunk_of = row_order(got.rows, bounds, slots=fixed)
    n_rows = len(order)
    if fixed:
        shape: tuple[int, ...] = (n_rows, raw_frames, cfg.n_coeffs)
        if state == "cut" and cut_rows != n_rows:
            raise StoreError(f"{out}: the store's work files do not match ({cut_rows} rows written, "
                             f"{n_rows} planned); rerun with --overwrite")
        if state != "published":
            compact_rows(partial, offset, row_bytes, tail_moves(got.rows, bounds) if state == "slots" else [],
                         shape, dtype)
            os.replace(partial, final)
    else:
        shape = (int(sum(int(f.sum()) for f in got.frames)), cfg.n_coeffs)
        parts.mkdir(exist_ok=True)  # no chunk at all: an empty folder
        os.replace(parts, published_parts)
    info = dict(info)
    info.update(_description(cfg, plan, got, shape, fixed, n_rows, len(errors), info.get("plan", {})))
    atomic_write_json(out / STORE_FILE, info)

    from ..io.index import write_manifest

    manifest = _with_headers(plan.ok, got.headers).iloc[order].reset_index(drop=True)
    manifest["chunk"] = chunk_of
    if not fixed:
        frames = np.concatenate(got.frames) if got.frames else np.zeros(0, np.int64)
        starts = [np.concatenate(([0], np.cumsum(f)))[:-1] for f in got.frames]
        manifest["frame_start"] = np.concatenate(starts).astype(np.int64) if starts else frames
        manifest["n_frames"] = frames.astype(np.int64)
    manifest.attrs = {"layout": plan.index.attrs.get("layout"), "root": plan.index.attrs.get("root"),
                      "layout_evidence": plan.index.attrs.get("layout_evidence", ""),
                      "audio_column": plan.index.attrs.get("audio_column"), "config_hash": cfg.config_hash()}
    write_manifest(manifest, out / MANIFEST_FILE)
    shutil.rmtree(w, ignore_errors=True)
    seconds["publish"] = time.perf_counter() - started
    return ExtractResult(out, len(manifest), len(errors), shape, cfg.config_hash(), False, errors, seconds,
                         dict(info.get("data") or {}))


def _npy_layout_or_none(path: Path):
    try:
        return npy_layout(path) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _description(cfg: PipelineConfig, plan: _Plan, got: "_Gathered", shape: tuple[int, ...], fixed: bool,
                 n_rows: int, n_errors: int, info_plan: dict) -> dict:
    """store.json's final entries: what is stored and what loading applies."""
    stats = got.stats
    fit_on = "none (normalize: none)" if cfg.normalize == "none" else \
        "train" if plan.ok["split"].notna().any() else "all"
    return dict(
        state="complete",
        features="raw",
        fixed_length=fixed,
        storage=FEATURES_FILE if fixed else f"{PARTS_DIR}/part-<chunk:06d>.npy",
        shape=list(shape),
        dtype=cfg.stored_dtype,
        axes=["clip", "frame", "coeff"] if fixed else ["frame", "coeff"],
        frame_step_s=cfg.frame_step_samples / cfg.sample_rate,
        loaded_shape=[n_rows, cfg.stacked_frames(shape[1]), cfg.n_coeffs * cfg.stack] if fixed else None,
        loaded_frame_step_s=cfg.frame_step_samples * cfg.stack_hop / cfg.sample_rate,
        normalization={"method": cfg.normalize, "applied": "on load", "statistics": STATS_FILE},
        stacking={"stack": cfg.stack, "stack_hop": cfg.stack_hop, "applied": "on load"},
        formula=LOAD_FORMULA,
        row_order="path order; the slots of skipped files are filled by the last rows" if fixed
        else "path order, by chunk",
        n_rows=n_rows,
        n_errors=n_errors,
        plan=dict(info_plan, content_digest=content_digest(got.headers["hdr_content_hash"].tolist())),
        statistics={"fit_on": fit_on, "n_clips": stats.n_clips, "n_frames": stats.n_frames},
        described_unix=time.time(),
    )


def _with_headers(files: pd.DataFrame, headers: dict[str, np.ndarray]) -> pd.DataFrame:
    """The listed files with the header columns the workers read (the index did not open them)."""
    import pandas as pd

    files = files.copy()
    rate = headers["hdr_sample_rate"]
    known = rate > 0
    for column, values in (("sample_rate", rate), ("channels", headers["hdr_channels"]),
                           ("n_samples", headers["hdr_n_samples"])):
        files[column] = pd.array(np.where(known, values, 0), dtype="Int64")
        files.loc[~known, column] = pd.NA
    files["duration_s"] = np.where(known, headers["hdr_n_samples"] / np.where(known, rate, 1), np.nan)
    for column, values in (("subtype", headers["hdr_subtype"]), ("format", headers["hdr_format"]),
                           ("content_hash", headers["hdr_content_hash"])):
        files[column] = [v or None for v in values]
    return files


def _errors_frame(plan: _Plan, errs: list[tuple[int, str, str]]) -> pd.DataFrame:
    import pandas as pd

    cols = ["path", "label", "split"]
    bad_index = plan.index[plan.index["status"] != "ok"]
    parts = [bad_index[cols].assign(stage="index", error=bad_index["error"].to_numpy())]
    if errs:
        pos = [e[0] for e in errs]
        parts.append(plan.ok.iloc[pos][cols].assign(stage=[e[1] for e in errs], error=[e[2] for e in errs]))
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    frame = frame.astype({"path": str, "stage": str, "error": str})
    return frame.sort_values("path", kind="stable", ignore_index=True)


def _result(out: Path, info: dict, *, up_to_date: bool, seconds: dict) -> ExtractResult:
    import pandas as pd

    try:
        errors = pd.read_parquet(out / ERRORS_FILE)
    except (OSError, ValueError):
        errors = pd.DataFrame(columns=["path", "label", "split", "stage", "error"])
    return ExtractResult(out, int(info.get("n_rows", 0)), int(info.get("n_errors", len(errors))),
                         tuple(info.get("shape", ())), str(info.get("config_hash")), up_to_date, errors, seconds,
                         dict(info.get("data") or {}))


def summarize_errors(errors: pd.DataFrame, top: int = 3) -> str:
    """``"12 files skipped: 10x not a valid WAV ...; 2x ..."``, for a one-line report."""
    if errors.empty:
        return "no files skipped"
    counts = errors["error"].value_counts()
    parts = [f"{n}x {reason}" for reason, n in counts.head(top).items()]
    if len(counts) > top:
        parts.append(f"{int(counts.iloc[top:].sum())}x other reasons")
    noun = "file" if len(errors) == 1 else "files"
    return f"{len(errors):,} {noun} skipped: {'; '.join(parts)}"
