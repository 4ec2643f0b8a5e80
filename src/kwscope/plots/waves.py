"""Views of one recording's wave and log spectrogram: the wave alone, the wave over its
spectrogram, and the spectrogram as a 3-D surface."""

from __future__ import annotations


import numpy as np

from .. import dsp
from ._base import (check_backend, check_signal, reduce_bins, reduce_frames)
from ._style import (PLOTLY_SPEC_SCALE,
                     SPEC_CMAP, mpl_figure, mpl_style, plotly_layout)
from ._clip_parts import (FREQ_LABEL, LOGSPEC_LABEL, TIME_LABEL, _MPL_SURFACE_MAX, _SURFACE_MAX, _dsp_call, _log_specgram, _mpl_logspec, _mpl_rows, _mpl_wave, _plotly_logspec, _plotly_rows, _plotly_wave, _suffix)


def plot_wave(y, sr: int, *, title: str | None = None, backend: str = "matplotlib"):
    """The raw wave: amplitude over time.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples (float, full scale 1.0).
    sr : int
        Sample rate in Hz.
    title : str, optional
        Figure title (default: "Raw wave").
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        One axes: x "Time (s)", y "Amplitude".
    """
    check_backend(backend)
    y, sr = check_signal(y, sr)
    title = _suffix(title, f"Raw wave ({y.shape[0] / sr:.2f} s at {sr} Hz)")
    if backend == "plotly":
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=1)
        _plotly_wave(fig, 1, y, sr)
        return plotly_layout(fig, title=title, height=360)
    with mpl_style():
        fig = mpl_figure(10, 3.4)
        ax = fig.subplots()
        _mpl_wave(ax, y, sr)
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- wave + log spectrogram


def plot_wave_spectrogram(y, sr: int, *, title: str | None = None, window_ms: float = 20.0,
                          step_ms: float = 10.0, normalize: bool = False, backend: str = "matplotlib"):
    """Raw wave over its log spectrogram (the notebook's first view, axes labelled correctly).

    The spectrogram is :func:`kwscope.dsp.log_specgram` (natural log of the power spectral
    density, Hann window of ``window_ms``); its frequency axis runs from 0 to the Nyquist
    frequency ``sr / 2``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples.
    sr : int
        Sample rate in Hz.
    title : str, optional
        Figure title.
    window_ms, step_ms : float
        ``log_specgram``'s window and step in milliseconds.
    normalize : bool
        Show the spectrogram standardized per frequency bin over time (the notebook's next step,
        :func:`kwscope.dsp.normalize_per_bin`) instead of the raw log power.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        Two rows sharing the time axis: the wave (x "Time (s)", y "Amplitude") and the
        spectrogram (x "Time (s)", y "Frequency (Hz)") with a colorbar.
    """
    check_backend(backend)
    y, sr = check_signal(y, sr)
    freqs, times, spec = _log_specgram(y, sr, window_ms, step_ms)
    if normalize:
        spec = _dsp_call(dsp.normalize_per_bin, spec)
    title = _suffix(title, "Raw wave and log spectrogram")
    cbar = "standardized log power" if normalize else LOGSPEC_LABEL
    if backend == "plotly":
        fig = _plotly_rows(2, [1, 1.6], ("Raw wave", "Log spectrogram"))
        _plotly_wave(fig, 1, y, sr)
        _plotly_logspec(fig, 2, freqs, times, spec, sr)
        fig.data[-1].colorbar.title.text = cbar
        fig.update_xaxes(title_text=None, row=1, col=1)
        return plotly_layout(fig, title=title, height=640)
    with mpl_style():
        fig = mpl_figure(10, 6.4)
        (ax_w, ax_s), (cax_w, cax_s) = _mpl_rows(fig, [1, 1.6])
        cax_w.axis("off")
        _mpl_wave(ax_w, y, sr, title="Raw wave")
        ax_w.set_xlabel("")
        _mpl_logspec(ax_s, cax_s, freqs, times, spec, sr, step_ms / 1000)
        cax_s.set_ylabel(cbar)
        ax_s.set_title("Log spectrogram")
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- mel and MFCC


def plot_spectrogram_3d(y, sr: int, *, title: str | None = None, window_ms: float = 20.0,
                        step_ms: float = 10.0, backend: str = "matplotlib"):
    """The log spectrogram as a 3-D surface: time (s), frequency (Hz), log power.

    Interactive (rotate, zoom, hover) with ``backend="plotly"``; a fixed-view render with
    matplotlib. Long clips are averaged down to at most 300 frames x 160 bins (plotly) or
    120 x 100 (matplotlib) so the surface stays light.

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        A 3-D axes / scene: x "Time (s)", y "Frequency (Hz)", z "log power (ln PSD)".
    """
    check_backend(backend)
    y, sr = check_signal(y, sr)
    freqs, times, spec = _log_specgram(y, sr, window_ms, step_ms)
    title = _suffix(title, "Log spectrogram in 3-D")
    max_frames, max_bins = _SURFACE_MAX if backend == "plotly" else _MPL_SURFACE_MAX
    t, s = reduce_frames(times, spec, max_frames)
    f, s = reduce_bins(freqs, s, max_bins)
    if backend == "plotly":
        import plotly.graph_objects as go

        fig = go.Figure(go.Surface(x=t, y=f, z=s.T, colorscale=PLOTLY_SPEC_SCALE,
                                   colorbar={"title": {"text": LOGSPEC_LABEL, "side": "right"}, "len": 0.75},
                                   hovertemplate="%{x:.3f} s, %{y:.0f} Hz: %{z:.2f}<extra></extra>"))
        fig.update_layout(scene={
            "xaxis": {"title": {"text": TIME_LABEL}},
            "yaxis": {"title": {"text": FREQ_LABEL}},
            "zaxis": {"title": {"text": LOGSPEC_LABEL}},
            "camera": {"eye": {"x": 1.1, "y": -1.25, "z": 0.7}},
            "aspectmode": "manual", "aspectratio": {"x": 1.4, "y": 1.0, "z": 0.55},
        })
        return plotly_layout(fig, title=title, height=650)
    with mpl_style():
        fig = mpl_figure(9.5, 6.0)
        ax = fig.add_subplot(projection="3d")
        T, F = np.meshgrid(t, f)
        surf = ax.plot_surface(T, F, s.T, cmap=SPEC_CMAP, linewidth=0, antialiased=False,
                               rstride=1, cstride=1)
        ax.set_xlabel(TIME_LABEL, labelpad=8)
        ax.set_ylabel(FREQ_LABEL, labelpad=10)
        ax.set_zlabel(LOGSPEC_LABEL, labelpad=6)
        ax.view_init(elev=32, azim=-58)
        ax.set_box_aspect((1.4, 1.0, 0.55), zoom=1.15)
        cb = fig.colorbar(surf, ax=ax, shrink=0.6, pad=0.06)
        cb.set_label(LOGSPEC_LABEL)
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- silence removal
