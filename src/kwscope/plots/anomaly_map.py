"""The notebook's anomaly map: clips in the 3-D PCA space of their spectra, colored by label or
score, with the path, label, speaker and reasons of each point (click to play in the report)."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence

import numpy as np

from ._base import PlotError, as_2d, check_backend
from ._style import (BOUNDARY_COLOR, PLOTLY_SCORE_SCALE, SCORE_CMAP, mpl_figure, mpl_style, plotly_layout)
from ._grid import (_colors_for)


#: The fields of each point's ``customdata`` in :func:`plot_anomaly_map`'s plotly figure, in order:
#: ``[path, label, speaker, reasons, score, index]`` -- ``path`` as given (dataset-relative, ``/``
#: separators), ``speaker`` ``""`` when unknown, ``reasons`` one string joined with ``"; "``
#: (``""`` when none), ``score`` a float or ``None``, ``index`` the row in the inputs (int).
ANOMALY_CUSTOMDATA = ("path", "label", "speaker", "reasons", "score", "index")


def _text_list(name: str, seq, n: int, *, allow_none: bool) -> list[str] | None:
    if seq is None:
        if allow_none:
            return None
        raise PlotError(f"{name} is required")
    if isinstance(seq, (str, bytes)):
        raise PlotError(f"{name} must be a sequence with one entry per point, not a string")
    out = ["" if v is None else (v if isinstance(v, str) else str(v)) for v in seq]
    if len(out) != n:
        raise PlotError(f"{name} has {len(out)} entries but coords has {n} points")
    return out


def _reasons_list(reasons, n: int) -> list[str] | None:
    if reasons is None:
        return None
    if isinstance(reasons, (str, bytes)):
        raise PlotError("reasons must have one entry per point (a string or a list of strings), not a string")
    out = []
    for r in reasons:
        if r is None:
            out.append("")
        elif isinstance(r, str):
            out.append(r)
        else:
            out.append("; ".join(map(str, r)))
    if len(out) != n:
        raise PlotError(f"reasons has {len(out)} entries but coords has {n} points")
    return out


#: Color of the one trace holding the labels beyond ``legend_labels``.
OTHER_COLOR = "#b0b0b0"


def _label_groups(labels: list[str], legend_labels: Sequence[str] | None) -> tuple[dict[str, np.ndarray], str | None]:
    """``(trace name -> point indices, name of the shared trace or None)``: one trace a label
    (sorted), or one a label of ``legend_labels`` and one shared "+ K more labels" for the rest."""
    codes, uniques = _factorize(labels)
    keep = None if legend_labels is None else {str(lb) for lb in legend_labels}
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    out: dict[str, np.ndarray] = {}
    rest: list[np.ndarray] = []
    for k, idx in zip(np.unique(codes), np.split(order, bounds)):
        if keep is None or uniques[k] in keep:
            out[uniques[k]] = idx
        else:
            rest.append(idx)
    out = dict(sorted(out.items()))
    other = None
    if rest:
        other = f"+ {len(rest):,} more label{'' if len(rest) == 1 else 's'}"
        while other in out:  # a label of that very text keeps its own trace
            other += " "
        out[other] = np.sort(np.concatenate(rest))
    return out, other


def _factorize(labels: list[str]) -> tuple[np.ndarray, list[str]]:
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(lb, len(index)) for lb in labels), dtype=np.int64, count=len(labels))
    return codes, list(index)


def _short_path(path: str) -> str:
    """``label/file.wav`` for a point's caption: the file name and the folder that names the label."""
    parts = path.replace(os.sep, "/").rsplit("/", 2)
    return "/".join(parts[-2:])


