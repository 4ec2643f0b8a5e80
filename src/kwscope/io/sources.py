"""Where a manifest row's audio comes from: a file (``root/path``), the bytes of one row of a
Parquet shard (Hugging Face ``audio`` structs), read together a row group at a time, or a slice of
a background-noise recording at a volume (:class:`NoiseSlice`: the ``_silence_`` clips of
``--task tf-challenge``), cut and scaled when read.

Every reader takes what :func:`open_rows` returns: a path, or :class:`AudioBytes`. The tasks of
the passes carry the shard paths and row numbers (small, picklable); each worker, local or on
Dask, reads the rows itself, so DATA must be on a filesystem every worker sees, as for files.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Sequence

from ..errors import KwscopeError
from .urls import is_url

__all__ = ["AudioError", "AudioBytes", "NoiseSlice", "locate", "open_rows", "audio_name", "iter_shard_bytes",
           "open_regular", "file_kind", "NotRegularFile"]


class AudioError(KwscopeError):
    """A recording could not be read. ``str(err)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable with its two arguments (process pools, Dask)
        return (type(self), (self.path, self.reason))


class NotRegularFile(OSError):
    """The path is a named pipe, socket or device: never read (a pipe would block forever)."""


_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"))


def file_kind(mode: int) -> str:
    """``"a named pipe"``, ``"a socket"``, ...: what a non-regular ``st_mode`` is, in words."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path) -> tuple[int, int]:
    """``(fd, size in bytes)`` of a regular file opened read-only.

    Opened without blocking (``O_NONBLOCK``: opening a named pipe for reading otherwise waits for
    a writer forever), then checked: anything but a regular file is closed again and raises
    :class:`NotRegularFile`, whose message says what it is. Other failures raise ``OSError``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"not a regular file ({file_kind(st.st_mode)})")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


@dataclass(frozen=True)
class AudioBytes:
    """A recording held in memory: ``data`` (the file's bytes), ``name`` (for messages and for the
    extension the content is compared with)."""

    data: bytes
    name: str

    def __repr__(self) -> str:
        return f"AudioBytes({self.name!r}, {len(self.data)} bytes)"


@dataclass(frozen=True)
class NoiseSlice:
    """``length`` samples of the recording ``file`` (relative to the dataset's root; ``""`` for
    digital silence) from sample ``offset`` on, times ``volume`` (0-1), clipped to [-1, 1], at
    ``sample_rate`` Hz. A row's ``source`` carries it as text (:meth:`source`), so every pass's
    tasks carry it to the workers, local or on Dask, as they carry Parquet shard names."""

    file: str
    offset: int
    length: int
    volume: float
    sample_rate: int

    PREFIX = "noise-slice:"

    def source(self) -> str:
        return f"{self.PREFIX}{self.offset}:{self.length}:{self.volume!r}:{self.sample_rate}:{self.file}"

    @classmethod
    def parse(cls, source: str) -> "NoiseSlice | None":
        """The slice a ``source`` text names, or None when it names none (a shard, a file)."""
        if not source.startswith(cls.PREFIX):
            return None
        offset, length, volume, rate, file = source[len(cls.PREFIX):].split(":", 4)
        return cls(file, int(offset), int(length), float(volume), int(rate))


def audio_name(source) -> str:
    """How messages name a path or :class:`AudioBytes`."""
    return source.name if isinstance(source, AudioBytes) else os.fspath(source)


def locate(root: str, path: str) -> str:
    """The location of a file row: ``root/path``, or ``path`` itself when absolute (a manifest's)."""
    if not root or os.path.isabs(path) or is_url(path):
        return path
    return f"{root.rstrip('/')}/{path}"


def open_rows(root: str, paths: Sequence[str], sources: Sequence[str] | None = None,
              source_rows: Sequence[int] | None = None, *, column: str = "audio") -> list:
    """Where each row's audio is: a path (file rows) or :class:`AudioBytes` (Parquet rows), or
    the :class:`AudioError` saying why it cannot be had (returned, not raised).

    Parameters
    ----------
    root
        The dataset's root (``df.attrs["root"]``).
    paths
        The rows' ``path`` column.
    sources, source_rows
        The rows' ``source`` (a Parquet shard relative to root, ``""`` for a file row) and
        ``source_row`` (the row number in that shard); None when every row is a file.
    column
        The shard column holding the ``{bytes, path}`` structs.

    Notes
    -----
    The rows of one shard are read together: only the row groups holding them, only the
    ``bytes`` field of ``column`` (never one row at a time, never the whole file).
    """
    out: list = [None] * len(paths)
    by_shard: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        shard = sources[i] if sources is not None else ""
        if shard.startswith(NoiseSlice.PREFIX):
            out[i] = _cut_slice(root, path, NoiseSlice.parse(shard))
        elif shard:
            by_shard.setdefault(shard, []).append(i)
        else:
            out[i] = locate(root, path)
    for shard, idx in by_shard.items():
        _read_shard_rows(root, shard, idx, paths, source_rows, column, out)
    return out


