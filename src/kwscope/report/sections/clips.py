"""The report's sections on single recordings: one example per label, the 3-D spectrogram,
silence removal and resampling of a showcase clip."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..content import embed_derived, resample_target
from ..markup import PageContext, esc, section


def clip_meta(ctx: PageContext, path: str) -> dict[str, Any]:
    prof = getattr(ctx.x, "profiles", None)
    if prof is None or not len(prof):
        return {}
    hit = prof[prof["path"].astype(str) == path]
    return hit.iloc[0].to_dict() if len(hit) else {}


def examples_section(ctx: PageContext, clips, n: int) -> str:
    cards, tabs = [], []
    for i, label in enumerate(ctx.labels.shown):
        path = ctx.plan.examples.get(label)
        active = " active" if i == 0 else ""
        card_id = f"example-{i}"
        color = esc(ctx.colors.get(label, "#999"))
        tabs.append(f'<button type="button" class="ex-tab{active}" data-target="{card_id}" style="--c:{color}" '
                    f'aria-controls="{card_id}">{esc(label)}</button>')
        if path is None:
            cards.append(f'<div class="card example{active}" id="{card_id}"><h3>{ctx.chip(label)}</h3>'
                         '<p class="empty">No readable recording of this label.</p></div>')
            continue
        m = clip_meta(ctx, path)
        bits = []
        if m.get("speaker") and m.get("speaker") == m.get("speaker"):
            bits.append(f"speaker <code>{esc(m['speaker'])}</code>")
        if path in clips:
            y, sr = clips[path]
            bits.append(f"{len(y) / sr:.2f} s at {sr:,} Hz")
        try:
            snr = float(m.get("snr_db"))
        except (TypeError, ValueError):
            snr = float("nan")
        if np.isfinite(snr):
            bits.append(f"SNR {snr:.0f} dB")
        if path in clips:
            views = (f'<div class="views"><div class="main-view">'
                     f'{ctx.figure(f"ex-wave-{label}", alt=f"{label}: wave and log spectrogram")}</div>'
                     f'<div class="side-views">{ctx.figure(f"ex-mel-{label}", alt=f"{label}: mel spectrogram")}'
                     f'{ctx.figure(f"ex-mfcc-{label}", alt=f"{label}: MFCC")}</div></div>')
        else:
            views = '<p class="empty">The recording could not be read for this page.</p>'
        cards.append(f'<div class="card example{active}" id="{card_id}" data-label="{esc(label)}">'
                     f'<div class="ex-head"><h3>{ctx.chip(label)}</h3>'
                     f'<p class="meta"><span class="path">{esc(path)}</span> · {" · ".join(bits)}</p>'
                     f'{ctx.player(path, preload="metadata")}</div>{views}</div>')
    lead = ("A typical recording of each label (readable, of the dominant length, the lowest anomaly score), "
            "with a player and the notebook's views of it. Pick a label:")
    howto = ("<i>Wave</i>: amplitude over time. <i>Log spectrogram</i>: time across, frequency up (0 to half the "
             "sample rate), brighter = more energy; a word shows as bright bands (formants) where it is spoken. "
             "<i>Mel</i>: the same on the mel scale, which gives low frequencies more room, as the ear does; "
             "in dB below the loudest cell. <i>MFCC</i>: the mel spectrum compressed to 13 coefficients per frame "
             "(the classic speech feature), and their second-order change over time.")
    if ctx.labels.capped:
        lead += (f' <span class="note">(Cards for {esc(ctx.labels.shown_text())}; '
                 f"{esc(ctx.labels.more_text())} have none.)</span>")
    body = (f'<div class="ex-tabs" role="tablist">{"".join(tabs)}</div>'
            f'<div class="examples" id="examples-gallery">{"".join(cards)}</div>')
    return section("examples", "One recording per label", body, lead=lead, howto=howto, number=n)


def showcase_header(ctx: PageContext, clips) -> tuple[str, np.ndarray | None, int]:
    path = ctx.plan.showcase
    if not path or path not in clips:
        return "", None, 0
    y, sr = clips[path]
    m = clip_meta(ctx, path)
    return (f'<p class="meta">Recording: {ctx.chip(m.get("label", ""))} <span class="path">{esc(path)}</span> '
            f"({len(y) / sr:.2f} s at {sr:,} Hz)</p>"), y, sr


def spec3d_section(ctx: PageContext, clips, n: int) -> str:
    head, y, sr = showcase_header(ctx, clips)
    if y is None:
        body = '<p class="empty">No recording to show.</p>'
    else:
        body = head + ctx.player(ctx.plan.showcase, preload="metadata") + ctx.figure(
            "spec3d", alt="Log spectrogram as a 3-D surface", plot_id="plot-spec3d")
    lead = "The log spectrogram of one recording as a surface you can turn: peaks are the loud time-frequency cells."
    howto = ("Drag to rotate, scroll to zoom, hover for the value. Time (s) and frequency (Hz) lie on the floor, "
             "log power rises up; the ridges along time are the harmonics of the voice.")
    return section("spectrogram-3d", "Spectrogram in 3-D", body, lead=lead, howto=howto, number=n)


def silence_section(ctx: PageContext, clips, n: int) -> str:
    from ... import dsp

    head, y, sr = showcase_header(ctx, clips)
    if y is None:
        return section("silence", "Silence removal", '<p class="empty">No recording to show.</p>', number=n)
    try:
        trimmed, (a, b) = dsp.trim_silence(y, sr)
    except Exception:  # a clip the VAD cannot take: show the figure's own message instead
        trimmed, (a, b) = np.zeros(0, np.float32), (0, 0)
    embed_derived(ctx, "trimmed", trimmed, sr)
    if b > a:
        what = (f"The voice activity detector (VAD) keeps {a / sr:.2f}–{b / sr:.2f} s: "
                f"{(b - a) / sr:.2f} s of {len(y) / sr:.2f} s ({100 * (b - a) / len(y):.0f}%).")
    else:
        what = "The voice activity detector found no speech in this recording."
    players = (f'<div class="players"><div><label>Full recording</label>{ctx.player(ctx.plan.showcase)}</div>'
               f'<div><label>Speech only (trimmed)</label>'
               f'{ctx.derived_player("trimmed", ctx.plan.showcase + " (trimmed to speech)")}</div></div>')
    body = head + f"<p>{what}</p>" + players + ctx.figure("silence", alt="Silence removal with VAD boundaries")
    lead = ("Recordings carry silence (and noise) around the word. kwscope finds the speech with an energy VAD — "
            "frames within 40 dB of the loudest frame and above −60 dBFS — and cuts the rest, instead of the "
            "notebook's hand-picked sample range.")
    howto = ("Shaded spans and dashed lines mark the speech segments on the wave and the spectrogram; the last "
             "panel is what is kept. Listen to both players: the trimmed one should lose nothing of the word.")
    return section("silence", "Silence removal", body, lead=lead, howto=howto, number=n)


def resampling_section(ctx: PageContext, clips, n: int) -> str:
    from ... import dsp

    head, y, sr = showcase_header(ctx, clips)
    target = resample_target(sr, ctx.options) if y is not None else ctx.options.resample_hz
    title = f"Resampling to {target / 1000:g} kHz"
    if y is None:
        return section("resampling", title, '<p class="empty">No recording to show.</p>', number=n)
    try:
        embed_derived(ctx, "resampled", dsp.resample(y, sr, target), target)
    except Exception:
        pass
    players = (f'<div class="players"><div><label>Original, {sr:,} Hz</label>{ctx.player(ctx.plan.showcase)}</div>'
               f'<div><label>Resampled, {target:,} Hz</label>'
               f'{ctx.derived_player("resampled", ctx.plan.showcase + f" (resampled to {target} Hz)")}</div></div>')
    note = "" if target == ctx.options.resample_hz else (
        f'<p class="note">This recording is already at {sr:,} Hz, so it is shown halved to {target:,} Hz.</p>')
    body = head + note + players + ctx.figure("resample", alt="FFT of the original and the resampled recording")
    lead = (f"Speech lives mostly below 4 kHz (telephone speech is sampled at 8 kHz). Resampling to "
            f"{target:,} Hz halves the data per second or more; the question is what it loses.")
    howto = ("Top: the magnitude spectrum (FFT) of the original; bottom: of the resampled recording, which stops "
             "at half its new rate (the dashed line on top). Energy above that line is what is lost — listen to "
             "both to judge whether the word survives.")
    return section("resampling", title, body, lead=lead, howto=howto, number=n)
