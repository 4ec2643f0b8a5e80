"""The local pool's processes: how many (capped by cores and memory), how the fork server starts
(deaf to Ctrl-C), and how each worker ends with the process that started it.

Why workers outlived their parent: a ``ProcessPoolExecutor`` worker waits on its call queue, whose
write end it holds itself, so it never sees the parent go; the fork server stays up while any
worker holds its "alive" pipe. A SIGKILL, SIGTERM or OOM kill of the main process thus left the
fork server and every worker running forever (hundreds of MB each). Now each worker watches the
main process (a pidfd on Linux, else a poll of its pid) and exits the moment it is gone; once the
workers are gone the fork server and the resource tracker exit on their own. Workers also ask
the kernel to kill them with their own parent, the fork server (``PR_SET_PDEATHSIG``).

Why Ctrl-C printed tracebacks: the terminal sends SIGINT to every process of the group; the fork
server, still importing its preloads, and the workers, each raised ``KeyboardInterrupt`` and
printed it. The fork server is now started with SIGINT blocked (a mask inherited across its exec,
and by the workers it forks, which also ignore it); the main process alone handles Ctrl-C and
stops the pool.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Sequence

from .base import default_workers, keep_freed_memory

__all__ = ["capped_workers", "start_fork_server", "init_worker", "WORKER_MEMORY_BYTES"]

#: Memory a pool worker is planned to need (a profile chunk peaks near 200 MiB, a feature chunk
#: near 300 MiB); ``--workers`` is capped so that the workers fit in the available memory.
WORKER_MEMORY_BYTES = 300 << 20

_said: set[tuple[int, int]] = set()  # (asked, given) already announced by this process


def _available_memory() -> int | None:
    """MemAvailable in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def capped_workers(requested: int | None, *, announce: bool = True) -> int:
    """The worker processes to start for ``requested`` (None: one a core), at most one a usable
    core and as many as :data:`WORKER_MEMORY_BYTES` each fit in the available memory.

    When an explicit request is lowered, one line says so on stderr (once a process).
    """
    cores = default_workers()
    memory = _available_memory()
    by_memory = max(1, memory // WORKER_MEMORY_BYTES) if memory is not None else cores
    asked = cores if requested is None else max(1, int(requested))
    given = min(asked, cores, by_memory)
    if announce and requested is not None and given < asked and (asked, given) not in _said:
        _said.add((asked, given))
        why = (f"{cores} usable core{'s' if cores != 1 else ''}" if given == cores
               else f"{memory / 2**30:.1f} GiB of memory available, {WORKER_MEMORY_BYTES >> 20} MiB a worker")
        print(f"kwscope: --workers {asked} capped at {given} ({why})", file=sys.stderr, flush=True)
    return given


class _SigintBlocked:
    """SIGINT held back in this thread for the duration, then delivered (a Ctrl-C is not lost).

    A process started meanwhile inherits the blocked mask across its exec: the fork server never
    sees a Ctrl-C, not even while it imports its preloads, and nor do the workers it forks.
    """

    def __enter__(self):
        try:
            self.was = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        except (AttributeError, OSError, ValueError):  # no pthread_sigmask here
            self.was = None
        return self

    def __exit__(self, *exc):
        if self.was is not None and signal.SIGINT not in self.was:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        return False


def start_fork_server(preload: Sequence[str]) -> bool:
    """Start the forkserver (if not yet running) preloading ``preload``, deaf to SIGINT.

    Returns False where there is no fork server (the caller then uses another start method).
    """
    import multiprocessing as mp

    try:
        from multiprocessing import forkserver, resource_tracker

        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        # The resource tracker first: starting, it unblocks SIGINT itself (it ignores it anyway).
        resource_tracker.ensure_running()
        with _SigintBlocked():  # the mask is inherited by the server and its children
            forkserver.ensure_running()
    except Exception:  # noqa: BLE001 - no fork server on this platform
        return False
    return True


def _exit_now() -> None:
    os._exit(1)


def _watch_pidfd(fd: int) -> None:
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        try:
            if poller.poll():
                _exit_now()
        except InterruptedError:  # pragma: no cover - retried by Python on EINTR
            continue


def _watch_poll(pid: int, interval_s: float = 1.0) -> None:
    import time

    while True:
        time.sleep(interval_s)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _exit_now()
        except PermissionError:  # pragma: no cover - a reused pid of another user: ours is gone
            _exit_now()


def _set_parent_death_signal() -> None:
    """Linux: be killed when our parent (the fork server) dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        pr_set_pdeathsig = 1  # <sys/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl: the watchdog alone
        pass


def watch_parent(pid: int) -> None:
    """Exit this process as soon as process ``pid`` is gone (a daemon thread; returns at once)."""
    target, args = _watch_poll, (pid,)
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            target, args = _watch_pidfd, (pidfd_open(pid),)
        except ProcessLookupError:
            _exit_now()  # already gone
        except OSError:  # kernel without pidfds (before 5.3): poll instead
            pass
    threading.Thread(target=target, args=args, name="kwscope-parent-watch", daemon=True).start()


def init_worker(main_pid: int) -> None:
    """A pool worker's initializer: memory reuse, no SIGINT, and death with the main process."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C
    except ValueError:  # pragma: no cover - initializers run in the main thread
        pass
    _set_parent_death_signal()
    watch_parent(main_pid)
    keep_freed_memory()
