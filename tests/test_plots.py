"""kwscope.plots and ``kwscope plot``: every view renders (PNG and HTML), looks like what it claims,
works offline, and never leaks figures."""

from __future__ import annotations

import base64
import json

import matplotlib

matplotlib.use("Agg")  # the test process must never open a window

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from kwscope import plots  # noqa: E402
from kwscope.io.audio import read_audio  # noqa: E402
from kwscope.cli import main  # noqa: E402
from kwscope.errors import KwscopeError  # noqa: E402
from kwscope.plots import PlotError  # noqa: E402

from conftest import tone  # noqa: E402

DPI = 60  # small renders keep the file fast; sizes below are checked against it
SR = 16000


def chirp(sr: int = SR, seconds: float = 1.0) -> np.ndarray:
    """A rising chirp framed by near-silence: speech-like for the VAD, broadband for the spectra."""
    t = np.arange(int(sr * seconds)) / sr
    y = (0.5 * np.sin(2 * np.pi * (200 * t + 2500 * t**2))).astype(np.float32)
    quiet = (t < 0.25 * seconds) | (t >= 0.75 * seconds)
    y[quiet] *= 1e-4
    return y


@pytest.fixture(scope="module")
def fsdd_clip(fsdd_dir):
    files = sorted(fsdd_dir.glob("*.wav"))
    if not files:
        pytest.skip(f"no WAV files in {fsdd_dir}")
    return read_audio(files[0])


def assert_good_png(path, min_w: int = 300, min_h: int = 150):
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] >= min_h and img.shape[1] >= min_w, img.shape
    rgb = img[..., :3].reshape(-1, 3)
    assert rgb.std(axis=0).max() > 0.05, "image is (nearly) one color"
    assert len(np.unique((rgb[::7] * 255).astype(np.uint8), axis=0)) > 20, "too few colors for a plot"


