"""``kwscope split DATA -o DIR``: a speaker-disjoint split written as ``validation_list.txt`` /
``testing_list.txt`` (:mod:`kwscope.analysis.resplit`)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import click

from ..analysis.resplit import SPLITS, plan_split, write_split_lists
from ..io.index import index_dataset
from ..io.layouts import check_split_percentages
from ..io.spec import LayoutSpec
from ..report.terminal import printable, table
from . import data_argument, layout_option

_READS_LISTS_IN_DATA = ("speech-commands", "fsdd")
_SHOWN_MOVES = 20


@click.command("split")
@data_argument
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder for validation_list.txt / testing_list.txt (DATA itself: the lists there are "
                   "replaced, the first originals kept as *.orig).")
@click.option("--validation-percentage", default=10.0, show_default=True, type=float, help="% of files.")
@click.option("--testing-percentage", default=10.0, show_default=True, type=float, help="% of files.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Order in which speakers are kept or placed when several fit equally.")
@click.option("--ignore-official", is_flag=True,
              help="Place every speaker afresh (best balance across labels) instead of keeping the official "
                   "split of the speakers it did not leak.")
@layout_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def command(data, out, validation_percentage, testing_percentage, seed, ignore_official, layout, as_json):
    """Split DATA's speakers into train/validation/test, none on two sides, balanced across labels,
    keeping the official split of every speaker it did not leak; write the Speech Commands lists."""
    check_split_percentages(validation_percentage, testing_percentage)  # before any work
    ignored_task = ""
    if isinstance(layout, LayoutSpec) and layout.task:
        # A task picks its _unknown_ clips per split: the split must list every recording first.
        ignored_task = layout.task
        layout = dataclasses.replace(layout, task="", task_options=())
    manifest = index_dataset(data, layout=layout, probe_headers=False)
    plan = plan_split(manifest, validation_percentage=validation_percentage,
                      testing_percentage=testing_percentage, seed=seed, keep_official=not ignore_official)
    root = Path(plan.root)
    into_data = _same(out, data) or _same(out, root)
    target = root if into_data else Path(out)
    from . import writing

    with writing(target):  # a full disk: one line naming the folder
        written = write_split_lists(plan, target)
    used = str(manifest.attrs.get("layout", ""))
    if into_data and used in _READS_LISTS_IN_DATA:
        use = f"kwscope stats {data} --strict (the {used} layout reads the lists in {target})"
    else:
        use = f"kwscope stats {data} --split-lists {target} --strict"
    note = (f"--task {ignored_task} ignored: every recording is split; the task then picks its clips from "
            "the new splits" if ignored_task else "")
    if as_json:
        click.echo(json.dumps({**plan.to_dict(), "written": written, "use": use, "note": note}, indent=2))
        return
    click.echo(_format(plan, written, used, use) + (f"\nnote: {note}" if note else ""))


def _same(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _format(plan, written: dict, layout: str, use: str) -> str:
    asked = "/".join(f"{plan.requested_pct[s]:g}" for s in SPLITS)
    got = ", ".join(f"{s} {plan.achieved_pct[s]:.1f} %" for s in SPLITS)
    lines = [
        f"Split of {printable(plan.root)} (layout: {printable(layout)}): {plan.n_files:,} recordings, "
        f"{plan.n_speakers:,} speakers" + (f", {plan.n_speakerless_files:,} files without a speaker (each on its own)"
                                           if plan.n_speakerless_files else ""),
        f"  asked train/validation/test {asked} % of files; got {got}",
        "  speakers: " + ", ".join(f"{s} {plan.speakers_per_split[s]:,}" for s in SPLITS)
        + f" (one speaker is up to {plan.finest_step_pct:.1f} % of the files: the finest step)",
        f"  kept: {plan.kept_speakers:,} speakers in their official split ({plan.kept_files:,} files); "
        f"moved: {plan.moved_files:,} files; leaking speakers {plan.leaking_before:,} before, {plan.leaking_after} after",
    ]
    for m in plan.moves[:_SHOWN_MOVES]:
        was = " + ".join(f"{n:,} {s}" for s, n in sorted(m["from"].items()))
        lines.append(f"    {printable(m['speaker'])}: {was} -> all {m['n_files']:,} {m['to']}")
    if len(plan.moves) > _SHOWN_MOVES:
        lines.append(f"    ... and {len(plan.moves) - _SHOWN_MOVES:,} more speakers moved (--json lists them all)")
    lines.append("")
    lines.append(table(["label", "files"] + [f"{s} %" for s in SPLITS],
                       [[label, d["n_files"]] + [f"{d[f'{s}_pct']:.1f}" for s in SPLITS]
                        for label, d in sorted(plan.per_label.items())], title="Per label (% of the label's files)"))
    lines.append("")
    for split, w in written.items():
        lines.append(f"wrote {printable(w['path'])} ({w['n_paths']:,} paths)"
                     + (f"; the original kept as {printable(w['backup'])}" if w["backup"] else ""))
    lines.append(f"use: {printable(use)}")
    return "\n".join(lines)
