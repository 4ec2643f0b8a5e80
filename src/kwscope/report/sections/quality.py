"""The report's sections on what the pass measured across the dataset: mean spectra, violins,
the anomaly map, ranked outliers, duplicates and quality flags."""

from __future__ import annotations

from ..markup import PageContext, esc, fmt_int, fmt_num, reasons_html, section, stat, table
from ..plan import duplicate_counts, quality_view, records


def mean_spectra_section(ctx: PageContext, n: int) -> str:
    body = (ctx.figure("mean-fft", alt="Mean FFT per label")
            + ctx.figure("mean-spec", alt="Mean log spectrogram per label"))
    sel = getattr(getattr(ctx.x, "mean_fft", None), "selection", None)
    if sel:
        body += f'<p class="note">Averaged over {esc(sel)}.</p>'
    if ctx.labels.capped:
        body += (f'<p class="note">Panels for {esc(ctx.labels.shown_text())}; '
                 f"{esc(ctx.labels.more_text())} are not drawn.</p>")
    lead = ("The average spectrum and the average spectrogram of each label: what the words have in common "
            "across speakers.")
    howto = ("FFT panels: frequency across, mean magnitude up (hover for values); peaks are the bands where the "
             "word carries energy. "
             "Spectrograms: time across, frequency up, brighter = louder on one shared color scale; words differ "
             "in where (frequency) and when (time) their energy sits — the structure a classifier can learn.")
    return section("mean-spectra", "Mean FFT and mean spectrogram", body, lead=lead, howto=howto, number=n)


def violins_section(ctx: PageContext, n: int) -> str:
    hz = [float(h) for h in (getattr(ctx.x, "violins", None) or {})]
    which = ", ".join(f"{h:,.0f}" for h in hz) or "–"
    body = ctx.figure("violins", alt="Violin plots of frequency components per label")
    if ctx.labels.capped:
        body += (f'<p class="note">Violins for {esc(ctx.labels.shown_text())}; '
                 f"{esc(ctx.labels.more_text())} are not drawn.</p>")
    lead = (f"How the log-spectrogram value at a few frequencies ({which} Hz) is distributed within each label, "
            "over a sample of recordings per label.")
    howto = ("Each violin is the spread of values of one label (wider = more frequent values), with its box, "
             "median and mean line. Labels whose violins sit apart at some frequency are easy to tell apart "
             "there; overlapping violins are not.")
    return section("violins", "Frequency components across labels", body, lead=lead, howto=howto, number=n)


def map_section(ctx: PageContext, n: int) -> str:
    plan = ctx.plan
    shown = len(plan.map_rows)
    playable = sum(1 for p in ctx.clip_of if p in ctx.map_paths)
    if not shown:
        body = '<p class="empty">No recording has map coordinates.</p>'
    else:
        if playable:
            parts = [f'<span class="legend-playable">Ringed points</span> are playable: click one and it plays in '
                     f'the bar at the bottom of the page ({fmt_int(playable)} of {fmt_int(shown)} points: the top '
                     f'outliers, the examples and up to {ctx.options.playable_per_label} recordings per label). '
                     "Other points show their file name on hover."]
        else:
            parts = ["No recording of this map is embedded in the page, so clicking a point only names it."]
        if ctx.labels.capped:
            parts.append(f"The legend has {esc(ctx.labels.shown_text())}; the points of the other "
                         f"{fmt_int(ctx.labels.n_more)} labels share one gray entry (hover names each one's label).")
        if plan.map_sampled:
            parts.append(f"The map draws {fmt_int(shown)} of {fmt_int(plan.map_total)} recordings: every "
                         "outlier and every playable point, plus a sample of the rest of each label in proportion "
                         "to its size.")
        body = (f'<div class="callout">{" ".join(parts)}</div>'
                + ctx.figure("anomaly-map", alt="Anomaly map: recordings in 3-D, click to play",
                             plot_id="anomaly-map-plot", click_to_play=True))
    lead = ("Every recording's spectrum (zero-padded to 1 s, standardized per frequency bin) reduced to three "
            "principal components: recordings that sound alike sit together; the ones far from the crowd are "
            "noisy, clipped, silent or mislabelled — listen to them.")
    howto = ("Drag to rotate, scroll to zoom, click a legend entry to hide a label. Hover a point for its file, "
             "label, speaker, score and reasons; click a ringed point to hear it.")
    return section("anomaly-map", "Anomaly map", body, lead=lead, howto=howto, number=n)


