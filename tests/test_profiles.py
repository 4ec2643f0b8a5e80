"""Per-file profiles: analytic signals, batch consistency, chunk planning and the profile cache."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from conftest import tone, write_wav
from kwscope.analysis.explore import explore
from kwscope.io.audio import read_audio
from kwscope.analysis.profiles import (
    SCALAR_COLUMNS,
    ChunkResult,
    ProfileConfig,
    compact_spectrum,
    plan_chunks,
    profile_chunk,
    profile_clip,
)
from kwscope.io.index import index_dataset
from kwscope.settings import RunSettings


def _band(hz: float, cfg: ProfileConfig = ProfileConfig()) -> int:
    return int(hz * cfg.spectrum_bins / cfg.spectrum_fmax_hz)


@pytest.mark.parametrize("sr", [8000, 16000, 44100])
def test_tone_shows_its_peak_band_at_any_rate(sr):
    p = profile_clip(tone(1000.0, sr=sr, seconds=1.0, amp=0.5), sr)
    spec = p["spectrum"]
    assert spec.shape == (256,) and spec.dtype == np.float32
    assert int(np.argmax(spec)) == _band(1000.0)
    # A full-length tone of amplitude A puts A into one 1-Hz bin; the band averages ~31 bins.
    assert spec[_band(1000.0)] == pytest.approx(0.5 / 32, rel=0.05)


def test_compact_spectrum_is_zero_above_nyquist():
    p = profile_clip(tone(440.0, sr=8000, amp=0.3), 8000)
    assert np.all(p["spectrum"][_band(4000.0) + 1:] == 0)


def test_compact_spectrum_pools_by_mean():
    mag = np.zeros(8000, np.float32)
    mag[1000] = 3.2
    out = compact_spectrum(mag, 16000)
    assert out[32] == pytest.approx(3.2 / 32) and out.sum() == pytest.approx(3.2 / 32)


def test_levels_of_a_sine():
    p = profile_clip(tone(440.0, amp=0.5), 16000)
    assert p["peak_dbfs"] == pytest.approx(20 * np.log10(0.5), abs=0.01)
    assert p["rms_dbfs"] == pytest.approx(10 * np.log10(0.125), abs=0.01)
    assert p["clip_ratio"] == 0 and abs(p["dc_offset"]) < 1e-4 and p["silence_ratio"] == 0
    assert p["n_segments"] == 1 and p["duration_s"] == 1.0 and p["sample_rate"] == 16000


def test_silence_has_no_segment_and_is_near_silent():
    p = profile_clip(np.zeros(16000, np.float32), 16000)
    assert p["n_segments"] == 0 and np.isnan(p["speech_start_s"])
    assert p["peak_dbfs"] == -120.0 and p["silence_ratio"] == 1.0
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(16000) * 10 ** (-75 / 20)).astype(np.float32)
    q = profile_clip(hiss, 16000)
    assert q["n_segments"] == 0 and q["peak_dbfs"] < -60 and q["silence_ratio"] == 1.0


def test_clipped_sine_has_the_right_clipping_ratio():
    y = np.clip(tone(200.0, amp=2.0), -1.0, 1.0)
    p = profile_clip(y, 16000)
    # |2 sin| >= 0.99 for a fraction 1 - 2 asin(0.495) / pi of the time
    assert p["clip_ratio"] == pytest.approx(1 - 2 * np.arcsin(0.495) / np.pi, abs=0.01)
    assert p["peak_dbfs"] == pytest.approx(0.0, abs=1e-6)


def test_dc_offset_is_measured():
    p = profile_clip(tone(300.0, amp=0.2) + np.float32(0.1), 16000)
    assert p["dc_offset"] == pytest.approx(0.1, abs=1e-4)


def test_noise_burst_length(rng):
    y = tone(300.0, amp=0.05)
    y[4000:8000] += (rng.standard_normal(4000) * 0.3).astype(np.float32)
    p = profile_clip(y, 16000)
    assert p["burst_s"] == pytest.approx(0.25, abs=0.03)
    assert profile_clip(tone(300.0, amp=0.3), 16000)["burst_s"] == 0


def test_steady_tone_is_hum_and_a_fading_one_is_not():
    hum = profile_clip(tone(60.0, amp=0.3) + tone(120.0, amp=0.2), 16000)
    assert hum["hum_hz"] == 60 and hum["hum_prominence_db"] > 30 and hum["hum_steadiness_db"] > -1
    assert hum["hum_jitter_hz"] < 0.05
    fading = tone(120.0, amp=0.3) * np.linspace(1, 0, 16000, dtype=np.float32) ** 3
    assert profile_clip(fading, 16000)["hum_steadiness_db"] < -10
    t = np.arange(16000) / 16000
    gliding = (0.3 * np.sin(2 * np.pi * (120 * t + 4 * t**2))).astype(np.float32)  # 120 -> 128 Hz
    assert profile_clip(gliding, 16000)["hum_jitter_hz"] > 0.3


def test_hum_with_a_harmonic_one_fundamental_away_is_steady():
    # Regression: box-averaged demodulation let the 100-Hz harmonic leak into the 50-Hz line's
    # phase (0.57 Hz of "jitter"), so a plain mains hum was not reported.
    hum = profile_clip(tone(50.0, amp=0.1) + tone(100.0, amp=0.05), 16000)
    assert hum["hum_hz"] == 50 and hum["hum_jitter_hz"] < 0.05 and hum["hum_steadiness_db"] > -1


def test_hum_is_not_judged_on_clips_under_300_ms():
    # Regression: a 0.25-s held vowel of FSDD (1_theo_3) looked as steady as a hum over 3 windows.
    p = profile_clip(tone(125.0, seconds=0.25, amp=0.3), 16000)
    assert p["hum_prominence_db"] > 20 and np.isnan(p["hum_jitter_hz"])


def test_short_clip_is_profiled():
    p = profile_clip(tone(500.0, seconds=0.01), 16000)
    assert p["duration_s"] == pytest.approx(0.01) and p["spectrum"].shape == (256,)


def test_batch_equals_one_by_one(tmp_path, rng):
    """A chunk measures clips in buckets; each file's profile equals its own profile."""
    clips = {
        "a/x_nohash_0.wav": (tone(440.0, seconds=1.0), 16000),
        "a/x_nohash_1.wav": (tone(880.0, seconds=0.63, amp=0.2), 16000),
        "a/y_nohash_0.wav": ((rng.standard_normal(5000) * 0.1).astype(np.float32), 8000),
        "a/y_nohash_1.wav": (tone(1500.0, sr=8000, seconds=1.7), 8000),
    }
    for rel, (y, sr) in clips.items():
        write_wav(tmp_path / rel, y, sr)
    m = index_dataset(tmp_path, layout="speech-commands")
    plan = plan_chunks(m, config=ProfileConfig())
    res = profile_chunk(plan.tasks[0])
    for i, rel in enumerate(m["path"]):
        y, sr = read_audio(tmp_path / rel)
        single = profile_clip(y, sr)
        want = np.array([single.get(c, np.nan) for c in SCALAR_COLUMNS])
        np.testing.assert_allclose(res.scalars[i], want, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=rel)
        np.testing.assert_allclose(res.spectra[i], single["spectrum"], rtol=1e-5, atol=1e-7)


