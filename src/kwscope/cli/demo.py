"""``kwscope demo [-o demo-report.html]``: the full report of the bundled demo set, no network."""

from __future__ import annotations

import click

from ..demo import demo_data_path
from . import strict_option
from .report import report_options, run_report


@click.command("demo")
@click.option("-o", "--output", default="demo-report.html", show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the report.")
@report_options
@strict_option
def command(output, json_out, workers, scheduler, cache, no_cache, violin_hz, top, anomaly_threshold, progress,
            title, strict):
    """Build the report of the bundled demo dataset (Speech Commands layout, planted problems).

    Prints the report's path. Also writes the JSON description beside it unless --json says otherwise.
    """
    run_report(str(demo_data_path()), output, json_out="" if json_out is None else json_out, layout="auto",
               workers=workers, scheduler=scheduler, cache=cache, no_cache=no_cache, violin_hz=violin_hz, top=top,
               anomaly_threshold=anomaly_threshold, progress=progress,
               title=title or "kwscope demo: a small Speech Commands-style set with planted problems",
               strict=strict, data_label="kwscope demo dataset (bundled)")
