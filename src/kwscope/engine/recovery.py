"""A worker process killed outright (the OOM killer's SIGKILL, a segfault in a decoder) costs its
chunk's culprit file, not the run.

A ``ProcessPoolExecutor`` whose worker dies is broken for good: every task in flight fails with
``BrokenProcessPool`` and no task can be submitted. :func:`kwscope.engine.local.run_local` then
hands the chunks that were in flight here and carries on with a fresh pool. Each such chunk is
rerun alone, in a fresh process of its own (several at once, one process a chunk), so that a
death names its chunk. A chunk that dies alone is read file by file in a probe process that says
which file it starts and which it finished: the file it died on, if it kills once more alone, is
marked failed ("the worker process died (signal 9) while reading it"), the probe restarts after
it, and the chunk runs once more without the files that killed (the
:class:`~kwscope.engine.retry.PerFileChunk` protocol; ``one_file`` probes write nothing). A chunk without the protocol ends the run with one line.

Deaths are capped: after :data:`MAX_DEATHS_IN_A_ROW` deaths with no task or file finishing in
between (a machine that kills every worker), or :data:`MAX_DEATHS` in all, the run stops with one
line (an :class:`~kwscope.engine.base.EngineError`), instead of restarting forever.
"""

from __future__ import annotations

import os
from multiprocessing.connection import wait as wait_ready
from typing import Any, Callable, Iterator, Sequence

from .base import EngineError
from .retry import PerFileChunk, failure_reason, run_isolating
from .workers import init_worker

__all__ = ["Deaths", "rerun_alone", "MAX_DEATHS", "MAX_DEATHS_IN_A_ROW", "death_text"]

#: Deaths of worker processes in a row, with no task or file finished between them, that stop a
#: run (a file that kills costs up to four: the pool, its chunk alone, the probe, the check).
MAX_DEATHS_IN_A_ROW = 8
#: Deaths of worker processes in one run that stop it.
MAX_DEATHS = 200


def death_text(exitcode: int | None) -> str:
    """``"died (signal 9)"`` for a process killed by a signal, ``"exited (status 1)"`` else."""
    if exitcode is not None and exitcode < 0:
        return f"died (signal {-exitcode})"
    return f"exited (status {exitcode})" if exitcode is not None else "died"


class Deaths:
    """The run's count of worker deaths; raises once the caps are reached."""

    def __init__(self) -> None:
        self.total = 0
        self.in_a_row = 0

    def died(self, how: str) -> None:
        """One more death (``how``: e.g. ``"died (signal 9)"``); raise :class:`EngineError` at a cap."""
        self.total += 1
        self.in_a_row += 1
        if self.in_a_row >= MAX_DEATHS_IN_A_ROW or self.total >= MAX_DEATHS:
            count = f"{self.in_a_row} times in a row" if self.in_a_row >= MAX_DEATHS_IN_A_ROW else f"{self.total} times"
            hint = " (out of memory?)" if "signal 9)" in how else ""
            raise EngineError(f"worker processes were killed {count}, the last one {how}{hint}; "
                              "stopped rather than restart them again")

    def progress(self) -> None:
        """A task or a file finished: the deaths in a row start again from 0."""
        self.in_a_row = 0


# --------------------------------------------------------------------------- child processes

def _solo_main(conn, fn, chunk, main_pid: int) -> None:
    """A fresh process running one chunk (with the in-worker retry), its result sent back."""
    init_worker(main_pid)
    try:
        message: tuple = ("ok", run_isolating(fn, chunk))
    except BaseException as exc:  # noqa: BLE001 - sent to the parent, which raises it there
        message = ("raised", exc)
    try:
        conn.send(message)
    except Exception as exc:  # noqa: BLE001 - an exception or result that does not pickle
        conn.send(("raised", EngineError(failure_reason(exc))))
    conn.close()


def _probe_main(conn, fn, chunk, start: int, main_pid: int) -> None:
    """A fresh process reading a chunk's files one at a time from ``start``, saying each one it
    starts and how it ended, so that the parent knows which file a death happened on."""
    init_worker(main_pid)
    for i in range(start, chunk.n_files()):
        conn.send(("start", i))
        try:
            fn(chunk.one_file(i))
        except Exception as exc:  # noqa: BLE001 - this file's own failure, reported for it
            conn.send(("raised", i, f"failed while processed: {failure_reason(exc)}"))
        else:
            conn.send(("fine", i))
    conn.send(("end",))
    conn.close()


def _start(ctx, target, *args):
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(writer, *args, os.getpid()), daemon=True)
    proc.start()
    writer.close()  # the child holds the only write end: its death is EOF here
    return proc, reader


def _ended(proc, reader) -> int | None:
    reader.close()
    proc.join()
    return proc.exitcode


def _receive(proc, reader):
    """The next message from ``proc``, or None at its death (EOF); on any other way out (Ctrl-C,
    a caller that stops) the process is killed, not left to run."""
    try:
        return reader.recv()
    except (EOFError, OSError):
        return None
    except BaseException:
        proc.kill()
        _ended(proc, reader)
        raise


