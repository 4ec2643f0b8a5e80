"""Figures of recordings and datasets, static (matplotlib) or interactive (plotly), all offline.

Every view is one function that takes arrays or plain analysis results -- never a file -- and
returns a figure: :class:`matplotlib.figure.Figure` with ``backend="matplotlib"`` (the default)
or :class:`plotly.graph_objects.Figure` with ``backend="plotly"``. Write it with
:func:`save_figure` (``.png``/``.svg``/``.pdf`` from matplotlib, ``.html`` from either), or embed
it with :func:`figure_to_base64_png`, :func:`figure_to_html_fragment` / :func:`figure_to_json`
plus :func:`plotly_js_inline` once per page.

One recording (``y`` shape ``(n,)``, ``sr`` in Hz): :func:`plot_wave`,
:func:`plot_wave_spectrogram`, :func:`plot_mel_spectrogram`, :func:`plot_mfcc`,
:func:`plot_spectrogram_3d`, :func:`plot_silence`, :func:`plot_resample`.

A dataset (``counts``, ``spectra``, ``anomaly_map``; drawn from plain numbers and arrays, never the
analysis classes): :func:`plot_label_counts`, :func:`plot_length_histogram`,
:func:`plot_mean_fft_grid`, :func:`plot_mean_spectrogram_grid`, :func:`plot_violins`,
:func:`plot_anomaly_map`.
"""

from __future__ import annotations

from ._base import PlotError
from ._style import label_colors
from .clip import (CLIP_VIEWS, plot_mel_spectrogram, plot_mfcc, plot_resample, plot_silence,
                   plot_spectrogram_3d, plot_wave, plot_wave_spectrogram)
from .anomaly_map import ANOMALY_CUSTOMDATA, plot_anomaly_map
from .counts import plot_label_counts, plot_length_histogram
from .spectra import plot_mean_fft_grid, plot_mean_spectrogram_grid, plot_violins
from .export import (figure_to_base64_png, figure_to_html_fragment, figure_to_json, figure_to_png_bytes,
                     figure_to_standalone_html, plotly_js_inline, save_figure)

__all__ = [
    "PlotError", "label_colors", "CLIP_VIEWS", "ANOMALY_CUSTOMDATA",
    "plot_wave", "plot_wave_spectrogram", "plot_mel_spectrogram", "plot_mfcc", "plot_spectrogram_3d",
    "plot_silence", "plot_resample",
    "plot_label_counts", "plot_length_histogram", "plot_mean_fft_grid", "plot_mean_spectrogram_grid",
    "plot_violins", "plot_anomaly_map",
    "save_figure", "figure_to_png_bytes", "figure_to_base64_png", "figure_to_json",
    "figure_to_html_fragment", "figure_to_standalone_html", "plotly_js_inline",
]
