"""The dataset index (manifest): one row a file, from headers only.

Columns: ``path`` (relative to DATA, ``/`` separators), ``label``, ``speaker``, ``take``, ``split``,
``category``, ``sample_rate`` (Hz), ``channels``, ``n_samples``, ``duration_s``, ``subtype``,
``format``, ``size_bytes``, ``mtime_ns``, ``status`` (``ok``/``error``), ``error`` (reason or "").
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .audio import AUDIO_EXTENSIONS, AudioError, display_path, is_url, local_path, probe
from .layouts import LAYOUTS, LayoutError, detect_layout, make_layout

__all__ = ["DatasetError", "index_dataset", "scan_audio_files", "write_manifest", "read_manifest", "MANIFEST_COLUMNS"]

MANIFEST_COLUMNS = [
    "path", "label", "speaker", "take", "split", "category", "sample_rate", "channels",
    "n_samples", "duration_s", "subtype", "format", "size_bytes", "mtime_ns", "status", "error",
]


class DatasetError(LayoutError):
    """DATA is not a usable dataset folder (missing, not a folder, no recordings)."""


def _is_audio_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def _open_location(data: str | os.PathLike):
    """``(fs, root)``: ``fs`` is None for a local folder, else the fsspec filesystem of a URL."""
    data = local_path(data)
    if not is_url(data):
        return None, data
    try:
        import fsspec
    except ImportError:
        raise DatasetError(f"{data}: URLs need fsspec: pip install 'kwscope[dask]'") from None
    try:
        fs, root = fsspec.core.url_to_fs(data)
    except (ImportError, ValueError) as exc:  # unknown protocol, or its package is missing
        raise DatasetError(f"{data}: {exc}") from None
    return fs, root


def _walk(fs, root: str):
    if fs is None:
        yield from os.walk(root, followlinks=False)
    else:
        yield from fs.walk(root)


def scan_audio_files(root: str | os.PathLike, *, fs=None) -> tuple[list[str], list[tuple[str, str]]]:
    """Walk ``root`` and return ``(relpaths, problems)``, both sorted.

    ``relpaths`` are audio files relative to root with ``/`` separators. ``fs`` is an fsspec
    filesystem for remote roots (None: the local filesystem). ``problems`` are
    ``(relpath, reason)`` for entries that look like recordings but cannot be one (a directory
    named ``x.wav``, a name that is not valid UTF-8). Symbolic links to folders are not followed
    (no loops); links to files are kept and fail at read time if dangling or looping.
    """
    root = os.fspath(root)
    found: list[str] = []
    problems: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in _walk(fs, root):
        if fs is None:
            rel_dir = os.path.relpath(dirpath, root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        else:
            rel_dir = dirpath[len(root.rstrip("/")):].strip("/")
            rel_dir = rel_dir + "/" if rel_dir else ""
        dirnames.sort()
        for d in dirnames:
            if _is_audio_name(d):
                problems.append((display_path(rel_dir + d), "is a directory, not a recording"))
        for f in filenames:
            if not _is_audio_name(f):
                continue
            rel = rel_dir + f
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                problems.append((display_path(rel), "file name is not valid UTF-8 (rename it to read it)"))
                continue
            found.append(rel)
    found.sort()
    problems.sort()
    return found, problems


def index_dataset(
    data: str | os.PathLike,
    *,
    layout: str = "auto",
    validation_percentage: float = 10.0,
    testing_percentage: float = 10.0,
    probe_headers: bool = True,
    stat: bool = True,
) -> pd.DataFrame:
    """Index a dataset folder: one manifest row a recording, reading headers only.

    Parameters
    ----------
    data
        The dataset folder: a local path, a ``file://`` URL, or any fsspec URL (``s3://...``,
        ``memory://...``) when fsspec and that protocol's package are installed.
    layout
        ``auto`` or one of ``speech-commands``, ``fsdd``, ``folders``.
    validation_percentage, testing_percentage
        Speech Commands hash split percentages, used when the folder has no split lists.
    probe_headers
        Read each file's header (the default). False lists the files (path, layout keys, size,
        mtime) without opening them: the header columns stay empty and every file is ``ok`` --
        for callers that open every file anyway and fill those columns themselves.
    stat
        Read each file's size and mtime (the default; what caches key on). With
        ``probe_headers=False`` and ``stat=False`` only the folder walk and the layout remain.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MANIFEST_COLUMNS`; ``df.attrs`` holds ``layout`` and ``root`` (an absolute
        path, or the URL); a file's location is ``f"{root}/{path}"``.
        Broken files have ``status == "error"`` and a reason; they never stop the scan.

    Raises
    ------
    DatasetError
        When ``data`` is not a folder or holds no recordings.
    LayoutError
        For an unknown layout name.
    """
    fs, root_str = _open_location(data)
    if layout != "auto" and layout not in LAYOUTS:
        raise LayoutError(f"unknown layout {layout!r}; choose auto or one of {', '.join(LAYOUTS)}")
    if fs is None:
        root = Path(root_str)
        if not root.exists():
            raise DatasetError(f"{data}: no such folder")
        if not root.is_dir():
            raise DatasetError(f"{data}: not a folder")
        base = str(root.resolve())
    else:
        if not fs.isdir(root_str):
            raise DatasetError(f"{data}: no such folder")
        root = _RemoteRoot(fs, root_str)
        base = os.fspath(data).rstrip("/")
    relpaths, problems = scan_audio_files(root_str, fs=fs)
    if not relpaths and not problems:
        raise DatasetError(f"{data}: no recordings found ({', '.join(sorted(AUDIO_EXTENSIONS))})")
    chosen = detect_layout(relpaths[:20000]) if layout == "auto" else layout
    lay = make_layout(
        chosen, root, validation_percentage=validation_percentage, testing_percentage=testing_percentage
    )

    entries = sorted([(rel, None) for rel in relpaths] + problems) if problems else [(rel, None) for rel in relpaths]
    n = len(entries)
    rels = [rel for rel, _ in entries]
    keys = [lay.keys(rel) for rel in rels]
    reasons = [problem for _, problem in entries]
    sizes: list = [None] * n
    mtimes: list = [None] * n
    infos: list = [None] * n
    for i, rel in enumerate(rels):
        if reasons[i] is not None:
            continue
        full = f"{base}/{rel}"
        if stat or probe_headers:
            sizes[i], mtimes[i] = _size_mtime(fs, full if fs is None else f"{root_str}/{rel}")
        if probe_headers:
            try:
                infos[i] = probe(full)
            except AudioError as exc:
                reasons[i] = exc.reason
    # Column by column: a per-row loop of appends cost as much as the folder walk.
    cols: dict[str, list] = {
        "path": rels, "label": [k.label for k in keys], "speaker": [k.speaker for k in keys],
        "take": [k.take for k in keys], "split": [k.split for k in keys],
        "category": [k.category for k in keys], "size_bytes": sizes, "mtime_ns": mtimes,
        "sample_rate": [info.sample_rate if info else None for info in infos],
        "channels": [info.channels if info else None for info in infos],
        "n_samples": [info.n_samples if info else None for info in infos],
        "duration_s": [info.duration_s if info else np.nan for info in infos],
        "subtype": [info.subtype if info else None for info in infos],
        "format": [info.format if info else None for info in infos],
        "status": ["ok" if reason is None else "error" for reason in reasons],
        "error": [reason or "" for reason in reasons],
    }
    df = _frame(cols)
    df.attrs["layout"] = chosen
    df.attrs["root"] = base
    return df


def _size_mtime(fs, path: str) -> tuple[int | None, int | None]:
    """Size in bytes and modification time in ns (None when the filesystem does not say)."""
    try:
        if fs is None:
            st = os.stat(path)
            return st.st_size, st.st_mtime_ns
        info = fs.info(path)
    except (OSError, ValueError):
        return None, None
    mtime = info.get("mtime") or info.get("LastModified") or info.get("created")
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    return info.get("size"), int(float(mtime) * 1e9) if mtime is not None else None


class _RemoteRoot:
    """What a layout needs of a remote root: ``root / "validation_list.txt"`` readable as text."""

    def __init__(self, fs, path: str):
        self.fs, self.path = fs, path.rstrip("/")

    def __truediv__(self, name: str) -> "_RemotePath":
        return _RemotePath(self.fs, f"{self.path}/{name}")


class _RemotePath:
    def __init__(self, fs, path: str):
        self.fs, self.path = fs, path

    def is_file(self) -> bool:
        return self.fs.isfile(self.path)

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.fs.cat_file(self.path).decode(encoding, errors)


def _frame(cols: dict[str, list]) -> pd.DataFrame:
    df = pd.DataFrame(cols, columns=MANIFEST_COLUMNS)
    for c in ("take", "sample_rate", "channels", "n_samples", "size_bytes", "mtime_ns"):
        df[c] = pd.array(cols[c], dtype="Int64")
    df["duration_s"] = df["duration_s"].astype("float64")
    return df


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a manifest to Parquet atomically (temporary file, then rename); keeps ``attrs``."""
    path = Path(path)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"kwscope"] = json.dumps(df.attrs, default=str).encode()
    table = table.replace_schema_metadata(meta)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest` (plain pyarrow/pandas works too)."""
    table = pq.read_table(path)
    df = table.to_pandas()
    meta = (table.schema.metadata or {}).get(b"kwscope")
    if meta:
        df.attrs.update(json.loads(meta))
    return df
