"""Containers told by content: sniffing, MP4/M4A and WebM through PyAV, files whose extension
disagrees with their content read and flagged (the index, stats), undecodable ones one line."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from kwscope.cli import main
from kwscope.io.audio import AudioBytes, AudioError, probe, read_clip
from kwscope.io.formats import format_note, sniff_format
from kwscope.io.index import index_dataset
from conftest import tone

av = pytest.importorskip("av")


def encode(y: np.ndarray, sr: int, container: str, codec: str) -> bytes:
    """Mono float32 ``y`` encoded with PyAV (FFmpeg) into ``container``."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=sr)
        stream.layout = "mono"
        for i in range(0, len(y), 960):
            frame = av.AudioFrame.from_ndarray(y[None, i:i + 960].astype(np.float32), format="fltp", layout="mono")
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def sf_bytes(y, sr, fmt, subtype) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize("fmt, subtype, want", [
    ("WAV", "PCM_16", "WAV"), ("WAV", "PCM_24", "WAV"), ("RF64", "PCM_16", "RF64"), ("W64", "PCM_16", "W64"),
    ("FLAC", "PCM_16", "FLAC"), ("OGG", "VORBIS", "OGG"), ("OGG", "OPUS", "OGG"), ("MP3", "MPEG_LAYER_III", "MP3"),
    ("AIFF", "PCM_16", "AIFF"),
])
def test_sniff_libsndfile_containers(fmt, subtype, want):
    data = sf_bytes(tone(sr=16000 if subtype != "OPUS" else 48000), 16000 if subtype != "OPUS" else 48000, fmt, subtype)
    assert sniff_format(data[:64]) == want


def test_sniff_other_containers_and_nothing():
    y = tone(sr=16000)
    assert sniff_format(encode(y, 16000, "mp4", "aac")[:64]) == "MP4"
    assert sniff_format(encode(y, 48000, "webm", "libopus")[:64]) == "WEBM"
    assert sniff_format(b"ID3\x04\x00" + bytes(59)) == "MP3"
    assert sniff_format(b"\xff\xf1\x50\x80" + bytes(60)) == "AAC"
    assert sniff_format(b"hello, not audio") is None and sniff_format(b"") is None


@pytest.mark.parametrize("container, codec, ext, sr", [("mp4", "aac", ".m4a", 16000), ("webm", "libopus", ".webm", 48000)])
def test_pyav_containers_decode(tmp_path, container, codec, ext, sr):
    y = tone(440.0, sr=sr, amp=0.4)
    path = tmp_path / f"clip{ext}"
    path.write_bytes(encode(y, sr, container, codec))
    info = probe(path)
    clip = read_clip(path)
    assert info.format in ("MP4", "WEBM") and info.sample_rate == sr and info.channels == 1 and info.format_note == ""
    assert info.n_samples == clip.samples.shape[0] and abs(clip.samples.shape[0] - sr) < 0.1 * sr
    # a lossy codec: the tone is still a 440-Hz tone at about the same level
    spec = np.abs(np.fft.rfft(clip.samples))
    assert abs(np.argmax(spec) * sr / clip.samples.shape[0] - 440) < 5
    assert 0.3 < np.abs(clip.samples).max() < 0.5
    same = read_clip(AudioBytes(path.read_bytes(), f"x{ext}"))
    np.testing.assert_array_equal(same.samples, clip.samples)


def test_extension_disagreeing_with_content_is_read_and_flagged(tmp_path):
    y = tone(300.0, sr=16000, seconds=1.0)
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        sf.write(tmp_path / label / "ok.wav", y, 16000, subtype="PCM_16")
    (tmp_path / "a" / "liar.wav").write_bytes(encode(y, 16000, "mp4", "aac"))
    (tmp_path / "b" / "flac.wav").write_bytes(sf_bytes(y, 16000, "FLAC", "PCM_16"))
    (tmp_path / "b" / "real.mp3").write_bytes(sf_bytes(y, 16000, "WAV", "PCM_16"))
    (tmp_path / "b" / "junk.wav").write_bytes(b"this is a text file, not audio" * 10)
    df = index_dataset(tmp_path).set_index("path")
    assert df.loc["a/liar.wav", "status"] == "ok" and df.loc["a/liar.wav", "format"] == "MP4"
    assert df.loc["a/liar.wav", "format_note"] == "named .wav, holds MP4/AAC"
    assert df.loc["b/flac.wav", "format_note"] == "named .wav, holds FLAC"
    assert df.loc["b/real.mp3", "format_note"] == "named .mp3, holds WAV"
    assert df.loc["a/ok.wav", "format_note"] == ""
    assert df.loc["b/junk.wav", "status"] == "error" and df.loc["b/junk.wav", "error"] == \
        "not an audio file (format not recognised)"
    res = CliRunner().invoke(main, ["stats", str(tmp_path), "--json"])
    doc = json.loads(res.stdout)
    assert doc["format_mismatches"]["n_files"] == 3
    assert {"path": "a/liar.wav", "note": "named .wav, holds MP4/AAC"} in doc["format_mismatches"]["files"]
    text = CliRunner().invoke(main, ["stats", str(tmp_path)]).output
    assert "Extension disagrees with content: 3 files" in text


def test_damaged_mp4_has_a_one_line_reason(tmp_path):
    data = encode(tone(sr=16000), 16000, "mp4", "aac")
    (tmp_path / "cut.m4a").write_bytes(data[:40])
    with pytest.raises(AudioError) as err:
        read_clip(tmp_path / "cut.m4a")
    assert str(err.value).startswith(f"{tmp_path / 'cut.m4a'}: ") and "\n" not in str(err.value)


def test_format_note_rules():
    assert format_note("x.wav", "MP4", "AAC") == "named .wav, holds MP4/AAC"
    assert format_note("x.opus", "OGG", "OPUS") == "" and format_note("x.ogg", "WEBM", "OPUS") == "named .ogg, holds WEBM/OPUS"
    assert format_note("row-without-extension", "WAV") == "" and format_note("x.wav", None) == ""


def test_wav_that_libsndfile_refuses_is_one_audio_error_not_a_pyav_crash(tmp_path):
    """Regression: a WAV whose bits-per-sample byte is 0 went on to PyAV, which raised
    AttributeError instead of AudioError (found by test_robustness's fuzzing)."""
    data = bytearray(sf_bytes(tone(sr=16000, seconds=0.1), 16000, "WAV", "PCM_16"))
    data[34] = 0
    (tmp_path / "bad.wav").write_bytes(bytes(data))
    for fn in (probe, read_clip):
        try:
            fn(tmp_path / "bad.wav")
        except AudioError as err:
            assert "\n" not in str(err)
