"""Views of one recording: wave, log spectrogram, mel, MFCC, 3-D spectrogram, silence, resampling.

Each function takes the samples ``y`` (shape ``(n,)``, float) and the rate ``sr`` (Hz), computes
what it shows with :mod:`kwscope.dsp`, and returns a figure: a :class:`matplotlib.figure.Figure`
with ``backend="matplotlib"`` (the default; static, for PNG/SVG/PDF) or a
:class:`plotly.graph_objects.Figure` with ``backend="plotly"`` (interactive, for HTML). Every view
exists in both backends. Time axes are in seconds, frequency axes in Hz.

The views live in ``waves`` (wave, spectrogram, 3-D), ``cepstra`` (mel, MFCC) and ``edits``
(silence removal, resampling); this module names them for ``kwscope plot KIND``.
"""

from __future__ import annotations

from .cepstra import plot_mel_spectrogram, plot_mfcc
from .edits import plot_resample, plot_silence
from .waves import plot_spectrogram_3d, plot_wave, plot_wave_spectrogram

__all__ = ["plot_wave", "plot_wave_spectrogram", "plot_mel_spectrogram", "plot_mfcc",
           "plot_spectrogram_3d", "plot_silence", "plot_resample", "CLIP_VIEWS"]

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
