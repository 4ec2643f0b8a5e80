"""Views of one recording's mel spectrogram (dB) and its MFCC with deltas."""

from __future__ import annotations


import numpy as np

from .. import dsp
from ._base import (check_backend, check_signal, reduce_frames)
from ._style import (DIVERGING_CMAP, PLOTLY_DIVERGING_SCALE, PLOTLY_SPEC_SCALE,
                     SPEC_CMAP, mpl_figure, mpl_style, plotly_layout)
from ._clip_parts import (TIME_LABEL, _PLOTLY_MAX_FRAMES, _dsp_call, _mpl_image, _mpl_rows, _plotly_colorbar, _plotly_rows, _suffix)


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
