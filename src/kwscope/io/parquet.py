"""Parquet datasets: one file, or a folder of shards (Hugging Face's ``data/train-00000-of-00001.parquet``
or ``default/train/0000.parquet``), with the split in the shard's name, ``ClassLabel`` numbers
turned back into names, and an ``audio`` column of ``{bytes, path}`` structs read without the bytes."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .patterns import SPLIT_ALIASES

__all__ = ["ParquetShard", "find_shards", "shard_split", "read_shard", "audio_struct_columns"]

_SHARD_SPLIT = re.compile(r"^(?P<split>[A-Za-z]+)(?:[-_.]|$)")


@dataclass
class ParquetShard:
    """One shard read without its audio bytes: ``columns`` (name -> list of values), ``n_rows``,
    the audio struct column (if any) with its ``path`` field, and the shard's split."""

    relpath: str  # relative to the dataset root, "/" separators
    n_rows: int
    columns: dict[str, list] = field(default_factory=dict)
    audio_column: str | None = None
    audio_paths: list | None = None
    split: str | None = None
    mtime_ns: int | None = None
    sampling_rate: int | None = None  # what the Audio feature says, if it does


def find_shards(folder: Path) -> list[str]:
    """The ``*.parquet`` regular files under ``folder`` (relative, sorted); hidden ones are skipped."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = os.path.relpath(dirpath, folder)
        for f in filenames:
            # only regular files: reading a named pipe called x.parquet would wait forever
            if f.lower().endswith(".parquet") and not f.startswith(".") and os.path.isfile(os.path.join(dirpath, f)):
                out.append(f if rel == "." else f"{rel.replace(os.sep, '/')}/{f}")
    return sorted(out)


def shard_split(relpath: str) -> str | None:
    """The split a shard's name says: ``train-00000-of-00001.parquet`` -> train,
    ``default/validation/0000.parquet`` -> validation, ``test.parquet`` -> test; None otherwise."""
    parts = relpath.split("/")
    m = _SHARD_SPLIT.match(parts[-1])
    if m and m["split"].lower() in SPLIT_ALIASES:
        return SPLIT_ALIASES[m["split"].lower()]
    for folder in reversed(parts[:-1]):
        if folder.lower() in SPLIT_ALIASES:
            return SPLIT_ALIASES[folder.lower()]
    return None


def audio_struct_columns(schema) -> list[str]:
    """Columns that are ``struct<bytes: binary, path: string>`` (Hugging Face ``Audio``)."""
    import pyarrow as pa

    out = []
    for f in schema:
        if pa.types.is_struct(f.type):
            names = {f.type.field(i).name for i in range(f.type.num_fields)}
            if "bytes" in names and (pa.types.is_binary(f.type.field("bytes").type)
                                     or pa.types.is_large_binary(f.type.field("bytes").type)):
                out.append(f.name)
    return out


def _hf_features(schema) -> dict:
    meta = (schema.metadata or {}).get(b"huggingface")
    if not meta:
        return {}
    try:
        info = json.loads(meta)
    except ValueError:
        return {}
    feats = (info.get("info") or {}).get("features") or {}
    return feats if isinstance(feats, dict) else {}


def read_shard(root: Path, relpath: str) -> ParquetShard:
    """Read a shard's scalar columns and its audio column's ``path`` field (never the bytes).

    ``ClassLabel`` columns (Hugging Face metadata) come back as their names; nested columns
    other than the audio struct are left out.

    Raises
    ------
    OSError, ValueError
        The file cannot be read as Parquet (the caller words it).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    full = root / relpath
    pf = pq.ParquetFile(full)
    schema = pf.schema_arrow
    audio_cols = audio_struct_columns(schema)
    audio = "audio" if "audio" in audio_cols else (audio_cols[0] if audio_cols else None)
    scalar = [f.name for f in schema if not pa.types.is_nested(f.type) and not pa.types.is_binary(f.type)
              and not pa.types.is_large_binary(f.type)]
    cols = list(scalar)
    audio_has_path = False
    if audio is not None:
        audio_has_path = any(schema.field(audio).type.field(i).name == "path"
                             for i in range(schema.field(audio).type.num_fields))
        if audio_has_path:
            cols.append(f"{audio}.path")
    table = pf.read(columns=cols) if cols else None
    n_rows = pf.metadata.num_rows
    feats = _hf_features(schema)
    columns: dict[str, list] = {}
    for name in scalar:
        values = table.column(name).to_pylist()
        names = (feats.get(name) or {}).get("names") if (feats.get(name) or {}).get("_type") == "ClassLabel" else None
        if names:
            values = [names[v] if isinstance(v, int) and 0 <= v < len(names) else v for v in values]
        columns[name] = values
    paths = None
    if audio is not None and audio_has_path:
        paths = table.column(audio).combine_chunks().field("path").to_pylist()
    rate = (feats.get(audio) or {}).get("sampling_rate") if audio else None
    try:
        mtime = os.stat(full).st_mtime_ns
    except OSError:
        mtime = None
    return ParquetShard(relpath, n_rows, columns, audio, paths, shard_split(relpath), mtime,
                        int(rate) if isinstance(rate, int) else None)
