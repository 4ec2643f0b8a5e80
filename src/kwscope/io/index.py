"""The dataset index (manifest): one row a recording, from headers only, for a dataset folder, a
manifest file (CSV/TSV/JSON lines/Parquet) or Hugging Face Parquet shards with the audio inside.

Columns: ``path`` (relative to DATA, ``/`` separators), ``label``, ``speaker``, ``take``, ``split``,
``category``, ``sample_rate`` (Hz), ``channels``, ``n_samples``, ``duration_s``, ``subtype``,
``format`` (the container by content), ``format_note`` (``"named .wav, holds MP4/AAC"`` or ""),
``size_bytes``, ``mtime_ns``, ``content_hash`` (of the size and the first and last 64 KiB,
:func:`kwscope.io.scan.content_hash`: what caches key on with size and mtime), ``status``
(``ok``/``error``), ``error`` (reason or ""), and where
the audio is: ``source`` (a Parquet shard, "" for a file) and ``source_row`` (its row there).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from .audio import AudioError, probe
from .detect import Detection, detect_layout, find_dataset_folder, long_recordings
from .formats import AUDIO_EXTENSIONS
from .layouts import FileKeys, check_split_percentages, make_layout
from .manifest_file import manifest_format, read_manifest, write_manifest
from .manifests import MANIFEST_SUFFIXES, is_manifest_file, manifest_category, read_manifest_rows, read_parquet_rows
from .parquet import find_shards
from .patterns import is_pattern
from .scan import (DatasetError, RemoteRoot, bytes_hash, content_hash, open_location, scan_audio_files, scan_folder,
                   size_mtime)
from .sources import AudioBytes, NoiseSlice, iter_shard_bytes, locate, open_rows
from .spec import LAYOUT_FILE, LayoutSpec, as_spec, read_layout_file

__all__ = ["DatasetError", "index_dataset", "scan_audio_files", "write_manifest", "read_manifest", "manifest_format",
           "MANIFEST_COLUMNS"]

MANIFEST_COLUMNS = [
    "path", "label", "speaker", "take", "split", "category", "sample_rate", "channels",
    "n_samples", "duration_s", "subtype", "format", "format_note", "size_bytes", "mtime_ns", "content_hash", "status",
    "error",
    "source", "source_row",
]
_DETECT_SAMPLE = 20000


@dataclass
class _Entries:
    """The rows before their headers are read."""

    base: str
    rels: list[str]
    keys: list[FileKeys | None]
    reasons: list[str | None]
    sources: list[str] | None = None
    source_rows: list[int] | None = None
    shard_mtimes: list | None = None
    attrs: dict = field(default_factory=dict)


def index_dataset(
    data: str | os.PathLike,
    *,
    layout: str | LayoutSpec = "auto",
    validation_percentage: float = 10.0,
    testing_percentage: float = 10.0,
    probe_headers: bool = True,
    stat: bool = True,
    content_hashes: bool = True,
) -> pd.DataFrame:
    """Index a dataset: one manifest row a recording, reading headers only.

    Parameters
    ----------
    data
        A dataset folder (a local path, a ``file://`` URL, or any fsspec URL when fsspec and that
        protocol's package are installed); a manifest file (``.csv``, ``.tsv``, ``.jsonl``,
        ``.json`` with one object a line, ``.parquet``); or a folder of Parquet shards (Hugging
        Face datasets, audio bytes included).
    layout
        ``auto``, a layout name (``speech-commands``, ``fsdd``, ``folders``), a path pattern
        (``{speaker}/{_}-{label}-{take}.wav``), or a :class:`~kwscope.io.spec.LayoutSpec` (with
        label renames, excluded folders and manifest columns). A ``kwscope.yaml`` in a DATA
        folder is read too; a layout given here wins over its ``layout``.
    validation_percentage, testing_percentage
        Speech Commands hash split percentages, used when the folder has no split lists.
    probe_headers
        Read each file's header (the default). False lists the files (path, layout keys, size,
        mtime) without opening them: the header columns stay empty and every file is ``ok`` --
        for callers that open every file anyway and fill those columns themselves.
    stat
        Read each file's size and mtime (the default; what caches key on). With
        ``probe_headers=False`` and ``stat=False`` only the folder walk and the layout remain.
    content_hashes
        With ``stat``, also read each file's :func:`~kwscope.io.scan.content_hash` (the default).
        False leaves the column empty, for a caller that hashes the files elsewhere (``features``
        does it on its worker pool).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MANIFEST_COLUMNS`. ``df.attrs`` holds ``root`` (an absolute path or the
        URL; a file row's location is :func:`kwscope.io.sources.locate` of root and path),
        ``layout`` (the name or pattern used), ``layout_evidence`` (why, in one line),
        ``layout_notes`` (doubts and overrides), ``data_kind`` (``folder``, ``manifest``,
        ``parquet``), ``dataset_folder`` and ``left_out`` (when the dataset is a subfolder of
        DATA), ``excluded``, ``unmatched``, ``audio_column`` (Parquet bytes). Broken files, and
        files the layout does not match, have ``status == "error"`` and a reason.

    Raises
    ------
    DatasetError
        When ``data`` is missing, neither a folder nor a manifest, or holds no recordings.
    LayoutError
        For an unknown layout name, a bad pattern, layout file or manifest, or split
        percentages that leave no training split (:func:`~kwscope.io.layouts.check_split_percentages`).
    """
    check_split_percentages(validation_percentage, testing_percentage)  # before any work
    spec = as_spec(layout)
    fs, root_str = open_location(data)
    common = dict(validation_percentage=validation_percentage, testing_percentage=testing_percentage)
    if fs is None:
        root = Path(root_str)
        if not root.exists():
            raise DatasetError(f"{data}: no such file or folder")
        if root.is_file():
            if not is_manifest_file(root):
                raise DatasetError(f"{data}: neither a folder nor a manifest ({', '.join(MANIFEST_SUFFIXES)})")
            entries = _manifest_entries(root, spec, **common)
        elif not root.is_dir():
            raise DatasetError(f"{data}: not a folder")
        else:
            spec = with_layout_file(root, spec)
            meta = _audiofolder_metadata(root) if spec.layout == "auto" else None
            if meta is not None:
                entries = _rows_entries(read_manifest_rows(meta, spec), spec, "manifest", **common)
                entries.attrs["layout_notes"].insert(0, f"read as a Hugging Face audiofolder: {meta.name} lists "
                                                        "the recordings (pass --layout to read the folders instead)")
            else:
                entries = _folder_entries(data, None, root_str, spec, **common)
    else:
        if not fs.isdir(root_str):
            raise DatasetError(f"{data}: no such folder")
        entries = _folder_entries(data, fs, root_str, spec, **common)
    df = _build(entries, fs, probe_headers=probe_headers, stat=stat, content_hashes=content_hashes)
    if spec.task:
        from .challenge import apply_task

        df = apply_task(df, **spec.task_settings())
    return df


def _audiofolder_metadata(root: Path) -> Path | None:
    """``metadata.csv``/``metadata.jsonl`` with a ``file_name`` column in DATA (Hugging Face
    ``audiofolder``): the manifest of the folder."""
    for name in ("metadata.csv", "metadata.jsonl"):
        path = root / name
        if not path.is_file():
            continue
        try:
            with open(path, encoding="utf-8-sig") as fh:
                first = fh.readline()
        except (OSError, UnicodeDecodeError):
            return None
        if (name.endswith(".csv") and "file_name" in [c.strip() for c in first.split(",")]) or \
                (name.endswith(".jsonl") and '"file_name"' in first):
            return path
    return None


def with_layout_file(root: Path, spec: LayoutSpec) -> LayoutSpec:
    """The DATA folder's ``kwscope.yaml`` under what the caller said (theirs wins)."""
    if spec.origin or not (root / LAYOUT_FILE).is_file():
        return spec
    return read_layout_file(root / LAYOUT_FILE).with_overrides(
        layout=spec.layout, columns=spec.columns, task=spec.task, task_options=spec.task_options,
        split_lists=spec.split_lists)


def _given(spec: LayoutSpec) -> str:
    return f"from {Path(spec.origin).name}" if spec.origin else "as given (--layout)"


def _folder_entries(data, fs, root_str: str, spec: LayoutSpec, **common) -> _Entries:
    scan = scan_folder(root_str, fs=fs, include_hidden=spec.include_hidden)
    relpaths, problems = scan.found, scan.problems
    attrs: dict = {"data_kind": "folder", "hidden_skipped": scan.hidden,
                   "not_walked": [{"path": p, "why": why} for p, why in scan.skipped]}
    if spec.exclude:
        kept = [r for r in relpaths if not spec.excluded(r)]
        attrs["excluded"] = len(relpaths) - len(kept)
        relpaths, problems = kept, [p for p in problems if not spec.excluded(p[0])]
    if fs is None and not relpaths and not problems:
        shards = find_shards(Path(root_str))
        if shards:
            return _parquet_entries(Path(root_str), shards, spec, **common)
    if not relpaths and not problems:
        raise DatasetError(f"{data}: no recordings found ({', '.join(sorted(AUDIO_EXTENSIONS))}, or Parquet shards)")
    base = str(Path(root_str).resolve()) if fs is None else os.fspath(data).rstrip("/")
    sub = ""
    if spec.layout == "auto" and fs is None:
        sub, left_out = find_dataset_folder(relpaths, lambda rel: size_mtime(None, f"{base}/{rel}")[0])
        if sub:
            relpaths = [r[len(sub) + 1:] for r in relpaths if r.startswith(sub + "/")]
            problems = [(p[len(sub) + 1:], why) for p, why in problems if p.startswith(sub + "/")]
            base = f"{base}/{sub}"
            root_str = f"{root_str.rstrip('/')}/{sub}"
            attrs.update(dataset_folder=sub, left_out=left_out)
    det = detect_layout(relpaths[:_DETECT_SAMPLE]) if spec.layout == "auto" else Detection(spec.layout, _given(spec))
    root = Path(root_str) if fs is None else RemoteRoot(fs, root_str)
    lay = make_layout(det.layout, root, **common)
    entries = sorted([(rel, None) for rel in relpaths] + problems) if problems else [(rel, None) for rel in relpaths]
    rels = [rel for rel, _ in entries]
    reasons = [problem for _, problem in entries]
    keys = [lay.keys(rel) if reason is None else None for rel, reason in entries]
    out = _Entries(base, rels, keys, reasons, attrs=attrs)
    _finish_keys(out, spec, det)
    out.attrs["layout_notes"].extend(scan.notes())
    if is_pattern(det.layout):
        _sort_by_label(out)
    return out


def _finish_keys(e: _Entries, spec: LayoutSpec, det: Detection) -> None:
    """Unmatched rows get their reason, labels their renames; the evidence goes into attrs."""
    unmatched = 0
    for i, k in enumerate(e.keys):
        if k is None and e.reasons[i] is None:
            e.reasons[i] = f"not matched by the layout {det.layout}"
            unmatched += 1
        elif k is not None and spec.labels:
            e.keys[i] = FileKeys(spec.rename(k.label), k.speaker, k.take, k.split, k.category)
    if spec.split_lists:
        _apply_split_lists(e, spec.split_lists)
    evidence = det.evidence
    if is_pattern(det.layout) and evidence.startswith(("as given", "from ")):
        n = len(e.keys)
        evidence = f"{det.layout}: {n - unmatched:,} of {n:,} paths match ({evidence})"
    notes = list(det.notes)
    if e.attrs.get("dataset_folder"):
        left = "; ".join(f"{d['folder']}/: {d['n_files']:,} files, {d['why']}" for d in e.attrs["left_out"])
        notes.insert(0, f"the dataset is the subfolder {e.attrs['dataset_folder']}/" + (f"; left out {left}" if left else ""))
    if e.attrs.get("excluded"):
        notes.append(f"{e.attrs['excluded']:,} files excluded ({', '.join(spec.exclude)})")
    if spec.labels:
        notes.append("labels renamed: " + ", ".join(f"{a} -> {b}" for a, b in spec.labels))
    if spec.split_lists:
        notes.append(f"splits from the lists in {spec.split_lists} ({e.attrs['split_lists_listed']:,} recordings "
                     "listed for validation/test, the others train)")
    e.attrs.update(layout=det.layout, layout_evidence=evidence, layout_notes=notes, unmatched=unmatched)


def _apply_split_lists(e: _Entries, folder: str) -> None:
    """Every speech row's split from the lists in ``folder`` (listed: validation/test, else train)."""
    from .layouts import read_split_lists

    listed = read_split_lists(Path(folder), required=True)
    hits = 0
    for i, k in enumerate(e.keys):
        if k is not None and k.category == "speech":
            split = listed.get(e.rels[i], "train")
            hits += split != "train"
            e.keys[i] = FileKeys(k.label, k.speaker, k.take, split, k.category)
    e.attrs["split_lists_listed"] = hits


def _sort_by_label(e: _Entries) -> None:
    """Rows grouped by label (the passes cut chunks at label changes), then by path or shard row."""
    def key(i):
        k = e.keys[i]
        label = k.label if k is not None else None
        where = (e.sources[i], e.source_rows[i]) if e.sources is not None else ("", 0)
        return (label is None, label or "", where, e.rels[i])

    order = sorted(range(len(e.rels)), key=key)
    for name in ("rels", "keys", "reasons", "sources", "source_rows", "shard_mtimes"):
        values = getattr(e, name)
        if values is not None:
            setattr(e, name, [values[i] for i in order])


def _manifest_entries(path: Path, spec: LayoutSpec, **common) -> _Entries:
    if path.suffix.lower() == ".parquet":
        own = _kwscope_attrs(path)
        if own is not None:
            return _rows_entries(_own_manifest_rows(path, own), spec, "manifest", **common)
        return _rows_entries(read_parquet_rows(path.parent, [path.name], spec), spec, "parquet", **common)
    return _rows_entries(read_manifest_rows(path, spec), spec, "manifest", **common)


def _parquet_entries(root: Path, shards: list[str], spec: LayoutSpec, **common) -> _Entries:
    return _rows_entries(read_parquet_rows(root, shards, spec), spec, "parquet", **common)


def _kwscope_attrs(path: Path) -> dict | None:
    """The attrs of a manifest ``kwscope index`` wrote, when its DATA folder is still there."""
    try:
        meta = (pq.read_schema(path).metadata or {}).get(b"kwscope")
        attrs = json.loads(meta) if meta else None
    except Exception:
        return None
    if not isinstance(attrs, dict) or not isinstance(attrs.get("root"), str) or not Path(attrs["root"]).is_dir():
        return None
    return attrs


def _own_manifest_rows(path: Path, attrs: dict):
    """A kwscope manifest read back: its paths (and shard rows) are relative to the DATA it indexed."""
    from .manifests import ManifestRows, _clean

    df = read_manifest(path)
    col = {c: df[c].astype(object).where(df[c].notna(), None).tolist() if c in df.columns else None
           for c in ("label", "speaker", "take", "split", "source", "source_row", "category")}
    sources = col["source"] if col["source"] and any(col["source"]) else None
    return ManifestRows(Path(attrs["root"]), df["path"].astype(str).tolist(),
                        _clean({c: col[c] for c in ("label", "speaker", "take", "split")}), [None] * len(df),
                        sources=[s or "" for s in sources] if sources else None,
                        source_rows=[int(r) if r is not None else -1 for r in col["source_row"]] if sources else None,
                        audio_column=attrs.get("audio_column"), categories=col["category"],
                        evidence=f"kwscope manifest {path.name}: {len(df):,} rows of {attrs['root']}")


def _rows_entries(rows, spec: LayoutSpec, kind: str, **common) -> _Entries:
    """Manifest rows -> entries: the manifest's columns, and the layout applied to the paths for
    what it lacks (a pattern given, or ``auto`` when there is no label column)."""
    n = len(rows.paths)
    if n == 0:
        raise DatasetError(f"{rows.root}: the manifest lists no recordings")
    det = Detection("manifest", rows.evidence, list(rows.notes))
    path_keys: list[FileKeys | None] | None = None
    if spec.layout != "auto" or rows.values["label"] is None:
        guess = detect_layout(rows.paths[:_DETECT_SAMPLE]) if spec.layout == "auto" else Detection(spec.layout, _given(spec))
        lay = make_layout(guess.layout, rows.root, **common)
        path_keys = [lay.keys(p) for p in rows.paths]
        matched = sum(1 for k in path_keys if k is not None)
        det = Detection(guess.layout, f"{rows.evidence}; paths read as {guess.layout}: "
                                      f"{matched:,} of {n:,} match ({guess.evidence})", list(rows.notes) + guess.notes)
    keys: list[FileKeys | None] = []
    v = rows.values
    for i in range(n):
        pk = path_keys[i] if path_keys is not None else None
        if path_keys is not None and pk is None and v["label"] is None:
            keys.append(None)
            continue
        label = v["label"][i] if v["label"] is not None else (pk.label if pk else None)
        speaker = v["speaker"][i] if v["speaker"] is not None else (pk.speaker if pk else None)
        take = v["take"][i] if v["take"] is not None else (pk.take if pk else None)
        split = v["split"][i] if v["split"] is not None else (pk.split if pk else None)
        given = rows.categories[i] if rows.categories is not None else None
        category = manifest_category(given, label) or (pk.category if pk else "speech")
        keys.append(FileKeys(label, speaker, take, split, category))
    e = _Entries(str(rows.root), list(rows.paths), keys, list(rows.reasons), rows.sources, rows.source_rows,
                 rows.mtimes, attrs={"data_kind": kind, "audio_column": rows.audio_column})
    _finish_keys(e, spec, det)
    _sort_by_label(e)
    return e


def _build(e: _Entries, fs, *, probe_headers: bool, stat: bool, content_hashes: bool = True) -> pd.DataFrame:
    """Read sizes and headers, set long recordings apart, and make the frame."""
    n = len(e.rels)
    sizes: list = [None] * n
    mtimes: list = [None] * n
    hashes: list = [None] * n
    infos: list = [None] * n
    reasons = e.reasons
    byte_rows = e.sources is not None
    manifest = e.attrs.get("data_kind") != "folder"
    for i, rel in enumerate(e.rels):
        if reasons[i] is not None or (byte_rows and e.sources[i]):
            continue
        full = locate(e.base, rel)
        if stat or probe_headers:
            sizes[i], mtimes[i] = size_mtime(fs, full)
            if manifest and sizes[i] is None and not os.path.exists(full):
                reasons[i] = "file not found (listed in the manifest)"
                continue
            if content_hashes:
                hashes[i] = content_hash(fs, full)
        if probe_headers:
            try:
                infos[i] = probe(full)
            except AudioError as exc:
                reasons[i] = exc.reason
    if byte_rows:
        _probe_bytes(e, sizes, mtimes, infos, probe_headers, hashes)
    keys = e.keys
    categories = [k.category if k is not None else "speech" for k in keys]
    durations = np.array([info.duration_s if info else np.nan for info in infos], float)
    size_arr = np.array([s if s is not None else np.nan for s in sizes], float)
    speech = np.array([c == "speech" and r is None for c, r in zip(categories, reasons)])
    if speech.any():
        long_mask, why = long_recordings(durations[speech], size_arr[speech])
        if long_mask.any():
            for i in np.flatnonzero(speech)[long_mask]:
                categories[i] = "long_recording"
            e.attrs["long_recordings"] = why
            e.attrs.setdefault("layout_notes", []).append(
                f"{int(long_mask.sum()):,} recordings far longer than the rest ({why}) set apart as long_recording")
    # Column by column: a per-row loop of appends cost as much as the folder walk.
    cols: dict[str, list] = {
        "path": e.rels, "label": [k.label if k else None for k in keys],
        "speaker": [k.speaker if k else None for k in keys], "take": [k.take if k else None for k in keys],
        "split": [k.split if k else None for k in keys], "category": categories,
        "size_bytes": sizes, "mtime_ns": mtimes, "content_hash": hashes,
        "sample_rate": [info.sample_rate if info else None for info in infos],
        "channels": [info.channels if info else None for info in infos],
        "n_samples": [info.n_samples if info else None for info in infos],
        "duration_s": durations.tolist(),
        "subtype": [info.subtype if info else None for info in infos],
        "format": [info.format if info else None for info in infos],
        "format_note": [info.format_note if info else "" for info in infos],
        "status": ["ok" if reason is None else "error" for reason in reasons],
        "error": [reason or "" for reason in reasons],
        "source": e.sources if byte_rows else [""] * n,
        "source_row": [r if r is not None and r >= 0 else None for r in e.source_rows] if byte_rows else [None] * n,
    }
    df = _frame(cols)
    df.attrs.update({k: v for k, v in e.attrs.items() if v is not None})
    df.attrs["root"] = e.base
    return df


def _probe_bytes(e: _Entries, sizes: list, mtimes: list, infos: list, probe_headers: bool, hashes: list) -> None:
    """Byte rows: the shard's mtime, and (probing) each row's size and header, a shard's row
    groups read in turn."""
    column = e.attrs.get("audio_column") or "audio"
    where: dict[str, dict[int, int]] = {}
    slices = []
    for i, shard in enumerate(e.sources):
        if shard.startswith(NoiseSlice.PREFIX):  # a task's _silence_ row read back from a manifest
            slices.append(i)
        elif shard and e.reasons[i] is None:
            where.setdefault(shard, {})[e.source_rows[i]] = i
            mtimes[i] = e.shard_mtimes[i] if e.shard_mtimes else None
    if not probe_headers:
        return
    for i, loc in zip(slices, open_rows(e.base, [e.rels[i] for i in slices], [e.sources[i] for i in slices])):
        try:
            if isinstance(loc, AudioError):
                raise loc
            sizes[i], infos[i] = len(loc.data), probe(loc)
        except AudioError as exc:
            e.reasons[i] = exc.reason
    for shard, rows in where.items():
        for row, data in iter_shard_bytes(e.base, shard, column):
            i = rows.get(row)
            if i is None:
                continue
            if not data:
                e.reasons[i] = f"row {row} of {shard} holds no audio bytes"
                continue
            sizes[i] = len(data)
            hashes[i] = bytes_hash(data)
            try:
                infos[i] = probe(AudioBytes(data, e.rels[i]))
            except AudioError as exc:
                e.reasons[i] = exc.reason


def _frame(cols: dict[str, list]) -> pd.DataFrame:
    df = pd.DataFrame(cols, columns=MANIFEST_COLUMNS)
    for c in ("take", "sample_rate", "channels", "n_samples", "size_bytes", "mtime_ns", "source_row"):
        df[c] = pd.array(cols[c], dtype="Int64")
    df["duration_s"] = df["duration_s"].astype("float64")
    return df
