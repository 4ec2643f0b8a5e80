"""A dataset of many labels (issue 15, "cost that grows with the number of labels"): the per-label
views show the largest labels up to a limit and sum up the rest ("+ 80 more labels (F files)"),
the figures draw a bounded number of panels and traces, and the JSON keeps every label."""

from __future__ import annotations

import json
import re

import numpy as np
from click.testing import CliRunner

from conftest import write_wav
from kwscope.analysis.summary import summarize
from kwscope.cli import main
from kwscope.io.index import index_dataset
from kwscope.plots import plot_anomaly_map, plot_mean_fft_grid, plot_violins
from kwscope.report.html import render_report
from kwscope.report.labels import label_view
from kwscope.report.plan import ReportOptions, plan_report
from kwscope.report.terminal import format_summary
from test_report import PlaceholderRenderer, noise_clips, synthetic_exploration

_SPEC = re.compile(r'<script type="application/json" id="spec-([^"]+)">(.*?)</script>', re.S)


def test_label_view_keeps_the_largest_and_counts_the_rest():
    labels = [f"w{i:03d}" for i in range(100)]
    counts = {lb: i + 1 for i, lb in enumerate(labels)}  # w099 has 100 recordings, w000 one
    view = label_view(labels, counts, 40)
    assert view.shown == tuple(labels[60:])  # the 40 largest, in the given order
    assert (view.n_labels, view.n_more, view.files_more) == (100, 60, sum(range(1, 61)))
    assert view.more_text() == "+ 60 more labels (1,830 files)"
    assert view.shown_text() == "the 40 largest of 100 labels"
    small = label_view(labels[:3], counts, 40)
    assert small.shown == tuple(labels[:3]) and not small.capped and small.more_text() == ""
    # ties go by name, so the choice is stable
    assert label_view(["b", "a", "c"], {"a": 1, "b": 1, "c": 1}, 2).shown == ("b", "a")


def test_report_of_120_labels_shows_40_and_sums_up_80():
    labels = [f"w{i:03d}" for i in range(120)]
    ex = synthetic_exploration(2400, labels=labels)
    opt = ReportOptions(max_labels=40)
    plan = plan_report(ex, opt)
    counts = ex.summary.recordings_per_label
    want = sorted(counts, key=lambda lb: (-counts[lb], lb))[:40]
    assert set(plan.examples) <= set(want) and len(plan.examples) == 40
    rest = sum(v for lb, v in counts.items() if lb not in want)
    clips = {p: (y, 16000) for p, y in noise_clips(plan.clip_paths()).items()}
    rendered = render_report(ex, clips, plan=plan, options=opt, renderer=PlaceholderRenderer(2000))
    page = rendered.html
    assert f"+ 80 more labels ({rest:,} files)" in page
    assert page.count('class="card example') == 40
    specs = {k: json.loads(v.replace("\\u003c", "<")) for k, v in _SPEC.findall(page)}
    bars = specs["label-counts"]["data"][0]
    assert sorted(bars["x"]) == sorted(want)
    assert "80 more labels" in specs["label-counts"]["layout"]["title"]["text"]
    assert {t["name"] for t in specs["mean-fft"]["data"]} == set(want)
    assert {t["name"] for t in specs["violins"]["data"] if t.get("name")} <= set(want)
    map_traces = [t["name"] for t in specs["anomaly-map"]["data"]]
    shown_in_map = [n for n in map_traces if n in want]
    assert len(shown_in_map) == 40 and "+ 80 more labels" in map_traces
    d = rendered.description
    assert d["report"]["labels"]["n_more"] == 80 and d["report"]["labels"]["files_more"] == rest
    assert len(d["exploration"]["summary"]["recordings_per_label"]) == 120  # the full table


def test_few_labels_are_all_shown_unchanged():
    ex = synthetic_exploration(300)
    page = render_report(ex, {}, renderer=PlaceholderRenderer(2000)).html
    assert "more label" not in page
    specs = {k: json.loads(v.replace("\\u003c", "<")) for k, v in _SPEC.findall(page)}
    assert len(specs["label-counts"]["data"][0]["x"]) == len(ex.summary.labels)


