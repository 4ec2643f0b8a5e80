"""Views of a whole dataset, drawn from what the analysis computed (plain numbers and arrays).

Nothing here reads recordings or depends on the analysis classes: each function takes mappings
and arrays, so the report, a notebook or a test can call it with any numbers. Labels keep one
color across views (:func:`kwscope.plots.label_colors`; pass ``colors=`` to share one mapping
over several figures). Every function returns a :class:`matplotlib.figure.Figure` with
``backend="matplotlib"`` (the default) or a :class:`plotly.graph_objects.Figure` with
``backend="plotly"``.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence

import numpy as np

from ._base import PlotError, as_2d, check_backend, edges_from_centers, grid_shape
from ._style import (BOUNDARY_COLOR, PLOTLY_SCORE_SCALE, PLOTLY_SPEC_SCALE, SCORE_CMAP, SPEC_CMAP,
                     WAVE_COLOR, label_colors, mpl_figure, mpl_style, plotly_layout)

__all__ = ["plot_label_counts", "plot_length_histogram", "plot_mean_fft_grid",
           "plot_mean_spectrogram_grid", "plot_violins", "plot_anomaly_map", "ANOMALY_CUSTOMDATA"]

#: The fields of each point's ``customdata`` in :func:`plot_anomaly_map`'s plotly figure, in order:
#: ``[path, label, speaker, reasons, score, index]`` -- ``path`` as given (dataset-relative, ``/``
#: separators), ``speaker`` ``""`` when unknown, ``reasons`` one string joined with ``"; "``
#: (``""`` when none), ``score`` a float or ``None``, ``index`` the row in the inputs (int).
ANOMALY_CUSTOMDATA = ("path", "label", "speaker", "reasons", "score", "index")

FREQ_LABEL = "Frequency (Hz)"
TIME_LABEL = "Time (s)"


def _colors_for(labels, colors: Mapping[str, str] | None) -> dict[str, str]:
    return label_colors(labels, base=colors)


def _check_labels_mapping(name: str, m) -> list[str]:
    if not isinstance(m, Mapping) or not m:
        raise PlotError(f"{name} must be a non-empty mapping of label to values, got {type(m).__name__}"
                        + (" (empty)" if isinstance(m, Mapping) else ""))
    return [str(k) for k in m]


def _grid_axes(fig, n: int, ncols: int | None, *, sharex=True, sharey=True):
    """A grid of ``n`` axes; unused cells hidden, tick labels kept where the cell below is empty."""
    nrows, ncols = grid_shape(n, ncols)
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    for i, ax in enumerate(flat[:n]):
        if i + ncols >= n:  # nothing visible below: this cell shows the x axis
            ax.tick_params(labelbottom=True)
    return flat[:n], nrows, ncols


def _plotly_grid(n: int, ncols: int | None, titles, *, shared=True):
    from plotly.subplots import make_subplots

    nrows, ncols = grid_shape(n, ncols)
    return make_subplots(rows=nrows, cols=ncols, subplot_titles=list(titles), shared_xaxes="all" if shared else False,
                         shared_yaxes="all" if shared else False, horizontal_spacing=min(0.06, 0.4 / ncols),
                         vertical_spacing=min(0.12, 0.5 / nrows)), nrows, ncols


# ----------------------------------------------------------------------------- counts and lengths


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


def plot_mean_fft_grid(freqs_hz, means: Mapping[str, np.ndarray], *, title: str | None = None,
                       ncols: int | None = None, colors: Mapping[str, str] | None = None,
                       value_label: str = "Mean magnitude", backend: str = "matplotlib"):
    """Mean FFT of each label, one small plot per label on shared axes.

    Parameters
    ----------
    freqs_hz : np.ndarray [shape=(n_freqs,)]
        Frequencies in Hz.
    means : Mapping[str, np.ndarray [shape=(n_freqs,)]]
        Label -> mean one-sided magnitude spectrum (e.g. of :func:`kwscope.dsp.fft_spectrum`).
    ncols : int, optional
        Columns of the grid (default: up to 5).
    value_label : str
        The y axis title.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        One panel per label: x "Frequency (Hz)", y ``value_label``.
    """
    check_backend(backend)
    labels = _check_labels_mapping("means", means)
    freqs = np.asarray(freqs_hz, dtype=np.float64).ravel()
    curves = []
    for label, m in zip(labels, means.values()):
        m = np.asarray(m, dtype=np.float64).ravel()
        if m.shape != freqs.shape:
            raise PlotError(f"means[{label!r}] has {m.size} values but freqs_hz has {freqs.size}")
        curves.append(m)
    cmap = _colors_for(labels, colors)
    title = title or "Mean FFT per label"
    if backend == "plotly":
        import plotly.graph_objects as go

        fig, nrows, ncols = _plotly_grid(len(labels), ncols, labels)
        for i, (label, m) in enumerate(zip(labels, curves)):
            r, c = divmod(i, ncols)
            fig.add_trace(go.Scatter(x=freqs, y=m, mode="lines", name=label, fill="tozeroy",
                                     line={"color": cmap[label], "width": 1.2},
                                     hovertemplate=f"{html.escape(label)}: %{{x:.0f}} Hz, %{{y:.4g}}<extra></extra>"),
                          row=r + 1, col=c + 1)
        for c in range(1, ncols + 1):
            fig.update_xaxes(title_text=FREQ_LABEL, row=nrows, col=c)
        for r in range(1, nrows + 1):
            fig.update_yaxes(title_text=value_label, row=r, col=1)
        return plotly_layout(fig, title=title, height=max(360, 250 * nrows + 100))
    with mpl_style():
        nrows, nc = grid_shape(len(labels), ncols)
        fig = mpl_figure(min(18.0, 3.3 * nc + 0.8), 2.5 * nrows + 0.9)
        axes, nrows, nc = _grid_axes(fig, len(labels), ncols)
        for i, (ax, label, m) in enumerate(zip(axes, labels, curves)):
            ax.plot(freqs, m, color=cmap[label], linewidth=0.9)
            ax.fill_between(freqs, m, color=cmap[label], alpha=0.2, linewidth=0)
            ax.set_title(label)
            ax.grid(True)
            if freqs.size > 1:
                ax.set_xlim(freqs[0], freqs[-1])
            ax.set_ylim(bottom=min(0.0, float(np.min([c.min() for c in curves]))))
            if i % nc == 0:
                ax.set_ylabel(value_label)
            if i + nc >= len(labels):
                ax.set_xlabel(FREQ_LABEL)
        fig.suptitle(title)
    return fig


def plot_mean_spectrogram_grid(times_s, freqs_hz, means: Mapping[str, np.ndarray], *, title: str | None = None,
                               ncols: int | None = None, value_label: str = "mean log power (ln PSD)",
                               backend: str = "matplotlib"):
    """Mean spectrogram of each label, one image per label, on one shared color scale.

    Parameters
    ----------
    times_s : np.ndarray [shape=(frames,)]
        Frame centre times in seconds.
    freqs_hz : np.ndarray [shape=(bins,)]
        Bin centre frequencies in Hz.
    means : Mapping[str, np.ndarray [shape=(frames, bins)]]
        Label -> mean log spectrogram (as :func:`kwscope.dsp.log_specgram` lays it out).
    ncols : int, optional
        Columns of the grid (default: up to 5).
    value_label : str
        The colorbar title.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        One image per label: x "Time (s)", y "Frequency (Hz)"; one colorbar. The color range is
        the 1st to 99.5th percentile over all labels, so one loud label does not wash out the rest.
    """
    check_backend(backend)
    labels = _check_labels_mapping("means", means)
    times = np.asarray(times_s, dtype=np.float64).ravel()
    freqs = np.asarray(freqs_hz, dtype=np.float64).ravel()
    images = []
    for label, m in zip(labels, means.values()):
        m = as_2d(f"means[{label!r}]", m, "(frames, bins)")
        if m.shape != (times.size, freqs.size):
            raise PlotError(f"means[{label!r}] has shape {m.shape}, expected (frames, bins) = "
                            f"({times.size}, {freqs.size}) from times_s and freqs_hz")
        images.append(m)
    stacked = np.concatenate([im.ravel() for im in images])
    finite = stacked[np.isfinite(stacked)]
    vmin, vmax = (np.percentile(finite, [1, 99.5]) if finite.size else (0.0, 1.0))
    if vmax <= vmin:
        vmax = vmin + 1.0
    title = title or "Mean spectrogram per label"
    if backend == "plotly":
        import plotly.graph_objects as go

        fig, nrows, ncols = _plotly_grid(len(labels), ncols, labels)
        for i, (label, m) in enumerate(zip(labels, images)):
            r, c = divmod(i, ncols)
            fig.add_trace(go.Heatmap(x=times, y=freqs, z=m.T, coloraxis="coloraxis", name=label,
                                     hovertemplate=f"{html.escape(label)}: %{{x:.3f}} s, %{{y:.0f}} Hz: "
                                                   "%{z:.2f}<extra></extra>"),
                          row=r + 1, col=c + 1)
        for c in range(1, ncols + 1):
            fig.update_xaxes(title_text=TIME_LABEL, row=nrows, col=c)
        for r in range(1, nrows + 1):
            fig.update_yaxes(title_text=FREQ_LABEL, row=r, col=1)
        fig.update_layout(coloraxis={"colorscale": PLOTLY_SPEC_SCALE, "cmin": float(vmin), "cmax": float(vmax),
                                     "colorbar": {"title": {"text": value_label, "side": "right"}}})
        return plotly_layout(fig, title=title, height=max(380, 260 * nrows + 100))
    x0, x1 = edges_from_centers(times, 1.0)
    y0, y1 = edges_from_centers(freqs, 1.0)
    with mpl_style():
        nrows, nc = grid_shape(len(labels), ncols)
        fig = mpl_figure(min(19.0, 3.3 * nc + 1.6), 2.6 * nrows + 0.9)
        axes, nrows, nc = _grid_axes(fig, len(labels), ncols)
        im = None
        for i, (ax, label, m) in enumerate(zip(axes, labels, images)):
            im = ax.imshow(m.T, origin="lower", aspect="auto", extent=(x0, x1, max(0.0, y0), y1),
                           cmap=SPEC_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_title(label)
            if i % nc == 0:
                ax.set_ylabel(FREQ_LABEL)
            if i + nc >= len(labels):
                ax.set_xlabel(TIME_LABEL)
        cb = fig.colorbar(im, ax=axes, shrink=min(1.0, 0.5 + 0.15 * nrows), extend="both", aspect=30)
        cb.set_label(value_label)
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- violins


def plot_violins(values: Mapping[float, Mapping[str, np.ndarray]], *, title: str | None = None,
                 colors: Mapping[str, str] | None = None, value_label: str = "log power (ln PSD)",
                 backend: str = "matplotlib"):
    """Distribution of one frequency component per label: one row of violins per frequency.

    Parameters
    ----------
    values : Mapping[float, Mapping[str, np.ndarray [shape=(n_clips,)]]]
        Frequency in Hz -> label -> the value at that frequency for each clip of the label (e.g.
        the log spectrogram at that bin). The notebook looks at 1000, 2500 and 6000 Hz.
    colors : Mapping[str, str], optional
        Label -> color.
    value_label : str
        The y axis title.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        One row per frequency ("at 1000 Hz"), violins per label with the median marked;
        x "Label", y ``value_label``. A label with fewer than 2 values (or constant ones) gets
        its points instead of a violin.
    """
    check_backend(backend)
    if not isinstance(values, Mapping) or not values:
        raise PlotError("values must be a non-empty mapping of frequency (Hz) to {label: values}")
    rows = []
    all_labels: list[str] = []
    for hz, per_label in values.items():
        try:
            hz_f = float(hz)
        except (TypeError, ValueError):
            raise PlotError(f"values key {hz!r} must be a frequency in Hz") from None
        labels = _check_labels_mapping(f"values[{hz!r}]", per_label)
        arrays = []
        for label, v in zip(labels, per_label.values()):
            a = np.asarray(v, dtype=np.float64).ravel()
            arrays.append(a[np.isfinite(a)])
        rows.append((hz_f, labels, arrays))
        all_labels += [lb for lb in labels if lb not in all_labels]
    cmap = _colors_for(all_labels, colors)
    title = title or "Frequency components per label"
    if backend == "plotly":
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=len(rows), cols=1, subplot_titles=[f"at {hz:g} Hz" for hz, _, _ in rows],
                            vertical_spacing=min(0.12, 0.5 / len(rows)))
        for r, (hz, labels, arrays) in enumerate(rows, start=1):
            for label, a in zip(labels, arrays):
                fig.add_trace(go.Violin(x=[label] * a.size, y=a, name=label, legendgroup=label,
                                        showlegend=False, line_color=cmap[label], fillcolor=cmap[label],
                                        opacity=0.75, meanline_visible=True, box_visible=True,
                                        points=False, spanmode="hard", scalemode="width", width=0.8,
                                        hoveron="violins"),
                              row=r, col=1)
            fig.update_yaxes(title_text=value_label, row=r, col=1)
            fig.update_xaxes(type="category", categoryorder="array", categoryarray=all_labels, row=r, col=1)
        fig.update_xaxes(title_text="Label", row=len(rows), col=1)
        fig.update_layout(violinmode="overlay")  # one trace per label: no side-by-side grouping
        return plotly_layout(fig, title=title, height=max(380, 300 * len(rows) + 80))
    with mpl_style():
        fig = mpl_figure(max(7.0, min(18.0, 0.55 * len(all_labels) + 3)), 2.9 * len(rows) + 0.8)
        axes = fig.subplots(len(rows), 1, squeeze=False, sharex=True)[:, 0]
        pos_of = {lb: i for i, lb in enumerate(all_labels)}
        for ax, (hz, labels, arrays) in zip(axes, rows):
            kde_ok = [(lb, a) for lb, a in zip(labels, arrays) if a.size >= 2 and np.ptp(a) > 0]
            if kde_ok:
                parts = ax.violinplot([a for _, a in kde_ok], positions=[pos_of[lb] for lb, _ in kde_ok],
                                      widths=0.8, showmedians=True, showextrema=False)
                for body, (lb, _) in zip(parts["bodies"], kde_ok):
                    body.set_facecolor(cmap[lb])
                    body.set_edgecolor(cmap[lb])
                    body.set_alpha(0.7)
                parts["cmedians"].set_color("#222222")
                parts["cmedians"].set_linewidth(1.4)
            for lb, a in zip(labels, arrays):
                if a.size and not (a.size >= 2 and np.ptp(a) > 0):
                    ax.scatter(np.full(a.size, pos_of[lb]), a, color=cmap[lb], s=18, zorder=3)
            ax.set_title(f"at {hz:g} Hz")
            ax.set_ylabel(value_label)
            ax.grid(True, axis="y")
            ax.set_axisbelow(True)
        rotate = len(all_labels) > 12 or max(map(len, all_labels)) > 8
        axes[-1].set_xticks(range(len(all_labels)), all_labels, rotation=45 if rotate else 0,
                            ha="right" if rotate else "center")
        axes[-1].set_xlim(-0.6, len(all_labels) - 0.4)
        axes[-1].set_xlabel("Label")
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- anomaly map


def _text_list(name: str, seq, n: int, *, allow_none: bool) -> list[str] | None:
    if seq is None:
        if allow_none:
            return None
        raise PlotError(f"{name} is required")
    if isinstance(seq, (str, bytes)):
        raise PlotError(f"{name} must be a sequence with one entry per point, not a string")
    out = ["" if v is None else (v if isinstance(v, str) else str(v)) for v in seq]
    if len(out) != n:
        raise PlotError(f"{name} has {len(out)} entries but coords has {n} points")
    return out


def _reasons_list(reasons, n: int) -> list[str] | None:
    if reasons is None:
        return None
    if isinstance(reasons, (str, bytes)):
        raise PlotError("reasons must have one entry per point (a string or a list of strings), not a string")
    out = []
    for r in reasons:
        if r is None:
            out.append("")
        elif isinstance(r, str):
            out.append(r)
        else:
            out.append("; ".join(map(str, r)))
    if len(out) != n:
        raise PlotError(f"reasons has {len(out)} entries but coords has {n} points")
    return out


def _short_path(path: str) -> str:
    """``label/file.wav`` for a point's caption: the file name and the folder that names the label."""
    parts = path.replace(os.sep, "/").rsplit("/", 2)
    return "/".join(parts[-2:])


