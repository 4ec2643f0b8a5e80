"""The Dask engine: run kwscope's per-chunk tasks on a Dask cluster (``--scheduler tcp://HOST:PORT``).

:func:`kwscope.engine.run_chunks` calls :func:`run_chunks_dask` when given ``scheduler=``; callers
never import this module themselves. It keeps the local engine's contract:

- results are yielded as tasks finish (callers match them by the chunk id they carry);
- at most ``max_in_flight`` tasks are submitted and not yet consumed (a sliding window over
  ``distributed.as_completed``), so client and cluster memory stay flat on millions of chunks;
- a tqdm bar over finished files on the client, with the same ``sizes`` and ``desc``.

Failures: a chunk that raises is rerun file by file on its worker, and the files that raise alone
are reported in the chunk's result (:mod:`kwscope.engine.retry`, as with the local pool); a task
that still raises is retried ``retries`` times by Dask, then its exception reaches the caller
unchanged. A worker that dies (killed, out of memory) is handled by
the Dask scheduler: the tasks it held, running or finished but not yet fetched, are run again on
another worker; a task that kills ``distributed.scheduler.allowed-failures`` workers (default 3)
becomes an :class:`~kwscope.engine.EngineError`. Each chunk is yielded exactly once, so a rerun
task never duplicates rows; task functions that write files must do it idempotently (write to a
temporary name, then rename) because Dask may run a task twice.

Task keys are deterministic (``kwscope_<function>-<token of function and chunk>-<chunk index>``),
so the dashboard groups them by function and a resubmitted identical task is recognised by the
scheduler. On the worker a task is ``_run_task(fn, chunk)``: it first lets the worker process reuse
freed memory as a plain process does (see :func:`_tune_worker_malloc`; about twice as fast).

Workers must see the same files at the same paths as the client (a shared filesystem, checked by
:func:`check_workers_see`) and run the same kwscope version (checked on connecting).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import socket
import sys
import threading
from typing import Any, Callable, Iterator, Sequence, TypeVar

from .base import EngineError, progress_bar

__all__ = ["run_chunks_dask", "connect", "check_workers_see", "CONNECT_TIMEOUT_S", "DEFAULT_RETRIES"]

T = TypeVar("T")
R = TypeVar("R")

#: Seconds to wait for a scheduler to answer before giving up (``KWSCOPE_DASK_TIMEOUT`` overrides).
CONNECT_TIMEOUT_S = 10.0
#: Seconds a run waits for a first worker on a scheduler that has none, before it gives up.
WORKER_TIMEOUT_S = 60.0
#: How many times Dask reruns a task that raised, before the error reaches the caller.
DEFAULT_RETRIES = 2

_INSTALL_HINT = "pip install 'kwscope[dask]'"
# Scheduler addresses whose connection line this process has printed (a log nicety, nothing more).
_ANNOUNCED: set[str] = set()


def _connect_timeout(timeout: float | None) -> float:
    if timeout is not None:
        return float(timeout)
    env = os.environ.get("KWSCOPE_DASK_TIMEOUT")
    if env:
        try:
            return max(0.1, float(env))
        except ValueError:
            raise EngineError(f"KWSCOPE_DASK_TIMEOUT={env!r} must be a number of seconds") from None
    return CONNECT_TIMEOUT_S


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise EngineError(f"--scheduler needs Dask distributed, which is not installed ({exc}); "
                          f"{_INSTALL_HINT}") from None
    return distributed


def _one_line(text: object) -> str:
    return " ".join(str(text).split()) or "no reason given"


_START_HINT = "start one with `dask scheduler`, or drop --scheduler to run locally"


def _fail(address: str, reason: str, hint: str = _START_HINT) -> EngineError:
    return EngineError(f"cannot reach the Dask scheduler at {address}: {reason}; {hint}")


def _check_reachable(address: str, timeout: float) -> None:
    """Fail fast and clearly (refused, unknown host, no answer) before Dask's own retry loop."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        scheme, _ = parse_address(address)
    except ValueError as exc:
        raise EngineError(f"bad Dask scheduler address {address!r}: {_one_line(exc)} "
                          "(expected tcp://HOST:PORT)") from None
    if scheme not in {"tcp", "tls", "ws", "wss"}:
        return  # inproc/ucx: nothing to probe with a plain socket
    try:
        host, port = get_address_host_port(address)
    except ValueError as exc:
        raise EngineError(f"bad Dask scheduler address {address!r}: {_one_line(exc)} "
                          "(expected tcp://HOST:PORT)") from None
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            reason = _not_dask(sock, timeout) if scheme == "tcp" else None
    except ConnectionRefusedError:
        raise _fail(address, "connection refused, nothing listens on that port") from None
    except socket.gaierror:
        raise _fail(address, f"unknown host {host!r}") from None
    except (socket.timeout, TimeoutError):
        raise _fail(address, f"no answer within {timeout:g} s") from None
    except OSError as exc:
        raise _fail(address, _one_line(exc.strerror or exc)) from None
    if reason:
        raise _fail(address, reason, "pass the scheduler's own address (tcp://HOST:8786 by default)")


