"""Dataset-scale feature extraction: the pipeline over every readable file, into a feature store.

How a run goes (every step can be killed with SIGKILL; rerunning the same command resumes):

0. **List** DATA (:func:`kwscope.io.index.index_dataset` without opening the files: paths,
   layout keys, sizes, mtimes) and **plan**: the files sorted by path, cut into fixed-size chunks
   (``chunk_size`` files, fixed for the life of the store), so that the local pool and Dask
   compute the very same chunks. ``store.json`` records the config, its hash and a fingerprint of
   the listing; another config or changed data is refused.
1. **Raw features** (steps 1-4), one task a chunk on the engine: each worker reads its files
   (header first: its errors are reported as the index's), computes their features in one batch
   and writes them, then ``.work/chunk-K.npz`` (rows done, files skipped with reasons, the
   headers, float64 sums of the train rows) -- to a temporary name, then renamed. A chunk counts
   as done when its ``chunk-K.npz`` exists; a rerun computes only the others. Where the features
   have one fixed shape raw and final (fixed length, no stacking: the default) the raw features
   go straight into the chunk's row slots of ``.work/features.npy.partial``, preallocated with
   its ``.npy`` header and one slot per file; otherwise into ``.work/raw-K.npy``.
2. **Statistics**: the per-chunk sums are added in chunk order (deterministic, so a resumed run
   gets bit-identical mean and scale) -- train rows only, all rows when the layout has no splits.
   The store's description is then final and written: ``stats.npz``, ``errors.parquet``,
   ``store.json``.
3. **Final features** (steps 5-6), one task a chunk:
   - every file gave features, slots in use: normalize each chunk **in place** (marked
     ``inplace-K.started``, then ``inplace-K``; a chunk found started but not finished is
     computed again from its audio, since its slots may hold half-normalized values);
   - otherwise: normalize and stack the chunk's raw features and write them at their row offset
     into a new preallocated file (``features.npy.compact`` from slots, ``features.npy.partial``
     from ``raw-K``), then mark ``done-K``. Rewriting a chunk writes the same bytes, so a task
     interrupted half way is simply run again.
4. **Publish**: rename the full file to ``features.npy``, write ``manifest.parquet`` (last: the
   store is complete when it exists), remove ``.work``.

Workers write their own results; the parent only holds the index and per-chunk counts, so memory
stays flat whatever the number of files. Broken files are skipped and listed, never fatal.
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
from ..settings import RunSettings
from .pipeline import FeatureStats, PipelineConfig
from .store import (
    ERRORS_FILE, FEATURES_FILE, MANIFEST_FILE, STATS_FILE, STORE_FILE, WORK_DIR, StoreError, atomic_save_npz,
    atomic_write_json, read_store_info,
)
from .tasks import (
    _FinalTask, _Headers, _RawTask, _done_path, _in_place_path, _meta_path, extract_raw_chunk, finish_chunk,
)
from .workspace import _claim, _forget_chunk, _locked, _mismatch, _open_partial, _Plan, _wipe

if TYPE_CHECKING:  # pandas is imported only in the parent: workers stay light
    import pandas as pd

__all__ = ["extract_features", "ExtractResult", "DEFAULT_CHUNK_SIZE"]

#: Most files a task. Big enough that a batch FFT amortises per-call costs, small enough that a
#: worker's memory stays around 100-200 MB and the progress bar moves.
DEFAULT_CHUNK_SIZE = 512
#: Bytes of the largest per-task array (audio, raw or final features) the default chunk size
#: aims at: 1-s clips give DEFAULT_CHUNK_SIZE files a task, 10-s clips about 50.
_CHUNK_BYTES = 40 * 2**20
#: Longest recording decoded (samples); longer files are skipped rather than filling memory.
MAX_SAMPLES = 1 << 24

_PARTIAL = "features.npy.partial"
_COMPACT = "features.npy.compact"
_DTYPE = np.dtype("<f4")


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
    seconds: dict  # wall time of each stage: index, features, normalize, publish
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
        ``out`` holds a store of another config or of other data (without ``overwrite``), is not
        a store, is being written by another run, or no training clip could be read.
    DatasetError, LayoutError
        DATA is not a usable dataset folder.
    """
    from ..io.index import index_dataset
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
    out = Path(os.path.abspath(out))  # workers (Dask's too) may run in another directory
    source = resolve_data(data, distributed=bool(scheduler))
    if scheduler is None and settings.workers != 1:
        _warm_up_workers()
    started = time.perf_counter()
    # Only listed here: the workers open every file anyway, and read its header then.
    index = index_dataset(source, layout=layout, validation_percentage=validation_percentage,
                          testing_percentage=testing_percentage, probe_headers=False)
    plan = _Plan.of(index, cfg)
    seconds = {"index": time.perf_counter() - started}

    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        info = read_store_info(out) if out.is_dir() else None
        if info is not None:
            reason = _mismatch(info, cfg, plan)
            if reason and not overwrite:
                raise StoreError(f"{out}: {reason}; use --overwrite to replace it, or another OUT folder")
            if reason or overwrite:
                _wipe(out)
                info = None
        if info is None:
            _claim(out, cfg, plan, chunk_size or _default_chunk_size(cfg, plan))
            info = read_store_info(out)
        elif info.get("state") == "complete" and (out / MANIFEST_FILE).is_file():
            shutil.rmtree(out / WORK_DIR, ignore_errors=True)
            return _result(out, info, up_to_date=True, seconds=seconds)
        return _run(out, info, cfg, plan, settings, seconds=seconds)


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
        samples = cfg.length_samples
    elif len(plan.ok):  # variable length: the mean clip, at the target rate
        rates = plan.ok["sample_rate"].to_numpy(np.float64)
        samples = float(np.mean(plan.ok["n_samples"].to_numpy(np.float64) * cfg.sample_rate / rates))
    else:
        samples = cfg.sample_rate
    frames = cfg.frames_for(int(samples))
    per_clip = 4 * max(samples, frames * cfg.n_coeffs * cfg.stack)
    return int(min(DEFAULT_CHUNK_SIZE, max(8, _CHUNK_BYTES // max(1, per_clip))))


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


def _gather(work: str, bounds: list[tuple[int, int]], cfg: PipelineConfig) -> _Gathered:
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
                chunks.append(m[name])
    # The chunks cover the files in order: their arrays end to end are the files' headers.
    headers = {name: np.concatenate([empty[name], *chunks]) for name, chunks in parts.items()}
    return _Gathered(rows, frames, errs, stats, headers)


def _run(out: Path, info: dict, cfg: PipelineConfig, plan: _Plan, settings: RunSettings, *,
         seconds: dict) -> ExtractResult:
    work = out / WORK_DIR
    work.mkdir(exist_ok=True)
    for folder in (out, work):  # temporary files of killed writers
        for p in folder.iterdir():
            if ".tmp-" in p.name and p.is_file():
                p.unlink(missing_ok=True)
    w = str(work)
    chunk_size = int(info["plan"]["chunk_size"])
    n_files = len(plan.ok)
    n_chunks = -(-n_files // chunk_size)
    bounds = [(k * chunk_size, min(n_files, (k + 1) * chunk_size)) for k in range(n_chunks)]
    root = str(plan.index.attrs["root"])
    conf = cfg.to_dict()
    final, partial, compact = out / FEATURES_FILE, work / _PARTIAL, work / _COMPACT
    fixed = cfg.length_samples is not None
    # Fixed-length features without stacking have the same shape raw and final: phase 1 writes
    # them straight into their row slots of the output file, and phase 2 normalizes them there.
    slotted = fixed and cfg.stack == 1
    raw_frames = cfg.frames_for(cfg.length_samples) if fixed else 0
    row_bytes = raw_frames * cfg.n_coeffs * _DTYPE.itemsize
    metas_present = all(os.path.exists(_meta_path(w, k)) for k in range(n_chunks))
    if final.is_file() and not metas_present:  # only if .work was tampered with
        final.unlink()
    features_ready = final.is_file()  # only a complete file is ever renamed to it
    slots_offset = 0
    if slotted and not features_ready:
        for k in range(n_chunks):  # caught half way through an in-place rewrite
            if os.path.exists(_in_place_path(w, k, started=True)) and not os.path.exists(_in_place_path(w, k)):
                _forget_chunk(w, k)
        slots_offset = _open_partial(partial, (n_files, raw_frames, cfg.n_coeffs),
                                     on_new=lambda: [_forget_chunk(w, k) for k in range(n_chunks)])

    # Phase 1: raw features and per-chunk statistics.
    started = time.perf_counter()
    paths = plan.ok["path"].tolist()
    sources, source_rows = plan.sources()
    column = str(plan.index.attrs.get("audio_column") or "audio")
    while True:
        todo = [] if features_ready else [k for k in range(n_chunks) if not os.path.exists(_meta_path(w, k))]
        tasks = [_RawTask(k, root, tuple(paths[a:b]), tuple(plan.fit[a:b].tolist()), conf, w,
                          slots=str(partial) if slotted else None, offset=slots_offset + a * row_bytes,
                          sources=tuple(sources[a:b]), source_rows=tuple(source_rows[a:b]), audio_column=column)
                 for k in todo for a, b in [bounds[k]]]
        for _ in run_chunks(extract_raw_chunk, tasks, workers=settings.workers, scheduler=settings.scheduler,
                            sizes=[len(t.paths) for t in tasks], desc="features", progress=settings.progress):
            pass
        got = _gather(w, bounds, cfg)
        in_place = slotted and got.n_rows == n_files  # else the rows are compacted into a new file
        stale = [k for k in range(n_chunks) if os.path.exists(_in_place_path(w, k))
                 or os.path.exists(_in_place_path(w, k, started=True))]
        if features_ready or in_place or not stale:
            break
        # Some file became unreadable after chunks were normalized in place by an interrupted
        # run: compaction reads the slots as raw features, so those chunks are computed again.
        for k in stale:
            _forget_chunk(w, k)
    rows, stats = got.rows, got.stats

    seconds["features"] = time.perf_counter() - started
    started = time.perf_counter()

    # Statistics in chunk order (deterministic), then the final layout.
    if cfg.normalize != "none" and stats.n_frames == 0:
        n_train = int(plan.fit.sum())
        raise StoreError(f"{out}: no training clip could be read ({n_train} files in the train split"
                         f"{'' if n_train else ' -- the layout has splits but none is train'}), so there are "
                         "no normalization statistics; fix the data or set normalize: none")
    per_row = [cfg.stacked_frames(int(f)) for f in np.concatenate(got.frames)] if got.frames else []
    out_coeffs = cfg.n_coeffs * cfg.stack
    if fixed:
        out_frames = cfg.stacked_frames(raw_frames)
        chunk_values = [len(r) * out_frames * out_coeffs for r in rows]
        shape: tuple[int, ...] = (got.n_rows, out_frames, out_coeffs)
    else:
        it = iter(per_row)
        chunk_values = [sum(next(it) for _ in range(len(r))) * out_coeffs for r in rows]
        shape = (sum(per_row), out_coeffs)

    # The store's description -- statistics, skipped files, store.json -- is complete now; it is
    # written before phase 2 because renaming over store.json while phase 2's rewrite is being
    # written back stalled for seconds on ext4. The manifest, written last, still marks the
    # store complete: readers and reruns require it.
    errors = _errors_frame(plan, got.errors)
    stat_arrays = {"n_frames": np.int64(stats.n_frames), "n_clips": np.int64(stats.n_clips),
                   "sum": stats.sum, "sumsq": stats.sumsq}
    if stats.n_frames:
        mean, var, scale = stats.mean_var()
        stat_arrays.update(mean=mean, var=var, scale=scale)
    atomic_save_npz(out / STATS_FILE, **stat_arrays)
    tmp_err = out / f".{ERRORS_FILE}.tmp-{os.getpid()}"
    errors.to_parquet(tmp_err, index=False)
    os.replace(tmp_err, out / ERRORS_FILE)
    info = dict(info)
    info.update(
        state="complete",
        fixed_length=fixed,
        shape=list(shape),
        dtype="float32",
        axes=["clip", "frame", "coeff"] if fixed else ["frame", "coeff"],
        frame_step_s=cfg.hop_samples * cfg.stack_hop / cfg.sample_rate,
        n_rows=got.n_rows,
        n_errors=len(errors),
        statistics={"fit_on": "none (normalize: none)" if cfg.normalize == "none"
                    else "train" if plan.ok["split"].notna().any() else "all",
                    "n_clips": stats.n_clips, "n_frames": stats.n_frames},
        described_unix=time.time(),
    )
    atomic_write_json(out / STORE_FILE, info)

    # Phase 2: normalize (and stack) into the final file.
    if not features_ready:
        stat_tuple = (stats.n_frames, stats.n_clips, stats.sum, stats.sumsq)
        slot_offsets = [slots_offset + a * row_bytes for a, _ in bounds]
        if in_place:
            target = partial
            offsets = slot_offsets
            todo = [] if cfg.normalize == "none" else \
                [k for k in range(n_chunks) if not os.path.exists(_in_place_path(w, k))]
        else:
            target = compact if slotted else partial
            data_offset = _open_partial(target, shape, on_new=lambda: [
                Path(_done_path(w, k)).unlink(missing_ok=True) for k in range(n_chunks)])
            offsets = list(np.concatenate(([0], np.cumsum(chunk_values)))[:-1] * _DTYPE.itemsize + data_offset)
            todo = [k for k in range(n_chunks) if not os.path.exists(_done_path(w, k))]
        tasks2 = [_FinalTask(k, w, str(target), int(offsets[k]), int(chunk_values[k]), conf, stat_tuple,
                             source=str(partial) if slotted else None, source_offset=int(slot_offsets[k]),
                             n_rows=len(rows[k]))
                  for k in todo]
        for _ in run_chunks(finish_chunk, tasks2, workers=settings.workers, scheduler=settings.scheduler,
                            sizes=[len(rows[t.chunk]) for t in tasks2], desc="normalizing",
                            progress=settings.progress):
            pass
        os.replace(target, final)
        partial.unlink(missing_ok=True)
    seconds["normalize"] = time.perf_counter() - started
    started = time.perf_counter()

    # Publish: the manifest, last (its presence marks the store complete); then drop .work.
    from ..io.index import write_manifest

    manifest = _with_headers(plan.ok, got.headers).iloc[np.concatenate(rows) if rows else []]
    manifest = manifest.reset_index(drop=True)
    manifest["chunk"] = np.repeat(np.arange(n_chunks, dtype=np.int32), [len(r) for r in rows]) if rows \
        else np.zeros(0, np.int32)
    if not fixed:
        n = np.array(per_row, np.int64)
        manifest["frame_start"] = np.concatenate(([0], np.cumsum(n)))[:-1] if len(n) else n
        manifest["n_frames"] = n
    manifest.attrs = {"layout": plan.index.attrs.get("layout"), "root": plan.index.attrs.get("root"),
                      "layout_evidence": plan.index.attrs.get("layout_evidence", ""),
                      "audio_column": plan.index.attrs.get("audio_column"), "config_hash": cfg.config_hash()}
    write_manifest(manifest, out / MANIFEST_FILE)
    shutil.rmtree(work, ignore_errors=True)
    seconds["publish"] = time.perf_counter() - started
    return ExtractResult(out, len(manifest), len(errors), shape, cfg.config_hash(), False, errors, seconds,
                         dict(info.get("data") or {}))


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
    for column, values in (("subtype", headers["hdr_subtype"]), ("format", headers["hdr_format"])):
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