def plot_anomaly_map(coords, *, labels: Sequence[str], paths: Sequence[str],
                     speakers: Sequence[str | None] | None = None,
                     reasons: Sequence[str | Sequence[str] | None] | None = None,
                     scores: Sequence[float] | None = None, color_by: str = "label",
                     title: str | None = None, colors: Mapping[str, str] | None = None,
                     axis_titles: Sequence[str] = ("PC 1", "PC 2", "PC 3"), annotate_top: int = 5,
                     legend_labels: Sequence[str] | None = None, backend: str = "matplotlib"):
    """Recordings as points in 3-D (e.g. PCA of their standardized spectra): outliers stand apart.

    Parameters
    ----------
    coords : np.ndarray [shape=(n, 3)]
        Each recording's position.
    labels, paths : Sequence[str] [length n]
        Label and path (dataset-relative, ``/`` separators) of each point.
    speakers : Sequence[str or None], optional
        Speaker of each point (``None`` or ``""`` when unknown).
    reasons : Sequence[str or Sequence[str] or None], optional
        Why each point is flagged (lists are joined with ``"; "``).
    scores : Sequence[float], optional
        Anomaly score of each point (higher = more unusual).
    color_by : {"label", "score"}
        Color points by label (one trace per label, legend toggles it) or by score (one trace,
        viridis, colorbar; needs ``scores``).
    axis_titles : Sequence[str]
        Titles of the three axes.
    annotate_top : int
        matplotlib only: write the file name beside the ``annotate_top`` highest-scoring points.
    legend_labels : Sequence[str], optional
        With ``color_by="label"``: the labels that get a trace (a color and a legend entry) of their
        own; the points of every other label share one gray trace named "+ K more labels" (each
        point's hover still names its label). Default: every label has its own, which for
        thousands of labels means thousands of traces.
    backend : {"matplotlib", "plotly"}

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure
        Plotly: ``Scatter3d`` traces whose hover shows file, label, speaker, score and reasons, and
        whose points carry ``customdata`` rows laid out as :data:`ANOMALY_CUSTOMDATA`
        (``[path, label, speaker, reasons, score, index]``); in a click handler,
        ``event.points[0].customdata[0]`` is the path and ``[5]`` the row in the inputs. The
        figure's ``layout.meta`` is ``{"kwscope_view": "anomaly_map", "customdata":
        ANOMALY_CUSTOMDATA}``.
    """
    check_backend(backend)
    if color_by not in ("label", "score"):
        raise PlotError(f"color_by={color_by!r} must be 'label' or 'score'")
    xyz = as_2d("coords", coords, "(n, 3)")
    if xyz.shape[1] != 3:
        raise PlotError(f"coords must have shape (n, 3), got {xyz.shape}")
    if not np.isfinite(xyz).all():
        raise PlotError("coords has NaN/Inf values")
    n = xyz.shape[0]
    labels_l = _text_list("labels", labels, n, allow_none=False)
    paths_l = _text_list("paths", paths, n, allow_none=False)
    speakers_l = _text_list("speakers", speakers, n, allow_none=True) or [""] * n
    reasons_l = _reasons_list(reasons, n) or [""] * n
    score_a = None
    if scores is not None:
        score_a = np.asarray(scores, dtype=np.float64).ravel()
        if score_a.size != n:
            raise PlotError(f"scores has {score_a.size} entries but coords has {n} points")
    if color_by == "score" and score_a is None:
        raise PlotError("color_by='score' needs scores")
    groups, other = _label_groups(labels_l, legend_labels)
    cmap = _colors_for([g for g in groups if g != other], colors)
    if other is not None:
        cmap[other] = OTHER_COLOR
    title = title or f"Anomaly map ({n:,} recordings" + (", colored by score)" if color_by == "score" else ")")
    if backend == "plotly":
        return _plotly_anomaly(xyz, labels_l, paths_l, speakers_l, reasons_l, score_a, color_by, cmap,
                               title, axis_titles, groups)
    with mpl_style():
        fig = mpl_figure(10, 7.2)
        ax = fig.add_subplot(projection="3d")
        if color_by == "score":
            order = np.argsort(score_a, kind="stable")  # high scores drawn last, on top
            sc = ax.scatter(*xyz[order].T, c=score_a[order], cmap=SCORE_CMAP, s=14, alpha=0.85,
                            depthshade=False, edgecolors="none")
            cb = fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.08)
            cb.set_label("Anomaly score")
        else:
            for label, idx in groups.items():
                pts = xyz[idx]
                ax.scatter(*pts.T, color=cmap[label], s=12, alpha=0.8, depthshade=False, label=label,
                           edgecolors="none")
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title="Label", markerscale=1.6,
                      ncols=1 if len(cmap) <= 20 else 2)
        if score_a is not None and annotate_top > 0:
            for i in np.argsort(-score_a, kind="stable")[: int(annotate_top)]:
                ax.text(*xyz[i], "  " + _short_path(paths_l[i]), fontsize=8, color="#222222")
                ax.scatter(*xyz[i], s=60, facecolors="none", edgecolors=BOUNDARY_COLOR, linewidths=1.3,
                           depthshade=False)
        ax.set_xlabel(axis_titles[0])
        ax.set_ylabel(axis_titles[1])
        ax.set_zlabel(axis_titles[2])
        ax.view_init(elev=22, azim=-55)
        fig.suptitle(title)
    return fig


def _plotly_anomaly(xyz, labels, paths, speakers, reasons, scores, color_by, cmap, title, axis_titles, groups):
    import plotly.graph_objects as go

    n = xyz.shape[0]
    score_list = [None] * n if scores is None else [None if not np.isfinite(s) else float(s) for s in scores]
    custom = [[paths[i], labels[i], speakers[i], reasons[i], score_list[i], i] for i in range(n)]

    def hover_text(i: int) -> str:
        parts = [f"<b>{html.escape(paths[i])}</b>", f"label: {html.escape(labels[i])}"]
        if speakers[i]:
            parts.append(f"speaker: {html.escape(speakers[i])}")
        if score_list[i] is not None:
            parts.append(f"score: {score_list[i]:.3g}")
        if reasons[i]:
            parts += [html.escape(r) for r in reasons[i].split("; ")]
        return "<br>".join(parts)

    common = {"mode": "markers", "hovertemplate": "%{text}<extra></extra>"}
    if color_by == "score":
        order = np.argsort(scores, kind="stable")
        traces = [go.Scatter3d(
            x=xyz[order, 0], y=xyz[order, 1], z=xyz[order, 2], name="recordings",
            text=[hover_text(i) for i in order], customdata=[custom[i] for i in order],
            marker={"size": 3.5, "color": scores[order], "colorscale": PLOTLY_SCORE_SCALE, "opacity": 0.9,
                    "colorbar": {"title": {"text": "Anomaly score", "side": "right"}, "len": 0.7}},
            **common)]
    else:
        traces = []
        for label, idx in groups.items():
            traces.append(go.Scatter3d(
                x=xyz[idx, 0], y=xyz[idx, 1], z=xyz[idx, 2], name=label,
                text=[hover_text(i) for i in idx], customdata=[custom[i] for i in idx],
                marker={"size": 3.5, "color": cmap[label], "opacity": 0.85}, **common))
    fig = go.Figure(traces)
    fig.update_layout(
        scene={"xaxis": {"title": {"text": axis_titles[0]}}, "yaxis": {"title": {"text": axis_titles[1]}},
               "zaxis": {"title": {"text": axis_titles[2]}}},
        meta={"kwscope_view": "anomaly_map", "customdata": list(ANOMALY_CUSTOMDATA)},
        legend={"title": {"text": "Label"}, "itemsizing": "constant"},
    )
    return plotly_layout(fig, title=title, height=680, legend=color_by == "label")
