"""Walking a dataset folder (local, or any fsspec URL) for its recordings, with the entries that
look like recordings but cannot be one (a folder or a named pipe called ``x.wav``), what was not
walked and why (links out of DATA, loops, hidden files), and each file's size and mtime."""

from __future__ import annotations

import hashlib
import heapq
import os
import stat
from dataclasses import dataclass, field

from .audio import display_path, is_url, local_path
from .formats import AUDIO_EXTENSIONS
from .patterns import LayoutError
from .sources import file_kind, open_regular

__all__ = ["DatasetError", "FolderScan", "scan_folder", "scan_audio_files", "open_location", "size_mtime",
           "content_hash", "location_hash", "bytes_hash", "RemoteRoot", "HASH_SPAN"]


class DatasetError(LayoutError):
    """DATA is not a usable dataset folder (missing, not a folder, no recordings)."""


def _is_audio_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def open_location(data: str | os.PathLike):
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


@dataclass
class FolderScan:
    """What a walk of DATA found: ``found`` (recordings, relative paths with ``/``), ``problems``
    (``(relpath, reason)``: entries named like recordings that cannot be one -- they become
    error rows), ``skipped`` (``(relpath, reason)``: folders not walked, said in a note) and
    ``hidden`` (how many hidden recordings were left out: AppleDouble ``._*`` and other names
    starting with ``.``, in hidden folders too)."""

    found: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    hidden: int = 0
    hidden_folders: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """One line each for what was left out, for the index's notes."""
        out = []
        if self.hidden or self.hidden_folders:
            what = []
            if self.hidden:
                what.append(f"{self.hidden:,} hidden file{'s' if self.hidden != 1 else ''} "
                            "(AppleDouble ._* and other names starting with '.')")
            if self.hidden_folders:
                shown = ", ".join(self.hidden_folders[:5]) + (", ..." if len(self.hidden_folders) > 5 else "")
                what.append(f"{len(self.hidden_folders):,} hidden folder{'s' if len(self.hidden_folders) != 1 else ''}"
                            f" ({shown})")
            out.append("skipped " + " and ".join(what) + " (to index them: include_hidden: true in kwscope.yaml)")
        for rel, why in self.skipped:
            out.append(f"not walked: {rel}: {why}")
        return out


def _relpath(fs, root: str, dirpath: str) -> str:
    if fs is None:
        rel_dir = os.path.relpath(dirpath, root)
        return "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
    rel_dir = dirpath[len(root.rstrip("/")):].strip("/")
    return rel_dir + "/" if rel_dir else ""


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


#: Folders deeper than this under DATA are not walked (links inside DATA can nest without a loop).
MAX_DEPTH = 64


def _scan_local(root: str, include_hidden: bool) -> FolderScan:
    """Walk a local folder with ``os.scandir`` (one ``stat`` only for links and odd entries).

    Each real folder is walked once: a link inside DATA to a folder also reached another way
    would list its recordings twice. Of the paths to one folder the walk keeps the shallowest,
    a real path before a link at the same depth, then the first by name (folders are taken in
    that order, from a heap); the others are listed in ``skipped``."""
    out = FolderScan()
    real_root = os.path.realpath(root)
    walked: dict[str, str] = {}  # the real path of each folder walked -> the path it was walked as
    # (depth, entered by a link, its path relative to root, the folder, real paths of it and its parents)
    heap: list = [(0, False, "", root, (real_root,))]
    while heap:
        _, link, rel_dir, folder, chain = heapq.heappop(heap)
        first = walked.setdefault(chain[-1], rel_dir)
        if first != rel_dir:
            how = "via a link" if link else "which a link leads to"
            out.skipped.append((display_path(rel_dir), f"same folder as {display_path(first or './')}, {how}; "
                                                      "not walked twice"))
            continue
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            out.skipped.append((display_path(rel_dir or "./"), f"folder cannot be read ({exc.strerror or exc})"))
            continue
        for entry in entries:
            name, rel = entry.name, rel_dir + entry.name
            try:
                is_dir = entry.is_dir()  # follows a link
            except OSError:
                is_dir = False
            if name.startswith(".") and not include_hidden:
                if is_dir:
                    out.hidden_folders.append(display_path(rel + "/"))
                elif _is_audio_name(name):
                    out.hidden += 1
                continue
            if is_dir:
                if _is_audio_name(name):
                    out.problems.append((display_path(rel), "is a directory, not a recording"))
                    continue
                link = entry.is_symlink()
                real = os.path.realpath(entry.path) if link else os.path.join(chain[-1], name)
                if link:
                    if not _inside(real, real_root):
                        out.skipped.append((display_path(rel + "/"), "a link to a folder outside DATA "
                                                                    f"({display_path(real)}), not followed"))
                        continue
                    if real in chain:
                        out.skipped.append((display_path(rel + "/"), "a link to a folder above it (a loop), "
                                                                    "not followed"))
                        continue
                if len(chain) > MAX_DEPTH:
                    out.skipped.append((display_path(rel + "/"), f"deeper than {MAX_DEPTH} folders, not walked"))
                    continue
                heapq.heappush(heap, (len(chain), link, rel + "/", entry.path, chain + (real,)))
                continue
            if not _is_audio_name(name):
                continue
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                out.problems.append((display_path(rel), "file name is not valid UTF-8 (rename it to read it)"))
                continue
            try:
                regular = entry.is_file()  # d_type says so without a stat, unless it is a link
                mode = None if regular else entry.stat().st_mode
            except OSError:
                regular, mode = False, None  # a dangling or looping link: kept, its read says why
            if not regular and mode is not None and not stat.S_ISREG(mode):
                out.problems.append((display_path(rel), f"not a regular file ({file_kind(mode)}), not opened"))
                continue
            out.found.append(rel)
    return out


