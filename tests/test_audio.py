"""The reader: every supported format decodes to float32 mono; every failure is one AudioError."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from kwscope.io.audio import AudioError, probe, read_audio, read_clip
from conftest import tone


@pytest.mark.parametrize(
    "fmt, subtype, atol",
    [
        ("WAV", "PCM_U8", 1 / 64),
        ("WAV", "PCM_16", 1e-4),
        ("WAV", "PCM_24", 1e-6),
        ("WAV", "PCM_32", 1e-6),
        ("WAV", "FLOAT", 0),
        ("WAV", "DOUBLE", 1e-7),
        ("FLAC", "PCM_16", 1e-4),
        ("FLAC", "PCM_24", 1e-6),
        ("OGG", "VORBIS", None),
    ],
)
def test_formats_decode_to_float32_mono(tmp_path, fmt, subtype, atol):
    y = tone(440.0, sr=16000, seconds=0.5, amp=0.5)
    ext = {"WAV": "wav", "FLAC": "flac", "OGG": "ogg"}[fmt]
    path = tmp_path / f"x.{ext}"
    sf.write(path, y, 16000, format=fmt, subtype=subtype)
    out, sr = read_audio(path)
    assert sr == 16000
    assert out.dtype == np.float32 and out.ndim == 1
    assert np.abs(out).max() <= 1.0
    if atol is None:  # lossy: same energy within 10 %
        assert abs(np.sqrt(np.mean(out**2)) / np.sqrt(np.mean(y**2)) - 1) < 0.1
    else:
        assert out.shape == y.shape
        np.testing.assert_allclose(out, y, atol=atol)
    info = probe(path)
    assert info.subtype == subtype and info.sample_rate == 16000 and info.channels == 1


def test_stereo_is_downmixed_and_reported(tmp_path):
    left = tone(440.0, seconds=0.25, amp=0.4)
    right = tone(880.0, seconds=0.25, amp=0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    clip = read_clip(path)
    assert clip.channels == 2
    np.testing.assert_allclose(clip.samples, (left + right) / 2, atol=1e-7)
    assert probe(path).channels == 2


def test_nan_samples_are_an_error(tmp_path):
    y = tone(seconds=0.1)
    y[10] = np.nan
    y[20] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, y, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: 2 NaN/Inf samples"):
        read_audio(path)


def test_max_samples_crops_long_files(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, tone(seconds=3.0), 16000)
    clip = read_clip(path, max_samples=16000)
    assert clip.samples.shape == (16000,) and clip.truncated
    assert not read_clip(path).truncated


def _bad(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    "name, make, reason",
    [
        ("empty.wav", lambda p: _bad(p, "empty.wav", b""), "empty file"),
        ("text.wav", lambda p: _bad(p, "text.wav", b"hello, this is not audio at all\n" * 10), "not an audio file"),
        ("riff.wav", lambda p: _bad(p, "riff.wav", b"RIFF\x24\x00\x00\x00WAVE"), "WAV"),
        ("missing.wav", lambda p: p / "missing.wav", "not found"),
        ("dir.wav", lambda p: (p / "dir.wav").mkdir() or p / "dir.wav", "directory"),
    ],
)
def test_failures_name_the_file_and_the_reason(tmp_path, name, make, reason):
    path = make(tmp_path)
    for fn in (read_audio, probe):
        with pytest.raises(AudioError) as err:
            fn(path)
        assert str(err.value).startswith(str(path) + ": ")
        assert reason.lower() in err.value.reason.lower()
        assert "\n" not in str(err.value)


def test_zero_sample_data_chunk(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        read_audio(path)
    with pytest.raises(AudioError, match="no audio samples"):
        probe(path)


def test_symlink_loop(tmp_path):
    path = tmp_path / "loop.wav"
    os.symlink(path, path)
    with pytest.raises(AudioError, match="link"):
        read_audio(path)


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
@pytest.mark.parametrize("channels", [1, 2])
def test_fast_wav_path_equals_libsndfile(tmp_path, rng, subtype, channels):
    """The numpy WAV fast path gives exactly what libsndfile gives, header and samples."""
    y = (rng.uniform(-1, 1, size=(12345, channels))).astype(np.float32)
    path = tmp_path / "x.wav"
    sf.write(path, y, 22050, subtype=subtype)
    ref = sf.read(path, dtype="float32", always_2d=True)[0]
    ref = ref[:, 0] if channels == 1 else ref.mean(axis=1, dtype=np.float32)
    clip = read_clip(path)
    np.testing.assert_array_equal(clip.samples, ref)
    info, ref_info = probe(path), sf.info(path)
    assert (info.sample_rate, info.channels, info.n_samples, info.subtype) == (
        ref_info.samplerate, ref_info.channels, ref_info.frames, ref_info.subtype)
    # a file cut mid-data: both read the whole frames that are present
    data = path.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) - 1001])
    ref_cut = sf.read(cut, dtype="float32", always_2d=True)[0]
    assert probe(cut).n_samples == sf.info(cut).frames == ref_cut.shape[0]
    np.testing.assert_array_equal(read_clip(cut).samples, ref_cut.mean(axis=1, dtype=np.float32)
                                  if channels == 2 else ref_cut[:, 0])


def test_fast_path_on_real_fsdd_files(fsdd_dir):
    for path in sorted(fsdd_dir.glob("*_theo_1*.wav")):
        ref, sr = sf.read(path, dtype="float32")
        y, sr2 = read_audio(path)
        assert sr == sr2
        np.testing.assert_array_equal(y, ref)
        assert probe(path).n_samples == sf.info(path).frames
