"""The feature store: what ``kwscope features`` writes -- raw features, written once, with the
train-split statistics beside them -- and reading it back with normalization and stacking applied.

Layout of a finished store ``OUT/`` (format version 2)::

    store.json         format and version, kwscope version, the pipeline config and its hash, the
                       dataset (root, layout, fingerprint), shapes, dtype, counts, what loading
                       applies (``normalization``, ``stacking``, ``formula``), state ("complete"
                       once this description is final; the store is complete once
                       manifest.parquet exists)
    pipeline.yaml      the config, reusable with ``kwscope features --config``
    features.npy       fixed length: the raw features (steps 1-4: not normalized, not stacked),
                       (n, frames, coeffs), float32 or float16 (``dtype``); row i is manifest row i
    features/          variable length (``duration_s: null``) instead: part-K.npy holds the raw
                       frames of chunk K's clips end to end, (frames_K, coeffs); clip i is
                       part-{chunk}.npy[frame_start:frame_start + n_frames] of its manifest row
    stats.npz          n_frames, n_clips, sum, sumsq (float64 sums over the statistics' frames,
                       added up chunk by chunk in chunk order) and, when there were any frames,
                       mean, var, scale (coeffs,) float64: from the train split (all rows when the
                       layout has no splits), computed on the stored (rounded) values
    errors.parquet     every file skipped: path, label, split, stage (index/read/features), error
    manifest.parquet   written last: one row per clip, the dataset index columns (path, label,
                       speaker, take, split, sample_rate, ...) plus ``chunk`` and, for variable
                       length, ``frame_start`` and ``n_frames`` (raw frames)

Loading (:func:`load_features`) applies steps 5-6, as Kaldi's apply-cmvn and lhotse's global
mean/variance transform do, so one store serves models with other normalization or context::

    x = raw.astype(np.float32)                       # features.npy row (or a clip's frames)
    x -= stats["mean"].astype(np.float32)            # if normalize: per_feature
    x /= stats["scale"].astype(np.float32)
    x = sliding_window_view(x, stack, axis=-2)[..., ::stack_hop, :, :].swapaxes(-1, -2)
    x = x.reshape(*x.shape[:-2], stack * coeffs)     # if stack > 1: frames t*hop .. t*hop+stack-1

Fixed-length rows are in path order, except where files were skipped: each skipped file's row
slot is then filled by one of the last rows (so the file is written once, never compacted into a
copy); the manifest follows the rows. A store of format version 1 (older kwscope: features.npy
already normalized and stacked) is read as it is, never normalized again; asking it for raw
features is refused. While a run is in progress the store also holds ``.work/`` (per-chunk
results and the preallocated ``features.npy.partial``); a store without ``manifest.parquet`` is
incomplete: :func:`load_features` refuses it, and rerunning the same command finishes it.
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
    "part_name",
    "read_store_info",
    "STORE_FILE",
    "CONFIG_FILE",
    "FEATURES_FILE",
    "STATS_FILE",
    "ERRORS_FILE",
    "MANIFEST_FILE",
    "WORK_DIR",
    "PARTS_DIR",
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
PARTS_DIR = "features"
FORMAT = "kwscope-features"
FORMAT_VERSION = 2
#: How store.json spells what loading does (format version 2).
LOAD_FORMULA = ("x = features.astype(float32); if normalization is per_feature: x -= float32(stats.npz mean); "
                "x /= float32(stats.npz scale); if stack > 1: row t = x[t*stack_hop : t*stack_hop + stack] "
                "flattened frame-major (stack * coeffs values)")


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
    version = info.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise StoreError(f"{path}: damaged store description (format_version {version!r} is not a "
                         "positive integer); rerun `kwscope features` with --overwrite")
    if version > FORMAT_VERSION:
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


def load_features(out: str | os.PathLike, *, normalize: bool = True, stack: bool = True, mmap: bool = False):
    """Read a feature store written by ``kwscope features`` / :func:`kwscope.extract_features`.

    Parameters
    ----------
    out
        The store folder.
    normalize
        Apply step 5, ``(x - mean) / scale`` with the store's train-split statistics
        (``stats.npz``), when its config normalizes (``normalize: per_feature``).
    stack
        Apply step 6, stacking ``stack`` frames every ``stack_hop`` (when the config's ``stack > 1``).
    mmap
        Read nothing now: return a lazy view that reads and transforms rows on access, in
        constant memory whatever the store's size (see Returns).

    Returns
    -------
    X
        ``X[i]`` are the features of manifest row ``i``, float32 (the stored dtype when neither
        step applies). Fixed length: an array ``(n, frames, coeffs)``, or with ``mmap`` a
        :class:`~kwscope.features.views.FeatureArray` (``X[i]``, ``X[a:b]``, masks, iteration,
        ``.batches()``, ``np.asarray(X)``; ``.raw`` the stored array memory-mapped). Variable
        length: a list of ``(frames_i, coeffs)`` arrays, or with ``mmap`` a
        :class:`~kwscope.features.views.FeatureList` (``X[i]``, iteration). A format-1 store is
        returned as stored (``np.memmap`` with ``mmap``).
    manifest : pandas.DataFrame
        One row per clip: the dataset index columns plus ``chunk`` (and ``frame_start``,
        ``n_frames`` for variable length). ``manifest.attrs["kwscope"]`` holds ``store.json``.

    Raises
    ------
    StoreError
        When ``out`` is missing, not a store, incomplete (an interrupted run), has no statistics
        to normalize with (no training clip was read: pass ``normalize=False``), or is a
        format-1 store asked for raw features.
    """
    from .views import FeatureArray, FeatureList, LoadTransform

    out = Path(out)
    info = _complete_info(out)
    import pyarrow.parquet as pq

    manifest = pq.read_table(out / MANIFEST_FILE).to_pandas()
    manifest.attrs["kwscope"] = info
    if int(info.get("format_version", 1)) < 2:
        return _load_v1(out, info, manifest, normalize=normalize, stack=stack, mmap=mmap), manifest
    cfg = info["config"]
    mean = scale = None
    if normalize and cfg.get("normalize", "per_feature") != "none":
        mean, scale = _statistics(out, info)
    transform = LoadTransform(mean, scale, int(cfg.get("stack", 1)) if stack else 1,
                              int(cfg.get("stack_hop", 1)), np.dtype(info.get("dtype", "float32")))
    try:
        if info.get("fixed_length", True):
            X = FeatureArray(out / FEATURES_FILE, transform)
            if len(X) != len(manifest):
                raise StoreError(f"{out}: {FEATURES_FILE} has {len(X)} rows, the manifest {len(manifest)}")
            return (X if mmap else X.to_numpy()), manifest
        chunks = manifest["chunk"].to_numpy(np.int64)
        parts = {int(k): str(out / PARTS_DIR / part_name(int(k))) for k in np.unique(chunks)}
        X = FeatureList(parts, chunks, manifest["frame_start"].to_numpy(np.int64),
                        manifest["n_frames"].to_numpy(np.int64), transform)
    except (OSError, ValueError) as exc:
        raise StoreError(f"{out}: cannot read the features ({exc})") from None
    return (X if mmap else list(X)), manifest


def part_name(chunk: int) -> str:
    """File name of chunk ``chunk``'s raw frames in a variable-length store's ``features/``."""
    return f"part-{chunk:06d}.npy"


def _statistics(out: Path, info: dict) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(out / STATS_FILE, allow_pickle=False) as z:
            if "mean" not in z.files:
                fit = info.get("statistics", {}).get("fit_on", "train")
                raise StoreError(f"{out}: no normalization statistics (no {fit} clip could be read); "
                                 "load with normalize=False for the raw features")
            return z["mean"], z["scale"]
    except (OSError, ValueError) as exc:
        raise StoreError(f"{out / STATS_FILE}: cannot read ({exc})") from None


def _load_v1(out: Path, info: dict, manifest, *, normalize: bool, stack: bool, mmap: bool):
    """A format-1 store: features.npy already normalized and stacked, returned as it is."""
    cfg = info.get("config", {})
    if (not normalize and cfg.get("normalize", "per_feature") != "none") or (not stack and int(cfg.get("stack", 1)) > 1):
        raise StoreError(f"{out}: a format-1 store (older kwscope) holds normalized, stacked features only; "
                         "rerun `kwscope features` with --overwrite for a raw store")
    try:
        flat = np.load(out / FEATURES_FILE, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StoreError(f"{out / FEATURES_FILE}: cannot read ({exc})") from None
    if info.get("fixed_length", True):
        if flat.shape[0] != len(manifest):
            raise StoreError(f"{out}: {FEATURES_FILE} has {flat.shape[0]} rows, the manifest {len(manifest)}")
        return flat
    starts = manifest["frame_start"].to_numpy(np.int64)
    counts = manifest["n_frames"].to_numpy(np.int64)
    return [flat[s:s + c] for s, c in zip(starts, counts)]


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
