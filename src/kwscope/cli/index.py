"""``kwscope index DATA -o manifest.parquet``."""

from __future__ import annotations

import click

from ..io.index import index_dataset, manifest_format, write_manifest
from ..report.terminal import printable
from . import data_argument, layout_option, strict_option


#: A manifest's Parquet bytes a file, rounded up: 56 measured on FSDD (3,000 files), 42 on a
#: 12,000-clip Speech Commands corpus; and the least free space asked before the work.
_MANIFEST_BYTES_PER_FILE = 100
_MIN_MANIFEST_BYTES = 1 << 20


@click.command("index")
@data_argument
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Manifest file: .parquet (every column, the layout kept), .csv or .jsonl.")
@layout_option
@click.option("--validation-percentage", default=10.0, show_default=True, help="Hash split, when no split lists.")
@click.option("--testing-percentage", default=10.0, show_default=True, help="Hash split, when no split lists.")
@strict_option
def command(data, output, layout, validation_percentage, testing_percentage, strict):
    """Index DATA: one row a recording (headers only), written to a Parquet manifest."""
    from . import check_free_space, check_output_file, writing

    check_output_file(output)
    manifest_format(output)  # a suffix it cannot write, said before the work
    check_free_space(output, _MIN_MANIFEST_BYTES, "the manifest")  # a full disk, said before the work
    df = index_dataset(data, layout=layout, validation_percentage=validation_percentage,
                       testing_percentage=testing_percentage)
    check_free_space(output, max(_MIN_MANIFEST_BYTES, _MANIFEST_BYTES_PER_FILE * len(df)),
                     f"the manifest of {len(df):,} files")
    with writing(output):
        write_manifest(df, output)
    n_bad = int((df["status"] != "ok").sum())
    click.echo(printable(f"{len(df):,} files indexed ({df.attrs['layout']} layout), {n_bad:,} broken -> {output}"),
               err=True)
    for line in [df.attrs.get("layout_evidence", "")] + list(df.attrs.get("layout_notes", [])):
        if line:
            click.echo(f"  {printable(line)}", err=True)
    if strict and n_bad:
        raise SystemExit(1)
