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
    limit: ``ENOSPC``, ``EDQUOT``, ``EFBIG``, or numpy's short write, which has no errno:
    ``"530173 requested and 74968 written"``); else None."""
    if not isinstance(exc, OSError):
        return None
    if exc.errno is None and " requested and " in str(exc) and str(exc).endswith(" written"):
        return "no space left on device or under the file size limit (a short write)"
    return _NO_ROOM.get(exc.errno)
