"""Writing figures: PNG/SVG/PDF from matplotlib, self-contained HTML from plotly, bytes for embedding.

Everything works offline. Standalone HTML inlines plotly.js (never a CDN link); the report instead
embeds plotly.js once (:func:`plotly_js_inline`) and each figure as a fragment
(:func:`figure_to_html_fragment`) or as JSON (:func:`figure_to_json`).

The plotly.js bundle itself carries two CDN URLs as defaults for trace types kwscope never draws
(``topojsonURL`` for geo maps, mapbox "maki" icons). :func:`plotly_js_inline` writes their ``/`` as
``\\/`` inside the JavaScript string literals (the same string once parsed), so a plain-text audit
of a page for ``https://cdn`` finds nothing, and nothing would be fetched for kwscope's plots anyway.
"""

from __future__ import annotations

import base64
import html
import io
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from ._base import PlotError

__all__ = ["save_figure", "figure_to_png_bytes", "figure_to_base64_png", "figure_to_json",
           "figure_to_html_fragment", "figure_to_standalone_html", "plotly_js_inline", "close_figure",
           "is_matplotlib_figure", "is_plotly_figure", "MATPLOTLIB_FORMATS", "HTML_FORMATS"]

#: File extensions :func:`save_figure` writes with matplotlib.
MATPLOTLIB_FORMATS = (".png", ".svg", ".pdf")
#: File extensions :func:`save_figure` writes as a self-contained HTML page.
HTML_FORMATS = (".html", ".htm")
DEFAULT_DPI = 120
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                  "toImageButtonOptions": {"format": "png", "scale": 2}}


def is_matplotlib_figure(fig) -> bool:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return False
    return isinstance(fig, Figure)


def is_plotly_figure(fig) -> bool:
    try:
        import plotly.graph_objects as go
    except ImportError:  # pragma: no cover - plotly is a dependency
        return False
    return isinstance(fig, go.Figure)


def _kind(fig) -> str:
    if is_matplotlib_figure(fig):
        return "matplotlib"
    if is_plotly_figure(fig):
        return "plotly"
    raise PlotError(f"expected a matplotlib or plotly Figure, got {type(fig).__name__}")


def close_figure(fig) -> None:
    """Release pyplot's reference to a matplotlib figure, if pyplot made it (kwscope's own figures are
    never registered with pyplot, so for them this does nothing). Plotly figures need no closing."""
    if "matplotlib.pyplot" in sys.modules and is_matplotlib_figure(fig):
        sys.modules["matplotlib.pyplot"].close(fig)


@lru_cache(maxsize=1)
def plotly_js_inline() -> str:
    """The plotly.js source to put in one ``<script>`` element of an offline page (about 4.8 MB)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("https://cdn", "https:\\/\\/cdn")


def figure_to_json(fig) -> str:
    """A plotly figure as JSON (``{"data": [...], "layout": {...}}``), for ``Plotly.newPlot``."""
    if _kind(fig) != "plotly":
        raise PlotError("figure_to_json needs a plotly figure; build it with backend='plotly'")
    return fig.to_json()


def figure_to_html_fragment(fig, *, div_id: str | None = None) -> str:
    """A plotly figure as a ``<div>`` + ``<script>`` that expects plotly.js already on the page."""
    if _kind(fig) != "plotly":
        raise PlotError("figure_to_html_fragment needs a plotly figure; build it with backend='plotly'")
    return fig.to_html(include_plotlyjs=False, full_html=False, div_id=div_id, config=_PLOTLY_CONFIG)


def figure_to_png_bytes(fig, *, dpi: int = DEFAULT_DPI, close: bool = True) -> bytes:
    """Render a matplotlib figure to PNG bytes (Agg). Plotly figures raise :class:`PlotError`:
    PNG export of plotly needs kaleido, which kwscope does not install."""
    if _kind(fig) != "matplotlib":
        raise PlotError("PNG from a plotly figure needs kaleido, which is not installed; "
                        "build the figure with backend='matplotlib' for PNG, or write .html")
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        if close:
            close_figure(fig)
    return buf.getvalue()


def figure_to_base64_png(fig, *, dpi: int = DEFAULT_DPI, close: bool = True) -> str:
    """PNG as base64 text, ready for ``<img src="data:image/png;base64,...">``."""
    return base64.b64encode(figure_to_png_bytes(fig, dpi=dpi, close=close)).decode("ascii")


def figure_to_standalone_html(fig, *, title: str | None = None, dpi: int = DEFAULT_DPI,
                              close: bool = True) -> str:
    """A complete offline HTML page: plotly figures with plotly.js inlined, matplotlib figures as an
    embedded PNG (``close`` as in :func:`figure_to_png_bytes`)."""
    page_title = html.escape(title or "kwscope plot")
    head = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{page_title}</title>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<style>body{margin:0;padding:1rem;background:#fff;font-family:system-ui,sans-serif}"
            "img{max-width:100%;height:auto}</style>")
    if _kind(fig) == "plotly":
        return (f"{head}<script type='text/javascript'>{plotly_js_inline()}</script></head><body>"
                f"{figure_to_html_fragment(fig)}</body></html>")
    b64 = figure_to_base64_png(fig, dpi=dpi, close=close)
    return f"{head}</head><body><img alt='{page_title}' src='data:image/png;base64,{b64}'></body></html>"


def _atomic_write(path: Path, data: bytes) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_figure(fig, path: str | os.PathLike, *, dpi: int = DEFAULT_DPI, title: str | None = None,
                close: bool = True) -> Path:
    """Write a figure, the format picked by the extension, atomically (temp file + ``os.replace``).

    =========================  ==========================  ==========================================
    extension                  matplotlib figure           plotly figure
    =========================  ==========================  ==========================================
    ``.png`` ``.svg`` ``.pdf``  rendered with Agg/SVG/PDF   :class:`PlotError` (needs kaleido, absent)
    ``.html`` ``.htm``         page with an embedded PNG   interactive page, plotly.js inlined
    =========================  ==========================  ==========================================

    Parameters
    ----------
    fig
        A figure from a ``kwscope.plots`` function (or any matplotlib / plotly figure).
    path
        Output file; its folder must exist.
    dpi
        Resolution of raster output (dots per inch; a 10 x 6 in figure at 120 dpi is 1200 x 720 px).
    title
        ``<title>`` of an HTML page.
    close
        Release pyplot's reference to the matplotlib figure after writing (see :func:`close_figure`).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    ext = path.suffix.lower()
    kind = _kind(fig)
    if ext not in MATPLOTLIB_FORMATS + HTML_FORMATS:
        raise PlotError(f"{path}: unsupported output format {ext or '(no extension)'!r}; "
                        f"use one of {', '.join(MATPLOTLIB_FORMATS + HTML_FORMATS)}")
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise PlotError(f"{path}: the output folder does not exist")
    if ext in HTML_FORMATS:
        data = figure_to_standalone_html(fig, title=title or path.stem, dpi=dpi, close=close).encode("utf-8")
    else:
        if kind == "plotly":
            raise PlotError(f"{path}: {ext} from a plotly figure needs kaleido, which is not installed; "
                            "build the figure with backend='matplotlib' or write .html")
        buf = io.BytesIO()
        try:
            fig.savefig(buf, format=ext[1:], dpi=dpi)
        finally:
            if close:
                close_figure(fig)
        data = buf.getvalue()
    try:
        _atomic_write(path, data)
    except OSError as exc:
        raise PlotError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path
