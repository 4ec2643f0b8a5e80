"""The analysis's two caches beside the per-chunk profiles: the dataset index (reused when no file
changed) and the finished :class:`~kwscope.analysis.exploration.Exploration` (reused when nothing
at all changed). Both are opt-in (a ``cache_dir``); a damaged, read-only or full cache never stops
the analysis.

The rule, for every kwscope cache: a file is unchanged when its path, size, mtime *and* content
hash (:func:`kwscope.io.scan.content_hash`: the size and the first and last 64 KiB, so all of a
keyword clip) are; a file rewritten with size and mtime kept (``cp -p``, ``rsync -t``) is read
again. Entries carry a checksum of their bytes and are verified when read; a damaged one is
recomputed."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import pandas as pd

from ..io.audio import is_url
from ..io.index import index_dataset, read_manifest, with_layout_file, write_manifest
from ..io.parquet import find_shards
from ..io.scan import content_hash, scan_folder
from ..io.spec import LAYOUT_FILE, as_spec
from .exploration import Exploration

__all__ = ["cached_index", "result_path", "load_result", "store_result"]


_MANIFEST_CACHE = "manifests-v3"
_SPLIT_LISTS = ("validation_list.txt", "testing_list.txt", LAYOUT_FILE, "metadata.csv", "metadata.jsonl")


def cached_index(data, *, layout="auto", cache_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """:func:`kwscope.index_dataset`, reused from ``cache_dir`` when nothing changed.

    The key is the folder, the layout (a name, pattern or spec), what the walk left out, every
    recording's relative path with its size, mtime and content hash (one ``stat`` and one read
    of up to 128 KiB each) and the split lists' and ``kwscope.yaml``'s size and mtime; any
    difference re-indexes the folder (reading every header again). Without ``cache_dir``, for a URL or a manifest file, it is
    ``index_dataset(data, layout=layout)``.
    """
    if cache_dir is None or is_url(os.fspath(data)) or not Path(data).is_dir():
        return index_dataset(data, layout=layout)
    root = Path(data).resolve()
    scan = scan_folder(root, include_hidden=with_layout_file(root, as_spec(layout)).include_hidden)
    relpaths = scan.found
    if not relpaths:  # a folder of Parquet shards: their sizes, mtimes and hashes are the key
        relpaths = find_shards(root)
    h = hashlib.sha256(json.dumps([_MANIFEST_CACHE, str(root), as_spec(layout).key(), scan.problems, scan.skipped,
                                   scan.hidden]).encode())
    for rel in relpaths + list(_SPLIT_LISTS):
        try:
            st = os.stat(root / rel)
            digest = content_hash(None, str(root / rel))
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{digest}\n".encode())
        except OSError:
            h.update(f"{rel}\0-\n".encode())
    path = Path(cache_dir) / _MANIFEST_CACHE / f"{h.hexdigest()}.parquet"
    check = path.with_suffix(".sha256")
    if path.is_file():
        try:
            if check.read_text(encoding="ascii") == _file_digest(path):
                return read_manifest(path)
        except Exception:  # a damaged or unverifiable cache entry: index again
            pass
    manifest = index_dataset(data, layout=layout)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_manifest(manifest, path)
        check.write_text(_file_digest(path), encoding="ascii")
    except OSError:
        pass  # a read-only or full cache never stops the analysis
    return manifest


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_RESULT_CACHE = "results-v2"


def result_path(cache_dir, manifest: pd.DataFrame, plan, params: dict) -> Path:
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


def load_result(path: Path) -> Exploration | None:
    # A pickle: the cache folder must be as trusted as the user's own files (it is the user's).
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
        digest, body = data[:32], data[32:]
        if hashlib.sha256(body).digest() != digest:  # damaged (truncated, bit rot): recompute
            return None
        result = pickle.loads(body)
        return result if isinstance(result, Exploration) else None
    except Exception:  # unreadable or from another version: recompute
        return None


def store_result(path: Path, result: Exploration) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        body = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        with open(tmp, "wb") as fh:  # its checksum first: load_result verifies it
            fh.write(hashlib.sha256(body).digest())
            fh.write(body)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache never stops the analysis
