"""Rendering the report's figures: matplotlib views to compact PNG, plotly views to JSON.

A figure is described by a :class:`FigureTask` (the name of a :mod:`kwscope.plots` function, its
arguments, the output format), so that

- the many per-clip views can be rendered on a process pool (matplotlib is CPU-bound and holds
  the GIL), and
- a rendered figure can be cached on disk under a key that hashes the task's inputs (the samples
  of a clip, the class means, ...) with the versions of kwscope, matplotlib and plotly: a second
  report of an unchanged dataset reuses every figure instead of drawing it again. The cache is
  opt-in (``cache_dir``), like the profiles cache it sits beside.

A figure that cannot be drawn (a clip too short for a view, say) becomes a :class:`FigureError`
result: the report shows the reason in place of the figure and carries on.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .media import compact_png

__all__ = ["FigureTask", "FigureError", "FigureRenderer", "render_task", "task_key"]

_CACHE_SUBDIR = "report-figures-v2"  # v2: each entry starts with the SHA-256 of the rest


@dataclass(frozen=True)
class FigureTask:
    """One figure to draw.

    Attributes
    ----------
    view
        Name of a function of :mod:`kwscope.plots` (``"plot_mfcc"``, ``"plot_violins"``, ...).
    args, kwargs
        Its arguments (numpy arrays, mappings, plain values; all picklable).
    fmt
        ``"png"`` (matplotlib backend, PNG bytes) or ``"json"`` (plotly backend, figure JSON text).
    dpi
        PNG resolution.
    """

    view: str
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    fmt: str = "png"
    dpi: int = 72


@dataclass(frozen=True)
class FigureError:
    """A figure that could not be drawn, and why (one line)."""

    reason: str


def _versions() -> str:
    from .. import __version__

    parts = [f"kwscope={__version__}"]
    for mod in ("matplotlib", "plotly"):
        try:
            parts.append(f"{mod}={importlib.import_module(mod).__version__}")
        except Exception:  # pragma: no cover - both are dependencies
            parts.append(f"{mod}=?")
    return ";".join(parts)


def _feed(h, obj: Any) -> None:
    """Hash an argument tree: arrays by dtype, shape and bytes; mappings in their own order."""
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"nd{a.dtype.str}{a.shape}".encode())
        if a.dtype == object:
            h.update(repr(a.tolist()).encode())
        else:
            h.update(a.tobytes())
    elif isinstance(obj, Mapping):
        h.update(b"map{")
        for k, v in obj.items():
            _feed(h, k)
            h.update(b":")
            _feed(h, v)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(f"seq{len(obj)}[".encode())
        for v in obj:
            _feed(h, v)
        h.update(b"]")
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def task_key(task: FigureTask, *, versions: str | None = None) -> str:
    """A stable hex key of everything that decides a task's output."""
    h = hashlib.sha256()
    h.update((versions or _versions()).encode())
    h.update(f"|{task.view}|{task.fmt}|{task.dpi}|".encode())
    _feed(h, task.args)
    _feed(h, dict(task.kwargs))
    return h.hexdigest()


def _plot_function(view: str):
    from .. import plots

    fn = getattr(plots, view, None)
    if fn is None or not callable(fn):
        raise AttributeError(f"kwscope.plots has no view {view!r}")
    return fn


def render_task(task: FigureTask) -> bytes | str | FigureError:
    """Draw one figure: PNG bytes (palette-compressed), plotly JSON text, or a FigureError."""
    import warnings

    from ..errors import KwscopeError
    from ..plots.export import figure_to_json, figure_to_png_bytes

    try:
        fn = _plot_function(task.view)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if task.fmt == "json":
                return figure_to_json(fn(*task.args, backend="plotly", **task.kwargs))
            fig = fn(*task.args, backend="matplotlib", **task.kwargs)
            return compact_png(figure_to_png_bytes(fig, dpi=task.dpi))
    except (KwscopeError, ValueError) as exc:
        return FigureError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def render_tasks(tasks: Sequence[FigureTask]) -> list[bytes | str | FigureError]:
    """Draw a list of figures in this process (the pool's task function; top-level, picklable)."""
    import logging

    # matplotlib warns once per text element when a font weight is missing; that is noise here.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    return [render_task(t) for t in tasks]


