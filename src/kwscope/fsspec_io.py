"""Where DATA lives: local paths, ``file://`` URLs, and (through fsspec) remote object stores.

kwscope's reader opens recordings by local path, on the client and on every Dask worker (a shared
filesystem). :func:`local_path` turns what a user typed as DATA into that path: a plain path or a
``file://`` URL resolves to a local path; any other URL (``s3://``, ``gs://``, ``memory://``, ...)
raises :class:`RemoteDataError`, one line saying what it would take (the ``kwscope[dask]`` extra,
the protocol's fsspec package, credentials on every worker) and what works today (mount or copy).

:func:`list_recordings` and :func:`open_recording` are the fsspec side for the day the reader
accepts file-like objects: they list the recordings under any fsspec URL with the same rules as a
local scan (sorted relative paths, ``/`` separators) and open one for binary reading.
"""

from __future__ import annotations

import os
import re
from typing import IO
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from .errors import KwscopeError

__all__ = ["RemoteDataError", "is_url", "local_path", "list_recordings", "open_recording"]

# scheme://... or chained fsspec URLs (simplecache::s3://...); a Windows drive (C:\) is not a URL.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+(::[A-Za-z][A-Za-z0-9+.\-]*)*://")
_LOCAL_SCHEMES = {"file", "local"}
_INSTALL_HINT = "pip install 'kwscope[dask]'"


class RemoteDataError(KwscopeError):
    """DATA names a location kwscope cannot read (a remote URL, an unknown protocol)."""


def is_url(data: str | os.PathLike) -> bool:
    """True when ``data`` is a URL (``file://``, ``s3://``, ``simplecache::gs://``, ...)."""
    return isinstance(data, str) and bool(_URL.match(data))


def _protocol(url: str) -> str:
    return url.split("://", 1)[0].lower()


def local_path(data: str | os.PathLike) -> str:
    """The local filesystem path that ``data`` names.

    Parameters
    ----------
    data
        A path, or a ``file://`` URL (``file:///abs/path``, ``file://localhost/abs/path``;
        percent-escapes such as ``%20`` are decoded, as RFC 8089 says).

    Returns
    -------
    str
        The path, unchanged for a plain path.

    Raises
    ------
    RemoteDataError
        For any other URL, saying what reading it needs.
    """
    if not is_url(data):
        return os.fspath(data)
    url = str(data)
    protocol = _protocol(url)
    if protocol in _LOCAL_SCHEMES:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise RemoteDataError(f"{url}: a file:// URL on another host ({parts.netloc}) is not "
                                  "readable here; mount that share and pass its local path")
        path = url2pathname(unquote(parts.path))
        if not path:
            raise RemoteDataError(f"{url}: the file:// URL names no path")
        return path
    raise RemoteDataError(_remote_reason(url, protocol))


def _remote_reason(url: str, protocol: str) -> str:
    """One line: why ``url`` cannot be DATA today, and what it would take."""
    if "memory" in protocol.split("::"):
        return (f"{url}: memory:// lives inside one Python process, so Dask workers cannot see it; "
                "write the recordings to a folder and pass its path")
    need = _fsspec_package(protocol)
    return (f"{url}: kwscope reads recordings by path on the client and on every Dask worker and "
            f"cannot open {protocol}:// objects directly yet; mount it at the same path on every "
            "machine (s3fs-fuse, gcsfuse, blobfuse, NFS) or copy it, then pass that path "
            f"(direct reading will need {_INSTALL_HINT}{need} and credentials on every worker)")


def _fsspec_package(protocol: str) -> str:
    """`` plus s3fs`` when fsspec names the package implementing ``protocol``, else ``""``."""
    try:
        from fsspec.registry import known_implementations
    except ImportError:
        return ""
    last = protocol.rsplit("::", 1)[-1]
    impl = known_implementations.get(last)
    if not impl:
        return ""
    package = impl["class"].split(".", 1)[0]
    return "" if package == "fsspec" else f" plus {package}"


def _filesystem(url: str):
    try:
        import fsspec
    except ImportError:
        raise RemoteDataError(f"{url}: URLs need fsspec; {_INSTALL_HINT}") from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:  # the protocol's package is missing: fsspec says which
        raise RemoteDataError(f"{url}: {exc}") from None
    except ValueError as exc:  # unknown protocol
        raise RemoteDataError(f"{url}: {exc}") from None


def list_recordings(url: str) -> list[str]:
    """Recordings under an fsspec URL, as sorted paths relative to it with ``/`` separators.

    The extensions are the reader's (:data:`kwscope.audio.AUDIO_EXTENSIONS`), as in a local scan.

    Raises
    ------
    RemoteDataError
        fsspec or the protocol's package is missing, or nothing is at ``url``.
    """
    from .audio import AUDIO_EXTENSIONS

    fs, root = _filesystem(url)
    root = root.rstrip("/")
    try:
        if not fs.isdir(root):
            raise RemoteDataError(f"{url}: no such folder")
        found = fs.find(root)
    except RemoteDataError:
        raise
    except Exception as exc:  # noqa: BLE001 - credentials, network: one line
        raise RemoteDataError(f"{url}: cannot list it: {' '.join(str(exc).split())}") from None
    prefix = root + "/" if root else ""
    rel = [p[len(prefix):] if p.startswith(prefix) else p.lstrip("/") for p in found]
    return sorted(p for p in rel if os.path.splitext(p)[1].lower() in AUDIO_EXTENSIONS)


def open_recording(url: str, relpath: str) -> IO[bytes]:
    """Open ``relpath`` under the dataset ``url`` for binary reading (a seekable file-like object).

    ``soundfile.SoundFile`` accepts the result directly; use it as a context manager.
    """
    fs, root = _filesystem(url)
    return fs.open(root.rstrip("/") + "/" + relpath.lstrip("/"), "rb")
