"""Dataset views of spectra per label: the mean FFT, the mean spectrogram and the violins of
log-spectrogram values at chosen frequencies."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np

from ._base import PlotError, as_2d, check_backend, edges_from_centers, grid_shape
from ._style import (PLOTLY_SPEC_SCALE, SPEC_CMAP,
                     mpl_figure, mpl_style, plotly_layout)
from ._grid import (FREQ_LABEL, TIME_LABEL, _cap_panels, _check_labels_mapping, _colors_for, _grid_axes,
                    _plotly_grid)


def plot_mean_fft_grid(freqs_hz, means: Mapping[str, np.ndarray], *, title: str | None = None,
                       ncols: int | None = None, colors: Mapping[str, str] | None = None,
                       value_label: str = "Mean magnitude", max_panels: int | None = None,
                       backend: str = "matplotlib"):
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
    max_panels : int, optional
        Most panels drawn: the first of ``means`` (default :data:`~kwscope.plots._grid.MAX_PANELS`);
        the title says how many labels were left out.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        One panel per label: x "Frequency (Hz)", y ``value_label``.
    """
    check_backend(backend)
    _check_labels_mapping("means", means)
    means, title = _cap_panels(means, max_panels, title or "Mean FFT per label")
    labels = list(means)
    freqs = np.asarray(freqs_hz, dtype=np.float64).ravel()
    curves = []
    for label, m in zip(labels, means.values()):
        m = np.asarray(m, dtype=np.float64).ravel()
        if m.shape != freqs.shape:
            raise PlotError(f"means[{label!r}] has {m.size} values but freqs_hz has {freqs.size}")
        curves.append(m)
    cmap = _colors_for(labels, colors)
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
                               max_panels: int | None = None, backend: str = "matplotlib"):
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
    max_panels : int, optional
        Most images drawn, as in :func:`plot_mean_fft_grid`.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        One image per label: x "Time (s)", y "Frequency (Hz)"; one colorbar. The color range is
        the 1st to 99.5th percentile over all labels, so one loud label does not wash out the rest.
    """
    check_backend(backend)
    _check_labels_mapping("means", means)
    means, title = _cap_panels(means, max_panels, title or "Mean spectrogram per label")
    labels = list(means)
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
                 max_panels: int | None = None, backend: str = "matplotlib"):
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
    max_panels : int, optional
        Most labels (violins a row) drawn: the first of each mapping (default
        :data:`~kwscope.plots._grid.MAX_PANELS`); the title says how many were left out.
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
    title = title or "Frequency components per label"
    for hz, per_label in values.items():
        try:
            hz_f = float(hz)
        except (TypeError, ValueError):
            raise PlotError(f"values key {hz!r} must be a frequency in Hz") from None
        _check_labels_mapping(f"values[{hz!r}]", per_label)
        per_label, capped = _cap_panels(per_label, max_panels, title)
        labels = list(per_label)
        arrays = []
        for label, v in zip(labels, per_label.values()):
            a = np.asarray(v, dtype=np.float64).ravel()
            arrays.append(a[np.isfinite(a)])
        rows.append((hz_f, labels, arrays))
        seen = set(all_labels)
        all_labels += [lb for lb in labels if lb not in seen]
    title = capped
    cmap = _colors_for(all_labels, colors)
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
