"""``kwscope learn DATA [-o OUT] [--json] [--folds 5] [--model logreg|mlp|cnn] [--epochs N] [--seed 0]
[--features STORE] [--workers N] [--scheduler ADDR] [--cache [DIR]]``: what a model would learn from DATA
(DATA may be a ``kwscope features`` store: then it learns from that store's dataset, reading the store)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

# Only light imports here: the command starts the worker pool's fork server before it imports
# pandas, scikit-learn and the pass (see kwscope.engine.startup).
from ..engine.startup import warm_worker_pool
from ..learn import LEARN_PASS_MODULES
from ..settings import RunSettings, default_cache_dir
from . import data_argument, layout_option

if TYPE_CHECKING:
    from ..learn.result import Baseline


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def format_baseline(b: Baseline, *, top: int = 20) -> str:
    """The human form of ``kwscope learn``: headline, per-label accuracy, confusions, issues."""
    from ..report.terminal import printable, table

    out = [f"Dataset {printable(b.root)}: {b.n_files:,} files, {b.n_clips:,} clips learned from, "
           f"{len(b.classes)} labels"]
    store = b.embedding.get("store")
    if store:
        out.append(f"Features read from the store {printable(store['path'])} (not decoded again): it matches: "
                   f"{printable(store['why'])}")
    out += ["", printable(b.headline()), ""]
    rows = [[printable(r["label"]), r["n"], r["correct"], _pct(r["accuracy"]), printable(r["most_heard_as"] or "-")]
            for r in b.accuracy["per_label"]]
    out.append(table(["label", "clips", "correct", "accuracy", "most often heard as"], rows,
                     title="Out-of-fold accuracy per label"))
    if b.accuracy.get("per_speaker"):
        spk = b.accuracy["per_speaker"]
        rows = [[printable(r["speaker"]), r["n"], _pct(r["accuracy"])] for r in spk[:10]]
        out += ["", table(["speaker", "clips", "accuracy"], rows,
                          title=f"Hardest speakers ({min(10, len(spk))} of {len(spk):,}, lowest accuracy first)")]
    if b.confused_pairs:
        rows = [[printable(p["label"]), printable(p["heard_as"]), p["n"], _pct(p["share"])] for p in b.confused_pairs]
        out += ["", table(["label", "heard as", "clips", "share of label"], rows, title="Most confused label pairs")]
    if len(b.classes) <= 12:
        rows = [[printable(c)] + [int(v) for v in row] for c, row in zip(b.classes, b.confusion)]
        out += ["", table(["given \\ heard"] + [printable(c) for c in b.classes], rows,
                          title="Confusion matrix (clips; rows: label given, columns: label heard)")]
    mis = b.mislabel_records(top)
    out.append("")
    if mis:
        rows = [[r["rank"], printable(r["path"]), printable(r["label"]), printable(r["heard_as"]),
                 f"{r['p_heard']:.3f}", f"{r['p_given']:.3f}", "yes" if r["confident_learning"] else "-"] for r in mis]
        out.append(table(["rank", "path", "label", "heard as", "p(heard)", "p(label)", "confident learning"], rows,
                         title=f"Likely mislabels: {b.mislabels.size:,} clips heard as another label, "
                               f"{int(b.confident.sum()):,} of them flagged by cleanlab's confident learning; "
                               f"top {len(rows)} by self-confidence"))
        acc = b.accuracy.get("accuracy") or 0
        if acc < 0.9:
            out.append(f"(The baseline is right on {acc:.0%} of clips: some of these are its own errors, e.g. a "
                       "speaker it cannot follow. Listen from the top: the first ones are the likeliest.)")
        if b.mislabels.size > len(rows):
            out.append(f"... and {b.mislabels.size - len(rows):,} more (see --json or OUT/label_issues.csv)")
    else:
        out.append("Likely mislabels: none found")
    amb = b.ambiguous_records(min(top, 10))
    if amb:
        rows = [[r["rank"], printable(r["path"]), printable(r["label"]), printable(r["heard_as"]),
                 f"{r['p_heard']:.3f}"] for r in amb]
        out += ["", table(["rank", "path", "label", "best guess", "p(best)"], rows,
                          title=f"Ambiguous clips (no label above 50%): {b.ambiguous.size:,} clips, top {len(rows)}")]
    if b.unreadable:
        out += ["", f"Unreadable: {len(b.unreadable):,} clips left out (see --json)"]
    t = b.timings_s
    if not t.get("from_cache"):
        pass_name = "spectrograms" if b.model.get("name") == "cnn" else "embedding"
        out += ["", f"Time: {t.get('total', 0):.1f} s ({pass_name} {t.get('embed', 0):.1f} s, "
                    f"fitting {t.get('fit', 0):.1f} s, label issues {t.get('issues', 0):.1f} s)"]
    else:
        out += ["", "From the cache (nothing changed since the last run)"]
    return "\n".join(out)


@click.command("learn")
@data_argument
@click.option("-o", "--output", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for predictions.parquet, probabilities.npz, label_issues.csv and learn.json.")
@layout_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout (every issue, ranked).")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(min=2),
              help="Cross-validation folds (grouped by speaker when speakers are known).")
@click.option("--model", type=click.Choice(["logreg", "mlp", "cnn"]), default="logreg", show_default=True,
              help="The baseline classifier (cnn: a small CNN on spectrograms; needs PyTorch).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="--model cnn: passes over the training clips [default: from the number of clips].")
@click.option("--features", "features", default=None, type=click.Path(file_okay=False), metavar="STORE",
              help="Read the features from this `kwscope features --kind mel` store of DATA instead of decoding "
                   "the audio (refused, saying why, when it does not match).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the folds and the model.")
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1), help="Likely mislabels listed.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Local worker processes [default: one a core].")
@click.option("--scheduler", metavar="ADDR", default=None, help="Dask scheduler address (tcp://host:port) for the embedding pass.")
@click.option("--cache", "cache_dir", is_flag=False, flag_value=str(default_cache_dir()), default=None,
              metavar="[DIR]", type=click.Path(file_okay=False),
              help=f"Cache embeddings and the result in DIR (alone: {default_cache_dir()}); "
                   "kwscope report then shows the baseline.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal only).")
def command(data, out_dir, layout, as_json, folds, model, epochs, features, seed, top, workers, scheduler,
            cache_dir, progress):
    """What a model would learn from DATA: a baseline with speaker-grouped folds.

    Embeds every clip (log-mel pooled over its speech), trains a classifier with cross-validation
    grouped by speaker, and reports out-of-fold accuracy (overall, per label, per speaker), the
    confusion matrix, the label pairs most confused, likely mislabels ranked by cleanlab (label
    given, label heard, confidence; marked where confident learning flags them) and ambiguous clips.
    --model cnn trains a small CNN on the clips' spectrograms instead (needs PyTorch). DATA may be
    a `kwscope features --kind mel` store (or pass it as --features): its features are read
    instead of decoding the audio again, when it matches the dataset.
    """
    from ..learn.models import check_model

    check_model(model)  # cnn without PyTorch: one line, before any work
    if epochs is not None and model != "cnn":
        raise click.BadParameter("only --model cnn takes epochs", param_hint="--epochs")
    warm_worker_pool(workers=workers, scheduler=scheduler, preload=LEARN_PASS_MODULES)
    from ..learn.run import learn

    settings = RunSettings(workers=workers, scheduler=scheduler, cache_dir=cache_dir, layout=layout,
                           progress=progress)
    result = learn(data, settings=settings, folds=folds, model=model, seed=seed, epochs=epochs,
                   features=features)
    written = result.write(out_dir) if out_dir else {}
    if as_json:
        doc = result.to_dict()
        doc["written"] = {k: str(v) for k, v in written.items()}
        click.echo(json.dumps(doc, indent=1, allow_nan=False))
    else:
        click.echo(format_baseline(result, top=top))
        if written:
            click.echo(f"\nWritten: {', '.join(str(p) for p in written.values())}")
