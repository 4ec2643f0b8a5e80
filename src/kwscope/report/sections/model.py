"""The report's section on what a model would learn (:class:`kwscope.learn.result.Baseline`): the
baseline's headline accuracy and how it was validated, per-label accuracy, the confusion matrix,
the pairs most confused, and the likely mislabels with players, heard-as label and confidence.
Also the clips it plays, in the report's audio order (:func:`add_model_clips`)."""

from __future__ import annotations

from ..markup import PageContext, esc, fmt_int, section, stat, table
from ..plan import ReportPlan

__all__ = ["model_section", "add_model_clips", "MODEL_ROWS"]

#: Likely mislabels listed (and played) in the section; all of them are in the JSON.
MODEL_ROWS = 30


def add_model_clips(plan: ReportPlan, baseline, *, n: int = MODEL_ROWS, limit: int | None = None) -> None:
    """Put the top ``n`` likely mislabels into ``plan.audio_order`` (role ``mislabel``) right after
    the examples, so that they play even when the page's clip count is reached."""
    if baseline is None:
        return
    seen = {p for p, _ in plan.audio_order}
    new = [(r["path"], "mislabel") for r in baseline.mislabel_records(n) if r["path"] not in seen]
    at = max((i + 1 for i, (_, role) in enumerate(plan.audio_order) if role in ("showcase", "example")), default=0)
    plan.audio_order[at:at] = new
    if limit is not None:
        del plan.audio_order[limit:]


def _pct(x) -> str:
    return "–" if x is None else f"{100 * float(x):.1f}%"


def _confusion_table(ctx: PageContext, b) -> str:
    totals = b.confusion.sum(axis=1)
    rows = []
    for i, lab in enumerate(b.classes):
        cells = [ctx.chip(lab)]
        for j in range(len(b.classes)):
            v = int(b.confusion[i, j])
            share = v / totals[i] if totals[i] else 0.0
            hue = "46,125,50" if i == j else "198,40,40"
            style = f' style="background:rgba({hue},{min(0.85, share * (1.0 if i == j else 3.0)):.2f})"' if v else ""
            cells.append(f'<span{style} title="{esc(lab)} heard as {esc(b.classes[j])}: {v} clips">{v}</span>')
        rows.append(cells)
    return table(["label \\ heard as"] + list(b.classes), rows, numeric=list(range(1, len(b.classes) + 1)),
                 scroll=len(b.classes) > 12)


def model_section(ctx: PageContext, n: int) -> str:
    b = getattr(ctx, "baseline", None)
    title = "What a model would learn"
    if b is None:
        body = ('<p class="empty">Not computed for this report: <code>kwscope report DATA --learn</code> trains the '
                "baseline (or <code>kwscope learn DATA --cache</code> first; the report then shows it).</p>")
        return section("model", title, body, number=n)
    acc = b.accuracy
    stats = "".join([
        stat(_pct(acc.get("accuracy")), "baseline accuracy (out-of-fold)"),
        stat(_pct(acc.get("majority_accuracy")), "always the most common label"),
        stat(fmt_int(b.n_clips), "clips learned from"),
        stat(f"{b.folds['k']}", "folds, " + ("grouped by speaker" if b.folds["grouped"] else "NOT grouped by speaker"),
             "" if b.folds["grouped"] else "warn"),
        stat(fmt_int(b.mislabels.size), "heard as another label", "warn" if b.mislabels.size else "ok"),
        stat(fmt_int(int(b.confident.sum())), "flagged by confident learning"),
    ])
    body = [f'<div class="callout">{esc(b.headline())}</div>', f'<div class="stat-grid">{stats}</div>']
    if not b.folds["grouped"]:
        body.append(f'<div class="callout warn">{esc(b.folds["how"])}.</div>')
    rows = [[ctx.chip(r["label"]), fmt_int(r["n"]), fmt_int(r["correct"]), _pct(r["accuracy"]),
             ctx.chip(r["most_heard_as"]) if r["most_heard_as"] else "–"] for r in acc["per_label"]]
    body.append("<h3>Accuracy per label</h3>" + table(["label", "clips", "correct", "accuracy", "most often heard as"],
                                                      rows, numeric=[1, 2, 3], scroll=len(rows) > 14))
    body.append("<h3>Confusion matrix</h3><p class=\"note\">Clips; rows: the label given, columns: the label the "
                "baseline hears.</p>" + _confusion_table(ctx, b))
    if b.confused_pairs:
        rows = [[ctx.chip(p["label"]), ctx.chip(p["heard_as"]), fmt_int(p["n"]), _pct(p["share"])]
                for p in b.confused_pairs]
        body.append("<h3>Label pairs most confused</h3>"
                    + table(["label", "heard as", "clips", "share of the label"], rows, numeric=[2, 3]))
    mis = b.mislabel_records(MODEL_ROWS)
    if mis:
        rows = [[str(r["rank"]), f'<span class="path">{esc(r["path"])}</span>', ctx.chip(r["label"]),
                 ctx.chip(r["heard_as"]), f'{r["p_heard"]:.3f}', f'{r["p_given"]:.3f}',
                 '<span class="badge warn">yes</span>' if r["confident_learning"] else "–",
                 f"<code>{esc(r['speaker'] or '–')}</code>", ctx.player(r["path"])] for r in mis]
        body.append("<h3>Likely mislabels</h3>"
                    + table(["#", "file", "filed as", "heard as", "p(heard as)", "p(filed as)", "confident learning",
                             "speaker", "listen"], rows, numeric=[0, 4, 5], scroll=len(rows) > 12))
        if b.mislabels.size > len(mis):
            body.append(f'<p class="note">{fmt_int(b.mislabels.size - len(mis))} more in the JSON description '
                        "(<code>kwscope learn DATA --json</code>).</p>")
    else:
        body.append('<div class="callout ok">The baseline hears every clip as the label it is filed under.</div>')
    if b.ambiguous.size:
        body.append(f'<p class="note">{fmt_int(b.ambiguous.size)} clips are ambiguous to the baseline (no label '
                    "above 50%); they are listed in the JSON description.</p>")
    lead = ("A baseline classifier trained with cross-validation on this dataset alone: every clip is judged by a "
            "model that never heard it (nor, with speaker-grouped folds, its speaker). Its accuracy is a floor for "
            "what the labels support, not a tuned model; its confident disagreements with the labels are the "
            "clips to listen to first.")
    howto = ("Per-label accuracy and the confusion matrix show which words the recordings do not tell apart. "
             "Likely mislabels are ranked by how little probability the baseline gives the label the clip is filed "
             "under (cleanlab's self-confidence); <i>confident learning</i> marks those cleanlab's confident "
             "learning flags too. Some are the baseline's own errors: listen before relabelling.")
    return section("model", title, "".join(body), lead=lead, howto=howto, number=n)