_SNIFF_S = 3.0  # seconds a Dask scheduler may take to send its handshake before we look closer


def _not_dask(sock: socket.socket, timeout: float) -> str | None:
    """Why the listener on ``sock`` is clearly not a Dask scheduler, or None.

    A Dask scheduler speaks first (its handshake, at once); an HTTP server such as the Dask
    dashboard waits for a request, so a silent port is asked for one.
    """
    sock.settimeout(min(timeout, _SNIFF_S))
    try:
        first = sock.recv(1)
    except (socket.timeout, TimeoutError):
        first = None
    except OSError:
        return None  # let the Dask handshake report it
    if first:
        return None
    if first == b"":
        return "it closed the connection without a Dask handshake (not a Dask scheduler)"
    try:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        head = sock.recv(5)
    except OSError:
        return None
    if head.startswith(b"HTTP/"):
        return "an HTTP server answers there (the Dask dashboard?), not a Dask scheduler"
    return None


def _check_handshake(address: str, timeout: float) -> None:
    """Speak Dask's handshake once, so a port held by another service fails cleanly.

    Run in a thread of its own: the caller may already be inside an event loop (Jupyter).
    """
    from distributed.comm import connect as comm_connect

    async def probe() -> None:
        comm = await asyncio.wait_for(comm_connect(address, timeout=timeout), timeout)
        await comm.close()

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(probe())
        except BaseException as exc:  # noqa: BLE001 - reported below as one line
            failure.append(exc)

    thread = threading.Thread(target=run, name="kwscope-dask-probe", daemon=True)
    thread.start()
    thread.join(timeout + 2)
    if thread.is_alive() or (failure and isinstance(failure[0], (asyncio.TimeoutError, TimeoutError))):
        raise _fail(address, f"no Dask handshake within {timeout:g} s (not a Dask scheduler?)")
    if failure:
        exc = failure[0]
        reason = _one_line(exc) if isinstance(exc, OSError) else "it does not speak the Dask protocol"
        raise _fail(address, reason)


def connect(address: str, *, timeout: float | None = None):
    """Connect a ``distributed.Client`` to a running scheduler, or raise a one-line EngineError.

    Parameters
    ----------
    address
        ``tcp://HOST:PORT`` (``HOST:PORT`` means tcp).
    timeout
        Seconds to wait for the scheduler (default :data:`CONNECT_TIMEOUT_S`, or the
        ``KWSCOPE_DASK_TIMEOUT`` environment variable).

    Returns
    -------
    distributed.Client
        Not set as the process's default client; close it when done.
    """
    distributed = _import_distributed()
    timeout = _connect_timeout(timeout)
    address = str(address).strip()
    _check_reachable(address, timeout)
    _check_handshake(address, timeout)
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - anything here means "could not connect"
        raise _fail(address, _one_line(exc)) from None


def _describe(client, address: str) -> str:
    """The one line printed when the client connects: workers, threads and the dashboard."""
    nthreads = client.nthreads()
    workers, threads = len(nthreads), sum(nthreads.values())
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - a missing dashboard is not an error
        link = None
    dash = f"dashboard {link}" if link else "no dashboard"
    who = (f"{workers} worker{'s' if workers != 1 else ''}, {threads} thread{'s' if threads != 1 else ''}"
           if workers else "no workers yet: tasks start when workers join")
    return f"kwscope: Dask scheduler {address} ({who}); {dash}"


