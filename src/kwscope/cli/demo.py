"""``kwscope demo [-o demo-report.html]``: the main job on the bundled demo set, no network."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..analysis.summary import summarize
from ..dataset import index_dataset
from ..demo import demo_data_path
from ..report.summary_html import summary_page


@click.command("demo")
@click.option("-o", "--output", default="demo-report.html", show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the report.")
def command(output):
    """Build the report of the bundled demo dataset."""
    data = demo_data_path()
    summary = summarize(index_dataset(data))
    out = Path(output)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(summary_page(summary, title="kwscope demo dataset"), encoding="utf-8")
    os.replace(tmp, out)
    click.echo(str(out.resolve()))
