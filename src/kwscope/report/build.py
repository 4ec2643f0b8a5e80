"""``build_report``: the whole exploration of a dataset as one offline HTML page (and its JSON).

The one place of the report layer that touches files: it runs the exploration, reads the handful
of recordings the page plays (examples, outliers, a few per label; never more than
``ReportOptions.max_embedded_clips``) with :func:`kwscope.io.audio.read_audio`, hands the decoded
arrays to the pure renderer (:func:`kwscope.report.html.render_report`), and writes the page and
the JSON atomically (a temporary file renamed over the target: a report is never half-written).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import KwscopeError, no_room
from ..io.audio import AudioError, read_audio
from ..io.sources import open_rows
from ..settings import RunSettings
from .figures import FigureRenderer
from .html import RenderedReport, render_report
from .plan import Finding, ReportOptions, ReportPlan, plan_report

__all__ = ["build_report", "read_clips", "write_atomic", "ReportResult"]


@dataclass
class ReportResult:
    """What :func:`build_report` made."""

    html_path: Path | None
    json_path: Path | None
    rendered: RenderedReport
    exploration: Any
    plan: ReportPlan
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return self.rendered.findings

    @property
    def strict_problems(self) -> list[Finding]:
        return self.rendered.strict_problems

    @property
    def description(self) -> dict[str, Any]:
        return self.rendered.description


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write text to ``path`` through a temporary file in the same folder and ``os.replace``.

    A disk without room for it (free space short of its size, or the write failing with
    ``ENOSPC``, ``EDQUOT`` or ``EFBIG``) is a one-line :class:`~kwscope.errors.KwscopeError`
    naming the file; no partial file is left, and a page there before is kept as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    try:
        st = os.statvfs(path.parent)
        free = st.f_bavail * st.f_frsize
    except (OSError, AttributeError):
        free = None
    if free is not None and free < len(data):
        raise KwscopeError(f"{_shown(path)}: cannot write it: no space left on device ({len(data) / 2**20:,.1f} MiB "
                           f"to write, {free / 2**20:,.1f} MiB free)")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if no_room(exc):
            raise KwscopeError(f"{_shown(path)}: cannot write it: {no_room(exc)} "
                               f"({len(data) / 2**20:,.1f} MiB to write)") from None
        raise
    return path


def _shown(path: Path) -> str:
    from .terminal import printable

    return printable(str(path))


def read_clips(root: str, paths: Sequence[str], *, sample_rates: dict[str, float] | None = None,
               max_seconds: float | None = 10.0, sources: dict[str, tuple[str, int]] | None = None,
               audio_column: str = "audio") -> dict[str, tuple[np.ndarray, int]]:
    """Decode the given dataset-relative recordings: ``{path: (float32 samples, rate in Hz)}``.

    Unreadable ones are left out (they are already reported as broken). At most ``max_seconds``
    are read when the rate is known beforehand (``sample_rates``). ``sources`` names the
    recordings held as bytes in Parquet shards (``{path: (shard, row)}``, see
    :attr:`~kwscope.analysis.exploration.Exploration.audio_sources`); a shard's rows are read together.
    """
    out: dict[str, tuple[np.ndarray, int]] = {}
    paths = list(paths)
    sources = sources or {}
    where = open_rows(str(root), paths, [sources.get(p, ("", -1))[0] for p in paths],
                      [sources.get(p, ("", -1))[1] for p in paths], column=audio_column)
    for rel, loc in zip(paths, where):
        if isinstance(loc, AudioError):
            continue
        sr = (sample_rates or {}).get(rel)
        limit = None
        if max_seconds is not None and sr and np.isfinite(sr) and sr > 0:
            limit = int(max_seconds * sr) + 1
        try:
            y, rate = read_audio(loc, max_samples=limit)
        except AudioError:
            continue
        out[rel] = (y, rate)
    return out


def build_report(
    data,
    output: str | os.PathLike | None = None,
    *,
    json_output: str | os.PathLike | None = None,
    settings: RunSettings | None = None,
    violin_hz: Sequence[float] = (1000, 2500, 6000),
    top: int = 50,
    options: ReportOptions | None = None,
    data_label: str | None = None,
    explore_fn: Callable[..., Any] | None = None,
    learn: bool = False,
) -> ReportResult:
    """Explore ``data`` and write the report.

    Parameters
    ----------
    data
        The dataset folder (or URL, or manifest) given to ``explore``.
    output
        Where to write the HTML page; None renders without writing.
    json_output
        Where to write the JSON description; None writes none.
    settings
        Where and how the exploration runs (:class:`~kwscope.settings.RunSettings`); its
        ``cache_dir`` also caches the report's figures, its ``workers`` also draw them.
    violin_hz, top
        Passed to :func:`kwscope.analysis.explore.explore`.
    options
        The report's bounds (:class:`ReportOptions`); ``top`` overrides ``options.top``.
    data_label
        How the page names the dataset (default: ``data`` as given).
    explore_fn
        Replaces ``explore`` (tests).
    learn
        Train the baseline (:func:`kwscope.learn.run.learn`) for the "What a model would learn"
        section; without it the section shows a baseline only when one is cached for exactly
        this input (``settings.cache_dir``; ``kwscope learn DATA --cache``).

    Returns
    -------
    ReportResult
    """
    opt = replace(options or ReportOptions(), top=int(top))
    if explore_fn is None:
        from ..analysis.explore import explore as explore_fn
    t0 = time.perf_counter()
    settings = settings or RunSettings()
    exploration = explore_fn(data, settings=settings, violin_hz=tuple(violin_hz), top=max(int(top), 1))
    t1 = time.perf_counter()
    plan = plan_report(exploration, opt)
    baseline = _baseline(data, settings, learn)
    if baseline is not None:
        from .sections.model import add_model_clips

        add_model_clips(plan, baseline, limit=opt.max_embedded_clips)
    t_learn = time.perf_counter()
    prof = exploration.profiles
    rates = {}
    if prof is not None and len(prof) and "sample_rate" in prof.columns:
        want = set(plan.clip_paths())
        sub = prof[prof["path"].astype(str).isin(want)]
        rates = {str(p): float(r) for p, r in zip(sub["path"], sub["sample_rate"]) if r == r}
    clips = read_clips(str(exploration.summary.root), plan.clip_paths(), sample_rates=rates,
                       max_seconds=opt.max_clip_seconds, sources=getattr(exploration, "audio_sources", None),
                       audio_column=str((prof.attrs if prof is not None else {}).get("audio_column") or "audio"))
    t2 = time.perf_counter()
    renderer = FigureRenderer(settings.cache_dir, workers=settings.workers, progress=settings.progress)
    rendered = render_report(exploration, clips, plan=plan, options=opt, renderer=renderer,
                             data_label=data_label or str(data), baseline=baseline)
    t3 = time.perf_counter()
    timings = {"explore": round(t1 - t0, 3), "learn": round(t_learn - t1, 3), "read_clips": round(t2 - t_learn, 3),
               "render": round(t3 - t2, 3)}
    timings["total"] = round(t3 - t0, 3)
    rendered.report_extra.update(timings_s=dict(timings),
                                 figures={"drawn": renderer.n_drawn, "from_cache": renderer.n_cached})
    html_path = write_atomic(output, rendered.html) if output is not None else None
    json_path = None
    if json_output is not None:
        t4 = time.perf_counter()
        # Indented while a person might read it; one line for big datasets (the profile table dominates).
        indent = 1 if exploration.summary.n_files <= 20000 else None
        json_path = write_atomic(json_output, json.dumps(rendered.description, indent=indent, allow_nan=False) + "\n")
        timings["json"] = round(time.perf_counter() - t4, 3)
    timings["written"] = round(time.perf_counter() - t0, 3)
    return ReportResult(html_path, json_path, rendered, exploration, plan, timings)


def _baseline(data, settings: RunSettings, learn: bool):
    """The baseline for the model section: trained when asked, else the cached one (or None)."""
    from ..learn.run import cached_baseline, learn as learn_baseline

    if learn:
        return learn_baseline(data, settings=settings)
    try:
        return cached_baseline(data, settings=settings)
    except Exception:  # a cache lookup never stops the report (the exploration read DATA already)
        return None
