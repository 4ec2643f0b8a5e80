"""``kwscope stats DATA [--json]``."""

from __future__ import annotations

import json

import click

from ..analysis.summary import summarize
from ..io.index import index_dataset
from ..report.terminal import format_summary
from . import data_argument, layout_option, strict_option


@click.command("stats")
@data_argument
@layout_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@strict_option
def command(data, layout, as_json, strict):
    """Summarize DATA: labels, lengths, rates, speakers, splits, speaker leakage, broken files."""
    summary = summarize(index_dataset(data, layout=layout))
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        click.echo(format_summary(summary))
    if strict and (summary.n_broken or summary.leaking_speakers):
        raise SystemExit(1)