def test_unreadable_and_background_rows(tmp_path):
    write_wav(tmp_path / "yes" / "a_nohash_0.wav", tone(seconds=1.0))
    write_wav(tmp_path / "_background_noise_" / "hum.wav", tone(50.0, seconds=3.0))
    (tmp_path / "yes" / "b_nohash_0.wav").write_bytes(b"RIFF\x00\x00")
    ex = explore(tmp_path, settings=RunSettings(workers=1, progress=False))
    p = ex.profiles.set_index("path")
    assert p.loc["yes/b_nohash_0.wav", "status"] == "error" and p.loc["yes/b_nohash_0.wav", "error"]
    assert np.isnan(p.loc["yes/b_nohash_0.wav", "rms_dbfs"])
    bg = p.loc["_background_noise_/hum.wav"]
    assert bg["duration_s"] == pytest.approx(3.0) and np.isfinite(bg["rms_dbfs"])
    assert np.isnan(bg["anomaly_score"]) and np.isnan(bg["pca_x"])
    assert list(ex.profiles["path"]) == list(index_dataset(tmp_path)["path"])


def test_chunks_do_not_cross_labels(tmp_path):
    for lab, n in (("a", 5), ("b", 3)):
        for i in range(n):
            write_wav(tmp_path / lab / f"s{i}_nohash_0.wav", tone(seconds=0.1))
    plan = plan_chunks(index_dataset(tmp_path), config=ProfileConfig(), chunk_size=2)
    assert [len(t.paths) for t in plan.tasks] == [2, 2, 1, 2, 1]
    assert all(len(set(t.labels)) == 1 for t in plan.tasks)
    assert np.array_equal(np.concatenate(plan.rows), np.arange(8))