def plot_anomaly_map(coords, *, labels: Sequence[str], paths: Sequence[str],
                     speakers: Sequence[str | None] | None = None,
                     reasons: Sequence[str | Sequence[str] | None] | None = None,
                     scores: Sequence[float] | None = None, color_by: str = "label",
                     title: str | None = None, colors: Mapping[str, str] | None = None,
                     axis_titles: Sequence[str] = ("PC 1", "PC 2", "PC 3"), annotate_top: int = 5,
                     backend: str = "matplotlib"):
    """Recordings as points in 3-D (e.g. PCA of their standardized spectra): outliers stand apart.

    Parameters
    ----------
    coords : np.ndarray [shape=(n, 3)]
        Each recording's position.
    labels, paths : Sequence[str] [length n]
        Label and path (dataset-relative, ``/`` separators) of each point.
    speakers : Sequence[str or None], optional
        Speaker of each point (``None`` or ``""`` when unknown).
    reasons : Sequence[str or Sequence[str] or None], optional
        Why each point is flagged (lists are joined with ``"; "``).
    scores : Sequence[float], optional
        Anomaly score of each point (higher = more unusual).
    color_by : {"label", "score"}
        Color points by label (one trace per label, legend toggles it) or by score (one trace,
        viridis, colorbar; needs ``scores``).
    axis_titles : Sequence[str]
        Titles of the three axes.
    annotate_top : int
        matplotlib only: write the file name beside the ``annotate_top`` highest-scoring points.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        Plotly: ``Scatter3d`` traces whose hover shows file, label, speaker, score and reasons, and
        whose points carry ``customdata`` rows laid out as :data:`ANOMALY_CUSTOMDATA`
        (``[path, label, speaker, reasons, score, index]``); in a click handler,
        ``event.points[0].customdata[0]`` is the path and ``[5]`` the row in the inputs. The
        figure's ``layout.meta`` is ``{"kwscope_view": "anomaly_map", "customdata":
        ANOMALY_CUSTOMDATA}``.
    """
    check_backend(backend)
    if color_by not in ("label", "score"):
        raise PlotError(f"color_by={color_by!r} must be 'label' or 'score'")
    xyz = as_2d("coords", coords, "(n, 3)")
    if xyz.shape[1] != 3:
        raise PlotError(f"coords must have shape (n, 3), got {xyz.shape}")
    if not np.isfinite(xyz).all():
        raise PlotError("coords has NaN/Inf values")
    n = xyz.shape[0]
    labels_l = _text_list("labels", labels, n, allow_none=False)
    paths_l = _text_list("paths", paths, n, allow_none=False)
    speakers_l = _text_list("speakers", speakers, n, allow_none=True) or [""] * n
    reasons_l = _reasons_list(reasons, n) or [""] * n
    score_a = None
    if scores is not None:
        score_a = np.asarray(scores, dtype=np.float64).ravel()
        if score_a.size != n:
            raise PlotError(f"scores has {score_a.size} entries but coords has {n} points")
    if color_by == "score" and score_a is None:
        raise PlotError("color_by='score' needs scores")
    cmap = _colors_for(labels_l, colors)
    title = title or f"Anomaly map ({n:,} recordings" + (", colored by score)" if color_by == "score" else ")")
    if backend == "plotly":
        return _plotly_anomaly(xyz, labels_l, paths_l, speakers_l, reasons_l, score_a, color_by, cmap,
                               title, axis_titles)
    with mpl_style():
        fig = mpl_figure(10, 7.2)
        ax = fig.add_subplot(projection="3d")
        if color_by == "score":
            order = np.argsort(score_a, kind="stable")  # high scores drawn last, on top
            sc = ax.scatter(*xyz[order].T, c=score_a[order], cmap=SCORE_CMAP, s=14, alpha=0.85,
                            depthshade=False, edgecolors="none")
            cb = fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.08)
            cb.set_label("Anomaly score")
        else:
            lab = np.asarray(labels_l, dtype=object)
            for label in sorted(set(labels_l)):
                pts = xyz[lab == label]
                ax.scatter(*pts.T, color=cmap[label], s=12, alpha=0.8, depthshade=False, label=label,
                           edgecolors="none")
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title="Label", markerscale=1.6,
                      ncols=1 if len(cmap) <= 20 else 2)
        if score_a is not None and annotate_top > 0:
            for i in np.argsort(-score_a, kind="stable")[: int(annotate_top)]:
                ax.text(*xyz[i], "  " + _short_path(paths_l[i]), fontsize=8, color="#222222")
                ax.scatter(*xyz[i], s=60, facecolors="none", edgecolors=BOUNDARY_COLOR, linewidths=1.3,
                           depthshade=False)
        ax.set_xlabel(axis_titles[0])
        ax.set_ylabel(axis_titles[1])
        ax.set_zlabel(axis_titles[2])
        ax.view_init(elev=22, azim=-55)
        fig.suptitle(title)
    return fig


