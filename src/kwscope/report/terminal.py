"""Plain-text tables for the terminal, rendered from analysis results (never from audio)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:  # printable() serves the CLI's error line: keep this module free of pandas
    from ..analysis.summary import DatasetSummary

__all__ = ["table", "format_summary", "format_layout", "printable"]


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> str:
    """A simple aligned text table; numbers right-aligned."""
    rows = [[_cell(c) for c in r] for r in rows]
    headers = [_cell(h) for h in headers]  # split names and the like come from the data too
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    numeric = [all(_is_num(r[i]) for r in rows) if rows else False for i in range(len(headers))]

    def fmt(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "  ".join(out).rstrip()

    lines = []
    if title:
        lines.append(title)
    lines.append(fmt(headers))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") if v == v else "-"
    if isinstance(v, int):
        return f"{v:,}"
    return "-" if v is None else printable(str(v))


def printable(text: str) -> str:
    """Text from the data (names, manifest fields) with control characters escaped, so a file
    name cannot move the cursor or recolour the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _is_num(s: str) -> bool:
    return s.replace(",", "").replace(".", "").replace("-", "").replace("%", "").isdigit()


def _pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:.1f}%" if total else "-"


def format_layout(info: dict) -> list[str]:
    """How DATA was read, in a few lines: the evidence, then each note."""
    if not info:
        return []
    lines = []
    if info.get("evidence"):
        lines.append(f"  why: {printable(info['evidence'])}")
    for note in info.get("notes", []):
        lines.append(f"  note: {printable(note)}")
    if info.get("unmatched"):
        lines.append(f"  note: {info['unmatched']:,} files not matched by the layout (listed with the broken files)")
    return lines


def format_summary(s: "DatasetSummary", *, max_broken: int = 20, max_labels: int = 50) -> str:
    """The human form of ``kwscope stats``: the per-label table lists the ``max_labels`` largest
    labels and sums up the rest in one row (every label is in ``--json``)."""
    from .labels import label_view

    out = [
        f"Dataset {printable(s.root)}  (layout: {printable(s.layout)})",
        *format_layout(s.layout_info),
        f"{s.n_files:,} files, {s.n_ok:,} readable, {s.n_broken:,} broken; "
        f"{len(s.labels)} labels; {s.total_duration_s / 60:,.1f} min of audio",
        "",
    ]
    splits = sorted({sp for d in s.split_by_label.values() for sp in d})
    rows = []
    view = label_view(s.labels, s.recordings_per_label, max_labels)
    for label in view.shown:
        per = s.split_by_label.get(label, {})
        rows.append([label, s.recordings_per_label[label], s.speakers["per_label"].get(label, "-")]
                    + [per.get(sp, 0) for sp in splits])
    title = "Recordings per label"
    if view.capped:
        rest = [lb for lb in s.labels if lb not in set(view.shown)]
        rows.append([view.more_text(), view.files_more, "-"]
                    + [sum(s.split_by_label.get(lb, {}).get(sp, 0) for lb in rest) for sp in splits])
        title += f" ({view.shown_text()}, the rest in the last row; every label in --json)"
    out.append(table(["label", "recordings", "speakers"] + splits, rows, title=title))
    if s.background_noise["n_files"]:
        out.append(f"(+ {s.background_noise['n_files']} background-noise files, "
                   f"{s.background_noise['duration_s']:.1f} s; not a label)")
    if s.long_recordings.get("n_files"):
        out.append(printable(f"(+ {s.long_recordings['n_files']} long recordings, "
                             f"{s.long_recordings['duration_s'] / 60:.1f} min, {s.long_recordings['why']}; "
                             "a category of their own, not a label)"))
    L = s.lengths
    out.append("")
    if L["dominant_duration_s"] is not None:
        n_ok_speech = L["n_dominant"] + L["n_differ"]
        out.append(
            f"Lengths: dominant {L['dominant_duration_s']:g} s ({L['n_dominant']:,} clips); "
            f"{L['n_differ']:,} differ ({_pct(L['n_differ'], n_ok_speech)}): {L['n_shorter']:,} shorter, "
            f"{L['n_longer']:,} longer; {L['n_shorter_than_1s']:,} shorter than 1 s; "
            f"min {L['min_s']:.3f} s, median {L['median_s']:.3f} s, max {L['max_s']:.3f} s"
        )
    # One line each, made of values read from the files: escaped as a whole.
    out.append(printable("Sample rates: " + ", ".join(f"{k} Hz: {v:,}" for k, v in s.sample_rates.items())))
    out.append(printable("Formats: " + ", ".join(f"{k}: {v:,}" for k, v in s.formats.items())))
    out.append(printable("Channels: " + ", ".join(f"{k}: {v:,}" for k, v in s.channels.items())))
    fm = s.format_mismatches
    if fm.get("n_files"):
        shown = "; ".join(f"{f['path']} ({f['note']})" for f in fm["files"][:3])
        out.append(printable(f"Extension disagrees with content: {fm['n_files']:,} files (read by content): {shown}"
                             + (" ..." if fm["n_files"] > 3 else "")))
    if s.splits:
        out.append(printable("Splits: " + ", ".join(f"{k}: {v:,}" for k, v in s.splits.items())))
    sp = s.speakers
    if sp["known"]:
        c = sp["clips_per_speaker"]
        out.append(f"Speakers: {sp['n_speakers']:,}; clips per speaker min {c['min']}, "
                   f"median {c['median']:g}, max {c['max']}")
    else:
        out.append("Speakers: unknown in this layout (no speaker is guessed)")
    out.append("")
    if s.leaking_speakers:
        rows = [[d["speaker"], d["n_clips"], ", ".join(f"{k} {v}" for k, v in sorted(d["splits"].items()))]
                for d in s.leaking_speakers[:20]]
        more = len(s.leaking_speakers) - len(rows)
        out.append(table(["speaker", "clips", "clips per split"], rows,
                         title=f"SPEAKER LEAKAGE: {len(s.leaking_speakers)} speaker(s) in more than one split"))
        if more > 0:
            out.append(f"... and {more} more (see --json)")
    elif sp["known"] and s.splits:
        out.append("Speaker leakage: none (every speaker is in one split)")
    if s.broken_files:
        out.append("")
        rows = [[b["path"], b["error"]] for b in s.broken_files[:max_broken]]
        out.append(table(["broken file", "reason"], rows, title=f"Broken files: {len(s.broken_files)}"))
        if len(s.broken_files) > max_broken:
            out.append(f"... and {len(s.broken_files) - max_broken} more (see --json)")
    return "\n".join(out)