def _small_set(root, rng):
    for lab, f in (("up", 500.0), ("down", 900.0)):
        for i in range(4):
            y = tone(f * (1 + 0.05 * i), seconds=1.0, amp=0.3) + (rng.standard_normal(16000) * 0.01).astype(np.float32)
            write_wav(root / lab / f"s{i}_nohash_0.wav", y)
    return root


def _findings(result) -> str:
    """An exploration's description as JSON, without the pass's timings and cache counts."""
    d = result.to_dict()
    d.pop("pass_info")
    return json.dumps(d, sort_keys=True)


def test_cache_hit_gives_identical_results(tmp_path, rng):
    data = _small_set(tmp_path / "data", rng)
    cache = tmp_path / "cache"
    first = explore(data, settings=RunSettings(workers=1, cache_dir=cache, progress=False, chunk_size=3))
    assert first.pass_info["cache_hits"] == 0 and any(cache.rglob("*.npz"))
    second = explore(data, settings=RunSettings(workers=1, cache_dir=cache, progress=False, chunk_size=3))
    assert second.pass_info["cache_hits"] == second.pass_info["chunks"] == first.pass_info["chunks"]
    assert second.pass_info["result_cache"]
    pd.testing.assert_frame_equal(first.profiles, second.profiles)
    assert _findings(first) == _findings(second)


