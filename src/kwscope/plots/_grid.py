"""What the dataset views share: axis labels, one color a label, and grids of panels in both
backends."""

from __future__ import annotations

from collections.abc import Mapping


from ._base import PlotError, grid_shape
from ._style import (label_colors)


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
