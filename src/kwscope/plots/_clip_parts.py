"""What the views of one recording share: axis labels, size bounds for interactive figures, dsp
calls that report bad input as PlotError, and the wave/spectrogram panels of both backends."""

from __future__ import annotations

import warnings

import numpy as np

from .. import dsp
from ._base import (PlotError, edges_from_centers, reduce_frames, wave_points)
from ._style import (PLOTLY_SPEC_SCALE,
                     SPEC_CMAP, WAVE_COLOR)


TIME_LABEL = "Time (s)"
FREQ_LABEL = "Frequency (Hz)"
AMP_LABEL = "Amplitude"
LOGSPEC_LABEL = "log power (ln PSD)"
# plotly figures carry every point into the HTML: thin long recordings to these sizes
_PLOTLY_MAX_WAVE = 20000
_PLOTLY_MAX_FRAMES = 1500
_SURFACE_MAX = (300, 160)  # frames, bins of the 3-D surface (plotly)
_MPL_SURFACE_MAX = (120, 100)  # matplotlib's 3-D renderer is slow: fewer facets
_SPEECH_FILL = "rgba(228, 87, 46, 0.14)"
_SPEC_LINE_COLOR = "#3ee8ff"  # VAD boundaries over the magma colormap


def _dsp_call(fn, *args, **kwargs):
    """Run a dsp function; its ParameterError becomes PlotError, its short-clip warnings stay quiet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return fn(*args, **kwargs)
    except dsp.ParameterError as exc:
        raise PlotError(str(exc)) from None


def _log_specgram(y: np.ndarray, sr: int, window_ms: float, step_ms: float):
    """``dsp.log_specgram``, with a plain message when the clip is shorter than one window."""
    try:
        nperseg = round(float(window_ms) * sr / 1000)
    except (TypeError, ValueError):
        nperseg = 0  # dsp names the bad value
    if 0 < y.shape[0] < nperseg:
        raise PlotError(f"the clip has {y.shape[0]} samples ({1000 * y.shape[0] / sr:.1f} ms), shorter than "
                        f"one {window_ms:g} ms spectrogram window ({nperseg} samples at {sr} Hz)")
    return _dsp_call(dsp.log_specgram, y, sr, window_ms=window_ms, step_ms=step_ms)


def _suffix(title: str | None, default: str) -> str:
    return default if title is None else title


# ----------------------------------------------------------------------------- shared drawing


def _mpl_rows(fig, height_ratios, *, colorbars: bool = True, n_shared: int | None = None):
    """Rows of axes, the first ``n_shared`` (default all) sharing x, with a thin column on the
    right for colorbars (so all rows align)."""
    n = len(height_ratios)
    n_shared = n if n_shared is None else n_shared
    if not colorbars:
        main = list(fig.subplots(n, 1, squeeze=False, gridspec_kw={"height_ratios": height_ratios})[:, 0])
        for ax in main[1:n_shared]:
            ax.sharex(main[0])
        return main, [None] * n
    axes = fig.subplots(n, 2, squeeze=False,
                        gridspec_kw={"height_ratios": height_ratios, "width_ratios": [48, 1]})
    main = list(axes[:, 0])
    for ax in main[1:n_shared]:
        ax.sharex(main[0])
    return main, list(axes[:, 1])


def _mpl_wave(ax, y, sr, *, title=None, t0: float = 0.0):
    t, v = wave_points(y, sr)
    ax.plot(t + t0, v, color=WAVE_COLOR, linewidth=0.7)
    ax.set_xlim(t0, t0 + y.shape[0] / sr)
    peak = float(np.max(np.abs(y))) or 1.0
    ax.set_ylim(-1.08 * peak, 1.08 * peak)
    ax.set_ylabel(AMP_LABEL)
    ax.set_xlabel(TIME_LABEL)
    ax.grid(True)
    if title:
        ax.set_title(title)


def _mpl_image(ax, cax, x_centers, y_centers, img, *, cmap, cbar_label, x_fallback, y_fallback,
               vmin=None, vmax=None, extend="neither"):
    """Draw ``img`` (rows = y, columns = x) with its cells centred on the given coordinates."""
    x0, x1 = edges_from_centers(x_centers, x_fallback)
    y0, y1 = edges_from_centers(y_centers, y_fallback)
    im = ax.imshow(img, origin="lower", aspect="auto", extent=(x0, x1, y0, y1), cmap=cmap,
                   interpolation="nearest", vmin=vmin, vmax=vmax)
    if cax is not None:
        cb = ax.figure.colorbar(im, cax=cax, extend=extend)
        cb.set_label(cbar_label)
    return im


def _mpl_logspec(ax, cax, freqs, times, spec, sr, step_s):
    _mpl_image(ax, cax, times, freqs, spec.T, cmap=SPEC_CMAP, cbar_label=LOGSPEC_LABEL,
               x_fallback=step_s, y_fallback=sr / 2)
    ax.set_ylim(0, sr / 2)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel(FREQ_LABEL)


def _plotly_rows(n_rows, height_ratios, titles, *, n_shared: int | None = None):
    """Rows of subplots; the first ``n_shared`` (default all) zoom and pan together in time."""
    from plotly.subplots import make_subplots

    total = float(sum(height_ratios))
    fig = make_subplots(rows=n_rows, cols=1, vertical_spacing=0.1,
                        row_heights=[h / total for h in height_ratios], subplot_titles=titles)
    for row in range(2, (n_rows if n_shared is None else n_shared) + 1):
        fig.update_xaxes(matches="x", row=row, col=1)
    return fig


def _plotly_colorbar(fig, row: int, title: str) -> dict:
    """A colorbar placed beside subplot ``row`` (1-based), not over the whole figure."""
    axis = fig.layout["yaxis" if row == 1 else f"yaxis{row}"]
    lo, hi = axis.domain
    return {"title": {"text": title, "side": "right"}, "len": hi - lo, "y": (lo + hi) / 2,
            "yanchor": "middle", "thickness": 14}


def _plotly_wave(fig, row, y, sr, t0: float = 0.0):
    import plotly.graph_objects as go

    t, v = wave_points(y, sr, _PLOTLY_MAX_WAVE)
    fig.add_trace(go.Scattergl(x=t + t0, y=v, mode="lines", line={"color": WAVE_COLOR, "width": 1},
                               name="wave", hovertemplate="%{x:.3f} s: %{y:.4f}<extra></extra>"),
                  row=row, col=1)
    fig.update_yaxes(title_text=AMP_LABEL, row=row, col=1)
    fig.update_xaxes(title_text=TIME_LABEL, range=[t0, t0 + y.shape[0] / sr], row=row, col=1)


def _plotly_logspec(fig, row, freqs, times, spec, sr):
    import plotly.graph_objects as go

    t, s = reduce_frames(times, spec, _PLOTLY_MAX_FRAMES)
    fig.add_trace(go.Heatmap(x=t, y=freqs, z=s.T, colorscale=PLOTLY_SPEC_SCALE,
                             colorbar=_plotly_colorbar(fig, row, LOGSPEC_LABEL), name="log spectrogram",
                             hovertemplate="%{x:.3f} s, %{y:.0f} Hz: %{z:.2f}<extra></extra>"),
                  row=row, col=1)
    fig.update_yaxes(title_text=FREQ_LABEL, range=[0, sr / 2], row=row, col=1)
    fig.update_xaxes(title_text=TIME_LABEL, row=row, col=1)


# ----------------------------------------------------------------------------- wave
