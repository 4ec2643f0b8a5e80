"""One bad file never stops a run: a chunk whose task raises is rerun file by file, in the worker.

This is a property of the engine, not of each task. :func:`kwscope.engine.run_chunks` runs every
chunk through :func:`run_isolating`; when ``fn(chunk)`` raises and the chunk says how to split
itself (the :class:`PerFileChunk` protocol, duck-typed), each file is run alone to find the ones
that raise, and the chunk is run once more with those files marked failed -- so the caller gets
the one ordinary result it expects for that chunk, with the failing files among the result's own
per-file errors (path known to the caller, a one-line reason), and merges it as it always did.

The protocol a chunk implements to get this:

- ``n_files() -> int``: the files in the chunk;
- ``one_file(i) -> chunk``: the chunk reduced to its file ``i``, with no side effect that matters
  (a task that writes results must not write them for such a probe);
- ``with_failed(failed: dict[int, str]) -> chunk``: the chunk in which file ``i`` of ``failed`` is
  not read but reported as unreadable for that reason, in the task's usual way.

A chunk without the protocol, or a failure that no single file explains and that repeats, raises
as before; so does a failure of the machine rather than of a file (a full disk or quota, a file
size limit, a read-only disk: ``ENOSPC``, ``EDQUOT``, ``EFBIG``, ``EROFS``, numpy's short writes), which no file-by-file
rerun could mend and which must not be recorded as the files' own errors. It runs in the worker (local pool, this process, or Dask alike), so the retry costs no
round trip, and only chunks that failed pay for it.
"""

from __future__ import annotations

import errno
from typing import Any, Callable, Protocol, TypeVar, runtime_checkable

from ..errors import no_room

__all__ = ["PerFileChunk", "run_isolating", "failure_reason", "of_the_machine", "MACHINE_ERRNOS"]

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class PerFileChunk(Protocol):
    """A chunk that can be split into its files and rerun without some of them."""

    def n_files(self) -> int: ...

    def one_file(self, i: int) -> Any: ...

    def with_failed(self, failed: dict[int, str]) -> Any: ...


#: OSErrors of the machine, not of a file: raised as they are, never isolated file by file.
MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def of_the_machine(exc: BaseException) -> bool:
    """True for an error that says the disk is full, a quota or file-size limit is reached (numpy's
    short writes included, which carry no errno), or the disk is read-only."""
    return isinstance(exc, OSError) and (exc.errno in MACHINE_ERRNOS or no_room(exc) is not None)


#: How long a reason may be, in characters (a message quoting a whole array stays one short line).
_MAX_REASON = 300


def failure_reason(exc: BaseException) -> str:
    """``"ZeroDivisionError: division by zero"``, on one line and at most a few hundred characters."""
    text = " ".join(str(exc).split())
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 3] + "..."
    return reason


def run_isolating(fn: Callable[[T], R], chunk: T) -> R:
    """``fn(chunk)``; if it raises, rerun file by file and return the chunk's result without the
    files that raise (see the module's docstring). Top-level, so it pickles with ``fn``."""
    try:
        return fn(chunk)
    except Exception as exc:  # noqa: BLE001 - any failure of a task is a candidate for isolation
        if not isinstance(chunk, PerFileChunk) or of_the_machine(exc):
            raise
        first = exc
    n = chunk.n_files()
    failed: dict[int, str] = {}
    if n == 1:
        failed[0] = f"failed while processed: {failure_reason(first)}"
    else:
        for i in range(n):
            try:
                fn(chunk.one_file(i))
            except Exception as exc:  # noqa: BLE001 - this file's own failure, reported for it
                failed[i] = f"failed while processed: {failure_reason(exc)}"
    if not failed:
        # No file fails alone: a failure of the files together, or a passing one (memory).
        # Once more as it was; if it fails again, its files are reported with that reason.
        try:
            return fn(chunk)
        except Exception as exc:  # noqa: BLE001
            if of_the_machine(exc):
                raise
            failed = {i: f"failed with the other files of its chunk: {failure_reason(exc)}" for i in range(n)}
    try:
        return fn(chunk.with_failed(failed))
    except Exception:
        raise first from None
