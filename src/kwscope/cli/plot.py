"""``kwscope plot KIND FILE -o out.png|out.html``: one view of one recording."""

from __future__ import annotations

from pathlib import Path

import click

from ..io.audio import display_path, probe, read_clip
from ..plots import CLIP_VIEWS, PlotError, save_figure
from ..plots.export import HTML_FORMATS, MATPLOTLIB_FORMATS
from ..report.terminal import printable
from . import check_output_file

#: The longest stretch a figure draws, in seconds: an 8-hour file asked up to 11 GiB in 6 of the
#: 7 views. Longer recordings are drawn from their start, and the title says so.
MAX_PLOT_SECONDS = 60.0

_KIND_HELP = {
    "wave": "the raw wave",
    "spectrogram": "the raw wave over its log spectrogram",
    "mel": "mel power spectrogram in dB",
    "mfcc": "MFCC and their delta-delta",
    "spectrogram3d": "the log spectrogram as a 3-D surface",
    "silence": "wave and spectrogram with the speech segments (VAD) marked",
    "resample": "FFT of the original against the resampled clip (--target-sr)",
}


def _backend_for(output: str) -> str:
    ext = Path(output).suffix.lower()
    if ext in HTML_FORMATS:
        return "plotly"
    if ext in MATPLOTLIB_FORMATS:
        return "matplotlib"
    raise PlotError(f"{output}: unsupported output format {ext or '(no extension)'!r}; "
                    f"use one of {', '.join(MATPLOTLIB_FORMATS + HTML_FORMATS)}")


@click.command("plot", epilog="\b\nKIND is one of:\n" + "\n".join(f"  {k:<14} {v}" for k, v in _KIND_HELP.items()))
@click.argument("kind", type=click.Choice(list(CLIP_VIEWS)), metavar="KIND")
@click.argument("file", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Output file: .png/.svg/.pdf (static) or .html (interactive, works offline).")
@click.option("--target-sr", default=8000, show_default=True, type=click.IntRange(min=1), metavar="HZ",
              help="Sample rate to resample to (KIND resample only).")
@click.option("--title", default=None, help="Figure title (default: the file name and the view).")
def command(kind, file, output, target_sr, title):
    """Draw one view (KIND) of one recording (FILE) and write it to OUTPUT; prints the path written."""
    backend = _backend_for(output)
    check_output_file(output)
    # Decode at most MAX_PLOT_SECONDS: the header gives the rate, so memory is bounded before reading.
    info = probe(file)
    clip = read_clip(file, max_samples=max(1, int(MAX_PLOT_SECONDS * info.sample_rate)))
    y, sr = clip.samples, clip.sample_rate
    kwargs = {"target_sr": target_sr} if kind == "resample" else {}
    fig = CLIP_VIEWS[kind](y, sr, backend=backend, **kwargs)
    name = printable(Path(display_path(file)).name)  # drawn on the figure: control characters escaped
    if title is not None:
        _set_title(fig, title)
    else:
        _set_title(fig, f"{_current_title(fig)} — {name}")
    if clip.truncated:
        from ..analysis.anomalies import length_text  # only for a long file: pandas stays out of start-up

        _set_title(fig, f"{_current_title(fig)} (first {MAX_PLOT_SECONDS:.0f} s of {length_text(info.duration_s)})")
    path = save_figure(fig, output, title=f"{name}: {kind}")
    click.echo(printable(display_path(path)))


def _current_title(fig) -> str:
    if hasattr(fig, "get_suptitle"):
        return fig.get_suptitle()
    text = fig.layout.title.text or ""
    return text.removeprefix("<b>").removesuffix("</b>")


def _set_title(fig, text: str) -> None:
    if hasattr(fig, "suptitle"):
        fig.suptitle(text)
    else:
        import html

        fig.update_layout(title_text=f"<b>{html.escape(text)}</b>")
