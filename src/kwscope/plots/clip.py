"""Views of one recording: wave, log spectrogram, mel, MFCC, 3-D spectrogram, silence, resampling.

Each function takes the samples ``y`` (shape ``(n,)``, float) and the rate ``sr`` (Hz), computes
what it shows with :mod:`kwscope.dsp`, and returns a figure: a :class:`matplotlib.figure.Figure`
with ``backend="matplotlib"`` (the default; static, for PNG/SVG/PDF) or a
:class:`plotly.graph_objects.Figure` with ``backend="plotly"`` (interactive, for HTML). Every view
exists in both backends. Time axes are in seconds, frequency axes in Hz.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import dsp
from ._base import (PlotError, check_backend, check_signal, edges_from_centers, peak_points,
                    reduce_bins, reduce_frames, wave_points)
from ._style import (BOUNDARY_COLOR, DIVERGING_CMAP, PLOTLY_DIVERGING_SCALE, PLOTLY_SPEC_SCALE,
                     SPEC_CMAP, WAVE_COLOR, mpl_figure, mpl_style, plotly_layout)

__all__ = ["plot_wave", "plot_wave_spectrogram", "plot_mel_spectrogram", "plot_mfcc",
           "plot_spectrogram_3d", "plot_silence", "plot_resample", "CLIP_VIEWS"]

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


def _mel_params(sr: int, n_fft: int | None, hop_length: int | None, fmax: float | None):
    if n_fft is None:  # about 64 ms, a power of two: 1024 at 16 kHz, 512 at 8 kHz, 2048 at 22.05 kHz
        n_fft = 1 << max(6, int(np.ceil(np.log2(0.064 * sr))))
    if hop_length is None:  # 10 ms
        hop_length = max(1, round(0.010 * sr))
    fmax = sr / 2 if fmax is None else min(float(fmax), sr / 2)
    return int(n_fft), int(hop_length), fmax


def _slaney_hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def _mel_ticks(n_mels: int, fmin: float, fmax: float):
    """Positions (band index) and labels (Hz) for a mel axis drawn by band."""
    m_lo, m_hi = _slaney_hz_to_mel([fmin, fmax])
    # band centres sit at equal mel steps between fmin and fmax (n_mels + 2 edges)
    candidates = [0, 250, 500, 1000, 2000, 3000, 4000, 6000, 8000, 11000, 16000]
    pos, text = [], []
    for hz in candidates:
        if fmin <= hz <= fmax:
            m = float(_slaney_hz_to_mel(hz))
            idx = (m - m_lo) / (m_hi - m_lo) * (n_mels + 1) - 1
            # fmin and fmax are the outer edges of the first and last band: clamp them to the image
            idx = min(max(idx, -0.5), n_mels - 0.5)
            if pos and idx - pos[-1] < 0.04 * n_mels:  # too close to the previous tick to read
                continue
            pos.append(idx)
            text.append(f"{hz:g}")
    return pos, text


def _mel_db(y, sr, n_fft, hop_length, n_mels, fmax):
    S = _dsp_call(dsp.mel_spectrogram, y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmax=fmax)
    S_db = _dsp_call(dsp.power_to_db, S, ref=np.max)
    times = np.arange(S.shape[1]) * hop_length / sr  # frames are centred on t * hop_length
    return S_db, times


def plot_mel_spectrogram(y, sr: int, *, title: str | None = None, n_mels: int = 128,
                         fmax: float | None = 8000.0, n_fft: int | None = None,
                         hop_length: int | None = None, backend: str = "matplotlib"):
    """Mel power spectrogram in dB relative to its peak, with a dB colorbar.

    :func:`kwscope.dsp.mel_spectrogram` (librosa's definition: Slaney mel scale and norm, centred
    frames) then :func:`kwscope.dsp.power_to_db` with ``ref=np.max`` (0 dB = the loudest cell,
    80 dB range), as in the notebook; computed at the recording's own rate.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples.
    sr : int
        Sample rate in Hz.
    n_mels : int
        Mel bands.
    fmax : float or None
        Highest frequency in Hz (the notebook's 8000), capped at ``sr / 2``; None means ``sr / 2``.
    n_fft, hop_length : int, optional
        FFT length and hop in samples; by default about 64 ms (a power of two) and 10 ms.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        x "Time (s)", y "Frequency (Hz, mel scale)" (bands, ticks in Hz), colorbar "dB".
    """
    check_backend(backend)
    y, sr = check_signal(y, sr)
    n_fft, hop_length, fmax = _mel_params(sr, n_fft, hop_length, fmax)
    S_db, times = _mel_db(y, sr, n_fft, hop_length, n_mels, fmax)
    tick_pos, tick_text = _mel_ticks(n_mels, 0.0, fmax)
    title = _suffix(title, f"Mel power spectrogram ({n_mels} bands, up to {fmax:g} Hz)")
    ylabel = "Frequency (Hz, mel scale)"
    if backend == "plotly":
        import plotly.graph_objects as go

        t, s = reduce_frames(times, S_db.T, _PLOTLY_MAX_FRAMES)
        fig = go.Figure(go.Heatmap(x=t, y=np.arange(n_mels), z=s.T, colorscale=PLOTLY_SPEC_SCALE,
                                   colorbar={"title": {"text": "dB", "side": "right"}, "ticksuffix": " dB"},
                                   hovertemplate="%{x:.3f} s, band %{y}: %{z:.1f} dB<extra></extra>"))
        fig.update_xaxes(title_text=TIME_LABEL)
        fig.update_yaxes(title_text=ylabel, tickvals=tick_pos, ticktext=tick_text)
        return plotly_layout(fig, title=title, height=460)
    with mpl_style():
        fig = mpl_figure(10, 4.6)
        (ax,), (cax,) = _mpl_rows(fig, [1])
        _mpl_image(ax, cax, times, np.arange(n_mels), S_db, cmap=SPEC_CMAP, cbar_label="dB (re peak)",
                   x_fallback=hop_length / sr, y_fallback=1.0)
        cax.yaxis.set_major_formatter("{x:+.0f} dB")
        ax.set_yticks(tick_pos, tick_text)
        ax.set_xlabel(TIME_LABEL)
        ax.set_ylabel(ylabel)
        fig.suptitle(title)
    return fig


def _robust_limit(data: np.ndarray) -> float:
    """A symmetric color limit that ignores the top 1 % of magnitudes."""
    lim = float(np.percentile(np.abs(data), 99)) if data.size else 0.0
    return lim if lim > 0 else 1.0


def _delta_width(frames: int) -> tuple[int, str]:
    if frames >= 9:
        return 9, "interp"
    if frames >= 3:
        return frames if frames % 2 else frames - 1, "interp"
    return 3, "nearest"


def plot_mfcc(y, sr: int, *, title: str | None = None, n_mfcc: int = 13, n_mels: int = 128,
              fmax: float | None = 8000.0, n_fft: int | None = None, hop_length: int | None = None,
              backend: str = "matplotlib"):
    """MFCC and their second-order delta (delta-delta), as two images over time.

    ``mfcc(S=power_to_db(mel_spectrogram(...), ref=np.max), n_mfcc=13)`` then
    ``delta(mfcc, order=2)`` (librosa's definitions via :mod:`kwscope.dsp`; the delta window
    shrinks to the clip on clips shorter than 9 frames).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples.
    sr : int
        Sample rate in Hz.
    n_mfcc : int
        Coefficients kept.
    n_mels, fmax, n_fft, hop_length
        The mel spectrogram's parameters, as in :func:`plot_mel_spectrogram`.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        Two rows sharing the time axis ("Time (s)"), y "MFCC coefficient", each with a colorbar.
    """
    check_backend(backend)
    y, sr = check_signal(y, sr)
    n_fft, hop_length, fmax = _mel_params(sr, n_fft, hop_length, fmax)
    S_db, times = _mel_db(y, sr, n_fft, hop_length, n_mels, fmax)
    coeffs = _dsp_call(dsp.mfcc, S=S_db, n_mfcc=n_mfcc)
    width, mode = _delta_width(coeffs.shape[1])
    dd = _dsp_call(dsp.delta, coeffs, order=2, width=width, mode=mode)
    title = _suffix(title, f"MFCC ({n_mfcc} coefficients) and delta-delta")
    ylabel = "MFCC coefficient"
    panels = [("MFCC", coeffs, "MFCC value"), ("Delta-delta (2nd-order delta)", dd, "delta-delta")]
    # coefficient 0 (overall level) is an order of magnitude larger than the rest: scale the colors
    # on coefficients 1.. so their pattern shows, and let coefficient 0 saturate
    limits = [_robust_limit(coeffs[1:] if n_mfcc > 1 else coeffs), _robust_limit(dd[1:] if n_mfcc > 1 else dd)]
    if backend == "plotly":
        import plotly.graph_objects as go

        fig = _plotly_rows(2, [1, 1], [p[0] for p in panels])
        for row, ((_, data, clabel), lim) in enumerate(zip(panels, limits), start=1):
            t, d = reduce_frames(times, data.T, _PLOTLY_MAX_FRAMES)
            fig.add_trace(go.Heatmap(x=t, y=np.arange(n_mfcc), z=d.T, colorscale=PLOTLY_DIVERGING_SCALE,
                                     zmin=-lim, zmax=lim, colorbar=_plotly_colorbar(fig, row, clabel),
                                     hovertemplate="%{x:.3f} s, coefficient %{y}: %{z:.2f}<extra></extra>"),
                          row=row, col=1)
            fig.update_yaxes(title_text=ylabel, row=row, col=1)
        fig.update_xaxes(title_text=TIME_LABEL, row=2, col=1)
        return plotly_layout(fig, title=title, height=600)
    with mpl_style():
        fig = mpl_figure(10, 6.2)
        axes, caxes = _mpl_rows(fig, [1, 1])
        for ax, cax, (name, data, clabel), lim in zip(axes, caxes, panels, limits):
            _mpl_image(ax, cax, times, np.arange(n_mfcc), data, cmap=DIVERGING_CMAP, cbar_label=clabel,
                       x_fallback=hop_length / sr, y_fallback=1.0, vmin=-lim, vmax=lim, extend="both")
            ax.set_ylabel(ylabel)
            ax.set_title(name)
            ax.set_yticks(range(0, n_mfcc, 2 if n_mfcc <= 20 else 5))
        axes[1].set_xlabel(TIME_LABEL)
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- 3-D spectrogram


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


def plot_silence(y, sr: int, *, title: str | None = None, segments=None, top_db: float = 40.0,
                 window_ms: float = 20.0, step_ms: float = 10.0, backend: str = "matplotlib"):
    """Silence removal: the wave and the log spectrogram with the speech segments marked, and the
    clip cut to its speech.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples.
    sr : int
        Sample rate in Hz.
    segments : np.ndarray [shape=(n_segments, 2)], optional
        Speech segments as ``(start, end)`` sample indices (end exclusive); by default found with
        :func:`kwscope.dsp.speech_segments` (energy VAD, ``top_db`` below the loudest frame).
    top_db : float
        The VAD's relative threshold in dB (when ``segments`` is not given).
    window_ms, step_ms : float
        The spectrogram's window and step in milliseconds.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        Three rows: the wave with speech shaded and boundaries as vertical lines, the spectrogram
        with the same boundaries (both x "Time (s)"), and the kept samples from the first
        segment's start to the last segment's end (x "Time (s)" from that start).
    """
    check_backend(backend)
    y, sr = check_signal(y, sr)
    if segments is None:
        segments = _dsp_call(dsp.speech_segments, y, sr, top_db=top_db)
    segments = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    if segments.size and (segments.min() < 0 or segments.max() > y.shape[0] or
                          (segments[:, 1] < segments[:, 0]).any()):
        raise PlotError(f"segments must be (start, end) sample indices within 0..{y.shape[0]}")
    freqs, times, spec = _log_specgram(y, sr, window_ms, step_ms)
    bounds_s = segments / sr
    duration = y.shape[0] / sr
    if segments.shape[0]:
        start, end = int(segments[0, 0]), int(segments[-1, 1])
        kept = y[start:end]
        kept_title = (f"Speech only: {start / sr:.2f}–{end / sr:.2f} s "
                      f"({(end - start) / sr:.2f} s kept of {duration:.2f} s)")
    else:
        start, kept = 0, y[:0]
        kept_title = "Speech only: no speech found (all below the VAD thresholds)"
    n_seg = segments.shape[0]
    title = _suffix(title, f"Silence removal: {n_seg} speech segment{'s' if n_seg != 1 else ''} found")
    if backend == "plotly":
        return _plotly_silence(y, sr, freqs, times, spec, bounds_s, kept, start, kept_title, title)
    with mpl_style():
        fig = mpl_figure(10, 8.2)
        axes, caxes = _mpl_rows(fig, [1, 1.4, 1], n_shared=2)  # the kept clip has its own time axis
        ax_w, ax_s, ax_k = axes
        caxes[0].axis("off")
        caxes[2].axis("off")
        _mpl_wave(ax_w, y, sr, title="Wave with the speech segments (VAD)")
        ax_w.set_xlabel("")
        _mpl_logspec(ax_s, caxes[1], freqs, times, spec, sr, step_ms / 1000)
        ax_s.set_title("Log spectrogram with the same boundaries")
        for i, (a, b) in enumerate(bounds_s):
            ax_w.axvspan(a, b, color=BOUNDARY_COLOR, alpha=0.14, linewidth=0,
                         label="speech" if i == 0 else None)
            for x in (a, b):
                ax_w.axvline(x, color=BOUNDARY_COLOR, linewidth=1.3, linestyle="--")
                ax_s.axvline(x, color=_SPEC_LINE_COLOR, linewidth=1.3, linestyle="--")
        if n_seg:
            ax_w.legend(loc="upper right")
        if kept.size >= 2:
            _mpl_wave(ax_k, kept, sr, t0=start / sr)
        else:
            ax_k.text(0.5, 0.5, "no speech found", ha="center", va="center", transform=ax_k.transAxes,
                      color="#666666")
            ax_k.set_xlabel(TIME_LABEL)
            ax_k.set_yticks([])
        ax_k.set_title(kept_title)
        fig.suptitle(title)
    return fig


def _plotly_silence(y, sr, freqs, times, spec, bounds_s, kept, start, kept_title, title):
    fig = _plotly_rows(3, [1, 1.4, 1], ("Wave with the speech segments (VAD)",
                                        "Log spectrogram with the same boundaries", kept_title), n_shared=2)
    _plotly_wave(fig, 1, y, sr)
    _plotly_logspec(fig, 2, freqs, times, spec, sr)
    for a, b in bounds_s:
        fig.add_vrect(x0=a, x1=b, fillcolor=_SPEECH_FILL, line_width=0, layer="below", row=1, col=1)
        for x in (a, b):
            fig.add_vline(x=x, line={"color": BOUNDARY_COLOR, "dash": "dash", "width": 1.5}, row=1, col=1)
            fig.add_vline(x=x, line={"color": _SPEC_LINE_COLOR, "dash": "dash", "width": 1.5}, row=2, col=1)
    if kept.size >= 2:
        _plotly_wave(fig, 3, kept, sr, t0=start / sr)
    else:
        fig.update_xaxes(title_text=TIME_LABEL, row=3, col=1)
    fig.update_xaxes(title_text=None, row=1, col=1)
    return plotly_layout(fig, title=title, height=820)


# ----------------------------------------------------------------------------- resampling


def plot_resample(y, sr: int, *, target_sr: int = 8000, title: str | None = None,
                  backend: str = "matplotlib"):
    """FFT of the original clip against the FFT of the clip resampled to ``target_sr``.

    Both are :func:`kwscope.dsp.fft_spectrum` (the notebook's one-sided ``custom_fft``); the
    resampling is :func:`kwscope.dsp.resample` (soxr, anti-aliased), so the resampled spectrum
    stops at ``target_sr / 2``, marked on the original's panel.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples.
    sr : int
        Sample rate of ``y`` in Hz.
    target_sr : int
        Rate to resample to, in Hz (8 kHz: telephone speech).
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        Two rows sharing x "Frequency (Hz)" (0 to ``max(sr, target_sr) / 2``), y "Magnitude".
    """
    check_backend(backend)
    y, sr = check_signal(y, sr)
    try:
        target = int(target_sr)
    except (TypeError, ValueError):
        target = 0
    if target <= 0 or target != target_sr:
        raise PlotError(f"target_sr={target_sr!r} must be a positive integer sample rate in Hz")
    y_rs = _dsp_call(dsp.resample, y, sr, target)
    if y_rs.shape[0] < 2:
        raise PlotError(f"resampling {y.shape[0]} samples from {sr} to {target} Hz leaves fewer than 2")
    spectra = [(f"Original: {sr} Hz", *_dsp_call(dsp.fft_spectrum, y, sr), sr),
               (f"Resampled: {target} Hz", *_dsp_call(dsp.fft_spectrum, y_rs, target), target)]
    title = _suffix(title, f"FFT of the original ({sr} Hz) and resampled ({target} Hz) clip")
    x_max = max(sr, target) / 2
    colors = (WAVE_COLOR, "#e07b39")
    if backend == "plotly":
        import plotly.graph_objects as go

        fig = _plotly_rows(2, [1, 1], [s[0] for s in spectra])
        for row, ((_, f, m, rate), color) in enumerate(zip(spectra, colors), start=1):
            fx, mx = peak_points(f, m, _PLOTLY_MAX_WAVE)
            fig.add_trace(go.Scattergl(x=fx, y=mx, mode="lines", line={"color": color, "width": 1},
                                       name=f"{rate} Hz",
                                       hovertemplate="%{x:.0f} Hz: %{y:.4g}<extra></extra>"),
                          row=row, col=1)
            fig.update_yaxes(title_text="Magnitude", rangemode="tozero", row=row, col=1)
        if target < sr:
            fig.add_vline(x=target / 2, line={"color": BOUNDARY_COLOR, "dash": "dash"}, row=1, col=1,
                          annotation_text=f"{target / 2:g} Hz: Nyquist at {target} Hz",
                          annotation_position="top right")
        fig.update_xaxes(range=[0, x_max])
        fig.update_xaxes(title_text=FREQ_LABEL, row=2, col=1)
        return plotly_layout(fig, title=title, height=560)
    with mpl_style():
        fig = mpl_figure(10, 5.8)
        axes, _ = _mpl_rows(fig, [1, 1], colorbars=False)
        for ax, (name, f, m, rate), color in zip(axes, spectra, colors):
            ax.plot(f, m, color=color, linewidth=0.8)
            ax.fill_between(f, m, color=color, alpha=0.15, linewidth=0)
            ax.set_title(name)
            ax.set_ylabel("Magnitude")
            ax.set_ylim(bottom=0)
            ax.grid(True)
        axes[0].set_xlim(0, x_max)
        if target < sr:
            axes[0].axvline(target / 2, color=BOUNDARY_COLOR, linestyle="--", linewidth=1.2,
                            label=f"{target / 2:g} Hz: Nyquist at {target} Hz")
            axes[0].legend(loc="upper right")
        axes[1].set_xlabel(FREQ_LABEL)
        axes[0].tick_params(labelbottom=True)
        fig.suptitle(title)
    return fig


#: ``kwscope plot KIND``: kind -> function (each takes ``(y, sr, *, title, backend)``).
CLIP_VIEWS = {
    "wave": plot_wave,
    "spectrogram": plot_wave_spectrogram,
    "mel": plot_mel_spectrogram,
    "mfcc": plot_mfcc,
    "spectrogram3d": plot_spectrogram_3d,
    "silence": plot_silence,
    "resample": plot_resample,
}
