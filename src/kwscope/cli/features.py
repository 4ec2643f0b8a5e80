"""``kwscope features DATA -o OUT``: the six-step pipeline over a dataset, into a feature store."""

from __future__ import annotations

import click

from . import data_argument, layout_option, strict_option


class _OneLineUsage(click.UsageError):
    """A usage error shown as one line (``kwscope: error: ...``), exit status 2."""

    def show(self, file=None) -> None:
        click.echo(f"kwscope: error: {' '.join(self.format_message().split())} "
                   f"(see kwscope features --help)", err=True)


class _Command(click.Command):
    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _OneLineUsage:
            raise
        except click.UsageError as exc:
            raise _OneLineUsage(exc.format_message(), exc.ctx) from None


def _on_load(config) -> str:
    steps = [s for s, on in (("normalized", config.normalize != "none"), ("stacked", config.stack > 1)) if on]
    return f"{' and '.join(steps)} on load" if steps else "loaded as stored"


def _duration(value: str | None) -> float | None | str:
    if value is None:
        return "unset"
    if value.strip().lower() in ("none", "variable", "null"):
        return None
    try:
        return float(value)
    except ValueError:
        raise _OneLineUsage(f"--duration {value!r} must be seconds (e.g. 1.0) or 'none' for variable length") from None


@click.command("features", cls=_Command)
@data_argument
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False),
              help="Feature store folder (created; rerun the same command to resume).")
@click.option("--kind", type=click.Choice(["logspec", "mel", "mfcc", "micro"]),
              help="Features: log spectrogram (default), log mel, MFCC with deltas, or micro (the TFLM "
                   "micro_speech front end, integers as the device computes them).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="pipeline.yaml with any settings; the flags here override it.")
@click.option("--sample-rate", type=click.IntRange(min=1), help="Target rate in Hz (default 16000).")
@click.option("--duration", help="Clip length in seconds after padding/cropping (default 1.0), or 'none'.")
@click.option("--vad/--no-vad", default=None, help="Trim silence before padding (default off).")
@click.option("--stack", type=click.IntRange(min=1), help="Frames stacked for temporal context, on load (default 1).")
@click.option("--dtype", type=click.Choice(["float32", "float16"]),
              help="Stored type of the raw features (default float32; float16 halves the bytes).")
@click.option("--micro-output", type=click.Choice(["uint16", "int8"]),
              help="Kind micro: store the op's uint16 output (default) or the int8 the quantized model reads.")
@click.option("--workers", type=click.IntRange(min=1), help="Local worker processes (default: one per core).")
@click.option("--scheduler", help="Dask scheduler address (tcp://host:port); OUT must be on a shared filesystem.")
@layout_option
@click.option("--chunk-size", type=click.IntRange(min=1),
              help="Files per task (default: up to 512, fewer for long clips; fixed when a store is started).")
@click.option("--overwrite", is_flag=True, help="Replace a store of another config or of changed data.")
@click.option("--validation-percentage", default=10.0, show_default=True, help="Hash split, when no split lists.")
@click.option("--testing-percentage", default=10.0, show_default=True, help="Hash split, when no split lists.")
@strict_option
def command(data, out, kind, config_path, sample_rate, duration, vad, stack, dtype, micro_output, workers, scheduler, layout,
            chunk_size, overwrite, validation_percentage, testing_percentage, strict):
    """Extract features of every readable recording in DATA into the store OUT.

    Steps: resample, (VAD), pad/crop, log spectrogram / mel / MFCC / micro (the
    TFLM front end), stored raw, written once; then the statistics of the train
    split. Normalization (off by default for micro) and frame stacking are
    applied when the store is read: kwscope.load_features(OUT), or plain numpy
    (OUT/features.npy raw, OUT/stats.npz, OUT/manifest.parquet); see
    docs/feature-store.md.
    """
    from ..features.config import PipelineConfig
    from ..features.extract import extract_features, summarize_errors
    from ..settings import RunSettings

    config = PipelineConfig.read(config_path) if config_path else PipelineConfig()
    overrides = {"kind": kind, "sample_rate": sample_rate, "vad": vad, "stack": stack, "dtype": dtype,
                 "micro_output": micro_output}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    dur = _duration(duration)
    if dur != "unset":
        overrides["duration_s"] = dur
    if overrides:
        config = config.replace(**overrides)
    settings = RunSettings(workers=workers, scheduler=scheduler, layout=layout, chunk_size=chunk_size)
    from . import writing

    with writing(out):  # a full disk met mid-run: one line (the store resumes when rerun with room)
        result = extract_features(
            data, out, config=config, settings=settings, overwrite=overwrite,
            validation_percentage=validation_percentage, testing_percentage=testing_percentage,
        )
    shape = " x ".join(f"{d:,}" for d in result.shape)
    what = "already complete" if result.up_to_date else "written"
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    stored = "features.npy" if len(result.shape) == 3 else "features/ (frames)"
    from ..report.terminal import printable

    # The skip reasons may quote what a file holds: one line, control characters escaped.
    click.echo(printable(f"{result.n_rows:,} clips -> {out} ({what}; {stored} {shape} {config.stored_dtype} raw, "
                         f"{_on_load(config)}; config {result.config_hash[:12]}; {timing}); "
                         f"{summarize_errors(result.errors)}"
                         + (f" (listed in {out}/errors.parquet)" if result.n_errors else "")), err=True)
    from ..features.store import read_store_info

    statistics = (read_store_info(out) or {}).get("statistics", {})
    if config.normalize != "none" and not statistics.get("n_clips"):
        click.echo(f"  warning: no {statistics.get('fit_on', 'train')} clip could be read, so the store has no "
                   "normalization statistics: load it with normalize=False", err=True)
    if result.data.get("layout"):
        click.echo(f"  layout: {printable(str(result.data['layout']))}"
                   + (f" ({printable(str(result.data['layout_evidence']))})" if result.data.get("layout_evidence") else ""),
                   err=True)
    if strict and result.n_errors:
        raise SystemExit(1)
