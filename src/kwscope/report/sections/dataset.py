"""The report's sections on what is in the dataset: findings, overview, recordings per label,
lengths, splits and speaker leakage."""

from __future__ import annotations

from ..markup import PageContext, esc, fmt_duration, fmt_int, fmt_num, kv, section, stat, table
from ..plan import Finding, quality_view


def findings_section(ctx: PageContext, findings: list[Finding]) -> str:
    def item(severity: str, title: str, detail: str, section: str, strict: bool) -> str:
        badge = {"bad": "problem", "warn": "check", "info": "note", "ok": "ok"}.get(severity, severity)
        mark = ' <span class="badge muted" title="counted by --strict">strict</span>' if strict else ""
        return (f'<li class="finding {severity}"><span class="badge {severity}">{badge}</span>'
                f'<div><b>{title}</b>{mark}<br><span class="note">{detail}</span></div>'
                f'<a class="go" href="#{esc(section)}">see section →</a></li>')

    items, quality = [], [f for f in findings if f.kind.startswith("quality:")]
    for f in findings:
        if f.kind.startswith("quality:"):
            if f is quality[0]:  # the quality flags read best as one line
                items.append(item("warn", _quality_headline(ctx, quality),
                                  "; ".join(esc(q.title) for q in quality) + " — listen to the worst ones",
                                  "quality", False))
            continue
        items.append(item(f.severity, esc(f.title), esc(f.detail), f.section, f.strict))
    body = f'<ul class="finding-list">{"".join(items)}</ul>'
    lead = ("What kwscope found, worst first. Problems marked <i>strict</i> make "
            "<code>kwscope report --strict</code> exit with status 1, so CI can stop on them.")
    return section("findings", "Findings", body, lead=lead)


def _quality_headline(ctx: PageContext, quality: list[Finding]) -> str:
    """"N recordings flagged (M flags)": recordings counted once however many flags they have;
    only the flags are counted when the analysis did not count the recordings (an older cache)."""
    n_flags = sum(q.count for q in quality)
    _, _, extra = quality_view(ctx.x)
    try:
        n_flagged = int(extra["n_flagged"])
    except (KeyError, TypeError, ValueError):
        return f"{fmt_int(n_flags)} quality flag{'s' if n_flags != 1 else ''} raised"
    head = f"{fmt_int(n_flagged)} recording{'s' if n_flagged != 1 else ''} flagged"
    if n_flags != n_flagged:
        head += f" ({fmt_int(n_flags)} flag{'s' if n_flags != 1 else ''}: some recordings have several)"
    return head


