"""The report page: one self-contained, offline HTML file rendered from an exploration (the sections
in :mod:`.sections`, their building blocks in :mod:`.markup`, the figures and audio in :mod:`.content`).

:func:`render_report` is pure: it takes the exploration (what :func:`kwscope.analysis.explore.explore`
returns, or anything with the same fields), the decoded arrays of the few recordings the page
plays (``{path: (samples, sample_rate)}``, read by the caller), and the report's choices
(:func:`kwscope.report.plan.plan_report`). It returns the page and the JSON description of the
same findings. It reads no file and opens no connection; the page it writes requests nothing
either: plotly.js is inlined once, figures are JSON drawn by ``Plotly.newPlot`` or PNG data URIs,
recordings are FLAC data URIs.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .content import add_playable_ring, embed_audio, figure_tasks
from .figures import FigureError, FigureRenderer
from .markup import PageContext, asset, esc, fmt_duration, fmt_int
from .media import html_json, script_json
from .plan import (Finding, ReportOptions, ReportPlan, duplicate_counts, find_problems, jsonable, plan_report, records,
                   strict_problems)
from .sections.clips import examples_section, resampling_section, silence_section, spec3d_section
from .sections.dataset import findings_section, labels_section, lengths_section, overview_section, splits_section
from .sections.model import model_section
from .sections.quality import (duplicates_section, map_section, mean_spectra_section, outliers_section,
                               quality_section, violins_section)

__all__ = ["render_report", "RenderedReport", "SECTIONS", "SECTION_IDS"]

#: The page's sections, in order: (id, title). Every id is present in every report.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("findings", "Findings"),
    ("overview", "Overview"),
    ("labels", "Recordings per label"),
    ("lengths", "Recording lengths"),
    ("splits", "Splits and speaker leakage"),
    ("examples", "One recording per label"),
    ("spectrogram-3d", "Spectrogram in 3-D"),
    ("silence", "Silence removal"),
    ("resampling", "Resampling"),
    ("mean-spectra", "Mean FFT and mean spectrogram"),
    ("violins", "Frequency components across labels"),
    ("anomaly-map", "Anomaly map"),
    ("outliers", "Ranked outliers"),
    ("duplicates", "Duplicates"),
    ("quality", "Quality flags"),
    ("model", "What a model would learn"),
)
SECTION_IDS = tuple(s for s, _ in SECTIONS)


class RenderedReport:
    """A rendered report: the page, its JSON description, and what ``--strict`` looks at.

    ``description`` is built on first use (it holds the exploration's ``to_dict()``, whose profile
    table is the slow part on a big dataset); ``report_extra`` entries are merged into its
    ``report`` object.
    """

    def __init__(self, html: str, findings: list[Finding], n_audio: int, size_bytes: int,
                 figure_errors: list[str], describe):
        self.html = html
        self.findings = findings
        self.n_audio = n_audio
        self.size_bytes = size_bytes
        self.figure_errors = figure_errors
        self.report_extra: dict[str, Any] = {}
        self._describe = describe
        self._description: dict[str, Any] | None = None

    @property
    def description(self) -> dict[str, Any]:
        if self._description is None:
            self._description = self._describe()
        self._description["report"].update(jsonable(self.report_extra))
        return self._description

    @property
    def strict_problems(self) -> list[Finding]:
        return strict_problems(self.findings)


def _header(ctx: PageContext, title: str, data_label: str, findings: list[Finding]) -> str:
    s = ctx.summary
    sp = s.speakers or {}
    anomalies = [f for f in findings if f.kind == "anomalies"]
    dc = duplicate_counts(ctx.x)
    kpis = [
        ("overview", fmt_int(s.n_files), "files", ""),
        ("labels", fmt_int(len(s.labels)), "labels", ""),
        ("splits", fmt_int(sp.get("n_speakers")) if sp.get("known") else "–", "speakers", ""),
        ("overview", fmt_duration(s.total_duration_s), "of audio", ""),
        ("overview", fmt_int(len(ctx.broken)), "broken files", "bad" if ctx.broken else ""),
        ("splits", fmt_int(len(s.leaking_speakers)), "leaking speakers", "bad" if s.leaking_speakers else ""),
        ("duplicates", fmt_int(dc["groups"]), f"duplicate groups ({_files(dc['files'])})",
         "warn" if dc["groups"] else ""),
        ("outliers", fmt_int(anomalies[0].count if anomalies else 0), "outliers", "warn" if anomalies else ""),
    ]
    cards = "".join(f'<a class="kpi {cls}" href="#{sec}"><div class="v">{v}</div><div class="k">{esc(k)}</div></a>'
                    for sec, v, k, cls in kpis)
    from .. import __version__

    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<header class="hero"><div class="hero-inner"><div class="brand">kwscope report</div>'
            f"<h1>{esc(title)}</h1><p class=\"sub\"><code>{esc(data_label)}</code> · {esc(s.layout)} layout · "
            f"generated {when} · kwscope {esc(__version__)}</p>"
            f'<div class="kpis">{cards}</div></div></header>')


def _files(n: int) -> str:
    return f"{fmt_int(n)} file{'' if n == 1 else 's'}"


def _toc(findings: list[Finding]) -> str:
    worst: dict[str, str] = {}
    for f in findings:
        if f.severity in ("bad", "warn") and worst.get(f.section) != "bad":
            worst[f.section] = f.severity
    items = []
    for i, (sid, title) in enumerate(SECTIONS):
        num = "" if sid == "findings" else str(i)
        dot = f'<span class="dot {worst[sid]}"></span>' if sid in worst else ""
        items.append(f'<li><a href="#{sid}"><span class="n">{num}</span>{esc(title)}{dot}</a></li>')
    return f'<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>{"".join(items)}</ol></nav>'


def _assemble(ctx: PageContext, title: str, header: str, toc: str, sections: list[str]) -> str:
    from ..plots.export import plotly_js_inline

    specs = "".join(f'<script type="application/json" id="{sid}">{script_json(js)}</script>'
                    for sid, js in ctx.specs)
    return "".join([
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{esc(title)}</title>",
        f"<style>{asset('report.css')}</style></head><body>",
        header,
        '<div class="layout">', toc, "<main>", *sections,
        '<footer class="page-footer">Made by kwscope from the dataset alone; this page needs no network. '
        "The same findings are in the JSON description (<code>kwscope report --json</code>).</footer>",
        "</main></div>",
        '<div id="now-playing" class="now-playing idle"><span class="np-icon">♪</span>'
        '<span id="now-playing-text" class="np-text">Nothing playing — click a ringed point in the anomaly map '
        "or any player.</span>"
        '<audio id="now-playing-audio" controls preload="none"></audio></div>',
        f'<script type="application/json" id="kw-audio">{html_json(ctx.audio)}</script>',
        f'<script type="application/json" id="kw-clips">{html_json(ctx.clip_info)}</script>',
        specs,
        f"<script>{plotly_js_inline()}</script>",
        f"<script>{asset('report.js')}</script>",
        "</body></html>",
    ])


def render_report(exploration, clips: Mapping[str, tuple[np.ndarray, int]] | None = None, *,
                  plan: ReportPlan | None = None, options: ReportOptions | None = None,
                  renderer: FigureRenderer | None = None, data_label: str | None = None,
                  extra: Mapping[str, Any] | None = None, baseline=None) -> RenderedReport:
    """Render the report page and its JSON description.

    Parameters
    ----------
    exploration
        An :class:`~kwscope.analysis.exploration.Exploration` (or an object with its fields:
        ``summary``, ``profiles``, ``mean_fft``, ``mean_logspec``, ``violins``, ``anomalies``,
        ``duplicates``, ``quality``, and optionally ``to_dict()``).
    clips
        ``{path: (samples, sample_rate)}``: the decoded recordings of ``plan.audio_order`` (float32
        mono, Hz). Missing ones are simply not playable; None renders a page without audio.
    plan
        The report's choices; default :func:`plan_report` of ``exploration``.
    options
        Size bounds and table lengths (:class:`ReportOptions`).
    renderer
        Draws the figures (cache, process pool); default: in this process, no cache.
    data_label
        How to name the dataset on the page (default: the summary's root).
    extra
        More entries for the JSON description's ``report`` object (e.g. timings).
    baseline
        A :class:`kwscope.learn.result.Baseline` for the "What a model would learn" section (its
        likely mislabels play when ``plan`` lists them); None: the section says how to compute it.

    Returns
    -------
    RenderedReport
    """
    opt = options or ReportOptions()
    plan = plan or plan_report(exploration, opt)
    clips = dict(clips or {})
    renderer = renderer or FigureRenderer(None, workers=1)
    s = exploration.summary
    from ..plots import label_colors

    prof = getattr(exploration, "profiles", None)
    all_labels = set(s.labels)
    if prof is not None and "label" in getattr(prof, "columns", []):
        all_labels |= {str(v) for v in prof["label"].dropna().unique()}
    colors = label_colors(all_labels)
    findings = find_problems(exploration, opt, baseline=baseline)
    title = opt.title or f"kwscope report: {Path(str(s.root)).name or s.root}"
    label = data_label or str(s.root)

    # Figures first (the slow part, cached and parallel), then audio within what is left of the size limit.
    ctx = PageContext(exploration, plan, opt, colors)
    ctx.renderer = renderer
    ctx.baseline = baseline
    tasks = figure_tasks(ctx, clips)
    names = list(tasks)
    results = renderer.render([tasks[k] for k in names])
    ctx.figures = dict(zip(names, results))
    ctx.figure_errors = [f"{k}: {r.reason}" for k, r in ctx.figures.items() if isinstance(r, FigureError)]

    if prof is not None and len(plan.map_rows):
        ctx.map_paths = set(prof.reset_index(drop=True)["path"].astype(str).to_numpy()[plan.map_rows])
    drawn = ctx.figures
    budget = opt.audio_budget_bytes
    for _attempt in range(4):
        ctx.audio, ctx.clip_of, ctx.clip_info, ctx.specs = {}, {}, {}, []
        ctx.embedded = embed_audio(ctx, clips, budget)
        ctx.figures = dict(drawn)
        if isinstance(drawn.get("anomaly-map"), str):  # ring the points that can play, now that we know them
            ctx.figures["anomaly-map"] = add_playable_ring(drawn["anomaly-map"], ctx)
        sections = [findings_section(ctx, findings)]
        renderers = [
            lambda k: overview_section(ctx, k),
            lambda k: labels_section(ctx, k),
            lambda k: lengths_section(ctx, k),
            lambda k: splits_section(ctx, k),
            lambda k: examples_section(ctx, clips, k),
            lambda k: spec3d_section(ctx, clips, k),
            lambda k: silence_section(ctx, clips, k),
            lambda k: resampling_section(ctx, clips, k),
            lambda k: mean_spectra_section(ctx, k),
            lambda k: violins_section(ctx, k),
            lambda k: map_section(ctx, k),
            lambda k: outliers_section(ctx, k),
            lambda k: duplicates_section(ctx, k),
            lambda k: quality_section(ctx, k),
            lambda k: model_section(ctx, k),
        ]
        sections += [fn(i) for i, fn in enumerate(renderers, start=1)]
        page = _assemble(ctx, title, _header(ctx, title, label, findings), _toc(findings), sections)
        size = len(page.encode("utf-8"))
        if size <= opt.size_limit_bytes or not ctx.audio:
            break
        audio_bytes = sum(len(u) for u in ctx.audio.values())
        budget = max(0, audio_bytes - (size - opt.size_limit_bytes) - 200_000)
    return RenderedReport(page, findings, len(ctx.clip_of), size, ctx.figure_errors,
                          lambda: _describe(exploration, ctx, plan, opt, findings, title, label, size, extra))


def _describe(exploration, ctx: PageContext, plan: ReportPlan, opt: ReportOptions, findings: list[Finding], title: str,
              label: str, size: int, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    from .. import __version__

    if hasattr(exploration, "to_dict"):
        explored = exploration.to_dict()  # JSON-able by its contract: not walked again (100,000s of values)
    else:
        explored = jsonable({"summary": exploration.summary.to_dict(),
                             "anomalies": records(getattr(exploration, "anomalies", None)),
                             "duplicates": records(getattr(exploration, "duplicates", None)),
                             "quality": getattr(exploration, "quality", None)})
    strict = strict_problems(findings)
    report = {
        "title": title,
        "data": label,
        "sections": list(SECTION_IDS),
        "labels": ctx.labels.to_dict(),  # which labels the per-label views show
        "examples": dict(plan.examples),
        "showcase": plan.showcase,
        "embedded_audio": [{"path": e["path"], "role": e["role"]} for e in ctx.embedded],
        "anomaly_map": {"points_total": plan.map_total, "points_shown": int(len(plan.map_rows)),
                        "sampled": plan.map_sampled,
                        "playable": sorted(p for p in ctx.clip_of if p in ctx.map_paths)},
        "violin_hz": [float(h) for h in (getattr(exploration, "violins", None) or {})],
        "options": asdict(opt),
        "figure_errors": ctx.figure_errors,
        "size_bytes": size,
    }
    if extra:
        report.update(extra)
    out = jsonable({
        "kwscope_version": __version__,
        "generated_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "findings": [f.to_dict() for f in findings],
        "strict": {"problems": [f.kind for f in strict], "would_fail": bool(strict)},
        "broken_files": ctx.broken,
        "report": report,
    })
    out["exploration"] = explored
    baseline = getattr(ctx, "baseline", None)
    out["model"] = jsonable(baseline.to_dict()) if baseline is not None else None
    return out
