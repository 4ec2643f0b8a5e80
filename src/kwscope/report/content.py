"""What a report page draws and plays: the figure tasks made from the exploration and the clips,
the anomaly map's playable points, and the recordings embedded as data URIs within a byte budget."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .figures import FigureTask
from .markup import PageContext, esc
from .media import audio_data_uri
from .plan import ReportOptions, reasons_text, records


def split_mapping(obj: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split a mean-spectra container into ``(per-label arrays, axes)``, whatever its form."""
    if obj is None:
        return {}, {}
    if not isinstance(obj, Mapping):
        if hasattr(obj, "to_dict") and not hasattr(obj, "__dataclass_fields__"):
            obj = obj.to_dict()
        elif hasattr(obj, "__dataclass_fields__"):
            obj = {k: getattr(obj, k) for k in obj.__dataclass_fields__}
        else:
            obj = dict(vars(obj))
    axes, per_label = {}, {}
    if isinstance(obj.get("by_label"), Mapping):
        per_label = {str(lb): np.asarray(a) for lb, a in obj["by_label"].items()}
    for k, v in obj.items():
        if k == "by_label":
            continue
        if isinstance(v, Mapping) and v and all(isinstance(a, (np.ndarray, list)) for a in v.values()):
            if not per_label:
                per_label = {str(lb): np.asarray(a) for lb, a in v.items()}
        else:
            axes[str(k)] = v
    if not per_label:  # a plain {label: array} mapping with the axes beside it
        per_label = {str(k): np.asarray(v) for k, v in obj.items()
                     if isinstance(v, (np.ndarray, list)) and k not in ("freqs_hz", "times_s", "freqs", "times")}
    return per_label, axes


def axis(axes: Mapping[str, Any], *names: str):
    for n in names:
        if n in axes and axes[n] is not None:
            return np.asarray(axes[n], dtype=float)
    return None


def speech_labels(per_label: Mapping[str, Any], labels: Sequence[str], view=None) -> dict[str, Any]:
    """``per_label`` in the order of ``labels``, then its other labels sorted; with a capped
    :class:`~.labels.LabelView`, only the labels shown."""
    order = [lb for lb in labels if lb in per_label]
    if view is None or not view.capped:
        order += sorted(lb for lb in per_label if lb not in set(labels))
    return {lb: per_label[lb] for lb in order}