def overview_section(ctx: PageContext, n: int) -> str:
    s = ctx.summary
    sp = s.speakers or {}
    rates = ", ".join(f"{esc(k)} Hz ({fmt_int(v)})" for k, v in s.sample_rates.items()) or "–"
    formats = ", ".join(f"{esc(k)} ({fmt_int(v)})" for k, v in s.formats.items()) or "–"
    chans = ", ".join(f"{esc(k)} ({fmt_int(v)})" for k, v in s.channels.items()) or "–"
    noise = s.background_noise or {}
    pairs = [
        ("Dataset folder", f"<code>{esc(s.root)}</code>"),
        ("Layout", esc(s.layout) + "".join(
            f"<br><small>{esc(line)}</small>" for line in
            ([(getattr(s, "layout_info", None) or {}).get("evidence", "")]
             + list((getattr(s, "layout_info", None) or {}).get("notes", []))) if line)),
        ("Files", fmt_int(s.n_files)),
        ("Readable", fmt_int(s.n_files - len(ctx.broken))),
        ("Broken", f'<b style="color:var(--bad)">{fmt_int(len(ctx.broken))}</b>' if ctx.broken else "0"),
        ("Labels", f"{fmt_int(len(s.labels))}: " + " ".join(ctx.chip(lb) for lb in ctx.labels.shown)
         + (f' <span class="note">{esc(ctx.labels.more_text())}</span>' if ctx.labels.capped else "")),
        ("Speakers", fmt_int(sp.get("n_speakers")) if sp.get("known") else "unknown in this layout"),
        ("Total duration", fmt_duration(s.total_duration_s)),
        ("Sample rates", rates),
        ("Formats", formats),
        ("Channels", chans),
    ]
    if noise.get("n_files"):
        pairs.append(("Background noise", f"{fmt_int(noise['n_files'])} files, "
                                          f"{fmt_duration(noise.get('duration_s', 0))} (not a label)"))
    body = [kv(pairs)]
    body.append('<h3 id="broken-files">Broken files</h3>')
    broken = ctx.broken
    if not broken:
        body.append('<div class="callout ok">Every file could be read.</div>')
    else:
        body.append(f'<div class="callout bad"><b>{fmt_int(len(broken))} file(s) cannot be read.</b> '
                    "They are left out of every statistic below; each is listed with the reason.</div>")
        by_reason: dict[str, list[str]] = {}
        for b in broken[: ctx.options.max_broken_listed]:
            by_reason.setdefault(str(b.get("error") or "unknown"), []).append(str(b.get("path")))
        if len(broken) <= 200:
            rows = [[f'<span class="path">{esc(b.get("path"))}</span>', esc(b.get("error"))]
                    for b in broken]
            body.append(table(["file", "reason"], rows, scroll=len(rows) > 15))
        else:
            for reason, paths in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
                body.append(f"<details><summary>{esc(reason)}: {fmt_int(len(paths))} files</summary>"
                            f'<div class="pathlist">{esc(chr(10).join(paths))}</div></details>')
            if len(broken) > ctx.options.max_broken_listed:
                body.append(f'<p class="note">{fmt_int(len(broken) - ctx.options.max_broken_listed)} more are '
                            "in the JSON description (--json).</p>")
    lead = "What is in the dataset folder, read from the file headers, and which files could not be read at all."
    return section("overview", "Overview", "".join(body), lead=lead, number=n)


def labels_section(ctx: PageContext, n: int) -> str:
    s = ctx.summary
    splits = sorted({sp for d in s.split_by_label.values() for sp in d})
    per_sp = (s.speakers or {}).get("per_label", {})
    total = sum(s.recordings_per_label.values()) or 1
    biggest = max(s.recordings_per_label.values() or [1])
    rows = []
    view = ctx.labels
    for lb in view.shown:
        c = s.recordings_per_label.get(lb, 0)
        bar = (f'<div class="sharebar"><div class="bar" style="--c:{esc(ctx.colors.get(lb, "#999"))};'
               f'width:{100 * c / biggest:.1f}%"></div><span>{100 * c / total:.1f}%</span></div>')
        rows.append([ctx.chip(lb), fmt_int(c), bar, fmt_int(per_sp.get(lb, "–"))]
                    + [fmt_int(s.split_by_label.get(lb, {}).get(sp, 0)) for sp in splits])
    if view.capped:  # one row for the labels left out, so that the column sums stay whole
        rest = [lb for lb in s.labels if lb not in set(view.shown)]
        c = view.files_more
        rows.append([f"<i>{esc(view.more_text())}</i>", fmt_int(c), f'<div class="sharebar"><span>'
                     f"{100 * c / total:.1f}%</span></div>", "–"]
                    + [fmt_int(sum(s.split_by_label.get(lb, {}).get(sp, 0) for lb in rest)) for sp in splits])
    headers = ["label", "recordings", "share", "speakers"] + [f"{sp}" for sp in splits]
    numeric = [1, 3] + list(range(4, 4 + len(splits)))
    body = ctx.figure("label-counts", alt="Recordings per label (bar chart)")
    if view.capped:
        body += (f'<p class="note">Shown: {esc(view.shown_text())}, by recordings; the other '
                 f"{fmt_int(view.n_more)} are summed in the last row. Every label is in the JSON description "
                 "(<code>summary.recordings_per_label</code>, <code>--json</code>).</p>")
    body += table(headers, rows, numeric=numeric, scroll=len(rows) > 20)
    noise = s.background_noise or {}
    if noise.get("n_files"):
        body += (f'<p class="note">Besides the labels: {fmt_int(noise["n_files"])} background-noise files '
                 f'({fmt_duration(noise.get("duration_s", 0))}), not counted as a label.</p>')
    counts = [v for v in s.recordings_per_label.values() if v]
    lead = "How many recordings each label (word) has."
    if counts:
        ratio = max(counts) / max(1, min(counts))
        lead += (f" The largest label has {ratio:.1f}× the recordings of the smallest"
                 + (" — fairly even." if ratio < 1.5 else " — a model may favour the big labels; consider "
                    "class weights or resampling."))
    howto = "One bar per label, in the label's color (the same color in every figure of this page)."
    return section("labels", "Recordings per label", body, lead=lead, howto=howto, number=n)


