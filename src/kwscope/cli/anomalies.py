"""``kwscope anomalies DATA [--top N] [--json] [--workers N] [--scheduler ADDR] [--cache [DIR]]``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

# Only light imports here: the command starts the worker pool's fork server before it imports
# pandas and the analysis (see kwscope.engine.startup).
from ..analysis import LIGHT_PASS_MODULES
from ..engine.startup import warm_worker_pool
from ..settings import RunSettings, default_cache_dir
from . import data_argument, layout_option, strict_option

if TYPE_CHECKING:
    from ..analysis.anomalies import AnomalyReport


def format_anomalies(report: AnomalyReport) -> str:
    """The human form of ``kwscope anomalies``: a ranked table, then the flag counts."""
    from ..report.terminal import table

    from ..report.terminal import printable

    out = [f"Dataset {printable(report.root)}: {report.n_checked:,} recordings checked, "
           f"{report.n_broken:,} unreadable"]
    if report.layout:
        out.append(f"  layout: {printable(report.layout)}"
                   + (f" ({printable(report.layout_evidence)})" if report.layout_evidence else ""))
    out.append("")
    if report.outliers:
        rows = [[i + 1, o["score"], o["path"], o["label"] or "-", "; ".join(o["reasons"])]
                for i, o in enumerate(report.outliers)]
        out.append(table(["rank", "score", "path", "label", "reasons"], rows,
                         title=f"Most anomalous recordings (top {len(rows)})"))
    else:
        out.append("No anomalous recordings found.")
    counts = {k: v for k, v in report.quality.get("counts", {}).items() if v}
    out.append("")
    n, m = report.quality.get("n_flagged"), report.quality.get("n_flags")
    if n is not None and m is not None:
        out.append(f"{n:,} of {report.n_checked:,} recordings flagged ({m:,} flags: a recording can have several)")
    out.append("Flags (recordings with each; a recording can have several): "
               + (", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in counts.items()) or "none"))
    if report.broken_files:
        shown = report.broken_files[:20]
        out.append("")
        out.append(table(["unreadable file", "reason"], [[b["path"], b["error"]] for b in shown],
                         title=f"Unreadable files: {len(report.broken_files)}"))
        if len(report.broken_files) > len(shown):
            out.append(f"... and {len(report.broken_files) - len(shown)} more (see --json)")
    return "\n".join(out)


@click.command("anomalies")
@data_argument
@layout_option
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1), help="Recordings listed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Local worker processes [default: one a core].")
@click.option("--scheduler", metavar="ADDR", default=None, help="Dask scheduler address (tcp://host:port).")
@click.option("--cache", "cache_dir", is_flag=False, flag_value=str(default_cache_dir()), default=None,
              metavar="[DIR]", type=click.Path(file_okay=False),
              help=f"Cache per-file profiles in DIR (alone: {default_cache_dir()}); a second run is fast.")
@strict_option
def command(data, layout, top, as_json, workers, scheduler, cache_dir, strict):
    """Rank DATA's recordings by how anomalous they are, with reasons.

    Combines the notebook's spectrum PCA, the distance of each clip from its label's median
    spectrum, and quality flags (clipping, near-silence, noise bursts, hum, wrong length or
    sample rate, DC offset, low SNR).
    """
    warm_worker_pool(workers=workers, scheduler=scheduler, preload=LIGHT_PASS_MODULES)
    from ..analysis.explore import find_anomalies

    settings = RunSettings(workers=workers, scheduler=scheduler, cache_dir=cache_dir, layout=layout)
    report = find_anomalies(data, settings=settings, top=top)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(format_anomalies(report))
    if strict and (any(report.quality.get("counts", {}).values()) or report.n_broken):
        raise SystemExit(1)
