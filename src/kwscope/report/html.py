"""The report page: one self-contained, offline HTML file rendered from an exploration.

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
import html as _html
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .figures import FigureError, FigureRenderer, FigureTask
from .media import audio_data_uri, html_json, png_data_uri, script_json
from .plan import (Finding, ReportOptions, ReportPlan, broken_files, find_problems, jsonable, plan_report,
                   quality_view, reasons_text, records, strict_problems)

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


# --------------------------------------------------------------------------- small HTML helpers

def esc(value: Any) -> str:
    return _html.escape("" if value is None else str(value), quote=True)


def _fmt_int(n: Any) -> str:
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return "–"


def _fmt_num(x: Any, digits: int = 3) -> str:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return "–"
    if not np.isfinite(f):
        return "–"
    return f"{f:.{digits}g}" if abs(f) < 1e4 else f"{f:,.0f}"


def _fmt_duration(seconds: float) -> str:
    s = float(seconds or 0.0)
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _asset(name: str) -> str:
    return resources.files("kwscope.report").joinpath("assets", name).read_text(encoding="utf-8")


class _Ctx:
    """What the section renderers share: label colors, the embedded clips, the figures."""

    def __init__(self, exploration, plan: ReportPlan, options: ReportOptions, colors: dict[str, str]):
        self.x = exploration
        self.summary = exploration.summary
        self.plan = plan
        self.options = options
        self.colors = colors
        self.audio: dict[str, str] = {}  # clip id -> data URI
        self.clip_of: dict[str, str] = {}  # path -> clip id (recordings of the dataset)
        self.clip_info: dict[str, dict[str, Any]] = {}  # path -> {a, label, speaker, why}
        self.figures: dict[str, Any] = {}  # figure name -> PNG bytes / JSON text / FigureError
        self.specs: list[tuple[str, str]] = []  # (script id, figure JSON)
        self.figure_errors: list[str] = []
        self.embedded: list[dict[str, Any]] = []  # recordings whose audio is on the page
        self.map_paths: set[str] = set()  # paths of the anomaly map's points
        self.broken = broken_files(exploration)  # every unreadable file, with its reason
        self.encoded: dict[str, str] = {}  # path -> data URI, kept across size-limit attempts

    # -- labels and players
    def chip(self, label: Any) -> str:
        label = "" if label is None or (isinstance(label, float) and np.isnan(label)) else str(label)
        color = self.colors.get(label, "#9e9e9e")
        return f'<span class="chip" style="--c:{esc(color)}">{esc(label) or "–"}</span>'

    def player(self, path: str, *, preload: str = "none") -> str:
        cid = self.clip_of.get(str(path))
        if cid is None:
            return '<span class="note">not embedded</span>'
        return (f'<audio controls preload="{preload}" data-clip="{cid}" data-path="{esc(path)}" '
                f'title="{esc(path)}"></audio>')

    def derived_player(self, key: str, label_path: str, *, preload: str = "metadata") -> str:
        if key not in self.audio:
            return '<span class="note">not available</span>'
        return (f'<audio controls preload="{preload}" data-clip="{key}" data-path="{esc(label_path)}" '
                f'title="{esc(label_path)}"></audio>')

    # -- figures
    def figure(self, name: str, *, alt: str, caption: str | None = None, plot_id: str | None = None,
               click_to_play: bool = False) -> str:
        result = self.figures.get(name)
        cap = f"<figcaption>{caption}</figcaption>" if caption else ""
        if result is None:
            return '<p class="empty">No data for this figure.</p>'
        if isinstance(result, FigureError):
            return f'<p class="empty">This figure could not be drawn: {esc(result.reason)}</p>'
        if isinstance(result, bytes):
            return (f'<figure class="figure"><img alt="{esc(alt)}" loading="eager" '
                    f'src="{png_data_uri(result)}">{cap}</figure>')
        div_id = plot_id or f"plot-{name}"
        spec_id = f"spec-{name}"
        self.specs.append((spec_id, result))
        click = " data-click-to-play" if click_to_play else ""
        return (f'<figure class="figure"><div class="kw-plotly" id="{esc(div_id)}" data-spec="{spec_id}"{click} '
                f'role="img" aria-label="{esc(alt)}"></div>{cap}</figure>')


def _section(sid: str, title: str, body: str, *, lead: str = "", howto: str = "", number: int | None = None) -> str:
    num = f'<span class="num">{number}</span>' if number is not None else ""
    parts = [f'<section id="{sid}" class="section"><h2>{num}{esc(title)}</h2>']
    if lead:
        parts.append(f'<p class="lead">{lead}</p>')
    if howto:
        parts.append(f'<div class="howto"><b>How to read it.</b> {howto}</div>')
    parts.append(body)
    parts.append("</section>")
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[int] = (),
           scroll: bool = False, cls: str = "") -> str:
    """Rows are already-escaped HTML cells."""
    num = set(numeric)
    head = "".join(f'<th class="num">{esc(h)}</th>' if i in num else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    wrap = "table-wrap scroll" if scroll else "table-wrap"
    return f'<div class="{wrap}"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _kv(pairs: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<div class="table-wrap" style="display:inline-block"><table class="kv"><tbody>{rows}</tbody></table></div>'


def _stat(value: str, key: str, cls: str = "") -> str:
    return f'<div class="stat {cls}"><div class="v">{value}</div><div class="k">{esc(key)}</div></div>'


def _reasons_html(reasons: Any) -> str:
    items = reasons_text(reasons)
    if not items:
        return '<span class="note">–</span>'
    return '<ul class="reasons">' + "".join(f"<li>{esc(r)}</li>" for r in items) + "</ul>"


# --------------------------------------------------------------------------- exploration accessors

def _split_mapping(obj: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split a mean-spectra container into ``(per-label arrays, axes)``, whatever its form."""
    if obj is None:
        return {}, {}
    if not isinstance(obj, Mapping):
        if hasattr(obj, "to_dict") and not hasattr(obj, "__dataclass_fields__"):
            obj = obj.to_dict()
        elif hasattr(obj, "__dataclass_fields__"):
            obj = {k: getattr(obj, k) for k in obj.__dataclass_fields__}
        else:
            obj = dict(vars(obj))
    axes, per_label = {}, {}
    if isinstance(obj.get("by_label"), Mapping):
        per_label = {str(lb): np.asarray(a, dtype=float) for lb, a in obj["by_label"].items()}
    for k, v in obj.items():
        if k == "by_label":
            continue
        if isinstance(v, Mapping) and v and all(isinstance(a, (np.ndarray, list)) for a in v.values()):
            if not per_label:
                per_label = {str(lb): np.asarray(a, dtype=float) for lb, a in v.items()}
        else:
            axes[str(k)] = v
    if not per_label:  # a plain {label: array} mapping with the axes beside it
        per_label = {str(k): np.asarray(v, dtype=float) for k, v in obj.items()
                     if isinstance(v, (np.ndarray, list)) and k not in ("freqs_hz", "times_s", "freqs", "times")}
    return per_label, axes