def _check_worker_versions(client) -> None:
    """Refuse to mix kwscope versions: features must be identical to a local run, bit for bit."""
    from .. import __version__

    found = client.run(importlib.metadata.version, "kwscope", on_error="return")
    other = {addr: v for addr, v in found.items() if isinstance(v, str) and v != __version__}
    if other:
        addr, version = sorted(other.items())[0]
        raise EngineError(f"Dask worker {addr} runs kwscope {version}, this client {__version__}; "
                          f"install the same kwscope on every worker ({len(other)} differ)")
    # A worker without kwscope's metadata may still import it from PYTHONPATH; if it cannot,
    # the first task says so (see _task_error).


def _tune_worker_malloc() -> None:
    """Let a Dask worker reuse freed memory between kwscope tasks, as a local pool worker does.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which returns freed memory
    to the OS at once and, as any such setting does, turns off glibc's adaptive mmap threshold:
    every array over 128 KiB is then a fresh mmap, and a feature chunk pays ~15x the page faults
    and about twice the time. :func:`kwscope.engine.keep_freed_memory` sets that right. Only when
    that variable is set (a Dask worker), and unless ``KWSCOPE_DASK_TUNE_MALLOC=0``.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or os.environ.get("KWSCOPE_DASK_TUNE_MALLOC") == "0":
        return
    from .base import keep_freed_memory

    keep_freed_memory()


def _run_task(fn: Callable[[T], R], chunk: T) -> R:
    """What a Dask worker runs: ``fn(chunk)``, in a worker whose allocator suits numpy batches,
    and file by file if the chunk raises (:func:`kwscope.engine.retry.run_isolating`)."""
    from .retry import run_isolating

    _tune_worker_malloc()
    return run_isolating(fn, chunk)


def _task_key(fn: Callable, chunk: Any, index: int) -> str:
    from dask.base import tokenize

    name = getattr(fn, "__name__", None) or type(fn).__name__
    name = name.strip("_").replace("-", "_") or "task"
    return f"kwscope_{name}-{tokenize(fn, chunk)}-{index}"


def _task_error(address: str, key: str, exc: BaseException) -> BaseException:
    """Translate cluster failures into EngineError; leave the task's own exceptions alone."""
    kind = type(exc).__name__
    if kind == "KilledWorker":
        return EngineError(f"task {key} killed Dask workers repeatedly (out of memory, or a crash in "
                           f"native code?); see the worker logs of {address}")
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == "kwscope":
        return EngineError(f"a Dask worker of {address} cannot import kwscope; install the same "
                           f"kwscope ({_INSTALL_HINT}) in every worker's environment")
    return exc


