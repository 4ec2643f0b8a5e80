"""Manifest inputs: DATA as a CSV, TSV, JSON-lines or Parquet file (or a folder of Parquet shards),
its columns found by their usual names (or ``--columns``), read into one entry a recording.

Text from a manifest is data: paths are only ever opened as files (URLs are refused), relative
ones resolve against the manifest's folder, and a missing file is an error row, not a crash.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .layouts import BACKGROUND_NOISE
from .patterns import LayoutError, normalize_split
from .spec import LayoutSpec
from .urls import is_url

__all__ = ["MANIFEST_SUFFIXES", "COLUMN_NAMES", "CATEGORIES", "ManifestRows", "is_manifest_file",
           "read_manifest_rows", "read_parquet_rows", "manifest_category"]

#: File suffixes DATA may have to be read as a manifest.
MANIFEST_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
#: Usual column names of each role, most specific first (matched case-insensitively).
COLUMN_NAMES = {
    "path": ("path", "file", "filename", "audio_filepath", "file_name", "filepath", "audio_path", "audio", "wav"),
    "label": ("label", "command", "word", "keyword", "text", "class", "transcript", "sentence"),
    "speaker": ("speaker", "speaker_id", "client_id", "spk", "spk_id", "speakerid"),
    "split": ("split", "set", "subset", "partition"),
    "take": ("take", "utterance_id", "utterance", "take_id"),
}


#: The values of the ``category`` column of kwscope's own manifests, taken from a manifest as they
#: are; any other value there (a user's own column of that name) is not read as one.
CATEGORIES = ("speech", "background_noise", "long_recording")


def manifest_category(given, label: str | None) -> str | None:
    """A manifest row's category: its ``category`` column when that holds one of
    :data:`CATEGORIES`, else ``background_noise`` for the label ``_background_noise_`` (as the
    folder layouts read that folder), else None (the layout of its path decides, or speech)."""
    if isinstance(given, str) and given.strip() in CATEGORIES:
        return given.strip()
    return "background_noise" if label == BACKGROUND_NOISE else None


def _category_column(columns: list[str]) -> str | None:
    return next((c for c in columns if c.strip().lower() == "category"), None)


class ManifestError(LayoutError):
    """A manifest file that cannot be used (unreadable, no path column, ...)."""


@dataclass
class ManifestRows:
    """A manifest read: per row the path as written (``/`` separators) and the values of the
    columns found (``None`` lists for roles without a column); byte rows also have their shard
    and row number. ``root`` is the folder that relative paths resolve against."""

    root: Path
    paths: list[str]
    values: dict[str, list | None]
    reasons: list[str | None]
    sources: list[str] | None = None
    source_rows: list[int] | None = None
    audio_column: str | None = None
    mtimes: list[int | None] | None = None  # of the shard, for byte rows
    evidence: str = ""
    notes: list[str] = field(default_factory=list)
    categories: list | None = None  # the ``category`` column as written (see manifest_category)


def is_manifest_file(path: Path) -> bool:
    """True for a file DATA names as a manifest (by its suffix)."""
    return path.suffix.lower() in MANIFEST_SUFFIXES


def _choose(columns: list[str], spec: LayoutSpec, name: str) -> dict[str, str]:
    """Role -> column: ``--columns`` first (it must exist), else the usual names."""
    chosen: dict[str, str] = {}
    lower = {c.lower(): c for c in columns}
    for role, column in spec.column_map().items():
        if column not in columns:
            raise ManifestError(f"{name}: --columns {role}={column}: no column {column!r} "
                                f"(columns: {', '.join(columns[:12])}{', ...' if len(columns) > 12 else ''})")
        chosen[role] = column
    for role, names in COLUMN_NAMES.items():
        if role in chosen:
            continue
        for n in names:
            if n in lower and lower[n] not in chosen.values():
                chosen[role] = lower[n]
                break
    return chosen


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v != v:
        return None
    s = str(v).strip()
    return s or None


def _take(v) -> int | None:
    s = _text(v)
    return int(s) if s is not None and s.isdigit() else None


def _read_table(path: Path) -> tuple[list[str], list[dict]]:
    """``(columns, rows)`` of a CSV/TSV/JSON-lines file, every value as read (strings for CSV)."""
    name = path.name
    suffix = path.suffix.lower()
    try:
        # newline="": a quoted CSV field may hold CR LF (a label, a file name); the csv module
        # splits the records itself
        with open(path, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if suffix in (".csv", ".tsv"):
        # TSVs (Common Voice) quote nothing: sentences with quotes stay as written.
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",",
                                quoting=csv.QUOTE_NONE if suffix == ".tsv" else csv.QUOTE_MINIMAL)
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise ManifestError(f"{path}: line {reader.line_num}: {exc}") from None
        return [c for c in (reader.fieldnames or []) if c is not None], rows
    rows = []
    stripped = text.lstrip()
    if suffix == ".json" and stripped.startswith("["):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ManifestError(f"{path}: not valid JSON ({exc})") from None
        if not all(isinstance(r, dict) for r in doc):
            raise ManifestError(f"{path}: a JSON list of objects (one a recording) was expected")
        rows = doc
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise ManifestError(f"{name}: line {n} is not JSON (one object a line is expected)") from None
            if not isinstance(obj, dict):
                raise ManifestError(f"{name}: line {n} is not a JSON object")
            rows.append(obj)
    columns: dict[str, None] = {}
    for r in rows:
        for k in r:
            columns.setdefault(str(k), None)
    return list(columns), rows


def _normalize_path(p: str) -> str:
    p = p.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p


def read_manifest_rows(path: Path, spec: LayoutSpec) -> ManifestRows:
    """Read a CSV/TSV/JSON-lines manifest (Parquet: :func:`read_parquet_rows`).

    Raises
    ------
    ManifestError
        Unreadable file, or no column names the recordings.
    """
    columns, rows = _read_table(path)
    chosen = _choose(columns, spec, path.name)
    if "path" not in chosen:
        raise ManifestError(f"{path}: no column names the recordings (looked for "
                            f"{', '.join(COLUMN_NAMES['path'])}; name yours with --columns path=COLUMN)")
    root = path.parent.resolve()
    paths, reasons = [], []
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        p = _text(r.get(chosen["path"]))
        reason = None
        if p is None:
            p, reason = f"(row {i + 1})", f"no path in column {chosen['path']!r}"
        elif is_url(p):
            reason = "URLs in a manifest are not read (list local paths relative to the manifest)"
        p = _normalize_path(p)
        if p in seen:
            reason = f"listed twice in the manifest (first at row {seen[p] + 1})"
            p = f"{p} (row {i + 1})"
        else:
            seen[p] = i
        paths.append(p)
        reasons.append(reason)
    notes = []
    prefix = _clips_prefix(root, paths, reasons)
    if prefix:
        paths = [p if reasons[i] is not None or os.path.isabs(p) else prefix + p for i, p in enumerate(paths)]
        notes.append(f"paths resolved in the {prefix.rstrip('/')}/ folder beside the manifest")
    values = {role: [r.get(col) for r in rows] if col else None
              for role, col in ((role, chosen.get(role)) for role in ("label", "speaker", "take", "split"))}
    file_split = normalize_split(path.stem) if path.stem.lower() in _SPLIT_STEMS else None
    if values["split"] is None and file_split:
        values["split"] = [file_split] * len(rows)
        notes.append(f"split {file_split} from the manifest's name")
    found = ", ".join(f"{role}={col}" for role, col in chosen.items())
    evidence = f"manifest {path.name}: {len(rows):,} rows; columns {found}"
    cat_col = _category_column(columns)
    categories = [r.get(cat_col) for r in rows] if cat_col else None
    return ManifestRows(root, paths, _clean(values), reasons, evidence=evidence, notes=notes, categories=categories)


_SPLIT_STEMS = {"train", "training", "dev", "valid", "validation", "val", "test", "testing", "eval"}


def _clips_prefix(root: Path, paths: list[str], reasons: list) -> str:
    """``"clips/"`` when bare names resolve there and not beside the manifest (Common Voice)."""
    first = next((p for p, r in zip(paths, reasons) if r is None and "/" not in p and not os.path.isabs(p)), None)
    if first is None or (root / first).exists():
        return ""
    return "clips/" if (root / "clips" / first).is_file() else ""


def _clean(values: dict[str, list | None]) -> dict[str, list | None]:
    out: dict[str, list | None] = {}
    for role, vals in values.items():
        if vals is None:
            out[role] = None
        elif role == "take":
            out[role] = [_take(v) for v in vals]
        elif role == "split":
            out[role] = [normalize_split(_text(v)) for v in vals]
        else:
            out[role] = [_text(v) for v in vals]
    return out


def read_parquet_rows(root: Path, shards: list[str], spec: LayoutSpec) -> ManifestRows:
    """Read Parquet shards (relative to ``root``): byte rows when they hold an audio struct
    column (Hugging Face), else file rows named by a path column, like a CSV manifest.

    Raises
    ------
    ManifestError
        A shard that cannot be read, or shards without audio bytes or a path column.
    """
    from .parquet import read_shard

    parts = []
    for rel in shards:
        try:
            parts.append(read_shard(root, rel))
        except (OSError, ValueError) as exc:
            raise ManifestError(f"{root / rel}: cannot read as Parquet ({' '.join(str(exc).split())[:200]})") from None
        except Exception as exc:  # pyarrow's own errors (ArrowInvalid is a ValueError; others are not)
            raise ManifestError(f"{root / rel}: cannot read as Parquet ({type(exc).__name__}: {exc})") from None
    paths, reasons, sources, source_rows, mtimes = [], [], [], [], []
    values: dict[str, list | None] = {"label": [], "speaker": [], "take": [], "split": []}
    have = {role: False for role in values}
    categories: list = []
    audio_column = None
    used: dict[str, str] = {}
    for shard in parts:
        columns = list(shard.columns) + ([shard.audio_column] if shard.audio_column else [])
        chosen = _choose(columns, spec, shard.relpath)
        bytes_rows = shard.audio_column is not None  # the bytes win; a path column then names the rows
        if not bytes_rows and "path" not in chosen:
            raise ManifestError(f"{root / shard.relpath}: no audio bytes and no column naming the recordings "
                                f"(name one with --columns path=COLUMN)")
        used.update(chosen)
        if bytes_rows:
            audio_column = audio_column or shard.audio_column
            if audio_column != shard.audio_column:
                raise ManifestError(f"{root / shard.relpath}: audio in column {shard.audio_column!r}, "
                                    f"other shards have it in {audio_column!r}")
            name_col = chosen.get("path") if chosen.get("path") != shard.audio_column else None
            names = shard.columns[name_col] if name_col else (shard.audio_paths or [None] * shard.n_rows)
            for r in range(shard.n_rows):
                name = _normalize_path(_text(names[r]) or "")
                if os.path.isabs(name) or (len(name) > 2 and name[1] == ":"):
                    name = name.rsplit("/", 1)[-1]  # the path on the machine that made the shard: its name only
                paths.append(name)
                reasons.append(None)
                sources.append(shard.relpath)
                source_rows.append(r)
                mtimes.append(shard.mtime_ns)
        else:
            for r, p in enumerate(shard.columns[chosen["path"]]):
                p = _text(p)
                reasons.append(None if p and not is_url(p) else
                               ("URLs in a manifest are not read" if p else f"no path in column {chosen['path']!r}"))
                paths.append(_normalize_path(p or f"(row {r + 1} of {shard.relpath})"))
                sources.append("")
                source_rows.append(-1)
                mtimes.append(None)
        for role in values:
            col = chosen.get(role)
            if col and col in shard.columns:
                have[role] = True
                values[role].extend(shard.columns[col])
            elif role == "split" and shard.split:
                have[role] = True
                values[role].extend([shard.split] * shard.n_rows)
            else:
                values[role].extend([None] * shard.n_rows)
        cat_col = _category_column(list(shard.columns))
        categories.extend(shard.columns[cat_col] if cat_col else [None] * shard.n_rows)
    _unique_names(paths, sources, source_rows)
    values = _clean({role: (vals if have[role] else None) for role, vals in values.items()})
    n_bytes = sum(1 for s in sources if s)
    what = f"{n_bytes:,} recordings as bytes in column {audio_column!r}" if n_bytes else "paths to files"
    found = ", ".join(f"{role}={col}" for role, col in used.items())
    evidence = (f"Parquet, {len(parts)} shard{'s' if len(parts) != 1 else ''}: {len(paths):,} rows, {what}"
                + (f"; columns {found}" if found else ""))
    notes = []
    if any(p.split for p in parts) and "split" not in used:
        notes.append("splits from the shard names (" + ", ".join(sorted({p.split for p in parts if p.split})) + ")")
    return ManifestRows(root, paths, values, reasons, sources if n_bytes else None,
                        source_rows if n_bytes else None, audio_column, mtimes, evidence, notes,
                        categories if any(c is not None for c in categories) else None)


def _unique_names(paths: list[str], sources: list[str], rows: list[int]) -> None:
    """Give every byte row a unique, readable path: its own name where unique, else
    ``<shard stem>/<row>/<name>`` (and ``<shard stem>/<row>`` when it has none: no extension
    is invented, so none can disagree with the content)."""
    counts: dict[str, int] = {}
    for p in paths:
        counts[p] = counts.get(p, 0) + 1
    for i, p in enumerate(paths):
        if sources[i] and (not p or counts[p] > 1):
            stem = sources[i].rsplit("/", 1)[-1].rsplit(".", 1)[0]
            paths[i] = f"{stem}/{rows[i]}/{p.rsplit('/', 1)[-1]}" if p else f"{stem}/{rows[i]}"