def outliers_section(ctx: PageContext, n: int) -> str:
    anomalies = records(getattr(ctx.x, "anomalies", None))
    top = anomalies[: ctx.options.top]
    if not top:
        body = '<div class="callout ok">No outliers.</div>'
    else:
        rows = []
        for i, a in enumerate(top, start=1):
            p = str(a.get("path"))
            rows.append([str(i), fmt_num(a.get("score")), f'<span class="path">{esc(p)}</span>',
                         ctx.chip(a.get("label")), f"<code>{esc(a.get('speaker') or '–')}</code>",
                         reasons_html(a.get("reasons")), ctx.player(p)])
        body = table(["#", "score", "file", "label", "speaker", "why", "listen"], rows, numeric=[0, 1],
                      scroll=len(rows) > 12)
        if len(anomalies) > len(top):
            body += f'<p class="note">{fmt_int(len(anomalies) - len(top))} more in the JSON description.</p>'
    lead = ("The recordings farthest from the rest, highest score first, each with the measurements that make it "
            "stand out and a player.")
    howto = ("The score grows with the distance from the dataset's center in the anomaly map's space; the reasons "
             "come from the per-file measurements (level, clipping, silence, SNR, noise bursts, hum, length).")
    return section("outliers", "Ranked outliers", body, lead=lead, howto=howto, number=n)


def duplicates_section(ctx: PageContext, n: int) -> str:
    dups = records(getattr(ctx.x, "duplicates", None))
    if not dups:
        body = '<div class="callout ok">No duplicate recordings found.</div>'
    else:
        dc = duplicate_counts(ctx.x)
        body = (f'<p><b>{fmt_int(dc["groups"])} group{"" if dc["groups"] == 1 else "s"}, '
                f'{fmt_int(dc["files"])} file{"" if dc["files"] == 1 else "s"}</b> '
                "(a group is every copy of one recording).</p>")
        if dc["cross_split_groups"]:
            body += (f'<div class="callout bad"><b>{fmt_int(dc["cross_split_groups"])} duplicate group(s) '
                     f'({fmt_int(dc["cross_split_files"])} files) span splits.</b> The same audio in '
                     "train and in validation/test inflates the test score.</div>")
        rows = []
        for d in dups[: ctx.options.max_duplicate_groups]:
            paths = [str(p) for p in (d.get("paths") or [])]
            labels = d.get("labels") or []
            splits = d.get("splits") or []
            files = "".join(
                f'<div style="margin:.15rem 0"><span class="path">{esc(p)}</span><br>{ctx.player(p)}</div>'
                for p in paths[:4])
            if len(paths) > 4:
                files += f'<span class="note">… and {len(paths) - 4} more</span>'
            badge = '<span class="badge bad">across splits</span>' if d.get("cross_split") else \
                '<span class="badge muted">same split</span>'
            sim = d.get("similarity")
            rows.append([esc(d.get("kind", "")), fmt_int(len(paths)), fmt_num(sim, 4) if sim is not None else "–", files,
                         " ".join(ctx.chip(lb) for lb in dict.fromkeys(map(str, labels))) or "–",
                         esc(", ".join(dict.fromkeys(str(s) for s in splits if s is not None))) or "–", badge])
        body += table(["kind", "files", "similarity", "recordings", "labels", "splits", ""], rows, numeric=[1, 2],
                       scroll=len(rows) > 10)
        if dc["groups"] > len(rows):
            body += (f'<p class="note">{fmt_int(dc["groups"] - len(rows))} more groups in the '
                     "JSON description.</p>")
    lead = ("Recordings that are the same audio (identical samples) or nearly the same (matching spectral "
            "fingerprints, whatever the gain), across the whole dataset.")
    howto = ("Each row is a group: every copy of one recording, listed once; <i>similarity</i> is 1 for identical "
             "audio, else the weakest link between the group's near copies. Groups that span splits are the "
             "serious ones; groups with different labels mean at least one label is wrong.")
    return section("duplicates", "Duplicates", body, lead=lead, howto=howto, number=n)