def scan_folder(root: str | os.PathLike, *, fs=None, include_hidden: bool = False) -> FolderScan:
    """Walk ``root`` for its recordings (see :class:`FolderScan`); every list comes back sorted.

    ``fs`` is an fsspec filesystem for remote roots (None: the local filesystem). Locally, only
    regular files are recordings: a named pipe, socket or device named like one is a problem
    (opening a pipe would wait forever). Links to files are kept (and fail at read time if
    dangling or looping); links to folders are followed when they stay inside DATA and do not
    lead back to a folder above them, and listed in ``skipped`` otherwise; each real folder is
    walked once (by its shallowest path), the other paths to it listed in ``skipped``. Hidden entries (a
    name starting with ``.``: macOS AppleDouble ``._*`` files, ``.git``) are left out and
    counted unless ``include_hidden``.
    """
    root = os.fspath(root)
    if fs is None:
        out = _scan_local(root, include_hidden)
    else:
        out = FolderScan()
        for dirpath, dirnames, filenames in fs.walk(root):
            rel_dir = _relpath(fs, root, dirpath)
            if not include_hidden:
                out.hidden_folders += [rel_dir + d + "/" for d in dirnames if d.startswith(".")]
                out.hidden += sum(1 for f in filenames if f.startswith(".") and _is_audio_name(f))
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                filenames = [f for f in filenames if not f.startswith(".")]
            dirnames.sort()
            out.problems += [(rel_dir + d, "is a directory, not a recording") for d in dirnames if _is_audio_name(d)]
            out.found += [rel_dir + f for f in filenames if _is_audio_name(f)]
    out.found.sort()
    out.problems.sort()
    out.skipped.sort()
    out.hidden_folders.sort()
    return out


def scan_audio_files(root: str | os.PathLike, *, fs=None,
                     include_hidden: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    """``(relpaths, problems)`` of :func:`scan_folder`, both sorted."""
    scan = scan_folder(root, fs=fs, include_hidden=include_hidden)
    return scan.found, scan.problems


#: Bytes :func:`content_hash` reads at each end of a file.
HASH_SPAN = 64 * 1024


def _span_hash(size: int):
    # SHA-1 for speed, not secrecy: it is a change detector beside size and mtime, and with the
    # CPU's SHA instructions it hashes 32 KiB clips ~3x faster than BLAKE2b (measured: 1.55 vs
    # 0.51 GB/s; hashing was 45% of indexing 60,000 clips).
    return hashlib.sha1(f"{size}\0".encode())


def bytes_hash(data: bytes) -> str:
    """:func:`content_hash` of bytes held in memory (a Parquet row's recording)."""
    size = len(data)
    h = _span_hash(size)
    h.update(data[:HASH_SPAN])
    if size > HASH_SPAN:
        h.update(data[max(HASH_SPAN, size - HASH_SPAN):])
    return h.hexdigest()[:24]


def location_hash(location: str) -> str | None:
    """:func:`content_hash` of a file named by a local path or a URL (opened with fsspec)."""
    if not is_url(location):
        return content_hash(None, location)
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(location)
    except Exception:  # no fsspec, an unknown protocol: not hashed, and its read says why
        return None
    return content_hash(fs, path)


def content_hash(fs, path: str) -> str | None:
    """A cheap hash of a file's content: its size, first and last :data:`HASH_SPAN` bytes (the
    whole of a file up to 128 KiB, every keyword clip). What the caches key on beside size and
    mtime, so a file rewritten with both kept (``cp -p``, ``rsync -t``, an editor that restores
    the mtime) is read again. A change confined to the middle of a file over 128 KiB, with size
    and mtime kept, is not seen. None when the file cannot be read (its read says why); only
    regular files are opened (a named pipe would block)."""
    try:
        if fs is not None:
            with fs.open(path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(0)
                head = fh.read(HASH_SPAN)
                tail = b""
                if size > HASH_SPAN:
                    fh.seek(max(HASH_SPAN, size - HASH_SPAN))
                    tail = fh.read(HASH_SPAN)
        else:
            fd, size = open_regular(path)
            try:
                head = os.read(fd, HASH_SPAN)
                tail = os.pread(fd, HASH_SPAN, max(HASH_SPAN, size - HASH_SPAN)) if size > HASH_SPAN else b""
            finally:
                os.close(fd)
    except (OSError, ValueError):
        return None
    h = _span_hash(size)
    h.update(head)
    h.update(tail)
    return h.hexdigest()[:24]


def size_mtime(fs, path: str) -> tuple[int | None, int | None]:
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


class RemoteRoot:
    """What a layout needs of a remote root: ``root / "validation_list.txt"`` readable as text."""

    def __init__(self, fs, path: str):
        self.fs, self.path = fs, path.rstrip("/")

    def __truediv__(self, name: str) -> "RemotePath":
        return RemotePath(self.fs, f"{self.path}/{name}")


class RemotePath:
    def __init__(self, fs, path: str):
        self.fs, self.path = fs, path

    def is_file(self) -> bool:
        return self.fs.isfile(self.path)

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.fs.cat_file(self.path).decode(encoding, errors)
