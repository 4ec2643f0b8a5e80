"""``kwscope report DATA -o report.html``: the whole exploration as one offline page (and JSON)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import data_argument, layout_option, strict_option

__all__ = ["command", "report_options", "run_report"]


def _parse_hz(ctx, param, value):
    if value is None:
        return None
    try:
        hz = tuple(float(v) for v in str(value).replace(" ", "").split(",") if v)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of frequencies in Hz") from None
    if not hz or any(h <= 0 for h in hz):
        raise click.BadParameter(f"{value!r}: give one or more positive frequencies in Hz, e.g. 1000,2500,6000")
    return hz


def report_options(fn):
    """The options ``report`` and ``demo`` share."""
    decorators = [
        click.option("--json", "json_out", is_flag=False, flag_value="", default=None, metavar="[=PATH|-]",
                     help="Also write the JSON description: beside the page (--json), to a file (--json=PATH) "
                          "or to stdout (--json=-)."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Local worker processes (default: one per core)."),
        click.option("--scheduler", metavar="ADDR", default=None,
                     help="Dask scheduler address (tcp://host:port) for the profile pass."),
        click.option("--cache", "cache", type=click.Path(file_okay=False), default=None,
                     help="Cache folder for profiles and figures (default: ~/.cache/kwscope); "
                          "an unchanged dataset is then reported in a fraction of the time."),
        click.option("--no-cache", is_flag=True, help="Do not read or write any cache."),
        click.option("--violin-hz", callback=_parse_hz, default="1000,2500,6000", show_default=True,
                     help="Frequencies (Hz) of the violin plots, comma-separated."),
        click.option("--top", type=click.IntRange(min=1), default=50, show_default=True,
                     help="Outliers listed (each with a player)."),
        click.option("--anomaly-threshold", type=float, default=None,
                     help="--strict counts outliers scoring this or more (default 10: a clear defect)."),
        click.option("--progress/--no-progress", default=None,
                     help="Progress bar (default: on a terminal only)."),
        click.option("--title", default=None, help="Title of the page."),
    ]
    for dec in reversed(decorators):
        fn = dec(fn)
    return fn


def run_report(data, output, *, json_out, layout, workers, scheduler, cache, no_cache, violin_hz, top,
               anomaly_threshold, progress, title, strict, data_label=None, learn=False):
    """Shared body of ``report`` and ``demo``: build, write, print the path, apply ``--strict``."""
    from ..report.build import build_report
    from ..report.plan import ReportOptions
    from ..report.terminal import printable
    from ..settings import RunSettings, default_cache_dir

    from . import check_free_space, check_output_file

    out = Path(output)
    check_output_file(out, create=True)  # the report has always made its folder
    # A full disk said before the work: a page is at most ReportOptions.size_limit_bytes (audio
    # is dropped to fit; FSDD's measured 7.4 MB). The JSON's size (1.8 KB a file on FSDD) is
    # checked when it is known, before it is written (kwscope.report.build.write_atomic).
    limit = ReportOptions().size_limit_bytes
    check_free_space(out, limit, f"the report page (up to {limit / 1e6:.0f} MB)")
    json_path = None
    if json_out == "":
        json_path = out.with_suffix(".json")
    elif json_out not in (None, "-"):
        json_path = Path(json_out)
    cache_dir = None if no_cache else (Path(cache) if cache else default_cache_dir())
    options = ReportOptions(title=title, anomaly_threshold=anomaly_threshold)
    settings = RunSettings(workers=workers, scheduler=scheduler, cache_dir=cache_dir, progress=progress, layout=layout)
    result = build_report(data, out, json_output=json_path, settings=settings, violin_hz=violin_hz, top=top,
                          options=options, data_label=data_label, learn=learn)
    rendered = result.rendered
    s = result.exploration.summary
    to_stdout = json_out == "-"
    if to_stdout:
        click.echo(json.dumps(rendered.description, indent=1, allow_nan=False))
    click.echo(f"{s.n_files:,} files, {len(s.labels)} labels; report {rendered.size_bytes / 1e6:.1f} MB with "
               f"{rendered.n_audio} playable recordings in {result.timings_s.get('total', 0):.1f} s", err=True)
    if json_path is not None:
        click.echo(printable(f"JSON description: {json_path.resolve()}"), err=True)
    click.echo(printable(str(result.html_path.resolve())), err=to_stdout)
    if strict and result.strict_problems:
        for f in result.strict_problems:
            click.echo(printable(f"kwscope: strict: {f.title} ({f.detail})"), err=True)  # names from the data
        sys.exit(1)


@click.command("report")
@data_argument
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML page to write.")
@layout_option
@report_options
@click.option("--learn", is_flag=True,
              help="Also train the baseline (kwscope learn) for the section 'What a model would learn'; "
                   "without it the section shows a cached baseline only.")
@strict_option
def command(data, output, layout, json_out, workers, scheduler, cache, no_cache, violin_hz, top,
            anomaly_threshold, progress, title, learn, strict):
    """Explore DATA and write the whole exploration as one offline HTML page.

    Overview, labels, lengths, splits and speaker leakage, an example per label with a player
    and its wave, spectrograms, mel and MFCC, silence removal, resampling, mean spectra, violins,
    the clickable anomaly map, outliers, duplicates and quality flags. Prints the page's path.
    With --strict, exits 1 when there are broken files, leaking speakers, duplicates across
    splits or outliers at or above the threshold, and says which.
    """
    run_report(data, output, json_out=json_out, layout=layout, workers=workers, scheduler=scheduler, cache=cache,
               no_cache=no_cache, violin_hz=violin_hz, top=top, anomaly_threshold=anomaly_threshold,
               progress=progress, title=title, strict=strict, learn=learn)