def _read_shard_rows(root: str, shard: str, idx: list[int], paths: Sequence[str], source_rows, column: str,
                     out: list) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    where = locate(root, shard)
    try:
        handle = _open_binary(where)
        pf = pq.ParquetFile(handle)
    except Exception as exc:  # missing, unreadable, not Parquet: every row of it says so
        reason = f"cannot read Parquet shard {shard} ({_short(exc)})"
        for i in idx:
            out[i] = AudioError(paths[i], reason)
        return
    try:
        meta = pf.metadata
        starts = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
        rows = np.array([int(source_rows[i]) for i in idx], np.int64)
        groups = np.searchsorted(starts, rows, side="right") - 1
        bad = (rows < 0) | (rows >= starts[-1])
        for k in np.flatnonzero(bad):
            out[idx[k]] = AudioError(paths[idx[k]], f"row {rows[k]} is not in {shard} ({starts[-1]} rows)")
        wanted = sorted({int(g) for g in groups[~bad]})
        if not wanted:
            return
        try:
            table = pf.read_row_groups(wanted, columns=[f"{column}.bytes"])
        except Exception as exc:
            reason = f"cannot read column {column!r} of Parquet shard {shard} ({_short(exc)})"
            for k in np.flatnonzero(~bad):
                out[idx[k]] = AudioError(paths[idx[k]], reason)
            return
        data = table.column(0).combine_chunks()
        data = data.field("bytes") if hasattr(data, "field") else data
        offset = {g: int(sum(starts[h + 1] - starts[h] for h in wanted[:j])) for j, g in enumerate(wanted)}
        for k in np.flatnonzero(~bad):
            i, g = idx[k], int(groups[k])
            value = data[offset[g] + int(rows[k] - starts[g])].as_py()
            if not value:
                out[i] = AudioError(paths[i], f"row {rows[k]} of {shard} holds no audio bytes")
            else:
                out[i] = AudioBytes(value, paths[i])
    finally:
        handle.close()


def _cut_slice(root: str, name: str, piece: NoiseSlice):
    """The slice as a float32 WAV in memory (:class:`AudioBytes`), or the :class:`AudioError`."""
    import io

    import numpy as np
    import soundfile as sf

    if piece.file:
        try:
            with _open_binary(locate(root, piece.file)) as handle:
                y = sf.read(handle, start=piece.offset, frames=piece.length, dtype="float32", always_2d=True)[0]
        except Exception as exc:
            return AudioError(name, f"cannot cut {piece.length} samples at {piece.offset} from {piece.file} "
                                    f"({_short(exc)})")
        if len(y) < piece.length:
            return AudioError(name, f"{piece.file} holds {piece.offset + len(y)} samples, fewer than the "
                                    f"{piece.offset + piece.length} this slice needs")
        # TensorFlow's decode_wav(desired_channels=1) keeps the first channel.
        y = np.clip(y[:, 0] * np.float32(piece.volume), -1.0, 1.0)
    else:
        y = np.zeros(piece.length, np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, piece.sample_rate, format="WAV", subtype="FLOAT")
    return AudioBytes(buf.getvalue(), name)


def iter_shard_bytes(root: str, shard: str, column: str = "audio"):
    """``(row, bytes or None)`` of every row of a shard, one row group read at a time (the index's
    header probe reads all rows, holding one row group's bytes at once)."""
    import pyarrow.parquet as pq

    with _open_binary(locate(root, shard)) as handle:
        pf = pq.ParquetFile(handle)
        row = 0
        for g in range(pf.metadata.num_row_groups):
            data = pf.read_row_group(g, columns=[f"{column}.bytes"]).column(0).combine_chunks()
            data = data.field("bytes") if hasattr(data, "field") else data
            for value in data:
                yield row, value.as_py()
                row += 1


def _open_binary(where: str):
    if is_url(where):
        import fsspec

        return fsspec.open(where, "rb").open()
    return open(where, "rb")


def _short(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    return " ".join(str(exc).split())[:200] or type(exc).__name__
