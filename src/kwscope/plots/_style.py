"""kwscope's look: one color per label everywhere, fonts, colormaps, figure factories for both backends.

Matplotlib figures are built as bare :class:`~matplotlib.figure.Figure` objects on an Agg canvas,
never through ``pyplot``: nothing opens a window, nothing is registered in pyplot's global list of
figures, so building figures in a loop does not leak.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Mapping
from contextlib import contextmanager

__all__ = ["label_colors", "LABEL_PALETTE", "NOISE_COLOR", "WAVE_COLOR", "BOUNDARY_COLOR",
           "SPEC_CMAP", "DIVERGING_CMAP", "SCORE_CMAP", "mpl_figure", "mpl_style", "plotly_layout"]

#: Colors given to labels in sorted order: tab10 without its gray (gray means "not a word"),
#: then eleven more that stay apart from it.
LABEL_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#393b79", "#e7ba52", "#637939", "#ad494a", "#7b4173", "#3182bd", "#e6550d",
    "#31a354", "#843c39", "#6b6ecf", "#e7298a",
)
#: Labels that are not words (``_background_noise_``, ``_silence_``, ...) are drawn in gray.
NOISE_COLOR = "#9e9e9e"
WAVE_COLOR = "#2f5d8a"
BOUNDARY_COLOR = "#e4572e"
SPEC_CMAP = "magma"          # spectrograms: perceptually uniform, dark = quiet
DIVERGING_CMAP = "RdBu_r"    # MFCC and deltas: signed values around 0
SCORE_CMAP = "viridis"       # anomaly scores
PLOTLY_SPEC_SCALE = "Magma"
PLOTLY_DIVERGING_SCALE = "RdBu_r"
PLOTLY_SCORE_SCALE = "Viridis"
FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif"


def _extra_color(i: int) -> str:
    # beyond the palette: golden-angle hues, mid saturation, so 35 Speech Commands words stay distinct
    h = (0.13 + i * 0.618033988749895) % 1.0
    r, g, b = colorsys.hls_to_rgb(h, 0.45, 0.65)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def label_colors(labels: Iterable[str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """One hex color per label, stable for a given set of labels.

    Labels are colored in sorted order, so the same dataset gets the same colors in every view.
    Pass ``base`` (e.g. the mapping computed once over all labels of a dataset) to keep a label's
    color when a view shows only some of the labels; labels missing from ``base`` get new colors.
    """
    base = dict(base or {})
    out: dict[str, str] = {}
    i = 0
    for label in sorted(set(map(str, labels))):
        if label in base:
            out[label] = base[label]
        elif label.startswith("_"):
            out[label] = NOISE_COLOR
        else:
            while True:  # skip colors the base mapping already uses
                color = LABEL_PALETTE[i] if i < len(LABEL_PALETTE) else _extra_color(i)
                i += 1
                if color not in base.values():
                    break
            out[label] = color
    return out


_RC = {
    "font.size": 11,
    "font.family": "sans-serif",
    "axes.titlesize": 12.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 9.5,
    "legend.frameon": False,
    "figure.titlesize": 14,
    "figure.titleweight": "bold",
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "image.cmap": SPEC_CMAP,
}


@contextmanager
def mpl_style():
    """kwscope's matplotlib look, applied while artists are created (fonts are fixed at creation)."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        yield


def mpl_figure(width_in: float, height_in: float):
    """A bare Figure on an Agg canvas with constrained layout (no pyplot, no window)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plotly_layout(fig, *, title: str | None, height: int, width: int | None = None, legend: bool = False):
    """Apply kwscope's plotly look: white template, readable font, a title, sensible margins."""
    fig.update_layout(
        template="plotly_white",
        title={"text": f"<b>{title}</b>" if title else None, "x": 0.5, "xanchor": "center"},
        font={"family": FONT_FAMILY, "size": 13},
        height=height,
        width=width,
        margin={"l": 70, "r": 30, "t": 70 if title else 30, "b": 60},
        showlegend=legend,
        hoverlabel={"font": {"family": FONT_FAMILY}},
    )
    return fig
