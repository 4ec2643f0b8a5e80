"""kwscope's own manifest file: :func:`write_manifest` (Parquet with every column and the layout's
evidence, or CSV / JSON lines with paths relative to the manifest) and :func:`read_manifest`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import KwscopeError
from .sources import locate

__all__ = ["WRITE_SUFFIXES", "manifest_format", "write_manifest", "read_manifest"]

#: The manifest formats :func:`write_manifest` writes, by the file's suffix.
WRITE_SUFFIXES = (".parquet", ".csv", ".jsonl", ".json")


def manifest_format(path: str | os.PathLike) -> str:
    """The suffix naming the format :func:`write_manifest` writes to ``path`` (``.parquet`` when
    it has none). Raises KwscopeError for one it does not write (``.tsv`` cannot quote a tab or
    a newline in a file name)."""
    suffix = Path(path).suffix.lower() or ".parquet"
    if suffix not in WRITE_SUFFIXES:
        raise KwscopeError(f"{path}: a manifest is written as {', '.join(WRITE_SUFFIXES)}; not {suffix}")
    return suffix


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a manifest atomically (temporary file, then rename), in the format its suffix names.

    ``.parquet`` (or no suffix): kwscope's own, every column and ``attrs`` (the layout and its
    evidence) kept. ``.csv`` / ``.jsonl`` / ``.json`` (one object a line): every column, the
    paths relative to the manifest's folder (how a manifest is read), the ``attrs`` left out.

    Raises
    ------
    KwscopeError
        Another suffix (:func:`manifest_format`), or a text format for rows held in Parquet shards.
    """
    path = Path(path)
    suffix = manifest_format(path)
    if suffix != ".parquet" and "source" in df.columns and bool((df["source"].fillna("") != "").any()):
        raise KwscopeError(f"{path}: recordings held in Parquet shards are listed in a .parquet manifest only")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if suffix == ".parquet":
            table = pa.Table.from_pandas(df, preserve_index=False)
            meta = dict(table.schema.metadata or {})
            meta[b"kwscope"] = json.dumps(df.attrs, default=str).encode()
            pq.write_table(table.replace_schema_metadata(meta), tmp)
        else:
            _write_text_manifest(df, tmp, path, suffix)
        os.replace(tmp, path)
    except BaseException:  # a full disk, a Ctrl-C: no partial file left behind
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_text_manifest(df: pd.DataFrame, tmp: Path, path: Path, suffix: str) -> None:
    """CSV or JSON lines, each row's path relative to ``path``'s folder (absolute for a root that
    is not local, or a path on another drive)."""
    root = df.attrs.get("root")
    here = os.path.dirname(os.path.abspath(path))
    out = df.copy()
    if root and "://" not in str(root):
        def rel(p):
            full = locate(root, p)
            try:
                return os.path.relpath(full, here).replace(os.sep, "/")
            except ValueError:
                return full
        out["path"] = [rel(p) for p in df["path"].tolist()]
    if suffix == ".csv":
        out.to_csv(tmp, index=False, lineterminator="\n")
    else:
        out.to_json(tmp, orient="records", lines=True, force_ascii=False)


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest` (plain pyarrow/pandas works too)."""
    table = pq.read_table(path)
    df = table.to_pandas()
    meta = (table.schema.metadata or {}).get(b"kwscope")
    if meta:
        df.attrs.update(json.loads(meta))
    return df
