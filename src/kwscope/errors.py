"""The root of kwscope's exception families; the CLI turns any of them into one line, exit 2."""

from __future__ import annotations

import errno

__all__ = ["KwscopeError", "no_room"]


class KwscopeError(Exception):
    """Base class of every error kwscope raises on purpose (bad input, bad arguments)."""


#: errno of a write that found no room -> what the user reads.
_NO_ROOM = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "no space left on device for this user (disk quota exceeded)",
    errno.EFBIG: "no space left for it under the file size limit (ulimit -f)",
}


def no_room(exc: BaseException) -> str | None:
    """The reason, when ``exc`` says a write found no room (a full disk, a quota, the file size
    limit: ``ENOSPC``, ``EDQUOT``, ``EFBIG``); else None."""
    return _NO_ROOM.get(exc.errno) if isinstance(exc, OSError) else None