def test_changed_file_recomputes_only_its_chunk(tmp_path, rng):
    data = _small_set(tmp_path / "data", rng)
    cache = tmp_path / "cache"
    explore(data, settings=RunSettings(workers=1, cache_dir=cache, progress=False, chunk_size=2))
    target = data / "up" / "s3_nohash_0.wav"
    write_wav(target, tone(3000.0, seconds=1.0, amp=0.9))
    st = os.stat(target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = explore(data, settings=RunSettings(workers=1, cache_dir=cache, progress=False, chunk_size=2))
    assert again.pass_info["cache_hits"] == again.pass_info["chunks"] - 1
    fresh = explore(data, settings=RunSettings(workers=1, progress=False, chunk_size=2))
    pd.testing.assert_frame_equal(again.profiles, fresh.profiles)


def test_damaged_cache_entry_is_recomputed(tmp_path, rng):
    data = _small_set(tmp_path / "data", rng)
    cache = tmp_path / "cache"
    first = explore(data, settings=RunSettings(workers=1, cache_dir=cache, progress=False))
    for f in [*cache.rglob("*.npz"), *cache.rglob("*.pkl"), *cache.rglob("*.parquet")]:
        f.write_bytes(b"garbage")
    second = explore(data, settings=RunSettings(workers=1, cache_dir=cache, progress=False))
    pd.testing.assert_frame_equal(first.profiles, second.profiles)
    assert second.pass_info["cache_hits"] == 0


def test_chunk_cache_alone_gives_identical_results(tmp_path, rng):
    import shutil

    data = _small_set(tmp_path / "data", rng)
    cache = tmp_path / "cache"
    first = explore(data, settings=RunSettings(workers=1, cache_dir=cache, progress=False, chunk_size=3))
    shutil.rmtree(cache / "results-v2")
    second = explore(data, settings=RunSettings(workers=1, cache_dir=cache, progress=False, chunk_size=3))
    assert second.pass_info["cache_hits"] == second.pass_info["chunks"] and "result_cache" not in second.pass_info
    assert _findings(first) == _findings(second)


def test_result_cache_follows_split_lists(tmp_path, rng):
    data = _small_set(tmp_path / "data", rng)
    cache = tmp_path / "cache"
    before = explore(data, settings=RunSettings(workers=1, cache_dir=cache, progress=False))
    (data / "validation_list.txt").write_text("up/s0_nohash_0.wav\n")
    after = explore(data, settings=RunSettings(workers=1, cache_dir=cache, progress=False))
    assert after.profiles.set_index("path").loc["up/s0_nohash_0.wav", "split"] == "validation"
    assert before.profiles.set_index("path").loc["up/s0_nohash_0.wav", "split"] != "validation"
    assert "result_cache" not in after.pass_info and after.pass_info["cache_hits"] == after.pass_info["chunks"]


def test_no_cache_unless_asked(tmp_path, rng, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    explore(_small_set(tmp_path / "data", rng), settings=RunSettings(workers=1, progress=False))
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()


def test_chunk_result_round_trips_through_npz(tmp_path, rng):
    data = _small_set(tmp_path / "data", rng)
    plan = plan_chunks(index_dataset(data), config=ProfileConfig())
    res = profile_chunk(plan.tasks[0])
    res.save(tmp_path / "c.npz")
    back = ChunkResult.load(tmp_path / "c.npz", res.chunk_id)
    for name in ChunkResult._FIELDS:
        np.testing.assert_array_equal(getattr(res, name), getattr(back, name), err_msg=name)


def test_process_pool_gives_the_same_results(tmp_path, rng):
    data = _small_set(tmp_path / "data", rng)
    one = explore(data, settings=RunSettings(workers=1, progress=False, chunk_size=2))
    two = explore(data, settings=RunSettings(workers=2, progress=False, chunk_size=2))
    pd.testing.assert_frame_equal(one.profiles, two.profiles)
    for lab in one.mean_logspec.by_label:
        np.testing.assert_array_equal(one.mean_logspec.by_label[lab], two.mean_logspec.by_label[lab])


def test_batched_vad_equals_dsp_speech_segments(rng):
    """speech_segments_batch is dsp.speech_segments vectorized: identical segments, clip by clip."""
    from kwscope import dsp
    from kwscope.dsp import speech_segments_batch

    for sr in (8000, 16000, 22050):
        clips = [np.zeros(sr // 2, np.float32), (rng.standard_normal(sr) * 1e-4).astype(np.float32),
                 tone(440.0, sr=sr, seconds=0.004)]
        clips.append(tone(300.0, sr=sr, seconds=0.005))  # shorter than one hop
        for _ in range(40):
            n = int(rng.integers(sr // 20, 2 * sr))
            y = (rng.standard_normal(n) * float(rng.choice([0.0, 0.002, 0.05]))).astype(np.float32)
            for _ in range(int(rng.integers(0, 7))):  # words: bursts of tone at random places
                a = int(rng.integers(0, n))
                b = min(n, a + int(rng.integers(sr // 50, sr // 2)))
                y[a:b] += tone(float(rng.uniform(150, 3000)), sr=sr, seconds=(b - a) / sr,
                               amp=float(rng.uniform(0.01, 0.8)))[: b - a]
            clips.append(y)
        L = max(len(c) for c in clips)
        X = np.zeros((len(clips), L), np.float32)
        for i, c in enumerate(clips):
            X[i, : len(c)] = c
        got = speech_segments_batch(X, np.array([len(c) for c in clips]), sr)
        for i, c in enumerate(clips):
            np.testing.assert_array_equal(got[i], dsp.speech_segments(c, sr), err_msg=f"sr={sr} clip {i}")


def test_manifest_is_cached_and_refreshed(tmp_path, rng):
    from kwscope.analysis.caches import cached_index

    data = _small_set(tmp_path / "data", rng)
    cache = tmp_path / "cache"
    first = cached_index(data, cache_dir=cache)
    assert len(list((cache / "manifests-v3").glob("*.parquet"))) == 1
    pd.testing.assert_frame_equal(cached_index(data, cache_dir=cache), first)
    write_wav(data / "up" / "new_nohash_0.wav", tone(seconds=0.5))
    third = cached_index(data, cache_dir=cache)
    assert len(third) == len(first) + 1 and "up/new_nohash_0.wav" in set(third["path"])
    (data / "validation_list.txt").write_text("up/new_nohash_0.wav\n")
    fourth = cached_index(data, cache_dir=cache)
    assert fourth.set_index("path").loc["up/new_nohash_0.wav", "split"] == "validation"


def test_sample_keys_equal_sample_key():
    from kwscope.analysis.profiles import sample_key, sample_keys

    paths = [f"w{i % 3}/{i:08x}_nohash_{i % 4}.wav" for i in range(300)] + ["é/ü.wav"]
    want = np.array([sample_key(p, 7) for p in paths], np.int64)
    np.testing.assert_array_equal(sample_keys(paths, 7), want)


def test_fast_pcm16_reader_equals_read_clip(tmp_path, rng):
    """The 16-bit mono reader the pass uses gives read_clip's samples, and declines everything
    else; announcing files ahead changes nothing and tolerates missing ones."""
    import struct

    from kwscope.io.wav import read_pcm16_mono
    from kwscope.analysis.profiles.batch import _as_float
    from kwscope.analysis.profiles.chunks import _read_ahead
    from kwscope.io.audio import read_clip

    y = (rng.standard_normal(12345) * 0.2).clip(-1, 1).astype(np.float32)
    plain = write_wav(tmp_path / "plain.wav", y)
    # The same samples behind a LIST chunk (not the canonical 44-byte header) and a file whose
    # data chunk claims more bytes than it holds.
    raw = plain.read_bytes()
    listed = tmp_path / "listed.wav"
    info = b"LIST" + struct.pack("<I", 10) + b"INFOabcdef"
    listed.write_bytes(raw[:36] + info + raw[36:])
    short = tmp_path / "short.wav"
    short.write_bytes(raw[:-1000])
    _read_ahead([str(plain), str(listed), str(short), str(tmp_path / "missing.wav"), str(tmp_path)])
    for path in (plain, listed, short):
        got = read_pcm16_mono(str(path))
        assert got is not None, path
        clip = read_clip(path)
        assert got[1] == clip.sample_rate
        np.testing.assert_array_equal(_as_float(got[0]), clip.samples)
    declined = [write_wav(tmp_path / "stereo.wav", np.stack([y, y], axis=1)),
                write_wav(tmp_path / "float.wav", y, subtype="FLOAT"),
                write_wav(tmp_path / "pcm24.wav", y, subtype="PCM_24")]
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "header_only.wav").write_bytes(raw[:44])
    declined += [tmp_path / "empty.wav", tmp_path / "header_only.wav", tmp_path / "missing.wav", tmp_path]
    for path in declined:
        assert read_pcm16_mono(str(path)) is None, path
