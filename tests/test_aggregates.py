"""Aggregates: per-label mean FFT and mean log spectrogram equal a brute-force computation, the
violin sample is deterministic, and nothing depends on how the manifest was chunked."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
import soxr

from conftest import tone, write_wav
from kwscope.analysis.aggregates import EXACT_1S, PADDED, length_distribution, speaker_stats
from kwscope.analysis.explore import explore
from kwscope.io.audio import read_audio
from kwscope.settings import RunSettings


def _brute_compact(y: np.ndarray, sr: int, n_bins: int = 256, fmax: float = 8000.0) -> np.ndarray:
    """The notebook's custom_fft of the clip padded to 1 s, averaged into 31.25-Hz bands."""
    pad = np.zeros(sr)
    pad[: min(len(y), sr)] = y[:sr]
    mag = 2.0 / sr * np.abs(np.fft.rfft(pad))[: sr // 2]  # bin k is k Hz
    out = np.zeros(n_bins)
    for k in range(int(fmax)):
        if k < mag.size:
            out[int(k * n_bins / fmax)] += mag[k]
    width = np.bincount((np.arange(int(fmax)) * n_bins / fmax).astype(int), minlength=n_bins)
    return out / width


def _brute_logspec(y: np.ndarray, sr: int) -> np.ndarray:
    """scipy's spectrogram, the notebook's recipe, at 16 kHz, of the clip padded to 1 s."""
    if sr != 16000:
        y = soxr.resample(y.astype(np.float32), sr, 16000, quality="HQ")
    pad = np.zeros(16000, np.float32)
    pad[: min(len(y), 16000)] = y[:16000]
    _, _, spec = scipy.signal.spectrogram(pad, fs=16000, window="hann", nperseg=320, noverlap=160, detrend=False)
    return np.log(spec.T.astype(np.float32) + 1e-10)


@pytest.fixture(scope="module")
def tone_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("agg")
    rng = np.random.default_rng(11)
    clips = {}
    for lab, f0 in (("up", 400.0), ("down", 1200.0)):
        for i in range(5):
            y = tone(f0 * (1 + 0.03 * i), seconds=1.0, amp=0.2 + 0.05 * i)
            y += (rng.standard_normal(16000) * 0.01).astype(np.float32)
            clips[f"{lab}/s{i}_nohash_0.wav"] = (y, 16000)
    clips["down/s9_nohash_0.wav"] = (tone(1500.0, sr=8000, seconds=1.0, amp=0.3), 8000)  # 1 s at 8 kHz
    clips["up/s9_nohash_0.wav"] = (tone(500.0, seconds=0.4), 16000)  # not 1 s: left out of the means
    for rel, (y, sr) in clips.items():
        write_wav(root / rel, y, sr)
    return root


def test_mean_fft_equals_brute_force(tone_set):
    ex = explore(tone_set, settings=RunSettings(workers=1, progress=False))
    mf = ex.mean_fft
    assert mf.selection == EXACT_1S
    assert mf.n_by_label == {"down": 6, "up": 5}
    np.testing.assert_allclose(mf.freqs_hz[:2], [15.625, 46.875])
    for lab in ("up", "down"):
        files = [p for p in sorted(tone_set.glob(f"{lab}/*.wav"))]
        specs = []
        for f in files:
            y, sr = read_audio(f)
            if len(y) == sr:
                specs.append(_brute_compact(y.astype(np.float64), sr))
        np.testing.assert_allclose(mf.by_label[lab], np.mean(specs, axis=0), rtol=1e-5, atol=1e-9)


def test_mean_logspec_equals_brute_force(tone_set):
    ex = explore(tone_set, settings=RunSettings(workers=1, progress=False))
    ml = ex.mean_logspec
    assert ml.times_s.shape == (99,) and ml.freqs_hz.shape == (161,) and ml.freqs_hz[20] == 1000.0
    assert ml.times_s[0] == pytest.approx(0.01) and ml.selection == EXACT_1S
    for lab in ("up", "down"):
        specs = []
        for f in sorted(tone_set.glob(f"{lab}/*.wav")):
            y, sr = read_audio(f)
            if len(y) == sr:
                specs.append(_brute_logspec(y, sr))
        assert ml.by_label[lab].shape == (99, 161)
        np.testing.assert_allclose(ml.by_label[lab], np.mean(specs, axis=0), atol=2e-3)


def test_violins_are_every_frame_of_the_sampled_clips(tone_set):
    ex = explore(tone_set, settings=RunSettings(workers=1, progress=False))
    assert sorted(ex.violins) == [1000.0, 2500.0, 6000.0]
    # fewer than 100 clips a label: every clip, every frame inside the clip
    up = ex.violins[1000.0]["up"]
    assert up.shape == (5 * 99 + 39,)
    # 6 kHz is above the 8-kHz clip's Nyquist: that clip gives no value there
    assert ex.violins[6000.0]["down"].shape == (5 * 99,)
    want = []
    for f in sorted(tone_set.glob("up/*.wav")):
        y, sr = read_audio(f)
        _, _, spec = scipy.signal.spectrogram(y, fs=sr, window="hann", nperseg=320, noverlap=160, detrend=False)
        want.append(np.log(spec.T.astype(np.float32) + 1e-10)[:, 20])
    np.testing.assert_allclose(np.sort(up), np.sort(np.concatenate(want)), atol=2e-3)


def test_aggregates_do_not_depend_on_chunking(tone_set):
    a = explore(tone_set, settings=RunSettings(workers=1, progress=False, chunk_size=2))
    b = explore(tone_set, settings=RunSettings(workers=1, progress=False, chunk_size=256))
    for lab in a.mean_fft.by_label:
        np.testing.assert_allclose(a.mean_fft.by_label[lab], b.mean_fft.by_label[lab], rtol=1e-6)
        np.testing.assert_allclose(a.mean_logspec.by_label[lab], b.mean_logspec.by_label[lab], rtol=1e-6)
    for hz in a.violins:
        for lab in a.violins[hz]:
            np.testing.assert_array_equal(a.violins[hz][lab], b.violins[hz][lab])


def test_violin_sample_is_capped_and_seeded(tmp_path):
    for i in range(130):
        write_wav(tmp_path / "go" / f"s{i:03d}_nohash_0.wav", tone(300.0 + i, seconds=0.2))
    a = explore(tmp_path, settings=RunSettings(workers=1, progress=False, chunk_size=16))
    b = explore(tmp_path, settings=RunSettings(workers=1, progress=False, chunk_size=64))
    frames_a_clip = (3200 - 320) // 160 + 1
    assert a.violins[1000.0]["go"].shape == (100 * frames_a_clip,)
    np.testing.assert_array_equal(a.violins[2500.0]["go"], b.violins[2500.0]["go"])


def test_variable_lengths_use_all_clips_padded(tmp_path):
    for i, secs in enumerate((0.3, 0.45, 0.6, 1.2)):
        write_wav(tmp_path / f"3_spk_{i + 5}.wav", tone(800.0, sr=8000, seconds=secs), 8000)
    ex = explore(tmp_path, settings=RunSettings(workers=1, progress=False))
    assert ex.mean_fft.selection == PADDED and ex.mean_fft.n_by_label == {"3": 4}
    assert int(np.argmax(ex.mean_fft.by_label["3"])) == int(800 * 256 / 8000)
    assert np.all(ex.mean_fft.by_label["3"][int(4000 * 256 / 8000) + 1:] == 0)


def test_lengths_speakers_and_counts(tone_set):
    ex = explore(tone_set, settings=RunSettings(workers=1, progress=False))
    assert ex.label_counts == {"down": 6, "up": 6}
    L = ex.lengths
    assert sum(L["histogram"]["counts"]) == 12 and L["by_label"]["up"]["n_shorter_than_1s"] == 1
    assert L["quantiles_s"]["q00"] == pytest.approx(0.4) and L["quantiles_s"]["q100"] == pytest.approx(1.0)
    S = ex.speakers
    assert S["n_speakers"] == 6 and S["clips_per_speaker"]["max"] == 2
    assert {s["speaker"] for s in S["speakers"]} == {"s0", "s1", "s2", "s3", "s4", "s9"}
    assert length_distribution(ex.profiles.iloc[:0])["by_label"] == {}
    assert speaker_stats(ex.profiles.iloc[:0])["n_speakers"] == 0


def test_exploration_is_json_and_renders(tone_set):
    ex = explore(tone_set, settings=RunSettings(workers=1, progress=False))
    doc = json.loads(json.dumps(ex.to_dict(), allow_nan=False))
    assert set(doc) >= {"summary", "profiles", "mean_fft", "mean_logspec", "violins", "anomalies",
                        "duplicates", "quality", "pca"}
    assert len(doc["mean_logspec"]["by_label"]["up"]) == 99 and set(doc["violins"]) == {"1000", "2500", "6000"}
    assert len(doc["profiles"]["path"]) == 12
    for obj in (ex, ex.mean_fft, ex.mean_logspec, ex.anomaly_report(), ex.duplicate_report):
        assert "<" in obj._repr_html_()


def test_accumulator_keeps_one_spectrogram_sum_a_label_when_lengths_agree(tmp_path):
    # Before: two 99 x 161 float64 sums a label (1-s clips, all clips) whatever the data: 255 kB a
    # label, 255 MB for a 1,000-word set. A label of 1-s clips only now keeps one, and the mean
    # of a label with both kinds still averages the right clips.
    from kwscope.analysis.aggregates import AggregateAccumulator
    from kwscope.analysis.profiles import ProfileConfig, ProfileTask, profile_chunk

    rows = [("a", 1.0, 300.0), ("a", 1.0, 320.0), ("b", 1.0, 700.0), ("c", 1.0, 900.0), ("c", 0.5, 1200.0)]
    paths = []
    for i, (lab, secs, hz) in enumerate(rows):
        paths.append(f"{lab}/s{i}_nohash_0.wav")
        write_wav(tmp_path / paths[-1], tone(hz, seconds=secs))
    cfg = ProfileConfig()
    n = len(rows)
    task = ProfileTask(0, str(tmp_path), tuple(paths), tuple(r[0] for r in rows), (True,) * n, (True,) * n,
                       (None,) * n, cfg)
    acc = AggregateAccumulator(cfg)
    acc.add(profile_chunk(task))
    assert set(acc.spec_1s) == {"a", "b", "c"} and set(acc.spec_other) == {"c"}  # 4 sums, not 6
    assert acc.selection() == EXACT_1S
    ml = acc.mean_logspec()
    assert ml.n_by_label == {"a": 2, "b": 1, "c": 1}
    np.testing.assert_allclose(ml.by_label["c"], acc.spec_1s["c"].astype(np.float32), rtol=1e-6)
