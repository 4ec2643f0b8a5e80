"""What the dataset views share: axis labels, one color a label, and grids of panels in both
backends."""

from __future__ import annotations

from collections.abc import Mapping


from ._base import PlotError, grid_shape
from ._style import (label_colors)


#: Most panels (labels) a per-label grid or row of violins draws: the first this many of the
#: mapping (callers put the labels that matter first), the title saying how many were left out.
MAX_PANELS = 60

FREQ_LABEL = "Frequency (Hz)"
TIME_LABEL = "Time (s)"


def _colors_for(labels, colors: Mapping[str, str] | None) -> dict[str, str]:
    return label_colors(labels, base=colors)


def _check_labels_mapping(name: str, m) -> list[str]:
    if not isinstance(m, Mapping) or not m:
        raise PlotError(f"{name} must be a non-empty mapping of label to values, got {type(m).__name__}"
                        + (" (empty)" if isinstance(m, Mapping) else ""))
    return [str(k) for k in m]


def _cap_panels(m, max_panels: int | None, title: str) -> tuple[dict, str]:
    """The first ``max_panels`` items of ``m`` and the title, which names how many were left out."""
    items = [(str(k), v) for k, v in m.items()]
    limit = MAX_PANELS if max_panels is None else int(max_panels)
    if limit < 1:
        raise PlotError(f"max_panels={max_panels!r} must be at least 1")
    if len(items) <= limit:
        return dict(items), title
    return dict(items[:limit]), f"{title} (the first {limit:,} of {len(items):,} labels)"


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
