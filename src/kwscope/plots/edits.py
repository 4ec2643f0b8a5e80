"""Views of what a recording becomes: trimmed to its speech (VAD boundaries on the wave and the
spectrogram) and resampled (spectra before and after)."""

from __future__ import annotations


import numpy as np

from .. import dsp
from ._base import (PlotError, check_backend, check_signal, peak_points)
from ._style import (BOUNDARY_COLOR, WAVE_COLOR, mpl_figure, mpl_style, plotly_layout)
from ._clip_parts import (FREQ_LABEL, TIME_LABEL, _PLOTLY_MAX_WAVE, _SPEC_LINE_COLOR, _SPEECH_FILL, _dsp_call, _log_specgram, _mpl_logspec, _mpl_rows, _mpl_wave, _plotly_logspec, _plotly_rows, _plotly_wave, _suffix)


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
