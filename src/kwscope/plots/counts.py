"""Dataset views of counts: recordings per label and the histogram of recording lengths."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._base import PlotError, check_backend
from ._style import (BOUNDARY_COLOR, WAVE_COLOR, mpl_figure, mpl_style, plotly_layout)
from ._grid import (_check_labels_mapping, _colors_for)


def plot_label_counts(counts: Mapping[str, int], *, title: str | None = None,
                      colors: Mapping[str, str] | None = None, backend: str = "matplotlib"):
    """Recordings per label as a bar chart, one color per label, counts written on the bars.

    Parameters
    ----------
    counts : Mapping[str, int]
        Label -> number of recordings, drawn in the mapping's order.
    title : str, optional
    colors : Mapping[str, str], optional
        Label -> color, to keep colors shared with other figures.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        x "Label", y "Recordings".
    """
    check_backend(backend)
    labels = _check_labels_mapping("counts", counts)
    values = []
    for label, v in zip(labels, counts.values()):
        try:
            iv = int(v)
        except (TypeError, ValueError):
            iv = -1
        if iv < 0 or iv != v:
            raise PlotError(f"counts[{label!r}]={v!r} must be a non-negative integer")
        values.append(iv)
    cmap = _colors_for(labels, colors)
    bar_colors = [cmap[lb] for lb in labels]
    total = sum(values)
    title = title or f"Recordings per label ({total:,} recordings, {len(labels)} labels)"
    if backend == "plotly":
        import plotly.graph_objects as go

        fig = go.Figure(go.Bar(x=labels, y=values, marker_color=bar_colors, text=values, textposition="outside",
                               cliponaxis=False, hovertemplate="%{x}: %{y} recordings<extra></extra>"))
        fig.update_xaxes(title_text="Label", type="category", tickangle=-45 if len(labels) > 12 else 0)
        fig.update_yaxes(title_text="Recordings", rangemode="tozero")
        return plotly_layout(fig, title=title, height=460)
    with mpl_style():
        fig = mpl_figure(max(6.0, min(16.0, 0.45 * len(labels) + 3)), 4.4)
        ax = fig.subplots()
        x = np.arange(len(labels))
        bars = ax.bar(x, values, color=bar_colors, width=0.75, edgecolor="white", linewidth=0.6)
        if len(labels) <= 40:
            ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2, fontsize=8.5)
        rotate = len(labels) > 12 or max(map(len, labels)) > 8
        ax.set_xticks(x, labels, rotation=45 if rotate else 0, ha="right" if rotate else "center")
        ax.set_xlim(-0.6, len(labels) - 0.4)
        ax.set_xlabel("Label")
        ax.set_ylabel("Recordings")
        ax.margins(y=0.1)
        ax.grid(True, axis="y")
        ax.set_axisbelow(True)
        fig.suptitle(title)
    return fig


def plot_length_histogram(edges_s: Sequence[float], counts: Sequence[int], *, dominant_s: float | None = None,
                          title: str | None = None, log_counts: bool | None = None,
                          backend: str = "matplotlib"):
    """Histogram of recording lengths, from bins the analysis computed.

    Parameters
    ----------
    edges_s : Sequence[float] [shape=(n_bins + 1,)]
        Bin edges in seconds, increasing.
    counts : Sequence[int] [shape=(n_bins,)]
        Recordings in each bin.
    dominant_s : float, optional
        The most common length in seconds, drawn as a dashed line.
    log_counts : bool, optional
        Log-scaled count axis; by default on when the tallest bin is over 50 times the smallest
        non-empty one (a dataset of 1-s clips with a few short ones).
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        x "Length (s)", y "Recordings".
    """
    check_backend(backend)
    edges = np.asarray(edges_s, dtype=np.float64).ravel()
    cnt = np.asarray(counts, dtype=np.float64).ravel()
    if cnt.size == 0 or edges.size != cnt.size + 1:
        raise PlotError(f"edges_s must have one more value than counts; got {edges.size} edges "
                        f"and {cnt.size} counts")
    if not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
        raise PlotError("edges_s must be finite and strictly increasing (seconds)")
    if not np.isfinite(cnt).all() or (cnt < 0).any():
        raise PlotError("counts must be finite non-negative numbers")
    nonzero = cnt[cnt > 0]
    if log_counts is None:
        log_counts = bool(nonzero.size and nonzero.max() > 50 * nonzero.min())
    widths = np.diff(edges)
    centers = edges[:-1] + widths / 2
    title = title or f"Recording lengths ({int(cnt.sum()):,} recordings)"
    dom_text = None if dominant_s is None else f"most common: {dominant_s:.3g} s"
    if backend == "plotly":
        import plotly.graph_objects as go

        fig = go.Figure(go.Bar(x=centers, y=cnt, width=widths, marker_color=WAVE_COLOR,
                               marker_line={"color": "white", "width": 0.5},
                               customdata=np.stack([edges[:-1], edges[1:]], axis=1),
                               hovertemplate="%{customdata[0]:.3f}–%{customdata[1]:.3f} s: %{y} recordings"
                                             "<extra></extra>"))
        if dominant_s is not None:
            fig.add_vline(x=float(dominant_s), line={"color": BOUNDARY_COLOR, "dash": "dash"},
                          annotation_text=dom_text, annotation_position="top left")
        fig.update_xaxes(title_text="Length (s)")
        fig.update_yaxes(title_text="Recordings" + (" (log scale)" if log_counts else ""),
                         type="log" if log_counts else "linear", dtick=1 if log_counts else None)
        fig.update_layout(bargap=0)
        return plotly_layout(fig, title=title, height=420)
    with mpl_style():
        fig = mpl_figure(9, 4.2)
        ax = fig.subplots()
        ax.bar(edges[:-1], cnt, width=widths, align="edge", color=WAVE_COLOR, edgecolor="white", linewidth=0.5)
        if dominant_s is not None:
            ax.axvline(float(dominant_s), color=BOUNDARY_COLOR, linestyle="--", linewidth=1.4, label=dom_text)
            ax.legend(loc="upper left")
        if log_counts:
            ax.set_yscale("log")
        ax.set_xlabel("Length (s)")
        ax.set_ylabel("Recordings" + (" (log scale)" if log_counts else ""))
        ax.grid(True, axis="y")
        ax.set_axisbelow(True)
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- class means
