"""Walking a dataset folder (local, or any fsspec URL) for its recordings, with the entries that
look like recordings but cannot be one, and each file's size and modification time."""

from __future__ import annotations

import os

from .audio import display_path, is_url, local_path
from .formats import AUDIO_EXTENSIONS
from .patterns import LayoutError

__all__ = ["DatasetError", "scan_audio_files", "open_location", "size_mtime", "RemoteRoot"]


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