def _plotly_anomaly(xyz, labels, paths, speakers, reasons, scores, color_by, cmap, title, axis_titles):
    import plotly.graph_objects as go

    n = xyz.shape[0]
    score_list = [None] * n if scores is None else [None if not np.isfinite(s) else float(s) for s in scores]
    custom = [[paths[i], labels[i], speakers[i], reasons[i], score_list[i], i] for i in range(n)]

    def hover_text(i: int) -> str:
        parts = [f"<b>{html.escape(paths[i])}</b>", f"label: {html.escape(labels[i])}"]
        if speakers[i]:
            parts.append(f"speaker: {html.escape(speakers[i])}")
        if score_list[i] is not None:
            parts.append(f"score: {score_list[i]:.3g}")
        if reasons[i]:
            parts += [html.escape(r) for r in reasons[i].split("; ")]
        return "<br>".join(parts)

    common = {"mode": "markers", "hovertemplate": "%{text}<extra></extra>"}
    if color_by == "score":
        order = np.argsort(scores, kind="stable")
        traces = [go.Scatter3d(
            x=xyz[order, 0], y=xyz[order, 1], z=xyz[order, 2], name="recordings",
            text=[hover_text(i) for i in order], customdata=[custom[i] for i in order],
            marker={"size": 3.5, "color": scores[order], "colorscale": PLOTLY_SCORE_SCALE, "opacity": 0.9,
                    "colorbar": {"title": {"text": "Anomaly score", "side": "right"}, "len": 0.7}},
            **common)]
    else:
        lab = np.asarray(labels, dtype=object)
        traces = []
        for label in sorted(set(labels)):
            idx = np.flatnonzero(lab == label)
            traces.append(go.Scatter3d(
                x=xyz[idx, 0], y=xyz[idx, 1], z=xyz[idx, 2], name=label,
                text=[hover_text(i) for i in idx], customdata=[custom[i] for i in idx],
                marker={"size": 3.5, "color": cmap[label], "opacity": 0.85}, **common))
    fig = go.Figure(traces)
    fig.update_layout(
        scene={"xaxis": {"title": {"text": axis_titles[0]}}, "yaxis": {"title": {"text": axis_titles[1]}},
               "zaxis": {"title": {"text": axis_titles[2]}}},
        meta={"kwscope_view": "anomaly_map", "customdata": list(ANOMALY_CUSTOMDATA)},
        legend={"title": {"text": "Label"}, "itemsizing": "constant"},
    )
    return plotly_layout(fig, title=title, height=680, legend=color_by == "label")
