"""The report page's building blocks: escaping and number formats, section and table markup, and
the :class:`PageContext` every section renderer shares (label chips, players, figures)."""

from __future__ import annotations

import html as _html
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np

from .figures import FigureError
from .labels import LabelView, label_view
from .media import png_data_uri
from .plan import ReportOptions, ReportPlan, broken_files, reasons_text


def esc(value: Any) -> str:
    return _html.escape("" if value is None else str(value), quote=True)


def fmt_int(n: Any) -> str:
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return "–"


def fmt_num(x: Any, digits: int = 3) -> str:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return "–"
    if not np.isfinite(f):
        return "–"
    return f"{f:.{digits}g}" if abs(f) < 1e4 else f"{f:,.0f}"


def fmt_duration(seconds: float) -> str:
    s = float(seconds or 0.0)
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def asset(name: str) -> str:
    return resources.files("kwscope.report").joinpath("assets", name).read_text(encoding="utf-8")


class PageContext:
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
        s = self.summary
        self.labels: LabelView = plan.labels or label_view(s.labels, s.recordings_per_label, options.max_labels)

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


def section(sid: str, title: str, body: str, *, lead: str = "", howto: str = "", number: int | None = None) -> str:
    num = f'<span class="num">{number}</span>' if number is not None else ""
    parts = [f'<section id="{sid}" class="section"><h2>{num}{esc(title)}</h2>']
    if lead:
        parts.append(f'<p class="lead">{lead}</p>')
    if howto:
        parts.append(f'<div class="howto"><b>How to read it.</b> {howto}</div>')
    parts.append(body)
    parts.append("</section>")
    return "".join(parts)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[int] = (),
           scroll: bool = False, cls: str = "") -> str:
    """Rows are already-escaped HTML cells."""
    num = set(numeric)
    head = "".join(f'<th class="num">{esc(h)}</th>' if i in num else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    wrap = "table-wrap scroll" if scroll else "table-wrap"
    return f'<div class="{wrap}"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def kv(pairs: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<div class="table-wrap" style="display:inline-block"><table class="kv"><tbody>{rows}</tbody></table></div>'


def stat(value: str, key: str, cls: str = "") -> str:
    return f'<div class="stat {cls}"><div class="v">{value}</div><div class="k">{esc(key)}</div></div>'


def reasons_html(reasons: Any) -> str:
    items = reasons_text(reasons)
    if not items:
        return '<span class="note">–</span>'
    return '<ul class="reasons">' + "".join(f"<li>{esc(r)}</li>" for r in items) + "</ul>"
