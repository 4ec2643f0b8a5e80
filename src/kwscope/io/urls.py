"""Where DATA lives, seen from a Dask cluster: local paths, ``file://`` URLs, fsspec URLs.

The reader (:mod:`kwscope.io.audio`) opens local paths and fsspec URLs; on a Dask cluster every
worker opens the recordings itself, so DATA must name the same files on every worker:

- a local path or ``file://`` URL: the same folder mounted at the same path everywhere
  (a shared filesystem);
- ``s3://``, ``gs://``, ``az://``, ...: fsspec and the protocol's package (``s3fs``, ``gcsfs``,
  ``adlfs``) installed, and credentials available, on the client and on every worker;
- never ``memory://``: that filesystem lives inside one Python process.

:func:`resolve_data` turns what a user typed as DATA into what the engine hands to workers, and
says in one line (:class:`RemoteDataError`) what is missing when it cannot work.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from ..errors import KwscopeError

__all__ = ["RemoteDataError", "is_url", "resolve_data"]

# scheme://... or chained fsspec URLs (simplecache::s3://...); a Windows drive (C:\) is not a URL.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+(::[A-Za-z][A-Za-z0-9+.\-]*)*://")
_LOCAL_SCHEMES = {"file", "local"}
_PROCESS_LOCAL = {"memory"}
_INSTALL_HINT = "pip install 'kwscope[dask]'"


class RemoteDataError(KwscopeError):
    """DATA names a location that cannot be read (here, or by every Dask worker)."""


def is_url(data: str | os.PathLike) -> bool:
    """True when ``data`` is a URL (``file://``, ``s3://``, ``simplecache::gs://``, ...)."""
    return isinstance(data, str) and bool(_URL.match(data))


def _protocols(url: str) -> list[str]:
    """``["simplecache", "s3"]`` for ``simplecache::s3://...``."""
    return [p.lower() for p in url.split("://", 1)[0].split("::")]


def resolve_data(data: str | os.PathLike, *, distributed: bool = False) -> str:
    """What DATA means for the reader: a local path, or an fsspec URL that can be opened.

    Parameters
    ----------
    data
        A path; a ``file://`` URL (``file:///abs/path`` or ``file://localhost/abs/path``, with
        percent-escapes such as ``%20`` decoded, per RFC 8089); or an fsspec URL.
    distributed
        True when Dask workers will open the files: process-local filesystems are refused.

    Returns
    -------
    str
        The local path for a path or ``file://`` URL; the URL itself otherwise.

    Raises
    ------
    RemoteDataError
        fsspec or the protocol's package is missing, the protocol is unknown, a ``file://`` URL
        names another host, or (``distributed``) the filesystem lives in this process only.
    """
    if not is_url(data):
        return os.fspath(data)
    url = str(data)
    protocols = _protocols(url)
    if protocols == ["file"] or protocols == ["local"]:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise RemoteDataError(f"{url}: a file:// URL on another host ({parts.netloc}) cannot be "
                                  "read here; mount that share and pass its local path")
        path = url2pathname(unquote(parts.path))
        if not path:
            raise RemoteDataError(f"{url}: the file:// URL names no path")
        return path
    if distributed and _PROCESS_LOCAL & set(protocols):
        raise RemoteDataError(f"{url}: memory:// lives inside this Python process, so Dask workers "
                              "cannot read it; write the recordings to a shared folder or object "
                              "store and pass that")
    _check_protocols(url, protocols, distributed)
    return url


def _check_protocols(url: str, protocols: list[str], distributed: bool) -> None:
    where = "on the client and on every Dask worker" if distributed else "here"
    try:
        import fsspec
        from fsspec.registry import known_implementations
    except ImportError:
        raise RemoteDataError(f"{url}: reading URLs needs fsspec ({_INSTALL_HINT}) {where}") from None
    for protocol in protocols:
        if protocol in _LOCAL_SCHEMES:
            continue
        try:
            fsspec.get_filesystem_class(protocol)
        except ImportError:
            package = known_implementations.get(protocol, {}).get("class", "").split(".", 1)[0]
            need = f"{_INSTALL_HINT} and {package}" if package else _INSTALL_HINT
            raise RemoteDataError(f"{url}: {protocol}:// needs {need} {where}, and credentials for "
                                  "it there (environment variables or config files)") from None
        except ValueError:
            raise RemoteDataError(f"{url}: fsspec knows no protocol {protocol!r}") from None