def _axis(axes: Mapping[str, Any], *names: str):
    for n in names:
        if n in axes and axes[n] is not None:
            return np.asarray(axes[n], dtype=float)
    return None


def _speech_labels(per_label: Mapping[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    order = [lb for lb in labels if lb in per_label] + sorted(lb for lb in per_label if lb not in labels)
    return {lb: per_label[lb] for lb in order}


# --------------------------------------------------------------------------- figure tasks

def _figure_tasks(ctx: _Ctx, clips: Mapping[str, tuple[np.ndarray, int]]) -> dict[str, FigureTask]:
    x, s, plan, opt = ctx.x, ctx.summary, ctx.plan, ctx.options
    tasks: dict[str, FigureTask] = {}
    colors = ctx.colors
    if s.recordings_per_label:
        tasks["label-counts"] = FigureTask("plot_label_counts", (dict(s.recordings_per_label),),
                                           {"colors": colors}, fmt="json")
    hist = (s.lengths or {}).get("histogram") or {}
    if hist.get("counts"):
        tasks["lengths"] = FigureTask("plot_length_histogram", (hist["edges_s"], hist["counts"]),
                                      {"dominant_s": s.lengths.get("dominant_duration_s")}, fmt="json")
    for label, path in plan.examples.items():
        if path not in clips:
            continue
        y, sr = clips[path]
        tasks[f"ex-wave-{label}"] = FigureTask("plot_wave_spectrogram", (y, sr),
                                               {"title": f"“{label}”: wave and log spectrogram"}, dpi=opt.dpi)
        tasks[f"ex-mel-{label}"] = FigureTask("plot_mel_spectrogram", (y, sr), {"title": "Mel power spectrogram"},
                                              dpi=opt.dpi)
        tasks[f"ex-mfcc-{label}"] = FigureTask("plot_mfcc", (y, sr), {"title": "MFCC and delta-delta"}, dpi=opt.dpi)
    if plan.showcase and plan.showcase in clips:
        y, sr = clips[plan.showcase]
        tasks["spec3d"] = FigureTask("plot_spectrogram_3d", (y, sr), {}, fmt="json")
        tasks["silence"] = FigureTask("plot_silence", (y, sr), {}, dpi=opt.dpi)
        tasks["resample"] = FigureTask("plot_resample", (y, sr), {"target_sr": _resample_target(sr, opt)},
                                       dpi=opt.dpi)
    fft_means, fft_axes = _split_mapping(getattr(x, "mean_fft", None))
    freqs = _axis(fft_axes, "freqs_hz", "freqs")
    if fft_means and freqs is not None:
        # Interactive: 256 bands a label is a few kB of JSON, and cheaper than drawing a PNG grid.
        tasks["mean-fft"] = FigureTask("plot_mean_fft_grid", (freqs, _speech_labels(fft_means, s.labels)),
                                       {"colors": colors}, fmt="json")
    spec_means, spec_axes = _split_mapping(getattr(x, "mean_logspec", None))
    t_ax, f_ax = _axis(spec_axes, "times_s", "times"), _axis(spec_axes, "freqs_hz", "freqs")
    if spec_means and t_ax is not None and f_ax is not None:
        tasks["mean-spec"] = FigureTask("plot_mean_spectrogram_grid",
                                        (t_ax, f_ax, _speech_labels(spec_means, s.labels)), {}, dpi=opt.dpi)
    violins = getattr(x, "violins", None) or {}
    n_labels = max(1, max((len(per) for per in violins.values()), default=1))
    per_violin = max(400, opt.max_violin_values // n_labels)
    vals = {float(hz): {str(lb): _thin(np.asarray(v, dtype=np.float32), per_violin, opt.seed) for lb, v in per.items()}
            for hz, per in violins.items() if per}
    if vals:
        vals = {hz: _speech_labels(per, s.labels) for hz, per in vals.items()}
        tasks["violins"] = FigureTask("plot_violins", (vals,), {"colors": colors}, fmt="json")
    map_args = _map_arguments(ctx)
    if map_args is not None:
        tasks["anomaly-map"] = FigureTask("plot_anomaly_map", (map_args.pop("coords"),),
                                          {**map_args, "colors": colors}, fmt="json")
    return tasks


def _thin(values: np.ndarray, k: int, seed: int) -> np.ndarray:
    """At most ``k`` of the values, a fixed random subset (a violin's shape needs no more, and every
    value costs bytes in the page)."""
    values = values[np.isfinite(values)]
    if values.size <= k:
        return values
    idx = np.sort(np.random.default_rng(seed).choice(values.size, k, replace=False))
    return values[idx]


def _resample_target(sr: int, opt: ReportOptions) -> int:
    return opt.resample_hz if sr > opt.resample_hz else max(1000, sr // 2)


def _map_arguments(ctx: _Ctx) -> dict[str, Any] | None:
    prof = getattr(ctx.x, "profiles", None)
    rows = ctx.plan.map_rows
    if prof is None or not len(rows):
        return None
    sub = prof.reset_index(drop=True).iloc[rows]
    coords = sub[["pca_x", "pca_y", "pca_z"]].to_numpy(dtype=float)
    reasons_by_path = {str(a.get("path")): reasons_text(a.get("reasons"))
                       for a in records(getattr(ctx.x, "anomalies", None))}
    paths = sub["path"].astype(str).tolist()
    speakers = sub["speaker"].where(sub["speaker"].notna(), "").astype(str).tolist() if "speaker" in sub else None
    scores = None
    if "anomaly_score" in sub:
        sc = pd.to_numeric(sub["anomaly_score"], errors="coerce").to_numpy(dtype=float)
        scores = np.where(np.isfinite(sc), sc, np.nan)
    return {"coords": coords, "labels": sub["label"].fillna("").astype(str).tolist(), "paths": paths,
            "speakers": speakers, "reasons": [reasons_by_path.get(p, []) for p in paths],
            "scores": scores, "color_by": "label"}


def _add_playable_ring(spec_json: str, ctx: _Ctx) -> str:
    """Draw a ring around each map point whose audio is embedded (the points that play on click)."""
    spec = json.loads(spec_json)
    data = spec.get("data") or []
    ring = {"x": [], "y": [], "z": [], "customdata": [], "text": []}
    for trace in data:
        cd = trace.get("customdata")
        if not isinstance(cd, list):
            continue
        xs, ys, zs = (_decode_plotly_array(trace.get(k)) for k in ("x", "y", "z"))
        texts = trace.get("text") if isinstance(trace.get("text"), list) else None
        for i, row in enumerate(cd):
            path = row[0] if isinstance(row, list) and row else row
            if isinstance(path, str) and path in ctx.clip_of and xs is not None:
                ring["x"].append(float(xs[i]))
                ring["y"].append(float(ys[i]))
                ring["z"].append(float(zs[i]))
                ring["customdata"].append(row)
                ring["text"].append((texts[i] if texts else esc(path)) + "<br><i>▶ click to play</i>")
    if ring["x"]:
        data.append({"type": "scatter3d", "mode": "markers", "name": f"▶ playable ({len(ring['x'])})",
                     "x": ring["x"], "y": ring["y"], "z": ring["z"], "customdata": ring["customdata"],
                     "text": ring["text"], "hovertemplate": "%{text}<extra></extra>",
                     "marker": {"symbol": "circle-open", "size": 7, "color": "#111111",
                                "line": {"width": 2, "color": "#111111"}}})
    spec["data"] = data
    layout = spec.setdefault("layout", {})
    layout["height"] = 720
    layout.setdefault("legend", {})["itemsizing"] = "constant"
    layout["uirevision"] = "kwscope"
    return json.dumps(spec, separators=(",", ":"))


def _decode_plotly_array(v: Any):
    """Plotly 6+ writes numeric arrays as ``{"dtype", "bdata"}`` (base64); decode either form."""
    if v is None:
        return None
    if isinstance(v, Mapping) and "bdata" in v:
        import base64

        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        if "shape" in v:
            shape = v["shape"]
            arr = arr.reshape([int(d) for d in str(shape).split(",")] if isinstance(shape, str) else shape)
        return arr
    return np.asarray(v, dtype=float)


# --------------------------------------------------------------------------- audio

def _embed_audio(ctx: _Ctx, clips: Mapping[str, tuple[np.ndarray, int]], budget: int) -> list[dict[str, Any]]:
    """Encode the planned recordings, highest priority first, within the count and byte budgets."""
    opt = ctx.options
    embedded = []
    used = 0
    profiles = getattr(ctx.x, "profiles", None)
    meta: dict[str, tuple[str, str]] = {}
    if profiles is not None and len(profiles):
        want = {p for p, _ in ctx.plan.audio_order}
        sub = profiles[profiles["path"].astype(str).isin(want)]
        spk = sub["speaker"] if "speaker" in sub else pd.Series([None] * len(sub), index=sub.index)
        for p, lb, sp in zip(sub["path"].astype(str), sub["label"], spk):
            meta[p] = ("" if lb is None or lb != lb else str(lb), "" if sp is None or sp != sp else str(sp))
    why = {str(a.get("path")): "; ".join(reasons_text(a.get("reasons"))[:2])
           for a in records(getattr(ctx.x, "anomalies", None))}
    for path, role in ctx.plan.audio_order:
        if len(embedded) >= opt.max_embedded_clips or path not in clips:
            continue
        y, sr = clips[path]
        uri = ctx.encoded.get(path)
        if uri is None:
            # Recordings shown for a reason stay lossless; the map's extra points are Vorbis (a third the size).
            lossy = role == "map-sample"
            try:
                uri = ctx.renderer.memo_text(
                    "audio", (y, int(sr), lossy, opt.max_clip_seconds),
                    lambda: audio_data_uri(y, sr, max_seconds=opt.max_clip_seconds, lossy=lossy))
            except Exception:  # an odd array never stops the page; the clip is simply not playable
                continue
            ctx.encoded[path] = uri
        if used + len(uri) > budget:
            if role in ("showcase", "example") and used + len(uri) <= budget * 1.25:
                pass  # examples may use a little headroom
            else:
                continue
        used += len(uri)
        cid = f"c{len(ctx.audio)}"
        ctx.audio[cid] = uri
        ctx.clip_of[path] = cid
        label, speaker = meta.get(path, ("", ""))
        ctx.clip_info[path] = {"a": cid, "label": label, "speaker": speaker, "why": why.get(path, "")}
        embedded.append({"path": path, "role": role, "bytes": len(uri)})
    return embedded


def _embed_derived(ctx: _Ctx, key: str, y: np.ndarray, sr: int) -> None:
    if y is None or len(y) < 2:
        return
    seconds = ctx.options.max_clip_seconds
    ctx.audio[key] = ctx.renderer.memo_text("audio", (y, int(sr), False, seconds),
                                            lambda: audio_data_uri(y, sr, max_seconds=seconds))


# --------------------------------------------------------------------------- sections

def _findings_section(ctx: _Ctx, findings: list[Finding]) -> str:
    def item(severity: str, title: str, detail: str, section: str, strict: bool) -> str:
        badge = {"bad": "problem", "warn": "check", "info": "note", "ok": "ok"}.get(severity, severity)
        mark = ' <span class="badge muted" title="counted by --strict">strict</span>' if strict else ""
        return (f'<li class="finding {severity}"><span class="badge {severity}">{badge}</span>'
                f'<div><b>{title}</b>{mark}<br><span class="note">{detail}</span></div>'
                f'<a class="go" href="#{esc(section)}">see section →</a></li>')

    items, quality = [], [f for f in findings if f.kind.startswith("quality:")]
    for f in findings:
        if f.kind.startswith("quality:"):
            if f is quality[0]:  # the quality flags read best as one line
                n = sum(q.count for q in quality)
                what = "; ".join(esc(q.title) for q in quality)
                items.append(item("warn", f"{_fmt_int(n)} quality flag{'s' if n != 1 else ''} raised",
                                  what + " — listen to the worst ones", "quality", False))
            continue
        items.append(item(f.severity, esc(f.title), esc(f.detail), f.section, f.strict))
    body = f'<ul class="finding-list">{"".join(items)}</ul>'
    lead = ("What kwscope found, worst first. Problems marked <i>strict</i> make "
            "<code>kwscope report --strict</code> exit with status 1, so CI can stop on them.")
    return _section("findings", "Findings", body, lead=lead)


def _overview_section(ctx: _Ctx, n: int) -> str:
    s = ctx.summary
    sp = s.speakers or {}
    rates = ", ".join(f"{esc(k)} Hz ({_fmt_int(v)})" for k, v in s.sample_rates.items()) or "–"
    formats = ", ".join(f"{esc(k)} ({_fmt_int(v)})" for k, v in s.formats.items()) or "–"
    chans = ", ".join(f"{esc(k)} ({_fmt_int(v)})" for k, v in s.channels.items()) or "–"
    noise = s.background_noise or {}
    pairs = [
        ("Dataset folder", f"<code>{esc(s.root)}</code>"),
        ("Layout", esc(s.layout) + "".join(
            f"<br><small>{esc(line)}</small>" for line in
            ([(getattr(s, "layout_info", None) or {}).get("evidence", "")]
             + list((getattr(s, "layout_info", None) or {}).get("notes", []))) if line)),
        ("Files", _fmt_int(s.n_files)),
        ("Readable", _fmt_int(s.n_files - len(ctx.broken))),
        ("Broken", f'<b style="color:var(--bad)">{_fmt_int(len(ctx.broken))}</b>' if ctx.broken else "0"),
        ("Labels", f"{len(s.labels)}: " + " ".join(ctx.chip(lb) for lb in s.labels)),
        ("Speakers", _fmt_int(sp.get("n_speakers")) if sp.get("known") else "unknown in this layout"),
        ("Total duration", _fmt_duration(s.total_duration_s)),
        ("Sample rates", rates),
        ("Formats", formats),
        ("Channels", chans),
    ]
    if noise.get("n_files"):
        pairs.append(("Background noise", f"{_fmt_int(noise['n_files'])} files, "
                                          f"{_fmt_duration(noise.get('duration_s', 0))} (not a label)"))
    body = [_kv(pairs)]
    body.append('<h3 id="broken-files">Broken files</h3>')
    broken = ctx.broken
    if not broken:
        body.append('<div class="callout ok">Every file could be read.</div>')
    else:
        body.append(f'<div class="callout bad"><b>{_fmt_int(len(broken))} file(s) cannot be read.</b> '
                    "They are left out of every statistic below; each is listed with the reason.</div>")
        by_reason: dict[str, list[str]] = {}
        for b in broken[: ctx.options.max_broken_listed]:
            by_reason.setdefault(str(b.get("error") or "unknown"), []).append(str(b.get("path")))
        if len(broken) <= 200:
            rows = [[f'<span class="path">{esc(b.get("path"))}</span>', esc(b.get("error"))]
                    for b in broken]
            body.append(_table(["file", "reason"], rows, scroll=len(rows) > 15))
        else:
            for reason, paths in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
                body.append(f"<details><summary>{esc(reason)}: {_fmt_int(len(paths))} files</summary>"
                            f'<div class="pathlist">{esc(chr(10).join(paths))}</div></details>')
            if len(broken) > ctx.options.max_broken_listed:
                body.append(f'<p class="note">{_fmt_int(len(broken) - ctx.options.max_broken_listed)} more are '
                            "in the JSON description (--json).</p>")
    lead = "What is in the dataset folder, read from the file headers, and which files could not be read at all."
    return _section("overview", "Overview", "".join(body), lead=lead, number=n)


def _labels_section(ctx: _Ctx, n: int) -> str:
    s = ctx.summary
    splits = sorted({sp for d in s.split_by_label.values() for sp in d})
    per_sp = (s.speakers or {}).get("per_label", {})
    total = sum(s.recordings_per_label.values()) or 1
    biggest = max(s.recordings_per_label.values() or [1])
    rows = []
    for lb in s.labels:
        c = s.recordings_per_label.get(lb, 0)
        bar = (f'<div class="sharebar"><div class="bar" style="--c:{esc(ctx.colors.get(lb, "#999"))};'
               f'width:{100 * c / biggest:.1f}%"></div><span>{100 * c / total:.1f}%</span></div>')
        rows.append([ctx.chip(lb), _fmt_int(c), bar, _fmt_int(per_sp.get(lb, "–"))]
                    + [_fmt_int(s.split_by_label.get(lb, {}).get(sp, 0)) for sp in splits])
    headers = ["label", "recordings", "share", "speakers"] + [f"{sp}" for sp in splits]
    numeric = [1, 3] + list(range(4, 4 + len(splits)))
    body = ctx.figure("label-counts", alt="Recordings per label (bar chart)")
    body += _table(headers, rows, numeric=numeric, scroll=len(rows) > 20)
    noise = s.background_noise or {}
    if noise.get("n_files"):
        body += (f'<p class="note">Besides the labels: {_fmt_int(noise["n_files"])} background-noise files '
                 f'({_fmt_duration(noise.get("duration_s", 0))}), not counted as a label.</p>')
    counts = [v for v in s.recordings_per_label.values() if v]
    lead = "How many recordings each label (word) has."
    if counts:
        ratio = max(counts) / max(1, min(counts))
        lead += (f" The largest label has {ratio:.1f}× the recordings of the smallest"
                 + (" — fairly even." if ratio < 1.5 else " — a model may favour the big labels; consider "
                    "class weights or resampling."))
    howto = "One bar per label, in the label's color (the same color in every figure of this page)."
    return _section("labels", "Recordings per label", body, lead=lead, howto=howto, number=n)


def _lengths_section(ctx: _Ctx, n: int) -> str:
    L = ctx.summary.lengths or {}
    if L.get("dominant_duration_s") is None:
        return _section("lengths", "Recording lengths", '<p class="empty">No readable recordings.</p>', number=n)
    n_all = (L.get("n_dominant") or 0) + (L.get("n_differ") or 0)
    differ = L.get("n_differ") or 0
    stats = "".join([
        _stat(f"{L['dominant_duration_s']:g} s", "dominant length"),
        _stat(_fmt_int(L.get("n_dominant")), "recordings of that length", "ok" if not differ else ""),
        _stat(_fmt_int(differ) + (f" <small>({100 * differ / n_all:.1f}%)</small>" if n_all else ""),
              "differ from it", "warn" if differ else "ok"),
        _stat(_fmt_int(L.get("n_shorter")), "shorter"),
        _stat(_fmt_int(L.get("n_longer")), "longer"),
        _stat(_fmt_int(L.get("n_shorter_than_1s")), "shorter than 1 s"),
        _stat(f"{_fmt_num(L.get('min_s'))} / {_fmt_num(L.get('median_s'))} / {_fmt_num(L.get('max_s'))} s",
              "min / median / max"),
    ])
    body = f'<div class="stat-grid">{stats}</div>' + ctx.figure("lengths", alt="Histogram of recording lengths")
    lead = ("Most keyword datasets fix one length (1 s in Speech Commands); recordings of another length need "
            "padding or cutting before a model sees them, and very short ones are often cut-off words.")
    howto = ("Bars count recordings per length bin; the dashed line is the dominant length. A log count axis is "
             "used when a few odd lengths would otherwise be invisible next to the main bar.")
    return _section("lengths", "Recording lengths", body, lead=lead, howto=howto, number=n)


def _splits_section(ctx: _Ctx, n: int) -> str:
    s = ctx.summary
    body = []
    if s.splits:
        total = sum(s.splits.values()) or 1
        body.append('<div class="stat-grid">' + "".join(
            _stat(_fmt_int(v) + f" <small>({100 * v / total:.0f}%)</small>", f"{k} recordings")
            for k, v in s.splits.items()) + "</div>")
    else:
        body.append('<p class="note">This layout defines no train/validation/test split.</p>')
    sp = s.speakers or {}
    if not sp.get("known"):
        body.append('<p class="note">Speakers are unknown in this layout, so leakage cannot be checked.</p>')
    elif s.leaking_speakers:
        k = len(s.leaking_speakers)
        body.append(f'<div class="callout bad"><b>{k} speaker(s) have recordings in more than one split.</b> '
                    "A model evaluated on them is tested on voices it was trained on, so its scores are "
                    "optimistic. Move each speaker's recordings into one split.</div>")
        rows = [[f"<code>{esc(d['speaker'])}</code>", _fmt_int(d["n_clips"]),
                 ", ".join(f"{esc(k2)}: {_fmt_int(v)}" for k2, v in sorted(d["splits"].items()))]
                for d in s.leaking_speakers]
        body.append(_table(["speaker", "recordings", "recordings per split"], rows, numeric=[1],
                           scroll=len(rows) > 15))
    elif s.splits:
        body.append('<div class="callout ok">No speaker is in more than one split.</div>')
    if sp.get("known"):
        c = sp.get("clips_per_speaker") or {}
        body.append(f'<p class="note">{_fmt_int(sp.get("n_speakers"))} speakers; recordings per speaker: '
                    f'min {_fmt_int(c.get("min"))}, median {_fmt_num(c.get("median"))}, '
                    f'max {_fmt_int(c.get("max"))}.</p>')
    lead = ("One speaker must never be split between training and testing, or the test measures how well the "
            "model knows that voice rather than the word.")
    return _section("splits", "Splits and speaker leakage", "".join(body), lead=lead, number=n)


def _clip_meta(ctx: _Ctx, path: str) -> dict[str, Any]:
    prof = getattr(ctx.x, "profiles", None)
    if prof is None or not len(prof):
        return {}
    hit = prof[prof["path"].astype(str) == path]
    return hit.iloc[0].to_dict() if len(hit) else {}


def _examples_section(ctx: _Ctx, clips, n: int) -> str:
    cards, tabs = [], []
    for i, label in enumerate(ctx.summary.labels):
        path = ctx.plan.examples.get(label)
        active = " active" if i == 0 else ""
        card_id = f"example-{i}"
        color = esc(ctx.colors.get(label, "#999"))
        tabs.append(f'<button type="button" class="ex-tab{active}" data-target="{card_id}" style="--c:{color}" '
                    f'aria-controls="{card_id}">{esc(label)}</button>')
        if path is None:
            cards.append(f'<div class="card example{active}" id="{card_id}"><h3>{ctx.chip(label)}</h3>'
                         '<p class="empty">No readable recording of this label.</p></div>')
            continue
        m = _clip_meta(ctx, path)
        bits = []
        if m.get("speaker") and m.get("speaker") == m.get("speaker"):
            bits.append(f"speaker <code>{esc(m['speaker'])}</code>")
        if path in clips:
            y, sr = clips[path]
            bits.append(f"{len(y) / sr:.2f} s at {sr:,} Hz")
        try:
            snr = float(m.get("snr_db"))
        except (TypeError, ValueError):
            snr = float("nan")
        if np.isfinite(snr):
            bits.append(f"SNR {snr:.0f} dB")
        if path in clips:
            views = (f'<div class="views"><div class="main-view">'
                     f'{ctx.figure(f"ex-wave-{label}", alt=f"{label}: wave and log spectrogram")}</div>'
                     f'<div class="side-views">{ctx.figure(f"ex-mel-{label}", alt=f"{label}: mel spectrogram")}'
                     f'{ctx.figure(f"ex-mfcc-{label}", alt=f"{label}: MFCC")}</div></div>')
        else:
            views = '<p class="empty">The recording could not be read for this page.</p>'
        cards.append(f'<div class="card example{active}" id="{card_id}" data-label="{esc(label)}">'
                     f'<div class="ex-head"><h3>{ctx.chip(label)}</h3>'
                     f'<p class="meta"><span class="path">{esc(path)}</span> · {" · ".join(bits)}</p>'
                     f'{ctx.player(path, preload="metadata")}</div>{views}</div>')
    lead = ("A typical recording of each label (readable, of the dominant length, the lowest anomaly score), "
            "with a player and the notebook's views of it. Pick a label:")
    howto = ("<i>Wave</i>: amplitude over time. <i>Log spectrogram</i>: time across, frequency up (0 to half the "
             "sample rate), brighter = more energy; a word shows as bright bands (formants) where it is spoken. "
             "<i>Mel</i>: the same on the mel scale, which gives low frequencies more room, as the ear does; "
             "in dB below the loudest cell. <i>MFCC</i>: the mel spectrum compressed to 13 coefficients per frame "
             "(the classic speech feature), and their second-order change over time.")
    body = (f'<div class="ex-tabs" role="tablist">{"".join(tabs)}</div>'
            f'<div class="examples" id="examples-gallery">{"".join(cards)}</div>')
    return _section("examples", "One recording per label", body, lead=lead, howto=howto, number=n)


def _showcase_header(ctx: _Ctx, clips) -> tuple[str, np.ndarray | None, int]:
    path = ctx.plan.showcase
    if not path or path not in clips:
        return "", None, 0
    y, sr = clips[path]
    m = _clip_meta(ctx, path)
    return (f'<p class="meta">Recording: {ctx.chip(m.get("label", ""))} <span class="path">{esc(path)}</span> '
            f"({len(y) / sr:.2f} s at {sr:,} Hz)</p>"), y, sr


def _spec3d_section(ctx: _Ctx, clips, n: int) -> str:
    head, y, sr = _showcase_header(ctx, clips)
    if y is None:
        body = '<p class="empty">No recording to show.</p>'
    else:
        body = head + ctx.player(ctx.plan.showcase, preload="metadata") + ctx.figure(
            "spec3d", alt="Log spectrogram as a 3-D surface", plot_id="plot-spec3d")
    lead = "The log spectrogram of one recording as a surface you can turn: peaks are the loud time-frequency cells."
    howto = ("Drag to rotate, scroll to zoom, hover for the value. Time (s) and frequency (Hz) lie on the floor, "
             "log power rises up; the ridges along time are the harmonics of the voice.")
    return _section("spectrogram-3d", "Spectrogram in 3-D", body, lead=lead, howto=howto, number=n)


def _silence_section(ctx: _Ctx, clips, n: int) -> str:
    from .. import dsp

    head, y, sr = _showcase_header(ctx, clips)
    if y is None:
        return _section("silence", "Silence removal", '<p class="empty">No recording to show.</p>', number=n)
    try:
        trimmed, (a, b) = dsp.trim_silence(y, sr)
    except Exception:  # a clip the VAD cannot take: show the figure's own message instead
        trimmed, (a, b) = np.zeros(0, np.float32), (0, 0)
    _embed_derived(ctx, "trimmed", trimmed, sr)
    if b > a:
        what = (f"The voice activity detector (VAD) keeps {a / sr:.2f}–{b / sr:.2f} s: "
                f"{(b - a) / sr:.2f} s of {len(y) / sr:.2f} s ({100 * (b - a) / len(y):.0f}%).")
    else:
        what = "The voice activity detector found no speech in this recording."
    players = (f'<div class="players"><div><label>Full recording</label>{ctx.player(ctx.plan.showcase)}</div>'
               f'<div><label>Speech only (trimmed)</label>'
               f'{ctx.derived_player("trimmed", ctx.plan.showcase + " (trimmed to speech)")}</div></div>')
    body = head + f"<p>{what}</p>" + players + ctx.figure("silence", alt="Silence removal with VAD boundaries")
    lead = ("Recordings carry silence (and noise) around the word. kwscope finds the speech with an energy VAD — "
            "frames within 40 dB of the loudest frame and above −60 dBFS — and cuts the rest, instead of the "
            "notebook's hand-picked sample range.")
    howto = ("Shaded spans and dashed lines mark the speech segments on the wave and the spectrogram; the last "
             "panel is what is kept. Listen to both players: the trimmed one should lose nothing of the word.")
    return _section("silence", "Silence removal", body, lead=lead, howto=howto, number=n)


def _resampling_section(ctx: _Ctx, clips, n: int) -> str:
    from .. import dsp

    head, y, sr = _showcase_header(ctx, clips)
    target = _resample_target(sr, ctx.options) if y is not None else ctx.options.resample_hz
    title = f"Resampling to {target / 1000:g} kHz"
    if y is None:
        return _section("resampling", title, '<p class="empty">No recording to show.</p>', number=n)
    try:
        _embed_derived(ctx, "resampled", dsp.resample(y, sr, target), target)
    except Exception:
        pass
    players = (f'<div class="players"><div><label>Original, {sr:,} Hz</label>{ctx.player(ctx.plan.showcase)}</div>'
               f'<div><label>Resampled, {target:,} Hz</label>'
               f'{ctx.derived_player("resampled", ctx.plan.showcase + f" (resampled to {target} Hz)")}</div></div>')
    note = "" if target == ctx.options.resample_hz else (
        f'<p class="note">This recording is already at {sr:,} Hz, so it is shown halved to {target:,} Hz.</p>')
    body = head + note + players + ctx.figure("resample", alt="FFT of the original and the resampled recording")
    lead = (f"Speech lives mostly below 4 kHz (telephone speech is sampled at 8 kHz). Resampling to "
            f"{target:,} Hz halves the data per second or more; the question is what it loses.")
    howto = ("Top: the magnitude spectrum (FFT) of the original; bottom: of the resampled recording, which stops "
             "at half its new rate (the dashed line on top). Energy above that line is what is lost — listen to "
             "both to judge whether the word survives.")
    return _section("resampling", title, body, lead=lead, howto=howto, number=n)


def _mean_spectra_section(ctx: _Ctx, n: int) -> str:
    body = (ctx.figure("mean-fft", alt="Mean FFT per label")
            + ctx.figure("mean-spec", alt="Mean log spectrogram per label"))
    sel = getattr(getattr(ctx.x, "mean_fft", None), "selection", None)
    if sel:
        body += f'<p class="note">Averaged over {esc(sel)}.</p>'
    lead = ("The average spectrum and the average spectrogram of each label: what the words have in common "
            "across speakers.")
    howto = ("FFT panels: frequency across, mean magnitude up (hover for values); peaks are the bands where the "
             "word carries energy. "
             "Spectrograms: time across, frequency up, brighter = louder on one shared color scale; words differ "
             "in where (frequency) and when (time) their energy sits — the structure a classifier can learn.")
    return _section("mean-spectra", "Mean FFT and mean spectrogram", body, lead=lead, howto=howto, number=n)


def _violins_section(ctx: _Ctx, n: int) -> str:
    hz = [float(h) for h in (getattr(ctx.x, "violins", None) or {})]
    which = ", ".join(f"{h:,.0f}" for h in hz) or "–"
    body = ctx.figure("violins", alt="Violin plots of frequency components per label")
    lead = (f"How the log-spectrogram value at a few frequencies ({which} Hz) is distributed within each label, "
            "over a sample of recordings per label.")
    howto = ("Each violin is the spread of values of one label (wider = more frequent values), with its box, "
             "median and mean line. Labels whose violins sit apart at some frequency are easy to tell apart "
             "there; overlapping violins are not.")
    return _section("violins", "Frequency components across labels", body, lead=lead, howto=howto, number=n)


def _map_section(ctx: _Ctx, n: int) -> str:
    plan = ctx.plan
    shown = len(plan.map_rows)
    playable = sum(1 for p in ctx.clip_of if p in ctx.map_paths)
    if not shown:
        body = '<p class="empty">No recording has map coordinates.</p>'
    else:
        if playable:
            parts = [f'<span class="legend-playable">Ringed points</span> are playable: click one and it plays in '
                     f'the bar at the bottom of the page ({_fmt_int(playable)} of {_fmt_int(shown)} points: the top '
                     f'outliers, the examples and up to {ctx.options.playable_per_label} recordings per label). '
                     "Other points show their file name on hover."]
        else:
            parts = ["No recording of this map is embedded in the page, so clicking a point only names it."]
        if plan.map_sampled:
            parts.append(f"The map draws {_fmt_int(shown)} of {_fmt_int(plan.map_total)} recordings: every "
                         "outlier and every playable point, plus a sample of the rest of each label in proportion "
                         "to its size.")
        body = (f'<div class="callout">{" ".join(parts)}</div>'
                + ctx.figure("anomaly-map", alt="Anomaly map: recordings in 3-D, click to play",
                             plot_id="anomaly-map-plot", click_to_play=True))
    lead = ("Every recording's spectrum (zero-padded to 1 s, standardized per frequency bin) reduced to three "
            "principal components: recordings that sound alike sit together; the ones far from the crowd are "
            "noisy, clipped, silent or mislabelled — listen to them.")
    howto = ("Drag to rotate, scroll to zoom, click a legend entry to hide a label. Hover a point for its file, "
             "label, speaker, score and reasons; click a ringed point to hear it.")
    return _section("anomaly-map", "Anomaly map", body, lead=lead, howto=howto, number=n)


def _outliers_section(ctx: _Ctx, n: int) -> str:
    anomalies = records(getattr(ctx.x, "anomalies", None))
    top = anomalies[: ctx.options.top]
    if not top:
        body = '<div class="callout ok">No outliers.</div>'
    else:
        rows = []
        for i, a in enumerate(top, start=1):
            p = str(a.get("path"))
            rows.append([str(i), _fmt_num(a.get("score")), f'<span class="path">{esc(p)}</span>',
                         ctx.chip(a.get("label")), f"<code>{esc(a.get('speaker') or '–')}</code>",
                         _reasons_html(a.get("reasons")), ctx.player(p)])
        body = _table(["#", "score", "file", "label", "speaker", "why", "listen"], rows, numeric=[0, 1],
                      scroll=len(rows) > 12)
        if len(anomalies) > len(top):
            body += f'<p class="note">{_fmt_int(len(anomalies) - len(top))} more in the JSON description.</p>'
    lead = ("The recordings farthest from the rest, highest score first, each with the measurements that make it "
            "stand out and a player.")
    howto = ("The score grows with the distance from the dataset's center in the anomaly map's space; the reasons "
             "come from the per-file measurements (level, clipping, silence, SNR, noise bursts, hum, length).")
    return _section("outliers", "Ranked outliers", body, lead=lead, howto=howto, number=n)


def _duplicates_section(ctx: _Ctx, n: int) -> str:
    dups = records(getattr(ctx.x, "duplicates", None))
    if not dups:
        body = '<div class="callout ok">No duplicate recordings found.</div>'
    else:
        cross = sum(1 for d in dups if d.get("cross_split"))
        body = ""
        if cross:
            body += (f'<div class="callout bad"><b>{cross} duplicate group(s) span splits.</b> The same audio in '
                     "train and in validation/test inflates the test score.</div>")
        rows = []
        for d in dups[: ctx.options.max_duplicate_groups]:
            paths = [str(p) for p in (d.get("paths") or [])]
            labels = d.get("labels") or []
            splits = d.get("splits") or []
            files = "".join(
                f'<div style="margin:.15rem 0"><span class="path">{esc(p)}</span><br>{ctx.player(p)}</div>'
                for p in paths[:4])
            if len(paths) > 4:
                files += f'<span class="note">… and {len(paths) - 4} more</span>'
            badge = '<span class="badge bad">across splits</span>' if d.get("cross_split") else \
                '<span class="badge muted">same split</span>'
            sim = d.get("similarity")
            rows.append([esc(d.get("kind", "")), _fmt_num(sim, 4) if sim is not None else "–", files,
                         " ".join(ctx.chip(lb) for lb in dict.fromkeys(map(str, labels))) or "–",
                         esc(", ".join(dict.fromkeys(str(s) for s in splits if s is not None))) or "–", badge])
        body += _table(["kind", "similarity", "recordings", "labels", "splits", ""], rows, numeric=[1],
                       scroll=len(rows) > 10)
        if len(dups) > ctx.options.max_duplicate_groups:
            body += (f'<p class="note">{_fmt_int(len(dups) - ctx.options.max_duplicate_groups)} more groups in the '
                     "JSON description.</p>")
    lead = ("Recordings that are the same audio (identical samples) or nearly the same (matching spectral "
            "fingerprints, whatever the gain), across the whole dataset.")
    howto = ("Each row is a group; <i>similarity</i> is 1 for identical audio. Groups that span splits are the "
             "serious ones; groups with different labels mean at least one label is wrong.")
    return _section("duplicates", "Duplicates", body, lead=lead, howto=howto, number=n)


_FLAG_TEXT = {
    "clipping": ("clipping", "samples at full scale: the recording was too loud and the wave is cut flat"),
    "near_silent": ("near-silent", "the peak stays far below full scale: nothing, or almost nothing, was recorded"),
    "noise_only": ("noise only", "loud, spectrally flat sound and no word: the recording holds only noise"),
    "noise_burst": ("noise burst", "a loud, spectrally flat burst over the word (crackle, wind, handling)"),
    "hum": ("hum", "a steady tone such as 50/60-Hz mains hum"),
    "too_short": ("too short", "much shorter than the dataset's usual length: often a cut-off word"),
    "too_long": ("too long", "much longer than the dataset's usual length"),
    "wrong_sample_rate": ("wrong sample rate", "recorded at another rate than the rest of the dataset"),
    "dc_offset": ("DC offset", "the wave is not centred on zero (a faulty microphone or converter)"),
    "low_snr": ("low SNR", "the word is barely louder than the background noise"),
    "silence": ("silent", "mostly below −60 dBFS: nothing, or almost nothing, was recorded"),
    "clipped": ("clipping", "samples at full scale: the recording was too loud and the wave is cut flat"),
}


def _quality_section(ctx: _Ctx, n: int) -> str:
    counts, worst, _ = quality_view(ctx.x)
    _, _, extra = quality_view(ctx.x)
    try:
        n_ok = max(1, int(extra.get("n_checked") or ctx.summary.n_ok))
    except (TypeError, ValueError):
        n_ok = max(1, ctx.summary.n_ok)
    if not counts:
        body = '<p class="empty">No quality measurements.</p>'
    else:
        order = sorted(counts, key=lambda f: (counts[f] == 0, list(counts).index(f)))
        cards = "".join(
            _stat(_fmt_int(counts[f]) + f" <small>({100 * counts[f] / n_ok:.1f}%)</small>",
                  _FLAG_TEXT.get(f, (f.replace("_", " "), ""))[0], "warn" if counts[f] else "ok")
            for f in order)
        body = f'<div class="stat-grid">{cards}</div>'
        rows = []
        for flag in order:
            if not counts[flag]:
                continue
            name, what = _FLAG_TEXT.get(flag, (flag.replace("_", " "), ""))
            items = worst.get(flag, [])[: ctx.options.worst_per_flag]
            for j, it in enumerate(items):
                p = str(it.get("path"))
                if it.get("reason"):
                    value = esc(it["reason"])
                else:
                    keys = [k for k in it if k not in ("path", "label", "speaker", "split", "reasons")]
                    value = "; ".join(f"{esc(k)} {_fmt_num(it[k])}" for k in keys[:2]) or "–"
                flag_cell = (f'<b>{esc(name)}</b> <span class="note">({_fmt_int(counts[flag])})</span>'
                             f'<br><span class="note">{esc(what)}</span>') if j == 0 else ""
                rows.append([flag_cell, f'<span class="path">{esc(p)}</span>', ctx.chip(it.get("label")), value,
                             ctx.player(p)])
        if rows:
            body += _table(["flag", "file", "label", "measure", "listen"], rows, scroll=len(rows) > 14)
        else:
            body += '<div class="callout ok">No recording is flagged.</div>'
    lead = "Per-recording checks of the signal itself, counted over the readable recordings, with the worst of each."
    howto = ("The cards count recordings per flag; the table lists the worst few of each flag with a player, so "
             "you can hear whether the flag matters for your use.")
    return _section("quality", "Quality flags", body, lead=lead, howto=howto, number=n)


# --------------------------------------------------------------------------- the page

def _header(ctx: _Ctx, title: str, data_label: str, findings: list[Finding]) -> str:
    s = ctx.summary
    sp = s.speakers or {}
    anomalies = [f for f in findings if f.kind == "anomalies"]
    dups = sum(f.count for f in findings if f.kind in ("duplicates", "cross_split_duplicates"))
    kpis = [
        ("overview", _fmt_int(s.n_files), "files", ""),
        ("labels", _fmt_int(len(s.labels)), "labels", ""),
        ("splits", _fmt_int(sp.get("n_speakers")) if sp.get("known") else "–", "speakers", ""),
        ("overview", _fmt_duration(s.total_duration_s), "of audio", ""),
        ("overview", _fmt_int(len(ctx.broken)), "broken files", "bad" if ctx.broken else ""),
        ("splits", _fmt_int(len(s.leaking_speakers)), "leaking speakers", "bad" if s.leaking_speakers else ""),
        ("duplicates", _fmt_int(dups), "duplicate groups", "warn" if dups else ""),
        ("outliers", _fmt_int(anomalies[0].count if anomalies else 0), "outliers", "warn" if anomalies else ""),
    ]
    cards = "".join(f'<a class="kpi {cls}" href="#{sec}"><div class="v">{v}</div><div class="k">{esc(k)}</div></a>'
                    for sec, v, k, cls in kpis)
    from .. import __version__

    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<header class="hero"><div class="hero-inner"><div class="brand">kwscope report</div>'
            f"<h1>{esc(title)}</h1><p class=\"sub\"><code>{esc(data_label)}</code> · {esc(s.layout)} layout · "
            f"generated {when} · kwscope {esc(__version__)}</p>"
            f'<div class="kpis">{cards}</div></div></header>')


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


def _assemble(ctx: _Ctx, title: str, header: str, toc: str, sections: list[str]) -> str:
    from ..plots.export import plotly_js_inline

    specs = "".join(f'<script type="application/json" id="{sid}">{script_json(js)}</script>'
                    for sid, js in ctx.specs)
    return "".join([
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{esc(title)}</title>",
        f"<style>{_asset('report.css')}</style></head><body>",
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
        f"<script>{_asset('report.js')}</script>",
        "</body></html>",
    ])


def render_report(exploration, clips: Mapping[str, tuple[np.ndarray, int]] | None = None, *,
                  plan: ReportPlan | None = None, options: ReportOptions | None = None,
                  renderer: FigureRenderer | None = None, data_label: str | None = None,
                  extra: Mapping[str, Any] | None = None) -> RenderedReport:
    """Render the report page and its JSON description.

    Parameters
    ----------
    exploration
        An :class:`~kwscope.analysis.explore.Exploration` (or an object with its fields:
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
    findings = find_problems(exploration, opt)
    title = opt.title or f"kwscope report: {Path(str(s.root)).name or s.root}"
    label = data_label or str(s.root)

    # Figures first (the slow part, cached and parallel), then audio within what is left of the size limit.
    ctx = _Ctx(exploration, plan, opt, colors)
    ctx.renderer = renderer
    tasks = _figure_tasks(ctx, clips)
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
        ctx.embedded = _embed_audio(ctx, clips, budget)
        ctx.figures = dict(drawn)
        if isinstance(drawn.get("anomaly-map"), str):  # ring the points that can play, now that we know them
            ctx.figures["anomaly-map"] = _add_playable_ring(drawn["anomaly-map"], ctx)
        sections = [_findings_section(ctx, findings)]
        renderers = [
            lambda k: _overview_section(ctx, k),
            lambda k: _labels_section(ctx, k),
            lambda k: _lengths_section(ctx, k),
            lambda k: _splits_section(ctx, k),
            lambda k: _examples_section(ctx, clips, k),
            lambda k: _spec3d_section(ctx, clips, k),
            lambda k: _silence_section(ctx, clips, k),
            lambda k: _resampling_section(ctx, clips, k),
            lambda k: _mean_spectra_section(ctx, k),
            lambda k: _violins_section(ctx, k),
            lambda k: _map_section(ctx, k),
            lambda k: _outliers_section(ctx, k),
            lambda k: _duplicates_section(ctx, k),
            lambda k: _quality_section(ctx, k),
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


def _describe(exploration, ctx: _Ctx, plan: ReportPlan, opt: ReportOptions, findings: list[Finding], title: str,
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
    return out
