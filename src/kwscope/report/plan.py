"""The report's choices, made from the exploration alone (no audio, no figures).

- which recording shows each label (a typical one: readable, of the dominant length, the lowest
  anomaly score, no duplicate), and which one is the showcase for the 3-D spectrogram, silence
  removal and resampling sections;
- which recordings get their audio embedded, in priority order (examples, the top outliers,
  the worst example of each quality flag, duplicates, then a few per label so that every label of
  the anomaly map has points to click), bounded in count and bytes;
- which points the anomaly map draws (all of them up to a cap; beyond it every outlier and every
  playable point plus a per-label sample of the rest);
- the findings: typed problems with a severity, the section that shows them, and whether
  ``--strict`` counts them.

The page and the JSON sidecar are both rendered from these choices, so they agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .labels import LabelView, label_view

#: ``--strict`` counts outliers scoring this or more: the anomaly score gives a clear defect
#: (clipping, near-silence, a noise burst, hum, a wrong length or rate) 10 or more, while a
#: recording that is merely unusual scores its robust z-score (capped at 10).
DEFAULT_ANOMALY_THRESHOLD = 10.0

__all__ = ["DEFAULT_ANOMALY_THRESHOLD", "broken_files", "ReportOptions", "ReportPlan", "Finding", "plan_report", "find_problems", "strict_problems",
           "records", "reasons_text", "jsonable"]


@dataclass(frozen=True)
class ReportOptions:
    """What the report shows and its size bounds.

    Attributes
    ----------
    title
        Page title (default: "kwscope report: <dataset folder name>").
    top
        Outliers listed in the ranked table, each with a player.
    max_map_points
        Points drawn in the anomaly map; beyond it the map keeps every outlier and every playable
        point and samples the rest per label (the page says so).
    playable_per_label
        Map points per label whose audio is embedded (besides outliers and examples).
    max_embedded_clips, audio_budget_bytes
        Bounds on embedded recordings (count and encoded bytes).
    max_clip_seconds
        Embedded recordings are cut to this length.
    size_limit_bytes
        The page never exceeds this: audio is dropped, lowest priority first, until it fits.
    resample_hz
        Target rate of the resampling section (halved when the showcase clip is already at it).
    anomaly_threshold
        ``--strict`` counts outliers scoring this or more; None: the exploration's own threshold
        when it has one, else :data:`DEFAULT_ANOMALY_THRESHOLD`.
    dpi
        Resolution of the static figures.
    seed
        Seed of the map's and the players' per-label samples.
    max_violin_values
        Values drawn per violin frequency over all labels (a fixed random subset of each label's).
    max_duplicate_groups, worst_per_flag, max_broken_listed
        Rows shown in those tables (all of them are in the JSON). ``max_broken_listed`` only
        bites on absurd datasets: the page names every broken file up to it.
    max_labels
        Labels the per-label views show (the largest; the rest summed up, see :mod:`.labels`).
    """

    title: str | None = None
    top: int = 50
    max_map_points: int = 5000
    playable_per_label: int = 6
    max_embedded_clips: int = 400
    audio_budget_bytes: int = 8_000_000
    max_clip_seconds: float = 10.0
    size_limit_bytes: int = 20_000_000
    resample_hz: int = 8000
    anomaly_threshold: float | None = None
    dpi: int = 72
    seed: int = 0
    max_violin_values: int = 12_000
    max_duplicate_groups: int = 100
    worst_per_flag: int = 5
    max_broken_listed: int = 100_000
    max_labels: int = 40


@dataclass
class ReportPlan:
    """The choices (see the module docstring). Paths are dataset-relative."""

    examples: dict[str, str]
    showcase: str | None
    audio_order: list[tuple[str, str]]  # (path, role), highest priority first, no repeats
    map_rows: np.ndarray  # positional rows of ``profiles`` drawn in the map
    map_total: int  # rows that have map coordinates
    map_sampled: bool  # True when map_rows is a sample
    labels: LabelView | None = None  # the labels the per-label views show

    def clip_paths(self) -> list[str]:
        return [p for p, _ in self.audio_order]


@dataclass
class Finding:
    """One thing the report found, good or bad."""

    kind: str
    severity: str  # "bad", "warn", "info" or "ok"
    count: int
    title: str
    detail: str
    section: str
    strict: bool = False  # counted by --strict
    unit: str = ""  # what ``count`` counts: files, speakers, groups, sample rates

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- helpers


def records(obj: Any) -> list[dict[str, Any]]:
    """A list of plain dicts from a list of dicts, of dataclasses, or a DataFrame."""
    if obj is None:
        return []
    if isinstance(obj, pd.DataFrame):
        return obj.to_dict("records")
    out = []
    for item in obj:
        if isinstance(item, Mapping):
            out.append(dict(item))
        elif hasattr(item, "to_dict"):
            out.append(item.to_dict())
        elif hasattr(item, "__dataclass_fields__"):
            out.append(asdict(item))
        else:
            out.append({"value": item})
    return out


def reasons_text(reasons: Any) -> list[str]:
    """Reasons as a list of strings, whatever form they come in."""
    if reasons is None:
        return []
    if isinstance(reasons, str):
        return [r.strip() for r in reasons.split(";") if r.strip()]
    if isinstance(reasons, Mapping):
        return [f"{k}: {v}" for k, v in reasons.items()]
    out = []
    for r in reasons:
        if isinstance(r, Mapping):
            text = r.get("text") or r.get("reason") or r.get("message") or ", ".join(f"{k}: {v}" for k, v in r.items())
            out.append(str(text))
        else:
            out.append(str(r))
    return out


def jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays converted, NaN/Inf as None, tuples as lists."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if np.isfinite(f) else None
    if obj is pd.NA or obj is pd.NaT:
        return None
    if hasattr(obj, "to_dict") and not isinstance(obj, type):
        return jsonable(obj.to_dict())
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return obj


def broken_files(exploration) -> list[dict[str, str]]:
    """Every unreadable file with its reason: those the index found (bad headers) and those that only
    failed when decoded during the profile pass (``profiles.status == "error"``), in path order."""
    found = {str(b.get("path")): str(b.get("error") or "") for b in (exploration.summary.broken_files or [])}
    prof = getattr(exploration, "profiles", None)
    if prof is not None and len(prof) and "status" in prof.columns:
        bad = prof[prof["status"].astype(str) != "ok"]
        errors = bad["error"] if "error" in bad.columns else pd.Series([""] * len(bad), index=bad.index)
        for p, e in zip(bad["path"].astype(str), errors.fillna("").astype(str)):
            if p not in found or not found[p]:
                found[p] = e or "cannot be decoded"
    return [{"path": p, "error": found[p]} for p in sorted(found)]


def _profiles(exploration) -> pd.DataFrame:
    prof = getattr(exploration, "profiles", None)
    if prof is None:
        return pd.DataFrame(columns=["path", "label", "speaker", "split", "status"])
    return prof.reset_index(drop=True)


def _col(df: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series([default] * len(df), index=df.index)


def _anomaly_records(exploration) -> list[dict[str, Any]]:
    return records(getattr(exploration, "anomalies", None))


def _duplicate_records(exploration) -> list[dict[str, Any]]:
    return records(getattr(exploration, "duplicates", None))


def duplicate_counts(exploration) -> dict[str, int]:
    """Duplicate groups and the files in them (all, and across splits): complete counts from the
    exploration's duplicate report, else counted from its listed groups."""
    rep = getattr(exploration, "duplicate_report", None)
    if rep is not None and hasattr(rep, "n_groups"):
        return {"groups": rep.n_groups, "files": rep.n_files, "cross_split_groups": rep.n_cross_split_groups,
                "cross_split_files": rep.n_cross_split_files}
    dups = _duplicate_records(exploration)
    cross = [d for d in dups if d.get("cross_split")]
    size = lambda d: len(d.get("paths") or [])  # noqa: E731
    return {"groups": len(dups), "files": len({p for d in dups for p in d.get("paths") or []}),
            "cross_split_groups": len(cross), "cross_split_files": sum(size(d) for d in cross)}


def quality_view(exploration) -> tuple[dict[str, int], dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """``(counts per flag, worst examples per flag, thresholds/extra)`` from ``exploration.quality``,
    whichever of the shapes ``{"counts": ..., "worst": ...}`` or ``{flag: {"count", "worst"}}``."""
    q = getattr(exploration, "quality", None) or {}
    if hasattr(q, "to_dict") and not isinstance(q, Mapping):
        q = q.to_dict()
    counts: dict[str, int] = {}
    worst: dict[str, list[dict[str, Any]]] = {}
    extra: dict[str, Any] = {}
    if "counts" in q and isinstance(q["counts"], Mapping):
        counts = {str(k): int(v) for k, v in q["counts"].items()}
        w = q.get("worst") or q.get("examples") or {}
        worst = {str(k): records(v) for k, v in w.items()} if isinstance(w, Mapping) else {}
        extra = {k: v for k, v in q.items() if k not in ("counts", "worst", "examples")}
    else:
        for flag, v in q.items():
            if isinstance(v, Mapping) and ("count" in v or "n" in v):
                counts[str(flag)] = int(v.get("count", v.get("n", 0)))
                worst[str(flag)] = records(v.get("worst") or v.get("examples") or [])
                extra[str(flag)] = {k: x for k, x in v.items() if k not in ("count", "n", "worst", "examples")}
            elif isinstance(v, (int, np.integer)):
                counts[str(flag)] = int(v)
            else:
                extra[str(flag)] = v
    return counts, worst, extra


# --------------------------------------------------------------------------- the plan


def _typical_clip(rows: pd.DataFrame, dominant_s: float | None, avoid: set[str]) -> str | None:
    if rows.empty:
        return None
    score = pd.to_numeric(_col(rows, "anomaly_score"), errors="coerce").fillna(np.inf).to_numpy()
    dur = pd.to_numeric(_col(rows, "duration_s"), errors="coerce").to_numpy()
    paths = rows["path"].astype(str).to_numpy()
    off_length = np.zeros(len(rows), bool) if dominant_s is None else ~(np.abs(dur - dominant_s) < 5e-4)
    avoided = np.array([p in avoid for p in paths])
    order = np.lexsort((paths, score, off_length, avoided))
    return str(paths[order[0]])


def plan_report(exploration, options: ReportOptions | None = None) -> ReportPlan:
    """Make the report's choices from an exploration (see the module docstring)."""
    opt = options or ReportOptions()
    summary = exploration.summary
    prof = _profiles(exploration)
    ok = prof[_col(prof, "status", "ok").astype(str) == "ok"] if len(prof) else prof
    anomalies = _anomaly_records(exploration)
    duplicates = _duplicate_records(exploration)
    flagged = {str(a.get("path")) for a in anomalies}
    dup_paths = {str(p) for d in duplicates for p in (d.get("paths") or [])}
    dominant = (summary.lengths or {}).get("dominant_duration_s")

    view = label_view(summary.labels, summary.recordings_per_label, opt.max_labels)
    examples: dict[str, str] = {}
    by_label = dict(list(ok.groupby(ok["label"].astype(str), sort=False))) if len(ok) else {}
    for label in view.shown:  # the labels shown: a card each, not one per word of a 5,000-word set
        path = _typical_clip(by_label.get(label, ok.iloc[:0]), dominant, flagged | dup_paths)
        if path is not None:
            examples[label] = path

    # The showcase clip (3-D, silence removal, resampling): the example with the most silence around
    # its speech, so that silence removal has something to remove; the notebook's "yes" when it has
    # some (a quarter of a second).
    showcase = None
    if examples:
        by_path = ok.set_index(ok["path"].astype(str))

        def margin(p: str) -> float:
            try:
                row = by_path.loc[p]
                start, end, dur = (float(row[k]) for k in ("speech_start_s", "speech_end_s", "duration_s"))
            except (KeyError, TypeError, ValueError):
                return 0.0
            if not (np.isfinite(start) and np.isfinite(end) and np.isfinite(dur)) or end - start < 0.15:
                return 0.0
            return start + (dur - end)

        showcase = max(sorted(examples.values()), key=margin)
        if "yes" in examples and margin(examples["yes"]) >= 0.25:
            showcase = examples["yes"]

    order: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(path: Any, role: str) -> None:
        p = str(path)
        if p and p not in seen:
            seen.add(p)
            order.append((p, role))

    if showcase:
        add(showcase, "showcase")
    for label in view.shown:
        if label in examples:
            add(examples[label], "example")
    for a in anomalies[: opt.top]:
        add(a.get("path"), "outlier")
    _, worst, _ = quality_view(exploration)
    for flag, items in worst.items():
        for item in items[: opt.worst_per_flag]:
            add(item.get("path"), "quality")
    for d in duplicates[: opt.max_duplicate_groups]:
        for p in (d.get("paths") or [])[:2]:
            add(p, "duplicate")

    # The anomaly map's points.
    coords_ok = np.zeros(len(prof), bool)
    if len(prof) and {"pca_x", "pca_y", "pca_z"} <= set(prof.columns):
        xyz = prof[["pca_x", "pca_y", "pca_z"]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        coords_ok = np.isfinite(xyz).all(axis=1)
    candidates = np.flatnonzero(coords_ok)
    map_total = int(candidates.size)
    rng = np.random.default_rng(opt.seed)
    paths_all = prof["path"].astype(str).to_numpy() if len(prof) else np.array([], str)
    # Label codes by hashing (pd.factorize), not sorting: 100,000 string labels cost milliseconds.
    codes, uniques = pd.factorize(_col(prof, "label", "").astype(str)) if len(prof) else (np.array([], int), [])
    cand_codes = codes[candidates]

    # A few playable points per label, drawn from the mappable rows.
    per_label: dict[str, np.ndarray] = {}
    for k in np.unique(cand_codes):
        per_label[str(uniques[k])] = rng.permutation(candidates[cand_codes == k])
    for k in range(opt.playable_per_label):
        for label in sorted(per_label):
            idx = per_label[label]
            if k < idx.size:
                add(paths_all[idx[k]], "map-sample")
    order = order[: opt.max_embedded_clips]

    if map_total <= opt.max_map_points:
        map_rows, sampled = candidates, False
    else:
        keep_paths = {p for p, _ in order} | flagged
        keep = pd.Series(paths_all[candidates]).isin(keep_paths).to_numpy()
        must, rest, rest_codes = candidates[keep], candidates[~keep], cand_codes[~keep]
        room = max(0, opt.max_map_points - must.size)
        # Stratified by label: each label keeps its share of the points (at least one).
        picks = []
        if room and rest.size:
            present, counts = np.unique(rest_codes, return_counts=True)
            quota = np.maximum(1, np.floor(counts / counts.sum() * room)).astype(int)
            for k, q in zip(present, quota):
                idx = rest[rest_codes == k]
                picks.append(rng.choice(idx, size=min(q, idx.size), replace=False))
        map_rows, sampled = np.sort(np.concatenate([must] + picks)), True
    return ReportPlan(examples=examples, showcase=showcase, audio_order=order, map_rows=map_rows,
                      map_total=map_total, map_sampled=sampled, labels=view)


# --------------------------------------------------------------------------- findings


def _threshold(exploration, options: ReportOptions) -> float | None:
    if options.anomaly_threshold is not None:
        return float(options.anomaly_threshold)
    for name in ("anomaly_threshold", "threshold"):
        v = getattr(exploration, name, None)
        if isinstance(v, (int, float)) and np.isfinite(v):
            return float(v)
    return DEFAULT_ANOMALY_THRESHOLD


def anomalies_above(exploration, options: ReportOptions) -> list[dict[str, Any]]:
    """The outliers ``--strict`` counts: scoring above the threshold (or flagged with a reason)."""
    thr = _threshold(exploration, options)
    out = []
    for a in _anomaly_records(exploration):
        score = a.get("score")
        try:
            score = float(score)
        except (TypeError, ValueError):
            score = np.nan
        if thr is not None:
            if np.isfinite(score) and score >= thr:
                out.append(a)
        elif a.get("is_outlier", bool(reasons_text(a.get("reasons")))):
            out.append(a)
    return out


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def find_problems(exploration, options: ReportOptions | None = None, *, baseline=None) -> list[Finding]:
    """Every finding of the report, worst first (the page's highlights and the JSON's ``findings``);
    with a :class:`kwscope.learn.result.Baseline`, its findings too (section ``model``)."""
    opt = options or ReportOptions()
    s = exploration.summary
    out: list[Finding] = []
    broken = broken_files(exploration)
    if broken:
        reasons: dict[str, int] = {}
        for b in broken:
            reasons[b["error"]] = reasons.get(b["error"], 0) + 1
        top = sorted(reasons.items(), key=lambda kv: -kv[1])[:3]
        out.append(Finding("broken_files", "bad", len(broken), f"{_plural(len(broken), 'broken file')}",
                           "cannot be read: " + "; ".join(f"{r} ({n})" for r, n in top), "overview", True, "files"))
    if s.leaking_speakers:
        n = len(s.leaking_speakers)
        names = ", ".join(d["speaker"] for d in s.leaking_speakers[:5]) + (" ..." if n > 5 else "")
        out.append(Finding("speaker_leakage", "bad", n, f"{_plural(n, 'speaker')} in more than one split",
                           f"{names}: a model would be tested on voices it trained on", "splits", True, "speakers"))
    dc = duplicate_counts(exploration)
    if dc["cross_split_groups"]:
        n, files = dc["cross_split_groups"], dc["cross_split_files"]
        out.append(Finding("cross_split_duplicates", "bad", n,
                           f"{_plural(n, 'duplicate group')} ({_plural(files, 'file')}) across splits",
                           "the same recording is in train and in validation/test", "duplicates", True, "groups"))
    if dc["groups"] > dc["cross_split_groups"]:
        n, files = dc["groups"] - dc["cross_split_groups"], dc["files"] - dc["cross_split_files"]
        kinds = sorted({str(d.get("kind", "")) for d in _duplicate_records(exploration) if not d.get("cross_split")})
        out.append(Finding("duplicates", "warn", n,
                           f"{_plural(n, 'duplicate group')} ({_plural(files, 'file')}) within a split",
                           "kinds: " + ", ".join(k for k in kinds if k), "duplicates", False, "groups"))
    above = anomalies_above(exploration, opt)
    if above:
        thr = _threshold(exploration, opt)
        # Counted over every file's score, not over the ranked list, which stops at --top.
        score = pd.to_numeric(_col(_profiles(exploration), "anomaly_score"), errors="coerce")
        n = max(len(above), int((score >= thr).sum()) if thr is not None else 0)
        names = ", ".join(str(a.get("path")) for a in above[:3]) + (" ..." if n > 3 else "")
        out.append(Finding("anomalies", "warn", n,
                           f"{_plural(n, 'outlier')}" + (f" scoring {thr:g} or more" if thr is not None else ""),
                           names, "outliers", True, "files"))
    counts, _, _ = quality_view(exploration)
    nice = {"clipping": "clipped", "near_silent": "near-silent", "noise_only": "holding only noise",
            "noise_burst": "with a noise burst", "hum": "with hum", "too_short": "too short",
            "too_long": "too long", "wrong_sample_rate": "at another sample rate than the rest",
            "dc_offset": "with a DC offset", "low_snr": "with a low SNR"}
    for flag, n in counts.items():
        if n:
            out.append(Finding(f"quality:{flag}", "warn", int(n),
                               f"{_plural(int(n), 'recording')} {nice.get(flag, 'flagged ' + flag.replace('_', ' '))}",
                               "listen to the worst ones in Quality flags", "quality", False, "files"))
    L = s.lengths or {}
    if L.get("n_differ"):
        out.append(Finding("lengths", "info", int(L["n_differ"]),
                           f"{_plural(int(L['n_differ']), 'recording')} not {L.get('dominant_duration_s')} s long",
                           f"{L.get('n_shorter', 0):,} shorter, {L.get('n_longer', 0):,} longer", "lengths", False, "files"))
    if len(s.sample_rates) > 1:
        rates = ", ".join(f"{k} Hz ({v:,})" for k, v in s.sample_rates.items())
        out.append(Finding("sample_rates", "info", len(s.sample_rates), "mixed sample rates", rates,
                           "overview", False, "sample rates"))
    fm = getattr(s, "format_mismatches", None) or {}
    if fm.get("n_files"):
        shown = "; ".join(f"{f['path']} ({f['note']})" for f in fm.get("files", [])[:3])
        out.append(Finding("format_mismatches", "warn", int(fm["n_files"]),
                           f"{_plural(int(fm['n_files']), 'file')} whose extension disagrees with the content",
                           f"read by content: {shown}" + (" ..." if fm["n_files"] > 3 else ""), "overview", False, "files"))
    long = getattr(s, "long_recordings", None) or {}
    if long.get("n_files"):
        out.append(Finding("long_recordings", "info", int(long["n_files"]),
                           f"{_plural(int(long['n_files']), 'long recording')} set apart",
                           f"{long.get('why', '')}; not counted in any label", "overview", False, "files"))
    info = getattr(s, "layout_info", None) or {}
    if info.get("unmatched"):
        out.append(Finding("unmatched", "warn", int(info["unmatched"]),
                           f"{_plural(int(info['unmatched']), 'file')} not matched by the layout",
                           f"listed with the broken files; the layout is {s.layout}", "overview", False, "files"))
    out += [Finding(**f, section="model") for f in (baseline.findings() if baseline is not None else [])]
    if not any(f.severity in ("bad", "warn") for f in out):
        out.append(Finding("clean", "ok", 0, "no problems found",
                           "no broken files, leakage, duplicates, outliers or quality flags", "overview", False))
    rank = {"bad": 0, "warn": 1, "info": 2, "ok": 3}
    out.sort(key=lambda f: rank.get(f.severity, 4))
    return out


def strict_problems(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that make ``--strict`` exit 1."""
    return [f for f in findings if f.strict and f.count]