# --------------------------------------------------------------------------- the parent's side

def rerun_alone(fn: Callable[[Any], Any], chunks: Sequence[tuple[int, Any]], *, ctx, workers: int,
                deaths: Deaths) -> Iterator[tuple[int, Any]]:
    """Run each ``(index, chunk)`` in a fresh process of its own, at most ``workers`` at once, and
    yield ``(index, result)`` as they finish; a chunk whose process dies is isolated file by file
    (see the module's docstring). A task's exception is raised here, as the pool would raise it."""
    todo = list(chunks)
    running: dict[Any, tuple[Any, int, Any]] = {}  # reader -> (process, index, chunk)
    try:
        while todo or running:
            while todo and len(running) < workers:
                i, chunk = todo.pop(0)
                proc, reader = _start(ctx, _solo_main, fn, chunk)
                running[reader] = (proc, i, chunk)
            for reader in wait_ready(list(running)):
                proc, i, chunk = running.pop(reader)
                message = _receive(proc, reader)
                exitcode = _ended(proc, reader)
                if message is None:
                    how = death_text(exitcode)
                    deaths.died(how)
                    yield i, _without_killers(fn, chunk, how, ctx=ctx, deaths=deaths)
                    continue
                deaths.progress()
                if message[0] == "raised":
                    raise message[1]
                yield i, message[1]
    finally:
        for proc, _, _ in running.values():
            proc.kill()
            proc.join()


def _without_killers(fn, chunk, how: str, *, ctx, deaths: Deaths):
    """The result of a chunk whose process died running it: its files probed one by one, the
    files a process dies on marked failed, then the chunk run without them (in a fresh process)."""
    if not isinstance(chunk, PerFileChunk):
        raise EngineError(f"a worker process {how} while running a chunk that cannot be split into its files; "
                          "stopped")
    n = chunk.n_files()
    failed: dict[int, str] = {}
    if n == 1:
        failed[0] = f"the worker process {how} while reading it"
    else:
        failed = _probe(fn, chunk, ctx=ctx, deaths=deaths)
    if not any(_is_death(r) for r in failed.values()):
        # No file kills alone (memory, the files together): once more as it was, then as failed.
        result = _run_one(fn, chunk, ctx=ctx, deaths=deaths)
        if result is not _DIED:
            return result
        failed = {i: failed.get(i) or f"the worker process {how} while reading it with the other files of its chunk"
                  for i in range(n)}
    result = _run_one(fn, chunk.with_failed(failed), ctx=ctx, deaths=deaths)
    if result is _DIED:  # even without the files that killed: read none of them
        failed = {i: failed.get(i) or f"the worker process {how} while reading the other files of its chunk"
                  for i in range(n)}
        result = _run_one(fn, chunk.with_failed(failed), ctx=ctx, deaths=deaths)
        if result is _DIED:
            raise EngineError(f"a worker process {how} even when it read no file of its chunk; stopped")
    return result


def _is_death(reason: str) -> bool:
    return reason.startswith("the worker process ")


_DIED = object()


def _run_one(fn, chunk, *, ctx, deaths: Deaths):
    """``run_isolating(fn, chunk)`` in a fresh process: its result, or ``_DIED``."""
    proc, reader = _start(ctx, _solo_main, fn, chunk)
    message = _receive(proc, reader)
    exitcode = _ended(proc, reader)
    if message is None:
        deaths.died(death_text(exitcode))
        return _DIED
    deaths.progress()
    if message[0] == "raised":
        raise message[1]
    return message[1]


def _probe(fn, chunk, *, ctx, deaths: Deaths) -> dict[int, str]:
    """Each file of ``chunk`` alone, in probe processes: ``{file: reason}`` for those that raise
    or that the process dies on (a fresh probe then goes on after that file)."""
    failed: dict[int, str] = {}
    start, n = 0, chunk.n_files()
    while start < n:
        proc, reader = _start(ctx, _probe_main, fn, chunk, start)
        current, ended = None, False
        while (message := _receive(proc, reader)) is not None:
            if message[0] == "start":
                current = message[1]
            elif message[0] in ("raised", "fine"):
                if message[0] == "raised":
                    failed[message[1]] = message[2]
                deaths.progress()
                current, start = None, message[1] + 1
            else:
                ended = True
                break
        exitcode = _ended(proc, reader)
        if ended:
            break
        how = death_text(exitcode)
        deaths.died(how)
        if current is not None:
            # Once more alone before it is blamed: the OOM killer may have hit the probe by chance.
            if _run_one(fn, chunk.one_file(current), ctx=ctx, deaths=deaths) is _DIED:
                failed[current] = f"the worker process {how} while reading it"
            start = current + 1
        # else it died between files: on from the first file not finished (the caps stop a loop)
    return failed

