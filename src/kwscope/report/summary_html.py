"""A plain HTML page of the dataset summary (the fallback report: no plots, no audio)."""

from __future__ import annotations

import html

from ..analysis.summary import DatasetSummary

__all__ = ["summary_page"]


def _rows(pairs) -> str:
    return "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in pairs)


def summary_page(s: DatasetSummary, *, title: str = "kwscope dataset summary") -> str:
    L = s.lengths
    parts = [
        f"<h1>{html.escape(title)}</h1><p>{html.escape(s.root)} (layout: {html.escape(s.layout)})</p>",
        "<h2>Overview</h2><table>" + _rows([
            ("files", s.n_files), ("readable", s.n_ok), ("broken", s.n_broken), ("labels", len(s.labels)),
            ("speakers", s.speakers["n_speakers"] if s.speakers["known"] else "unknown"),
            ("total duration (min)", f"{s.total_duration_s / 60:.1f}"),
            ("sample rates (Hz: files)", ", ".join(f"{k}: {v}" for k, v in s.sample_rates.items())),
            ("formats", ", ".join(f"{k}: {v}" for k, v in s.formats.items())),
        ]) + "</table>",
        "<h2>Recordings per label</h2><table>" + _rows(s.recordings_per_label.items()) + "</table>",
        "<h2>Lengths</h2><table>" + _rows([
            ("dominant length (s)", L["dominant_duration_s"]), ("clips of that length", L["n_dominant"]),
            ("clips that differ", L["n_differ"]), ("shorter than 1 s", L["n_shorter_than_1s"]),
        ]) + "</table>",
        "<h2>Splits and speaker leakage</h2><table>" + _rows(s.splits.items()) + "</table>",
    ]
    if s.leaking_speakers:
        parts.append("<p><strong>Speakers in more than one split:</strong></p><table>" + _rows(
            (d["speaker"], ", ".join(f"{k}: {v}" for k, v in d["splits"].items())) for d in s.leaking_speakers
        ) + "</table>")
    else:
        parts.append("<p>No speaker is in more than one split.</p>")
    parts.append("<h2>Broken files</h2>" + ("<table>" + _rows((b["path"], b["error"]) for b in s.broken_files)
                                             + "</table>" if s.broken_files else "<p>None.</p>"))
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}"
             "table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.2rem .8rem;border-bottom:1px solid #ddd;"
             "text-align:left}th{font-weight:600}")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