def lengths_section(ctx: PageContext, n: int) -> str:
    L = ctx.summary.lengths or {}
    if L.get("dominant_duration_s") is None:
        return section("lengths", "Recording lengths", '<p class="empty">No readable recordings.</p>', number=n)
    n_all = (L.get("n_dominant") or 0) + (L.get("n_differ") or 0)
    differ = L.get("n_differ") or 0
    stats = "".join([
        stat(f"{L['dominant_duration_s']:g} s", "dominant length"),
        stat(fmt_int(L.get("n_dominant")), "recordings of that length", "ok" if not differ else ""),
        stat(fmt_int(differ) + (f" <small>({100 * differ / n_all:.1f}%)</small>" if n_all else ""),
              "differ from it", "warn" if differ else "ok"),
        stat(fmt_int(L.get("n_shorter")), "shorter"),
        stat(fmt_int(L.get("n_longer")), "longer"),
        stat(fmt_int(L.get("n_shorter_than_1s")), "shorter than 1 s"),
        stat(f"{fmt_num(L.get('min_s'))} / {fmt_num(L.get('median_s'))} / {fmt_num(L.get('max_s'))} s",
              "min / median / max"),
    ])
    body = f'<div class="stat-grid">{stats}</div>' + ctx.figure("lengths", alt="Histogram of recording lengths")
    lead = ("Most keyword datasets fix one length (1 s in Speech Commands); recordings of another length need "
            "padding or cutting before a model sees them, and very short ones are often cut-off words.")
    howto = ("Bars count recordings per length bin; the dashed line is the dominant length. A log count axis is "
             "used when a few odd lengths would otherwise be invisible next to the main bar.")
    return section("lengths", "Recording lengths", body, lead=lead, howto=howto, number=n)


def splits_section(ctx: PageContext, n: int) -> str:
    s = ctx.summary
    body = []
    if s.splits:
        total = sum(s.splits.values()) or 1
        body.append('<div class="stat-grid">' + "".join(
            stat(fmt_int(v) + f" <small>({100 * v / total:.0f}%)</small>", f"{k} recordings")
            for k, v in s.splits.items()) + "</div>")
    else:
        body.append('<p class="note">This layout defines no train/validation/test split.</p>')
    sp = s.speakers or {}
    if not sp.get("known"):
        body.append('<p class="note">Speakers are unknown in this layout, so leakage cannot be checked.</p>')
    elif s.leaking_speakers:
        k = len(s.leaking_speakers)
        body.append(f'<div class="callout bad"><b>{k} speaker(s) have recordings in more than one split.</b> '
                    "A model evaluated on them is tested on voices it was trained on, so its scores are "
                    "optimistic. Move each speaker's recordings into one split.</div>")
        rows = [[f"<code>{esc(d['speaker'])}</code>", fmt_int(d["n_clips"]),
                 ", ".join(f"{esc(k2)}: {fmt_int(v)}" for k2, v in sorted(d["splits"].items()))]
                for d in s.leaking_speakers]
        body.append(table(["speaker", "recordings", "recordings per split"], rows, numeric=[1],
                           scroll=len(rows) > 15))
    elif s.splits:
        body.append('<div class="callout ok">No speaker is in more than one split.</div>')
    if sp.get("known"):
        c = sp.get("clips_per_speaker") or {}
        body.append(f'<p class="note">{fmt_int(sp.get("n_speakers"))} speakers; recordings per speaker: '
                    f'min {fmt_int(c.get("min"))}, median {fmt_num(c.get("median"))}, '
                    f'max {fmt_int(c.get("max"))}.</p>')
    lead = ("One speaker must never be split between training and testing, or the test measures how well the "
            "model knows that voice rather than the word.")
    return section("splits", "Splits and speaker leakage", "".join(body), lead=lead, number=n)
