"""How a run works, decided once by the CLI or the caller and handed down: where it runs (local
workers or a Dask scheduler), how many workers, the cache folder, the progress bar, the layout."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RunSettings", "default_cache_dir"]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/kwscope`` (usually ``~/.cache/kwscope``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kwscope"


@dataclass(frozen=True)
class RunSettings:
    """The settings every pass over a dataset shares.

    Attributes
    ----------
    workers
        Local worker processes; ``None`` one a core, ``1`` runs in this process.
    scheduler
        A Dask scheduler address (``tcp://host:port``): the tasks run on that cluster instead.
    cache_dir
        Opt-in cache folder (e.g. :func:`default_cache_dir`; a leading ``~`` is expanded);
        ``None`` reads and writes no cache.
    progress
        Progress bar on stderr: ``True``/``False``, or ``None`` on a terminal only.
    layout
        How paths name label, speaker and split: ``auto``, a layout name, a path pattern such as
        ``{speaker}/{_}-{label}-{take}.wav``, or a :class:`kwscope.io.spec.LayoutSpec` (label
        renames, excluded folders, manifest columns).
    chunk_size
        Files a task; ``None`` lets each pass choose.
    """

    workers: int | None = None
    scheduler: str | None = None
    cache_dir: str | os.PathLike | None = None
    progress: bool | None = None
    layout: Any = "auto"  # str or kwscope.io.spec.LayoutSpec (not imported here: settings is light)
    chunk_size: int | None = None

    def __post_init__(self) -> None:
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser())

    def replace(self, **changes) -> "RunSettings":
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)