def assert_offline_html(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>")
    assert "https://cdn" not in text
    assert "<script src=" not in text.replace('"', "").replace("'", "")
    assert "Plotly.newPlot" in text or "data:image/png;base64," in text
    return text


# ----------------------------------------------------------------------------- one recording


@pytest.mark.parametrize("kind", list(plots.CLIP_VIEWS))
def test_every_clip_view_renders_png_and_html_on_a_chirp(kind, tmp_path):
    fn = plots.CLIP_VIEWS[kind]
    fig = fn(chirp(), SR)
    assert isinstance(fig, Figure)
    out = plots.save_figure(fig, tmp_path / f"{kind}.png", dpi=DPI)
    assert_good_png(out)
    pfig = fn(chirp(), SR, backend="plotly")
    assert isinstance(pfig, go.Figure)
    assert_offline_html(plots.save_figure(pfig, tmp_path / f"{kind}.html"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{kind}.png", f"{kind}.html"])  # no temp files


@pytest.mark.parametrize("kind", list(plots.CLIP_VIEWS))
def test_every_clip_view_renders_on_a_real_fsdd_clip(kind, fsdd_clip, tmp_path):
    y, sr = fsdd_clip
    fn = plots.CLIP_VIEWS[kind]
    assert_good_png(plots.save_figure(fn(y, sr), tmp_path / "v.png", dpi=DPI))
    assert_offline_html(plots.save_figure(fn(y, sr, backend="plotly"), tmp_path / "v.html"))


def test_spectrogram_axes_say_time_in_s_and_frequency_in_hz():
    fig = plots.plot_wave_spectrogram(chirp(), SR)
    wave_ax, spec_ax = [ax for ax in fig.axes if ax.get_title()][:2]
    assert wave_ax.get_ylabel() == "Amplitude"
    assert spec_ax.get_xlabel() == "Time (s)"
    assert spec_ax.get_ylabel() == "Frequency (Hz)"
    # frequency runs 0 .. Nyquist, time covers the clip
    assert spec_ax.get_ylim() == pytest.approx((0, SR / 2))
    assert spec_ax.get_xlim()[1] == pytest.approx(1.0, abs=0.02)
    pfig = plots.plot_wave_spectrogram(chirp(), SR, backend="plotly")
    assert pfig.layout.xaxis2.title.text == "Time (s)"
    assert pfig.layout.yaxis2.title.text == "Frequency (Hz)"


def test_mel_and_mfcc_axes_and_db_colorbar():
    fig = plots.plot_mel_spectrogram(chirp(), SR)
    ax, cax = fig.axes[0], fig.axes[1]
    assert ax.get_xlabel() == "Time (s)" and "Frequency (Hz" in ax.get_ylabel()
    assert "dB" in cax.get_ylabel()
    assert [t.get_text() for t in ax.get_yticklabels()][:3] == ["0", "250", "500"]
    mfig = plots.plot_mfcc(chirp(), SR)
    titled = [a for a in mfig.axes if a.get_title()]
    assert [a.get_title() for a in titled] == ["MFCC", "Delta-delta (2nd-order delta)"]
    assert titled[1].get_xlabel() == "Time (s)"


def test_three_d_spectrogram_has_time_frequency_and_log_power_axes():
    fig = plots.plot_spectrogram_3d(chirp(), SR, backend="plotly")
    assert isinstance(fig.data[0], go.Surface)
    scene = fig.layout.scene
    assert (scene.xaxis.title.text, scene.yaxis.title.text) == ("Time (s)", "Frequency (Hz)")
    ax = plots.plot_spectrogram_3d(chirp(), SR).axes[0]
    assert ax.name == "3d" and ax.get_xlabel() == "Time (s)" and ax.get_ylabel() == "Frequency (Hz)"


def test_silence_view_draws_the_vad_boundaries_where_the_sound_is():
    fig = plots.plot_silence(chirp(), SR)
    wave_ax, spec_ax, kept_ax = [ax for ax in fig.axes if ax.get_title()]
    xs = sorted({round(line.get_xdata()[0], 3) for line in spec_ax.get_lines()})
    assert len(xs) == 2
    assert xs[0] == pytest.approx(0.25, abs=0.02) and xs[1] == pytest.approx(0.75, abs=0.02)
    assert "0.25" in kept_ax.get_title() and "0.75" in kept_ax.get_title()
    # the speech-only panel keeps the clip's own time axis
    assert kept_ax.get_xlim() == pytest.approx(tuple(xs), abs=0.02)
    pfig = plots.plot_silence(chirp(), SR, backend="plotly")
    assert len([s for s in pfig.layout.shapes if s.type == "line"]) == 4


def test_silence_view_of_pure_silence_says_no_speech():
    fig = plots.plot_silence(np.zeros(SR, dtype=np.float32), SR)
    assert "no speech" in [ax for ax in fig.axes if ax.get_title()][-1].get_title()


def test_resample_view_compares_spectra_up_to_each_nyquist():
    fig = plots.plot_resample(tone(440.0, SR), SR, target_sr=8000)
    top, bottom = fig.axes[:2]
    f_orig = top.get_lines()[0].get_xdata()
    f_rs = bottom.get_lines()[0].get_xdata()
    assert f_orig.max() == pytest.approx(SR / 2, rel=1e-3)
    assert f_rs.max() == pytest.approx(4000, rel=1e-3)
    assert bottom.get_xlabel() == "Frequency (Hz)"
    # the 440 Hz tone peaks at 440 Hz in both
    for ax in (top, bottom):
        x, y = ax.get_lines()[0].get_data()
        assert x[np.argmax(y)] == pytest.approx(440, abs=5)


def test_very_short_clip_still_renders_mfcc_and_silence():
    y = tone(300.0, SR, seconds=0.03)
    for fn in (plots.plot_mfcc, plots.plot_silence, plots.plot_wave_spectrogram):
        assert isinstance(fn(y, SR), Figure)


def test_clip_shorter_than_one_window_is_a_plain_error():
    with pytest.raises(PlotError, match="50 samples .* shorter than one 20 ms spectrogram window"):
        plots.plot_wave_spectrogram(np.ones(50, dtype=np.float32), 8000)


def test_long_recording_is_thinned_for_plotly():
    y = np.random.default_rng(0).normal(0, 0.1, SR * 30).astype(np.float32)
    fig = plots.plot_wave_spectrogram(y, SR, backend="plotly")
    assert len(fig.data[0].x) <= 20000
    assert len(fig.data[1].x) <= 1500


def test_bad_inputs_raise_plot_error_naming_the_value():
    with pytest.raises(PlotError, match="shape"):
        plots.plot_wave(np.zeros((2, 100)), SR)
    with pytest.raises(PlotError, match="sr=0"):
        plots.plot_wave(np.zeros(100), 0)
    with pytest.raises(PlotError, match="'bokeh'"):
        plots.plot_wave(np.zeros(100), SR, backend="bokeh")
    with pytest.raises(PlotError, match="NaN"):
        plots.plot_mel_spectrogram(np.full(100, np.nan), SR)
    with pytest.raises(PlotError, match="target_sr"):
        plots.plot_resample(chirp(), SR, target_sr=-1)
    assert issubclass(PlotError, KwscopeError)


# ----------------------------------------------------------------------------- dataset views

LABELS = ["yes", "no", "up", "down", "_background_noise_"]


@pytest.fixture(scope="module")
def dataset_inputs():
    rng = np.random.default_rng(7)
    freqs = np.linspace(0, 8000, 200)
    times = np.arange(49) * 0.02 + 0.01
    bins = np.linspace(0, 8000, 81)
    n = 60
    labels = [LABELS[i % 4] for i in range(n)]
    coords = rng.normal(size=(n, 3))
    coords[0] *= 8
    return {
        "counts": {lb: int(c) for lb, c in zip(LABELS, (40, 38, 41, 35, 6))},
        "edges": np.linspace(0.4, 1.1, 15), "hist": np.r_[np.arange(12), 500, 2],
        "freqs": freqs,
        "ffts": {lb: np.exp(-((freqs - 400 * (i + 1)) / 500) ** 2) for i, lb in enumerate(LABELS[:4])},
        "times": times, "bins": bins,
        "specs": {lb: rng.normal(-15 + i, 1, (times.size, bins.size)) for i, lb in enumerate(LABELS[:4])},
        "violins": {hz: {lb: rng.normal(i, 1, 30) for i, lb in enumerate(LABELS[:4])} for hz in (1000.0, 2500.0)},
        "coords": coords, "labels": labels,
        "paths": [f"{lb}/spk{i % 5}_nohash_{i}.wav" for i, lb in enumerate(labels)],
        "speakers": [f"spk{i % 5}" if i % 9 else None for i in range(n)],
        "reasons": [["far from the centre", "clipping"] if i == 0 else [] for i in range(n)],
        "scores": np.linalg.norm(coords, axis=1),
    }


DATASET_VIEWS = {
    "label_counts": lambda d, be: plots.plot_label_counts(d["counts"], backend=be),
    "length_histogram": lambda d, be: plots.plot_length_histogram(d["edges"], d["hist"], dominant_s=1.0, backend=be),
    "mean_fft_grid": lambda d, be: plots.plot_mean_fft_grid(d["freqs"], d["ffts"], backend=be),
    "mean_spectrogram_grid": lambda d, be: plots.plot_mean_spectrogram_grid(d["times"], d["bins"], d["specs"],
                                                                            backend=be),
    "violins": lambda d, be: plots.plot_violins(d["violins"], backend=be),
    "anomaly_by_label": lambda d, be: plots.plot_anomaly_map(
        d["coords"], labels=d["labels"], paths=d["paths"], speakers=d["speakers"], reasons=d["reasons"],
        scores=d["scores"], backend=be),
    "anomaly_by_score": lambda d, be: plots.plot_anomaly_map(
        d["coords"], labels=d["labels"], paths=d["paths"], scores=d["scores"], color_by="score", backend=be),
}


@pytest.mark.parametrize("view", list(DATASET_VIEWS))
def test_every_dataset_view_renders_png_and_html(view, dataset_inputs, tmp_path):
    fig = DATASET_VIEWS[view](dataset_inputs, "matplotlib")
    assert_good_png(plots.save_figure(fig, tmp_path / "v.png", dpi=DPI))
    pfig = DATASET_VIEWS[view](dataset_inputs, "plotly")
    assert_offline_html(plots.save_figure(pfig, tmp_path / "v.html"))


def test_dataset_view_axes_have_units(dataset_inputs):
    d = dataset_inputs
    ax = plots.plot_length_histogram(d["edges"], d["hist"]).axes[0]
    assert ax.get_xlabel() == "Length (s)" and ax.get_yscale() == "log"  # 500 vs 1: log by default
    grid = plots.plot_mean_spectrogram_grid(d["times"], d["bins"], d["specs"])
    image_axes = [a for a in grid.axes if a.get_images()]
    assert len(image_axes) == 4
    # 2 x 2: the bottom row says time, the left column frequency
    assert [a.get_xlabel() for a in image_axes] == ["", "", "Time (s)", "Time (s)"]
    assert [a.get_ylabel() for a in image_axes] == ["Frequency (Hz)", "", "Frequency (Hz)", ""]
    # one shared color scale
    assert len({im.get_clim() for a in image_axes for im in a.get_images()}) == 1
    fft = plots.plot_mean_fft_grid(d["freqs"], d["ffts"])
    assert [a.get_xlabel() for a in fft.axes if a.get_visible()] == ["", "", "Frequency (Hz)", "Frequency (Hz)"]


def test_a_label_keeps_its_color_across_views(dataset_inputs):
    d = dataset_inputs
    colors = plots.label_colors(LABELS)
    assert colors["_background_noise_"] == "#9e9e9e"
    assert len(set(colors.values())) == len(colors)
    bars = plots.plot_label_counts(d["counts"]).axes[0].patches
    bar_color = {lb: matplotlib.colors.to_hex(p.get_facecolor()) for lb, p in zip(d["counts"], bars)}
    fft = plots.plot_mean_fft_grid(d["freqs"], d["ffts"])
    for ax in fft.axes:
        if ax.get_visible():
            assert matplotlib.colors.to_hex(ax.get_lines()[0].get_color()) == bar_color[ax.get_title()]
    # a subset of labels keeps the full set's colors when given them
    sub = plots.label_colors(["up", "yes"], base=colors)
    assert sub == {"up": colors["up"], "yes": colors["yes"]}


def test_anomaly_map_points_carry_path_label_speaker_reasons_score(dataset_inputs):
    d = dataset_inputs
    fig = DATASET_VIEWS["anomaly_by_label"](d, "plotly")
    assert tuple(fig.layout.meta["customdata"]) == plots.ANOMALY_CUSTOMDATA
    rows = [row for trace in fig.data for row in trace.customdata]
    assert sorted(r[0] for r in rows) == sorted(d["paths"])
    by_index = {r[5]: r for r in rows}
    first = by_index[0]
    assert first[0] == d["paths"][0] and first[1] == d["labels"][0]
    assert first[3] == "far from the centre; clipping"
    assert first[4] == pytest.approx(d["scores"][0])
    assert by_index[9][2] == ""  # unknown speaker
    assert {t.name for t in fig.data} == set(d["labels"])  # one trace per label: legend toggles
    assert "far from the centre" in fig.data[[t.name for t in fig.data].index(d["labels"][0])].text[0]
    # the JSON the report embeds keeps the layout
    payload = json.loads(plots.figure_to_json(fig))
    assert payload["data"][0]["customdata"][0][0].endswith(".wav")
    by_score = DATASET_VIEWS["anomaly_by_score"](d, "plotly")
    assert len(by_score.data) == 1 and sorted(r[0] for r in by_score.data[0].customdata) == sorted(d["paths"])


def test_dataset_views_reject_inconsistent_inputs(dataset_inputs):
    d = dataset_inputs
    with pytest.raises(PlotError, match="one more"):
        plots.plot_length_histogram([0, 1], [1, 2])
    with pytest.raises(PlotError, match="expected"):
        plots.plot_mean_spectrogram_grid(d["times"], d["bins"][:-1], d["specs"])
    with pytest.raises(PlotError, match="paths has 2"):
        plots.plot_anomaly_map(d["coords"], labels=d["labels"], paths=["a", "b"])
    with pytest.raises(PlotError, match="needs scores"):
        plots.plot_anomaly_map(d["coords"], labels=d["labels"], paths=d["paths"], color_by="score")
    with pytest.raises(PlotError, match="non-negative"):
        plots.plot_label_counts({"yes": -1})
    with pytest.raises(PlotError, match="empty"):
        plots.plot_label_counts({})


# ----------------------------------------------------------------------------- export


def test_plotly_figure_to_png_is_a_clear_error_and_writes_nothing(tmp_path):
    fig = plots.plot_wave(chirp(), SR, backend="plotly")
    with pytest.raises(PlotError, match="kaleido"):
        plots.save_figure(fig, tmp_path / "w.png")
    with pytest.raises(PlotError, match="kaleido"):
        plots.figure_to_png_bytes(fig)
    with pytest.raises(PlotError, match="unsupported output format"):
        plots.save_figure(plots.plot_wave(chirp(), SR), tmp_path / "w.jpg")
    assert list(tmp_path.iterdir()) == []


def test_embedding_helpers(tmp_path):
    png = plots.figure_to_png_bytes(plots.plot_wave(chirp(), SR), dpi=DPI)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    b64 = plots.figure_to_base64_png(plots.plot_wave(chirp(), SR), dpi=DPI)
    assert base64.b64decode(b64).startswith(b"\x89PNG")
    pfig = plots.plot_wave(chirp(), SR, backend="plotly")
    fragment = plots.figure_to_html_fragment(pfig, div_id="wave1")
    assert 'id="wave1"' in fragment and "Plotly.newPlot" in fragment
    assert len(fragment) < 1_000_000  # plotly.js is not in the fragment
    js = plots.plotly_js_inline()
    assert len(js) > 1_000_000 and "https://cdn" not in js
    # a matplotlib figure written as .html is an offline page with the PNG inside
    page = assert_offline_html(plots.save_figure(plots.plot_wave(chirp(), SR), tmp_path / "w.html", dpi=DPI))
    assert "data:image/png;base64," in page


def test_building_and_saving_many_figures_leaks_none(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    for i in range(3):
        plots.save_figure(plots.plot_wave(chirp(), SR), tmp_path / f"w{i}.png", dpi=30)
    assert plt.get_fignums() == before
    # a pyplot-made figure is closed after saving
    fig = plt.figure()
    plots.save_figure(fig, tmp_path / "p.png", dpi=30)
    assert fig.number not in plt.get_fignums()


# ----------------------------------------------------------------------------- CLI


def test_cli_plot_writes_png_and_html_and_prints_the_path(tmp_path, make_wav):
    wav = make_wav(tmp_path / "clip.wav", chirp())
    runner = CliRunner()
    for kind, out in (("mel", "s.png"), ("silence", "s.html")):
        result = runner.invoke(main, ["plot", kind, str(wav), "-o", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == str(tmp_path / out)
    assert_good_png(tmp_path / "s.png")
    assert "clip.wav" in assert_offline_html(tmp_path / "s.html")


def test_cli_plot_resample_takes_target_sr(tmp_path, make_wav):
    wav = make_wav(tmp_path / "clip.wav", tone(440.0, SR))
    result = CliRunner().invoke(main, ["plot", "resample", str(wav), "-o", str(tmp_path / "r.html"),
                                       "--target-sr", "4000"])
    assert result.exit_code == 0, result.output
    assert "4000 Hz" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_cli_plot_missing_file_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["plot", "wave", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "w.png")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "nope.wav" in lines[0] and "not found" in lines[0]
    assert not (tmp_path / "w.png").exists()


def test_cli_plot_bad_output_is_one_line_exit_2(tmp_path, make_wav):
    wav = make_wav(tmp_path / "clip.wav", chirp())
    for out in (tmp_path / "w.jpg", tmp_path / "missing-dir" / "w.png"):
        result = CliRunner().invoke(main, ["plot", "wave", str(wav), "-o", str(out)])
        assert result.exit_code == 2
        assert len(result.output.strip().splitlines()) == 1