class FigureRenderer:
    """Draws figure tasks with an optional disk cache and an optional process pool.

    Parameters
    ----------
    cache_dir
        Folder of the cache (a ``report-figures-v2`` folder is made inside); None: no cache.
    workers
        Processes for drawing; 1 draws in this process.
    progress
        Passed to the engine's progress bar.
    """

    def __init__(self, cache_dir: str | os.PathLike | None = None, *, workers: int | None = 1,
                 progress: bool | None = None):
        self.cache_dir = Path(cache_dir) / _CACHE_SUBDIR if cache_dir is not None else None
        self.workers = workers
        self.progress = progress
        self._versions = _versions()
        self.n_drawn = 0
        self.n_cached = 0

    def _path(self, key: str, fmt: str) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / key[:2] / f"{key}.{fmt}"

    def _load(self, key: str, fmt: str):
        if self.cache_dir is None:
            return None
        path = self._path(key, fmt)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        digest, data = data[:32], data[32:]
        if hashlib.sha256(data).digest() != digest:  # damaged (truncated, overwritten): draw it again
            return None
        try:
            return data if fmt == "png" else data.decode("utf-8")  # json and txt are text
        except UnicodeDecodeError:
            return None

    def _store(self, key: str, fmt: str, value) -> None:
        if self.cache_dir is None or isinstance(value, FigureError):
            return
        path = self._path(key, fmt)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            body = value if isinstance(value, bytes) else value.encode("utf-8")
            tmp.write_bytes(hashlib.sha256(body).digest() + body)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only or full cache never stops the report

    def memo_text(self, kind: str, parts: Any, make) -> str:
        """``make()`` (text), cached on disk under a key of ``kind`` and ``parts`` (e.g. the samples
        of a clip and how it is encoded): the report's embedded audio is encoded once per clip."""
        if self.cache_dir is None:
            return make()
        h = hashlib.sha256(f"{self._versions}|{kind}|".encode())
        _feed(h, parts)
        key = h.hexdigest()
        hit = self._load(key, "txt")
        if hit is not None:
            return hit
        value = make()
        self._store(key, "txt", value)
        return value

    def render(self, tasks: Sequence[FigureTask]) -> list[bytes | str | FigureError]:
        """Draw every task (cache hits are read, the rest drawn) and return results in task order."""
        from ..engine import chunked, default_workers, run_chunks

        keys = [task_key(t, versions=self._versions) for t in tasks]
        results: list[Any] = [self._load(k, t.fmt) for k, t in zip(keys, tasks)]
        todo = [i for i, r in enumerate(results) if r is None]
        self.n_cached += len(tasks) - len(todo)
        if not todo:
            return results
        workers = default_workers() if self.workers is None else max(1, int(self.workers))
        # A pool costs a second or two to start: only worth it for a batch of figures.
        if workers > 1 and len(todo) >= 8:
            per = max(1, -(-len(todo) // (workers * 3)))
            groups = chunked(todo, per)
            payload = [[tasks[i] for i in g] for g in groups]
            try:
                done = run_chunks(_indexed_render, list(zip(groups, payload)), workers=workers,
                                  sizes=[len(g) for g in groups], desc="figures", progress=self.progress)
                for group, out in done:
                    for i, r in zip(group, out):
                        results[i] = r
            except Exception:  # a pool that cannot start or lost a worker: draw the rest here
                pass
        for i in todo:
            if results[i] is None:
                results[i] = render_tasks([tasks[i]])[0]
        for i in todo:
            self._store(keys[i], tasks[i].fmt, results[i])
        self.n_drawn += len(todo)
        return results


def _indexed_render(item):
    group, tasks = item
    return group, render_tasks(tasks)
