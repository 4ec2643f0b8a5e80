"""The feature store: what ``kwscope features`` writes, readable with plain numpy and pyarrow.

Layout of a finished store ``OUT/``::

    store.json         format, kwscope version, the pipeline config and its hash, the dataset
                       (root, layout, fingerprint), shapes, counts, state ("complete" once this
                       description is final; the store is complete once manifest.parquet exists)
    pipeline.yaml      the config, reusable with ``kwscope features --config``
    features.npy       float32, the final pipeline output (normalized and stacked):
                         fixed length:    (n, frames, coeffs)   -- row i is manifest row i
                         variable length: (total_frames, coeffs) -- rows frame_start:frame_start+n_frames
    stats.npz          normalization statistics: mean, var, scale (coeffs,) float64, n_frames, n_clips
                       (from the train split; all rows when the layout has no splits)
    errors.parquet     every file skipped: path, label, split, stage (index/read/features), error
    manifest.parquet   written last: one row per feature row, the dataset index columns
                       (path, label, speaker, take, split, sample_rate, ...) plus ``chunk`` and, for
                       variable length, ``frame_start`` and ``n_frames``

While a run is in progress the store also holds ``.work/`` (per-chunk results, raw features
and the partially filled ``features.npy.partial``); it is removed when the run completes. A store
without ``manifest.parquet`` is incomplete: :func:`load_features` refuses it, and rerunning the
same command finishes it.

With numpy alone::

    X = np.load("OUT/features.npy", mmap_mode="r")
    manifest = pyarrow.parquet.read_table("OUT/manifest.parquet").to_pandas()
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import KwscopeError

if TYPE_CHECKING:  # pandas is imported on use, so that worker processes stay light
    import pandas as pd

__all__ = [
    "StoreError",
    "load_features",
    "load_pipeline",
    "load_errors",
    "read_store_info",
    "STORE_FILE",
    "CONFIG_FILE",
    "FEATURES_FILE",
    "STATS_FILE",
    "ERRORS_FILE",
    "MANIFEST_FILE",
    "WORK_DIR",
    "FORMAT",
    "FORMAT_VERSION",
]

STORE_FILE = "store.json"
CONFIG_FILE = "pipeline.yaml"
FEATURES_FILE = "features.npy"
STATS_FILE = "stats.npz"
ERRORS_FILE = "errors.parquet"
MANIFEST_FILE = "manifest.parquet"
WORK_DIR = ".work"
FORMAT = "kwscope-features"
FORMAT_VERSION = 1


class StoreError(KwscopeError):
    """A feature store cannot be read or written (incomplete, another config, not a store, ...)."""


# --------------------------------------------------------------------------- atomic writes


def _tmp_name(path: str) -> str:
    # Unique per process and call: two processes (a rerun task on Dask, an orphaned worker) may
    # write the same file at once; each renames its own complete temporary file.
    return f"{path}.tmp-{os.getpid()}-{os.urandom(4).hex()}"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = os.fspath(path)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True, allow_nan=False) + "\n").encode())


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """``np.save`` to a temporary name, then rename."""
    path = os.fspath(path)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez`` to a temporary name, then rename."""
    path = os.fspath(path)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------------- reading


def read_store_info(out: str | os.PathLike) -> dict[str, Any] | None:
    """The store's ``store.json`` as a dict, or ``None`` when ``out`` holds none."""
    path = Path(out) / STORE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path}: damaged store description ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise StoreError(f"{path}: not a kwscope feature store")
    if info.get("format_version", 0) > FORMAT_VERSION:
        raise StoreError(f"{path}: written by a newer kwscope (store format {info.get('format_version')}); "
                         "upgrade kwscope to read it")
    return info


def _complete_info(out: Path) -> dict[str, Any]:
    if not out.is_dir():
        raise StoreError(f"{out}: no such feature store (folder missing)")
    info = read_store_info(out)
    if info is None:
        raise StoreError(f"{out}: not a kwscope feature store (no {STORE_FILE})")
    if not (out / MANIFEST_FILE).is_file() or info.get("state") != "complete":
        raise StoreError(f"{out}: the feature store is incomplete (the run was interrupted); "
                         "rerun the same `kwscope features` command to finish it")
    return info


def load_features(out: str | os.PathLike, *, mmap: bool = True):
    """Read a feature store written by ``kwscope features`` / :func:`kwscope.extract_features`.

    Parameters
    ----------
    out
        The store folder.
    mmap
        Memory-map ``features.npy`` (read-only) instead of reading it into memory.

    Returns
    -------
    X : np.ndarray [shape=(n, frames, coeffs), dtype=float32] or list of np.ndarray
        ``X[i]`` are the features of manifest row ``i``: one array when the pipeline fixes the
        clip length, else a list of ``(frames_i, coeffs)`` arrays (views of one memory map).
    manifest : pandas.DataFrame
        One row per clip: the dataset index columns plus ``chunk`` (and ``frame_start``,
        ``n_frames`` for variable length). ``manifest.attrs["kwscope"]`` holds ``store.json``.

    Raises
    ------
    StoreError
        When ``out`` is missing, not a store, or incomplete (an interrupted run).
    """
    out = Path(out)
    info = _complete_info(out)
    import pyarrow.parquet as pq

    manifest = pq.read_table(out / MANIFEST_FILE).to_pandas()
    manifest.attrs["kwscope"] = info
    try:
        flat = np.load(out / FEATURES_FILE, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StoreError(f"{out / FEATURES_FILE}: cannot read ({exc})") from None
    if info.get("fixed_length", True):
        if flat.shape[0] != len(manifest):
            raise StoreError(f"{out}: {FEATURES_FILE} has {flat.shape[0]} rows, the manifest {len(manifest)}")
        return flat, manifest
    starts = manifest["frame_start"].to_numpy(np.int64)
    counts = manifest["n_frames"].to_numpy(np.int64)
    if len(starts) and starts[-1] + counts[-1] != flat.shape[0]:
        raise StoreError(f"{out}: {FEATURES_FILE} has {flat.shape[0]} frames, the manifest says "
                         f"{int(starts[-1] + counts[-1])}")
    return [flat[s:s + c] for s, c in zip(starts, counts)], manifest


def load_errors(out: str | os.PathLike) -> pd.DataFrame:
    """The files a finished store skipped, with the stage and reason."""
    import pandas as pd

    out = Path(out)
    _complete_info(out)
    return pd.read_parquet(out / ERRORS_FILE)


def load_pipeline(out: str | os.PathLike):
    """The fitted :class:`~kwscope.features.pipeline.FeaturePipeline` that produced a store, to featurize
    new clips exactly as the stored ones (same config, same normalization statistics)."""
    from .pipeline import FeaturePipeline, FeatureStats, PipelineConfig

    out = Path(out)
    info = _complete_info(out)
    pipe = FeaturePipeline(PipelineConfig.from_dict(info["config"]))
    with np.load(out / STATS_FILE, allow_pickle=False) as z:
        if int(z["n_frames"]):
            pipe.partial_fit_stats(FeatureStats(int(z["n_frames"]), int(z["n_clips"]), z["sum"], z["sumsq"]))
    return pipe
