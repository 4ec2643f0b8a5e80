"""A corpus of broken and unusual recordings, generated on the fly (issue: robustness).

``build_bad_corpus(root)`` writes a folder-per-label dataset and returns the expectations:
``broken`` maps relative paths to a fragment of the reason every command must report, ``valid``
lists the unusual-but-valid files that must be read correctly; with ``hostile`` (the default) it
also holds the files of :func:`add_hostile_files` (absurd sample rates, a named pipe, an I/O
error, AppleDouble and hidden files, linked label folders, an 8-hour file): ``hidden`` counts the
files left out, ``not_walked`` maps folder links not followed to a fragment of the reason, and
``features_refuse`` the valid files ``features`` refuses.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf


def _wav_bytes(y: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def _speech_like(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    env = np.exp(-((t - seconds / 2) ** 2) / (2 * (seconds / 6) ** 2))
    y = env * (0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 660 * t))
    return (y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def build_bad_corpus(root: Path, *, long_minutes: float = 10.0, hostile: bool = True) -> dict:
    root = Path(root)
    good = _wav_bytes(_speech_like(16000, 1.0))
    broken: dict[str, str] = {}
    valid: dict[str, dict] = {}

    def put(rel: str, data: bytes):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return p

    # a few ordinary recordings so every command has something to do
    for i in range(6):
        put(f"yes/ok_{i}.wav", _wav_bytes(_speech_like(16000, 1.0, seed=i)))
        put(f"no/ok_{i}.wav", _wav_bytes(_speech_like(16000, 1.0, seed=10 + i) * 0.8))

    put("yes/zero_bytes.wav", b"")
    broken["yes/zero_bytes.wav"] = "empty file"
    put("yes/riff_header_only.wav", good[:12])
    broken["yes/riff_header_only.wav"] = "WAV"
    put("yes/text.wav", b"this is a text file, not a recording\n" * 20)
    broken["yes/text.wav"] = "not an audio file"
    put("yes/random_bytes.wav", np.random.default_rng(7).bytes(5000))
    broken["yes/random_bytes.wav"] = "not an audio file"
    # RIFF/WAVE with a fmt chunk whose size runs past the end of the file
    bad_fmt = good[:12] + b"fmt " + struct.pack("<I", 10_000) + good[20:36]
    put("no/wrong_chunk_size.wav", bad_fmt)
    broken["no/wrong_chunk_size.wav"] = ""
    nan = _speech_like(16000, 0.5)
    nan[100:110] = np.nan
    nan[200] = np.inf
    put("no/nan_inf.wav", _wav_bytes(nan, subtype="FLOAT"))
    broken["no/nan_inf.wav"] = "NaN/Inf"
    put("no/zero_samples.wav", _wav_bytes(np.zeros(0, np.float32)))
    broken["no/zero_samples.wav"] = "no audio samples"
    (root / "no" / "folder.wav").mkdir(parents=True)
    broken["no/folder.wav"] = "directory"
    os.symlink("loop.wav", root / "yes" / "loop.wav")
    broken["yes/loop.wav"] = "link"
    os.symlink("does-not-exist.wav", root / "yes" / "dangling.wav")
    broken["yes/dangling.wav"] = "not found"
    bad_name = os.fsdecode(b"yes/caf\xe9_latin1.wav")
    put(bad_name, good)
    broken[os.fsencode(bad_name).decode("utf-8", "backslashreplace")] = "UTF-8"

    # damaged but partly readable: must be read, not rejected
    header_claims_more = bytearray(good)
    header_claims_more[40:44] = struct.pack("<I", 10 * len(good))  # data chunk size too large
    put("yes/header_claims_more.wav", bytes(header_claims_more))
    valid["yes/header_claims_more.wav"] = {"sample_rate": 16000}
    put("yes/truncated_mid_data.wav", good[: 44 + 5001])  # odd byte count: half a sample at the end
    valid["yes/truncated_mid_data.wav"] = {"sample_rate": 16000}

    # unusual but valid
    for rel, sr, subtype in [
        ("yes/u8.wav", 16000, "PCM_U8"),
        ("yes/pcm24.wav", 16000, "PCM_24"),
        ("no/float32.wav", 16000, "FLOAT"),
        ("no/rate8k.wav", 8000, "PCM_16"),
        ("no/rate11k.wav", 11025, "PCM_16"),
        ("no/rate44k.wav", 44100, "PCM_16"),
        ("yes/rate48k.wav", 48000, "PCM_16"),
    ]:
        put(rel, _wav_bytes(_speech_like(sr, 1.0, seed=sr), sr=sr, subtype=subtype))
        valid[rel] = {"sample_rate": sr, "subtype": subtype}
    stereo = np.stack([_speech_like(16000, 1.0, 1), _speech_like(16000, 1.0, 2)], axis=1)
    put("no/stereo.wav", _wav_bytes(stereo))
    valid["no/stereo.wav"] = {"channels": 2}
    put("yes/non_ascii_é_名前.wav", good)
    valid["yes/non_ascii_é_名前.wav"] = {}
    put("yes/double_ext.wav.wav", good)
    valid["yes/double_ext.wav.wav"] = {}
    long_y = np.tile(_speech_like(16000, 1.0, 3), int(long_minutes * 60))
    put("no/ten_minutes.wav", _wav_bytes(long_y))
    valid["no/ten_minutes.wav"] = {"n_samples": long_y.size}
    expect = {"broken": broken, "valid": valid, "hidden": 0, "not_walked": {}, "features_refuse": {}}
    if hostile:
        add_hostile_files(root, expect)
    expect["n_files"] = 12 + len(broken) + len(valid)
    return expect


def wav_header(rate: int, *, channels: int = 1, bits: int = 16, n_bytes: int = 32000) -> bytes:
    """A canonical 44-byte PCM WAV header saying ``rate`` Hz (any value a uint32 holds)."""
    align = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVE" + b"fmt "
            + struct.pack("<IHHIIHH", 16, 1, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits)
            + b"data" + struct.pack("<I", n_bytes))


def pcm16(seconds: float = 1.0, sr: int = 16000, seed: int = 0) -> bytes:
    return (np.clip(_speech_like(sr, seconds, seed), -1, 1) * 32767).astype("<i2").tobytes()


def sparse_long_wav(path: Path, *, hours: float = 8.0, sr: int = 8000) -> int:
    """An ``hours``-long 16-bit WAV that takes almost no disk: speech, then a sparse hole of
    silence. Returns its frame count."""
    n_bytes = int(hours * 3600 * sr) * 2
    body = pcm16(1.0, sr, seed=5)
    with open(path, "wb") as fh:
        fh.write(wav_header(sr, n_bytes=n_bytes))
        fh.write(body)
        fh.truncate(44 + n_bytes)
    return n_bytes // 2


def add_hostile_files(root: Path, expect: dict) -> None:
    """The file kinds a hostile tester found to stop or hang a run (issues 15 and 16), added to a
    corpus built by :func:`build_bad_corpus` (``expect`` is updated in place)."""
    root = Path(root)
    broken, valid = expect["broken"], expect["valid"]
    body = pcm16()
    for rate in (1, 7, 4_000_000_000):  # ZeroDivisionError, reshape of size 0, a 3.7 GiB allocation
        (root / "yes" / f"rate_{rate}hz.wav").write_bytes(wav_header(rate) + body)
        broken[f"yes/rate_{rate}hz.wav"] = f"implausible sample rate {rate:,} Hz"
    os.mkfifo(root / "no" / "named_pipe.wav")  # opening it for reading waited forever
    broken["no/named_pipe.wav"] = "named pipe"
    os.symlink("/proc/self/mem", root / "no" / "proc_mem.wav")  # regular, but reading it fails (EINVAL)
    broken["no/proc_mem.wav"] = "I/O error"
    # macOS AppleDouble files (and hidden ones) are left out and counted
    for label in ("yes", "no"):
        for i in range(3):
            (root / label / f"._ok_{i}.wav").write_bytes(b"\x00\x05\x16\x07" + bytes(100))
    (root / ".hidden_take.wav").write_bytes(body)
    expect["hidden"] = 7
    # a label folder that is a link: inside DATA followed, outside or back up listed
    real = root / ".store" / "linked"
    real.mkdir(parents=True)
    for i in range(2):
        (real / f"ok_{i}.wav").write_bytes(_wav_bytes(_speech_like(16000, 1.0, seed=40 + i)))
    os.symlink(".store/linked", root / "linked")
    for i in range(2):
        valid[f"linked/ok_{i}.wav"] = {"sample_rate": 16000}
    outside = root.parent / (root.name + "-outside")
    outside.mkdir(exist_ok=True)
    (outside / "ok_0.wav").write_bytes(good_clip())
    os.symlink(outside, root / "elsewhere")
    expect["not_walked"]["elsewhere/"] = "outside DATA"
    os.symlink("..", root / "yes" / "up_again")
    expect["not_walked"]["yes/up_again/"] = "loop"
    # 8 hours: said as such, refused by features (not a short utterance)
    valid["no/eight_hours.wav"] = {"n_samples": sparse_long_wav(root / "no" / "eight_hours.wav")}
    expect["features_refuse"]["no/eight_hours.wav"] = "longer than"


def good_clip() -> bytes:
    return _wav_bytes(_speech_like(16000, 1.0, seed=99))


@contextmanager
def writer_unblocks(fifo: Path, after_s: float = 15.0):
    """Should anything open ``fifo`` for reading and wait for a writer (the bug of issue 16.6), a
    writer comes after ``after_s`` and closes at once: the test then fails on its assertions
    (the pipe reads as empty) instead of hanging the suite forever."""
    done = threading.Event()

    def unblock():
        if done.wait(after_s):
            return
        while not done.is_set():
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader yet
                pass
            done.wait(0.2)

    t = threading.Thread(target=unblock, daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join()