def figure_tasks(ctx: PageContext, clips: Mapping[str, tuple[np.ndarray, int]]) -> dict[str, FigureTask]:
    x, s, plan, opt = ctx.x, ctx.summary, ctx.plan, ctx.options
    tasks: dict[str, FigureTask] = {}
    colors = ctx.colors
    view = ctx.labels  # per-label figures draw these labels (the largest, up to a limit)
    shown = view.shown
    if s.recordings_per_label:
        counts = {lb: s.recordings_per_label[lb] for lb in shown if lb in s.recordings_per_label}
        kw: dict[str, Any] = {"colors": {lb: colors[lb] for lb in counts if lb in colors}}
        if view.capped:
            total = sum(s.recordings_per_label.values())
            kw["title"] = (f"Recordings per label ({view.shown_text()}; {view.more_text()} not drawn; "
                           f"{total:,} recordings in all)")
        tasks["label-counts"] = FigureTask("plot_label_counts", (counts,), kw, fmt="json")
    hist = (s.lengths or {}).get("histogram") or {}
    if hist.get("counts"):
        tasks["lengths"] = FigureTask("plot_length_histogram", (hist["edges_s"], hist["counts"]),
                                      {"dominant_s": s.lengths.get("dominant_duration_s")}, fmt="json")
    for label, path in plan.examples.items():
        if path not in clips:
            continue
        y, sr = clips[path]
        tasks[f"ex-wave-{label}"] = FigureTask("plot_wave_spectrogram", (y, sr),
                                               {"title": f"“{label}”: wave and log spectrogram"}, dpi=opt.dpi)
        tasks[f"ex-mel-{label}"] = FigureTask("plot_mel_spectrogram", (y, sr), {"title": "Mel power spectrogram"},
                                              dpi=opt.dpi)
        tasks[f"ex-mfcc-{label}"] = FigureTask("plot_mfcc", (y, sr), {"title": "MFCC and delta-delta"}, dpi=opt.dpi)
    if plan.showcase and plan.showcase in clips:
        y, sr = clips[plan.showcase]
        tasks["spec3d"] = FigureTask("plot_spectrogram_3d", (y, sr), {}, fmt="json")
        tasks["silence"] = FigureTask("plot_silence", (y, sr), {}, dpi=opt.dpi)
        tasks["resample"] = FigureTask("plot_resample", (y, sr), {"target_sr": resample_target(sr, opt)},
                                       dpi=opt.dpi)
    fft_means, fft_axes = split_mapping(getattr(x, "mean_fft", None))
    freqs = axis(fft_axes, "freqs_hz", "freqs")
    if fft_means and freqs is not None:
        # Interactive: 256 bands a label is a few kB of JSON, and cheaper than drawing a PNG grid.
        tasks["mean-fft"] = FigureTask("plot_mean_fft_grid", (freqs, speech_labels(fft_means, shown, view)),
                                       {"colors": colors}, fmt="json")
    spec_means, spec_axes = split_mapping(getattr(x, "mean_logspec", None))
    t_ax, f_ax = axis(spec_axes, "times_s", "times"), axis(spec_axes, "freqs_hz", "freqs")
    if spec_means and t_ax is not None and f_ax is not None:
        tasks["mean-spec"] = FigureTask("plot_mean_spectrogram_grid",
                                        (t_ax, f_ax, speech_labels(spec_means, shown, view)), {}, dpi=opt.dpi)
    violins = {hz: speech_labels(per, shown, view) for hz, per in (getattr(x, "violins", None) or {}).items()}
    n_labels = max(1, max((len(per) for per in violins.values()), default=1))
    per_violin = max(400, opt.max_violin_values // n_labels)
    vals = {float(hz): {str(lb): thin(np.asarray(v, dtype=np.float32), per_violin, opt.seed) for lb, v in per.items()}
            for hz, per in violins.items() if per}
    if vals:
        tasks["violins"] = FigureTask("plot_violins", (vals,), {"colors": colors}, fmt="json")
    map_args = map_arguments(ctx)
    if map_args is not None:
        if view.capped:  # one trace (and legend entry) a shown label; the rest share one
            map_args["legend_labels"] = list(shown)
        used = set(map_args["labels"])
        tasks["anomaly-map"] = FigureTask("plot_anomaly_map", (map_args.pop("coords"),),
                                          {**map_args, "colors": {lb: c for lb, c in colors.items() if lb in used}},
                                          fmt="json")
    return tasks


def thin(values: np.ndarray, k: int, seed: int) -> np.ndarray:
    """At most ``k`` of the values, a fixed random subset (a violin's shape needs no more, and every
    value costs bytes in the page)."""
    values = values[np.isfinite(values)]
    if values.size <= k:
        return values
    idx = np.sort(np.random.default_rng(seed).choice(values.size, k, replace=False))
    return values[idx]


def resample_target(sr: int, opt: ReportOptions) -> int:
    return opt.resample_hz if sr > opt.resample_hz else max(1000, sr // 2)


def map_arguments(ctx: PageContext) -> dict[str, Any] | None:
    prof = getattr(ctx.x, "profiles", None)
    rows = ctx.plan.map_rows
    if prof is None or not len(rows):
        return None
    sub = prof.reset_index(drop=True).iloc[rows]
    coords = sub[["pca_x", "pca_y", "pca_z"]].to_numpy(dtype=float)
    reasons_by_path = {str(a.get("path")): reasons_text(a.get("reasons"))
                       for a in records(getattr(ctx.x, "anomalies", None))}
    paths = sub["path"].astype(str).tolist()
    speakers = sub["speaker"].where(sub["speaker"].notna(), "").astype(str).tolist() if "speaker" in sub else None
    scores = None
    if "anomaly_score" in sub:
        sc = pd.to_numeric(sub["anomaly_score"], errors="coerce").to_numpy(dtype=float)
        scores = np.where(np.isfinite(sc), sc, np.nan)
    return {"coords": coords, "labels": sub["label"].fillna("").astype(str).tolist(), "paths": paths,
            "speakers": speakers, "reasons": [reasons_by_path.get(p, []) for p in paths],
            "scores": scores, "color_by": "label"}


def add_playable_ring(spec_json: str, ctx: PageContext) -> str:
    """Draw a ring around each map point whose audio is embedded (the points that play on click)."""
    spec = json.loads(spec_json)
    data = spec.get("data") or []
    ring = {"x": [], "y": [], "z": [], "customdata": [], "text": []}
    for trace in data:
        cd = trace.get("customdata")
        if not isinstance(cd, list):
            continue
        xs, ys, zs = (decode_plotly_array(trace.get(k)) for k in ("x", "y", "z"))
        texts = trace.get("text") if isinstance(trace.get("text"), list) else None
        for i, row in enumerate(cd):
            path = row[0] if isinstance(row, list) and row else row
            if isinstance(path, str) and path in ctx.clip_of and xs is not None:
                ring["x"].append(float(xs[i]))
                ring["y"].append(float(ys[i]))
                ring["z"].append(float(zs[i]))
                ring["customdata"].append(row)
                ring["text"].append((texts[i] if texts else esc(path)) + "<br><i>▶ click to play</i>")
    if ring["x"]:
        data.append({"type": "scatter3d", "mode": "markers", "name": f"▶ playable ({len(ring['x'])})",
                     "x": ring["x"], "y": ring["y"], "z": ring["z"], "customdata": ring["customdata"],
                     "text": ring["text"], "hovertemplate": "%{text}<extra></extra>",
                     "marker": {"symbol": "circle-open", "size": 7, "color": "#111111",
                                "line": {"width": 2, "color": "#111111"}}})
    spec["data"] = data
    layout = spec.setdefault("layout", {})
    layout["height"] = 720
    layout.setdefault("legend", {})["itemsizing"] = "constant"
    layout["uirevision"] = "kwscope"
    return json.dumps(spec, separators=(",", ":"))


def decode_plotly_array(v: Any):
    """Plotly 6+ writes numeric arrays as ``{"dtype", "bdata"}`` (base64); decode either form."""
    if v is None:
        return None
    if isinstance(v, Mapping) and "bdata" in v:
        import base64

        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        if "shape" in v:
            shape = v["shape"]
            arr = arr.reshape([int(d) for d in str(shape).split(",")] if isinstance(shape, str) else shape)
        return arr
    return np.asarray(v, dtype=float)


def embed_audio(ctx: PageContext, clips: Mapping[str, tuple[np.ndarray, int]], budget: int) -> list[dict[str, Any]]:
    """Encode the planned recordings, highest priority first, within the count and byte budgets."""
    opt = ctx.options
    embedded = []
    used = 0
    profiles = getattr(ctx.x, "profiles", None)
    meta: dict[str, tuple[str, str]] = {}
    if profiles is not None and len(profiles):
        want = {p for p, _ in ctx.plan.audio_order}
        sub = profiles[profiles["path"].astype(str).isin(want)]
        spk = sub["speaker"] if "speaker" in sub else pd.Series([None] * len(sub), index=sub.index)
        for p, lb, sp in zip(sub["path"].astype(str), sub["label"], spk):
            meta[p] = ("" if lb is None or lb != lb else str(lb), "" if sp is None or sp != sp else str(sp))
    why = {str(a.get("path")): "; ".join(reasons_text(a.get("reasons"))[:2])
           for a in records(getattr(ctx.x, "anomalies", None))}
    for path, role in ctx.plan.audio_order:
        if len(embedded) >= opt.max_embedded_clips or path not in clips:
            continue
        y, sr = clips[path]
        uri = ctx.encoded.get(path)
        if uri is None:
            # Recordings shown for a reason stay lossless; the map's extra points are Vorbis (a third the size).
            lossy = role == "map-sample"
            try:
                uri = ctx.renderer.memo_text(
                    "audio", (y, int(sr), lossy, opt.max_clip_seconds),
                    lambda: audio_data_uri(y, sr, max_seconds=opt.max_clip_seconds, lossy=lossy))
            except Exception:  # an odd array never stops the page; the clip is simply not playable
                continue
            ctx.encoded[path] = uri
        if used + len(uri) > budget:
            if role in ("showcase", "example") and used + len(uri) <= budget * 1.25:
                pass  # examples may use a little headroom
            else:
                continue
        used += len(uri)
        cid = f"c{len(ctx.audio)}"
        ctx.audio[cid] = uri
        ctx.clip_of[path] = cid
        label, speaker = meta.get(path, ("", ""))
        ctx.clip_info[path] = {"a": cid, "label": label, "speaker": speaker, "why": why.get(path, "")}
        embedded.append({"path": path, "role": role, "bytes": len(uri)})
    return embedded


def embed_derived(ctx: PageContext, key: str, y: np.ndarray, sr: int) -> None:
    if y is None or len(y) < 2:
        return
    seconds = ctx.options.max_clip_seconds
    ctx.audio[key] = ctx.renderer.memo_text("audio", (y, int(sr), False, seconds),
                                            lambda: audio_data_uri(y, sr, max_seconds=seconds))