_FLAG_TEXT = {
    "clipping": ("clipping", "samples at full scale: the recording was too loud and the wave is cut flat"),
    "near_silent": ("near-silent", "the peak stays far below full scale: nothing, or almost nothing, was recorded"),
    "noise_only": ("noise only", "loud, spectrally flat sound and no word: the recording holds only noise"),
    "noise_burst": ("noise burst", "a loud, spectrally flat burst over the word (crackle, wind, handling)"),
    "hum": ("hum", "a steady tone such as 50/60-Hz mains hum"),
    "too_short": ("too short", "much shorter than the dataset's usual length: often a cut-off word"),
    "too_long": ("too long", "much longer than the dataset's usual length"),
    "wrong_sample_rate": ("wrong sample rate", "recorded at another rate than the rest of the dataset"),
    "dc_offset": ("DC offset", "the wave is not centred on zero (a faulty microphone or converter)"),
    "low_snr": ("low SNR", "the word is barely louder than the background noise"),
    "silence": ("silent", "mostly below −60 dBFS: nothing, or almost nothing, was recorded"),
    "clipped": ("clipping", "samples at full scale: the recording was too loud and the wave is cut flat"),
}


def quality_section(ctx: PageContext, n: int) -> str:
    counts, worst, _ = quality_view(ctx.x)
    _, _, extra = quality_view(ctx.x)
    try:
        n_ok = max(1, int(extra.get("n_checked") or ctx.summary.n_ok))
    except (TypeError, ValueError):
        n_ok = max(1, ctx.summary.n_ok)
    if not counts:
        body = '<p class="empty">No quality measurements.</p>'
    else:
        order = sorted(counts, key=lambda f: (counts[f] == 0, list(counts).index(f)))
        cards = "".join(
            stat(fmt_int(counts[f]) + f" <small>({100 * counts[f] / n_ok:.1f}%)</small>",
                  _FLAG_TEXT.get(f, (f.replace("_", " "), ""))[0], "warn" if counts[f] else "ok")
            for f in order)
        body = f'<div class="stat-grid">{cards}</div>'
        if isinstance(extra.get("n_flagged"), int) and extra["n_flagged"]:
            n_flags = extra.get("n_flags", sum(counts.values()))
            body += (f'<p class="note">{fmt_int(extra["n_flagged"])} of {fmt_int(n_ok)} recordings have at '
                     f'least one flag; {fmt_int(n_flags)} flags in all (a recording with two flags is in two '
                     'cards).</p>')
        rows = []
        for flag in order:
            if not counts[flag]:
                continue
            name, what = _FLAG_TEXT.get(flag, (flag.replace("_", " "), ""))
            items = worst.get(flag, [])[: ctx.options.worst_per_flag]
            for j, it in enumerate(items):
                p = str(it.get("path"))
                if it.get("reason"):
                    value = esc(it["reason"])
                else:
                    keys = [k for k in it if k not in ("path", "label", "speaker", "split", "reasons")]
                    value = "; ".join(f"{esc(k)} {fmt_num(it[k])}" for k in keys[:2]) or "–"
                flag_cell = (f'<b>{esc(name)}</b> <span class="note">({fmt_int(counts[flag])})</span>'
                             f'<br><span class="note">{esc(what)}</span>') if j == 0 else ""
                rows.append([flag_cell, f'<span class="path">{esc(p)}</span>', ctx.chip(it.get("label")), value,
                             ctx.player(p)])
        if rows:
            body += table(["flag", "file", "label", "measure", "listen"], rows, scroll=len(rows) > 14)
        else:
            body += '<div class="callout ok">No recording is flagged.</div>'
    lead = "Per-recording checks of the signal itself, counted over the readable recordings, with the worst of each."
    howto = ("The cards count recordings per flag; the table lists the worst few of each flag with a player, so "
             "you can hear whether the flag matters for your use.")
    return section("quality", "Quality flags", body, lead=lead, howto=howto, number=n)