def run_chunks_dask(
    fn: Callable[[T], R],
    chunks: Sequence[T],
    *,
    scheduler: str,
    sizes: Sequence[int] | None = None,
    desc: str = "kwscope",
    progress: bool | None = None,
    max_in_flight: int | None = None,
    retries: int = DEFAULT_RETRIES,
    connect_timeout: float | None = None,
    worker_timeout: float = WORKER_TIMEOUT_S,
) -> Iterator[R]:
    """Run ``fn`` over ``chunks`` on the Dask cluster at ``scheduler``; yield results as they finish.

    Parameters
    ----------
    fn
        Picklable top-level function taking one chunk (workers import it by name: they need the
        same kwscope installed).
    chunks
        The tasks' inputs, read lazily as the window slides.
    scheduler
        Dask scheduler address, ``tcp://HOST:PORT``.
    sizes
        Files in each chunk, for the progress bar's files/s and ETA (default 1 per chunk).
    desc
        Progress bar label.
    progress
        ``True``/``False`` to force the bar on or off; ``None`` shows it on a terminal only.
    max_in_flight
        Tasks submitted and not yet consumed (default twice the cluster's threads, at least 4).
    retries
        Reruns of a task that raised, before its exception is raised here.
    connect_timeout
        Seconds to wait for the scheduler (default :data:`CONNECT_TIMEOUT_S`).
    worker_timeout
        Seconds to wait for a first worker when the scheduler has none.

    Raises
    ------
    EngineError
        The scheduler cannot be reached or has no worker, workers run another kwscope, a task
        kept killing workers, or the connection to the scheduler was lost.
    """
    sizes = list(sizes) if sizes is not None else [1] * len(chunks)
    if len(sizes) != len(chunks):
        raise ValueError(f"sizes has {len(sizes)} entries for {len(chunks)} chunks")
    distributed = _import_distributed()
    client = connect(scheduler, timeout=connect_timeout)
    pending: dict[Any, int] = {}  # future -> chunk index
    try:
        if chunks and not client.nthreads():  # tasks would wait for a worker forever
            try:
                client.wait_for_workers(1, timeout=worker_timeout)
            except Exception:  # noqa: BLE001 - a timeout, whatever its class in this version
                raise EngineError(f"no Dask worker connected to {scheduler} within {worker_timeout:g} s; "
                                  f"start some (`dask worker {scheduler}`), then rerun") from None
        if scheduler not in _ANNOUNCED:  # once per address: a command may run several passes
            _ANNOUNCED.add(scheduler)
            print(_describe(client, scheduler), file=sys.stderr, flush=True)
        _check_worker_versions(client)
        if max_in_flight is None:
            max_in_flight = max(4, 2 * sum(client.nthreads().values()))
        limit = max(1, int(max_in_flight))
        todo: Iterator[tuple[int, T]] = iter(enumerate(chunks))
        window = distributed.as_completed(loop=client.loop, with_results=True, raise_errors=False)

        def fill() -> None:
            while len(pending) < limit:
                try:
                    i, chunk = next(todo)
                except StopIteration:
                    return
                fut = client.submit(_run_task, fn, chunk, key=_task_key(fn, chunk, i), retries=retries,
                                    pure=False)
                pending[fut] = i
                window.add(fut)

        with progress_bar(sum(sizes), desc, progress) as bar:
            fill()
            while pending:
                fut, result = next(window)
                i = pending.pop(fut, None)
                if i is None:  # reported twice (recomputed after a lost worker): yield it once
                    continue
                if fut.status == "error":
                    _, exc, tb = result
                    raise _task_error(scheduler, fut.key, exc).with_traceback(tb)
                if fut.cancelled():
                    raise EngineError(f"lost task {fut.key}: the Dask scheduler at {scheduler} "
                                      "cancelled it (scheduler restarted, or the connection was lost)")
                fut.release()  # free the result on the cluster now, not when gc runs
                del fut
                bar.update(sizes[i])
                yield result
                fill()
    finally:
        if pending:
            try:
                # not force=True: another client may share these deterministic keys
                client.cancel(list(pending))
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            pending.clear()
        try:
            client.close(timeout=10)
        except Exception:  # noqa: BLE001 - the run's own outcome matters more
            pass


def _sees(path: str) -> bool:
    """Run on a worker: can it open ``path`` (a local path or an fsspec URL)?"""
    from ..io.audio import is_url, local_path

    path = local_path(path)
    if not is_url(path):
        return os.access(path, os.R_OK)
    try:
        import fsspec

        fs, inner = fsspec.core.url_to_fs(path)
        return bool(fs.exists(inner))
    except Exception:  # noqa: BLE001 - missing package, credentials: it cannot see it
        return False


def check_workers_see(scheduler: str, paths: Sequence[str], *, timeout: float | None = None) -> None:
    """Check that every connected worker can read ``paths`` (workers read recordings by path).

    Call it before a distributed run with one or two recordings of DATA (absolute paths or URLs):
    a worker without the shared filesystem would otherwise turn every file into a "file not found"
    row.

    Raises
    ------
    EngineError
        Naming the first worker and path that failed, and how to fix it.
    """
    client = connect(scheduler, timeout=timeout)
    try:
        for path in paths:
            seen = client.run(_sees, str(path), on_error="return")
            blind = sorted(addr for addr, ok in seen.items() if ok is not True)
            if blind:
                raise EngineError(f"Dask worker {blind[0]} cannot read {path} ({len(blind)} of "
                                  f"{len(seen)} workers cannot); workers read recordings by path: "
                                  "mount DATA at the same path on every worker, or use a URL they "
                                  "can all open")
    finally:
        client.close(timeout=10)