def test_grids_and_violins_draw_at_most_max_panels():
    rng = np.random.default_rng(0)
    freqs = np.arange(32) * 250.0
    means = {f"l{i}": rng.random(32) for i in range(75)}
    fig = plot_mean_fft_grid(freqs, means, backend="plotly", max_panels=12)
    assert len(fig.data) == 12 and "the first 12 of 75 labels" in fig.layout.title.text
    vals = {1000.0: {f"l{i}": rng.normal(size=20) for i in range(75)}}
    fig = plot_violins(vals, backend="plotly", max_panels=10)
    assert len({t.name for t in fig.data}) == 10 and "of 75 labels" in fig.layout.title.text


def test_anomaly_map_puts_labels_beyond_the_legend_in_one_trace():
    n = 300
    labels = [f"l{i % 100:02d}" for i in range(n)]
    coords = np.random.default_rng(1).normal(size=(n, 3))
    fig = plot_anomaly_map(coords, labels=labels, paths=[f"{lb}/{i}.wav" for i, lb in enumerate(labels)],
                           legend_labels=["l00", "l01"], backend="plotly")
    names = [t.name for t in fig.data]
    assert names == ["l00", "l01", "+ 98 more labels"]
    assert sum(len(t.x) for t in fig.data) == n  # every point is still drawn
    other = fig.data[2]
    assert {row[1] for row in other.customdata} == {f"l{i:02d}" for i in range(2, 100)}  # hover keeps the label


def test_stats_table_lists_the_largest_labels_and_one_row_for_the_rest(tmp_path):
    # 15 labels, label k holding k + 1 recordings: the 10 largest hold 6..15, the other 5 hold 15.
    for k in range(15):
        for i in range(k + 1):
            write_wav(tmp_path / f"k{k:02d}" / f"s{i}_nohash_0.wav", np.zeros(800, np.float32))
    s = summarize(index_dataset(tmp_path))
    text = format_summary(s, max_labels=10)
    rows = [ln for ln in text.splitlines() if re.match(r"k\d\d ", ln)]
    assert [r.split()[0] for r in rows] == [f"k{k:02d}" for k in range(5, 15)]
    assert re.search(r"^\+ 5 more labels \(15 files\)\s+15\b", text, re.M)
    res = CliRunner().invoke(main, ["stats", str(tmp_path), "--json"])
    assert len(json.loads(res.stdout)["recordings_per_label"]) == 15


def test_json_keeps_every_label_count_but_a_bounded_number_of_spectrograms(tmp_path):
    # Before: `report --json` on 1,000 labels x 5 files wrote 287 MB (each label's 99 x 161 mean
    # log spectrogram and its violin values) and peaked at 3 GB.
    from kwscope.analysis.aggregates import MeanLogSpectrogram, violins_to_dict

    labels = [f"w{i:03d}" for i in range(120)]
    n_by = {lb: 1 + (i % 7) for i, lb in enumerate(labels)}
    ml = MeanLogSpectrogram(np.arange(99) * 0.01, np.arange(161) * 50.0,
                            {lb: np.zeros((99, 161), np.float32) for lb in labels}, n_by, "exactly-1-s clips")
    d = ml.to_dict()
    assert len(d["n_by_label"]) == 120 and len(d["by_label"]) == 50
    want = sorted(labels, key=lambda lb: (-n_by[lb], lb))[:50]
    assert set(d["by_label"]) == set(want) and d["by_label_shown"] == "the 50 labels with most clips, of 120"
    v, shown = violins_to_dict({1000.0: {lb: np.ones(5, np.float32) for lb in labels}}, n_by)
    assert set(v) == {"1000"} and set(v["1000"]) == set(want) and shown.startswith("the 50 labels")
    assert MeanLogSpectrogram(ml.times_s, ml.freqs_hz, {"a": np.zeros((99, 161))}, {"a": 1},
                              "x").to_dict()["by_label_shown"] == "all 1 label"
