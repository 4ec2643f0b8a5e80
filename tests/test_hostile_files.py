"""Hostile files (issues 15 and 16): each test is named after what broke, and failed before the fix.

A file that stopped or hung a whole run: headers saying 1 Hz, 7 Hz or 4 GHz, a header claiming
more frames than a file holds, a named pipe called ``x.wav``, a link to ``/proc/self/mem``;
files and folders left out without a word (AppleDouble ``._*``, linked label folders); an 8-hour
file said to be 30 s long; caches that served stale or damaged entries.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from bad_corpus import _speech_like, _wav_bytes, pcm16, sparse_long_wav, wav_header, writer_unblocks
from kwscope.cli import main
from kwscope.io.audio import AudioError, probe, read_audio, read_clip
from kwscope.io.index import index_dataset
from kwscope.io.scan import content_hash, scan_folder
from kwscope.io.wav import read_pcm16_mono


def _clip(seed: int, seconds: float = 1.0) -> bytes:
    return _wav_bytes(_speech_like(16000, seconds, seed=seed))


def _small_set(root: Path, n: int = 4) -> Path:
    for label in ("yes", "no"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / label / f"s{i}_nohash_{i}.wav").write_bytes(_clip(seed=i + (10 if label == "no" else 0)))
    return root


# --------------------------------------------------------------------------- absurd headers


@pytest.mark.parametrize("rate", [1, 7, 999, 384_001, 4_000_000_000])
def test_header_saying_an_absurd_sample_rate_is_refused_in_the_index(tmp_path, rate):
    """1 Hz / 7 Hz killed report and anomalies (ZeroDivisionError, reshape of size 0); 4 GHz
    allocated 3.7 GiB for one clip. Now each is its file's error row, in the index."""
    root = _small_set(tmp_path / "data")
    (root / "yes" / "bad.wav").write_bytes(wav_header(rate) + pcm16())
    df = index_dataset(root, layout="folders").set_index("path")
    row = df.loc["yes/bad.wav"]
    assert row["status"] == "error"
    assert f"implausible sample rate {rate:,} Hz" in row["error"] and "\n" not in row["error"]
    assert (df.drop(index="yes/bad.wav")["status"] == "ok").all()
    # every decode path refuses it too, naming the file: the fast reader, read_clip, probe
    assert read_pcm16_mono(root / "yes" / "bad.wav") is None
    for fn in (read_clip, probe):
        with pytest.raises(AudioError, match=r"bad\.wav: implausible sample rate"):
            fn(root / "yes" / "bad.wav")


def test_plausible_edge_rates_are_still_read(tmp_path):
    for rate in (1000, 384_000):
        path = tmp_path / f"r{rate}.wav"
        path.write_bytes(wav_header(rate, n_bytes=4000) + pcm16(0.125))
        y, sr = read_audio(path)
        assert sr == rate and y.size == 2000


def test_header_saying_4_ghz_in_parquet_bytes_is_refused_in_the_index(tmp_path):
    """The same headers inside a Hugging Face Parquet shard's audio bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [(_clip(i), f"ok_{i}.wav", "yes") for i in range(4)]
    rows += [(wav_header(4_000_000_000) + pcm16(), "bomb.wav", "yes"), (wav_header(7) + pcm16(), "seven.wav", "no")]
    (tmp_path / "data").mkdir()
    table = pa.table({"audio": pa.array([{"bytes": b, "path": n} for b, n, _ in rows],
                                        pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                      "label": pa.array([lab for *_, lab in rows])})
    pq.write_table(table, tmp_path / "data" / "train-00000-of-00001.parquet")
    df = index_dataset(tmp_path).set_index("path")
    assert df.loc["bomb.wav", "status"] == "error" and "4,000,000,000 Hz" in df.loc["bomb.wav", "error"]
    assert df.loc["seven.wav", "status"] == "error" and "7 Hz" in df.loc["seven.wav", "error"]
    assert (df.loc[[f"ok_{i}.wav" for i in range(4)], "status"] == "ok").all()


def _peak_traced(fn) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_header_claiming_2_to_the_28_frames_does_not_size_the_decode_buffer(tmp_path):
    """libsndfile believes a FLAC's STREAMINFO frame count; read_clip asked soundfile for all of
    them at once, allocating claimed frames x channels x 4 bytes (1 GiB here, 128 GiB for 2^35)
    before reading one. Now it reads a block at a time: the peak is the real clip plus a block."""
    buf = io.BytesIO()
    sf.write(buf, _speech_like(16000, 1.0), 16000, format="FLAC")
    data = bytearray(buf.getvalue())
    claim = 1 << 28
    data[8 + 13] = (data[8 + 13] & 0xF0) | ((claim >> 32) & 0xF)
    data[8 + 14:8 + 18] = (claim & 0xFFFFFFFF).to_bytes(4, "big")
    path = tmp_path / "claims.flac"
    path.write_bytes(bytes(data))
    assert sf.info(str(path)).frames == claim  # the lie is believed by libsndfile
    got = {}
    peak = _peak_traced(lambda: got.setdefault("clip", read_clip(path)))
    assert got["clip"].samples.size == 16000
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB traced for a 1-s clip"


def test_many_channels_wav_is_downmixed_a_block_at_a_time(tmp_path):
    """A decode holds the mono output plus one block, whatever the channel count says."""
    ch, frames = 512, 32768
    y = np.random.default_rng(0).uniform(-0.5, 0.5, (frames, ch)).astype(np.float32)
    path = tmp_path / "wide.wav"
    sf.write(path, y, 16000, subtype="PCM_16")
    want = sf.read(path, dtype="float32")[0].mean(axis=1, dtype=np.float32)
    got = {}
    peak = _peak_traced(lambda: got.setdefault("y", read_audio(path)[0]))
    np.testing.assert_array_equal(got["y"], want)
    assert peak < frames * ch * 4 // 2  # never the whole (frames, channels) float32 matrix (64 MiB)


# --------------------------------------------------------------------------- file-system faults


def test_named_pipe_named_like_a_recording_hangs_no_command(tmp_path):
    """A fifo ``x.wav`` in DATA hung every command forever (open() waits for a writer)."""
    root = _small_set(tmp_path / "data")
    fifo = root / "no" / "x.wav"
    os.mkfifo(fifo)
    with writer_unblocks(fifo):
        scan = scan_folder(root)
        assert ("no/x.wav", "not a regular file (a named pipe), not opened") in scan.problems
        assert "no/x.wav" not in scan.found
        df = index_dataset(root).set_index("path")
        assert df.loc["no/x.wav", "status"] == "error" and "named pipe" in df.loc["no/x.wav", "error"]
        # the readers refuse it by what it is, not by waiting on it
        assert read_pcm16_mono(str(fifo)) is None
        with pytest.raises(AudioError, match="x.wav: not a regular file"):
            read_clip(fifo)
        assert content_hash(None, str(fifo)) is None
        res = CliRunner().invoke(main, ["stats", str(root), "--json"])
        assert res.exit_code == 0, res.output
        assert "no/x.wav" in {b["path"] for b in json.loads(res.stdout)["broken_files"]}


def test_named_pipe_named_like_a_parquet_shard_is_not_opened(tmp_path):
    from kwscope.io.parquet import find_shards

    (tmp_path / "data").mkdir()
    fifo = tmp_path / "data" / "train-00000-of-00001.parquet"
    os.mkfifo(fifo)
    with writer_unblocks(fifo):
        assert find_shards(tmp_path) == []


def test_io_error_on_one_file_is_that_files_error(tmp_path):
    """A link to /proc/self/mem (a 'regular' file whose seek fails with EINVAL) read as the
    raw '[Errno 22] Invalid argument'; now a one-line reason saying it is an I/O error."""
    root = _small_set(tmp_path / "data")
    os.symlink("/proc/self/mem", root / "yes" / "mem.wav")
    df = index_dataset(root).set_index("path")
    assert df.loc["yes/mem.wav", "status"] == "error"
    assert df.loc["yes/mem.wav", "error"] == "I/O error reading the file (Invalid argument, errno 22)"
    res = CliRunner().invoke(main, ["anomalies", str(root), "--json", "--workers", "1", "--cache", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    assert {b["path"] for b in json.loads(res.stdout)["broken_files"]} == {"yes/mem.wav"}


def test_appledouble_files_are_skipped_and_counted(tmp_path):
    """``._*.wav`` from a Mac sorted first and filled a chunk with unreadable files."""
    root = _small_set(tmp_path / "data")
    for i in range(3):
        (root / "yes" / f"._s{i}_nohash_{i}.wav").write_bytes(b"\x00\x05\x16\x07" + bytes(100))
    (root / ".git").mkdir()
    (root / ".git" / "x.wav").write_bytes(_clip(1))
    df = index_dataset(root)
    assert not df["path"].str.contains(r"(?:^|/)\.").any()
    assert df.attrs["hidden_skipped"] == 3
    notes = " ".join(df.attrs["layout_notes"])
    assert "skipped 3 hidden files (AppleDouble ._*" in notes and ".git/" in notes
    assert scan_folder(root, include_hidden=True).found.count("yes/._s0_nohash_0.wav") == 1


def test_symlinked_label_folders_are_followed_inside_data_and_listed_outside(tmp_path):
    """252 recordings in 2 linked label folders vanished without a word (os.walk does not follow)."""
    root = _small_set(tmp_path / "data")
    store = root / "_store" / "right"
    store.mkdir(parents=True)
    for i in range(3):
        (store / f"s{i}_nohash_{i}.wav").write_bytes(_clip(20 + i))
    os.symlink("_store/right", root / "right")
    outside = tmp_path / "elsewhere" / "left"
    outside.mkdir(parents=True)
    (outside / "s0_nohash_0.wav").write_bytes(_clip(30))
    os.symlink(outside, root / "left")
    os.symlink("..", root / "yes" / "again")  # a loop
    os.symlink(root / "no", root / "_store" / "no_again")  # inside, not a loop, but no/ again: once
    scan = scan_folder(root)
    assert {f"right/s{i}_nohash_{i}.wav" for i in range(3)} <= set(scan.found)
    assert not any(f.startswith(("_store/no_again/", "_store/right/")) for f in scan.found)
    assert len(scan.found) == len(set(scan.found)) == 4 + 4 + 3
    assert not any(f.startswith(("left/", "yes/again/")) for f in scan.found)
    skipped = dict(scan.skipped)
    assert "outside DATA" in skipped["left/"] and str(outside) in skipped["left/"]
    assert "loop" in skipped["yes/again/"]
    assert skipped["_store/no_again/"].startswith("same folder as no/, via a link")
    assert skipped["_store/right/"].startswith("same folder as right/, which a link leads to")
    df = index_dataset(root, layout="folders")
    assert (df.set_index("path").loc[[f"right/s{i}_nohash_{i}.wav" for i in range(3)], "status"] == "ok").all()
    notes = " ".join(df.attrs["layout_notes"])
    assert "not walked: left/" in notes and "not walked: yes/again/" in notes


# --------------------------------------------------------------------------- long files


def test_eight_hour_file_is_said_as_its_real_length_and_ranks_first(tmp_path):
    """An 8-hour file was described as "30 s long" (the profiled first 30 s) and ranked below
    ordinary clips with a little noise."""
    root = _small_set(tmp_path / "data", n=3)
    sparse_long_wav(root / "no" / "session.wav", hours=8.0, sr=16000)
    res = CliRunner().invoke(main, ["anomalies", str(root), "--json", "--workers", "1", "--top", "10",
                                    "--cache", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    top = doc["outliers"][0]
    assert top["path"] == "no/session.wav", doc
    assert "8.0 h long" in top["reasons"]


# --------------------------------------------------------------------------- caches


def _first_profile(data: Path, cache: Path) -> dict:
    from kwscope import RunSettings
    from kwscope.analysis.explore import explore

    ex = explore(data, settings=RunSettings(workers=1, cache_dir=cache, progress=False))
    return ex.profiles.set_index("path").to_dict("index")


def test_file_rewritten_with_same_size_and_mtime_is_not_served_from_the_cache(tmp_path):
    """``cp -p`` / ``rsync -t`` keep size and mtime: the caches served the old file's results."""
    data = _small_set(tmp_path / "data")
    target = data / "yes" / "s1_nohash_1.wav"
    cache = tmp_path / "cache"
    before = _first_profile(data, cache)["yes/s1_nohash_1.wav"]
    st = os.stat(target)
    quiet = _wav_bytes(_speech_like(16000, 1.0, seed=1) * 0.01)
    assert len(quiet) == st.st_size
    target.write_bytes(quiet)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(target).st_size == st.st_size and os.stat(target).st_mtime_ns == st.st_mtime_ns
    after = _first_profile(data, cache)["yes/s1_nohash_1.wav"]
    assert after["peak_dbfs"] < before["peak_dbfs"] - 30


def test_damaged_profile_cache_entry_is_recomputed(tmp_path):
    """A flipped byte in a chunk's .npz raised BadZipFile ("internal error") on the next run."""
    import shutil

    data = _small_set(tmp_path / "data")
    cache = tmp_path / "cache"
    first = _first_profile(data, cache)
    shutil.rmtree(next(cache.glob("results-*")))  # so the chunk entries are read
    entries = list(cache.rglob("*.npz"))
    assert entries
    for path in entries:
        raw = bytearray(path.read_bytes())
        raw[200] ^= 0xFF  # inside the first array's bytes
        path.write_bytes(bytes(raw))
    again = _first_profile(data, cache)
    assert again.keys() == first.keys()
    for path, row in first.items():
        assert again[path]["peak_dbfs"] == pytest.approx(row["peak_dbfs"])


def test_damaged_result_and_index_cache_entries_are_not_used(tmp_path):
    """The result pickle and the cached index were used as they were on disk."""
    from kwscope.analysis.caches import load_result

    data = _small_set(tmp_path / "data")
    cache = tmp_path / "cache"
    first = _first_profile(data, cache)
    (pkl,) = cache.rglob("*.pkl")
    raw = bytearray(pkl.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    pkl.write_bytes(bytes(raw))
    assert load_result(pkl) is None
    for manifest in cache.rglob("*.parquet"):
        raw = bytearray(manifest.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        manifest.write_bytes(bytes(raw))
    assert _first_profile(data, cache) == first


def test_damaged_figure_cache_entry_is_redrawn(tmp_path):
    """The report's figure cache returned whatever bytes were on disk."""
    from kwscope.report.figures import FigureRenderer

    calls = []

    def make():
        calls.append(1)
        return "the encoded clip"

    renderer = FigureRenderer(tmp_path / "cache")
    assert renderer.memo_text("clip", [b"samples"], make) == "the encoded clip"
    (entry,) = [p for p in (tmp_path / "cache").rglob("*.txt")]
    raw = bytearray(entry.read_bytes())
    raw[-3] ^= 0x01
    entry.write_bytes(bytes(raw))
    assert FigureRenderer(tmp_path / "cache").memo_text("clip", [b"samples"], make) == "the encoded clip"
    assert len(calls) == 2
    assert FigureRenderer(tmp_path / "cache").memo_text("clip", [b"samples"], make) == "the encoded clip"
    assert len(calls) == 2  # the redrawn entry is good again


# --------------------------------------------------------------------------- memory


_RSS_SCRIPT = """
import resource, sys
from kwscope.cli import main
try:
    main(["anomalies", sys.argv[1], "--workers", "1", "--json"], standalone_mode=False)
finally:
    # VmHWM, not ru_maxrss: ru_maxrss survives exec, so it reported the forking pytest's size
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0].split()[1]
    print("RSS", hwm, file=sys.stderr)
"""


def test_4_ghz_header_does_not_raise_the_memory_of_anomalies(tmp_path):
    """Under a 2.5 GiB address-space limit (the 4 GHz file alone asked 14.9 GiB: 4e9 float32
    samples for a 1-s clip), anomalies finishes, naming the file, in well under 1 GiB."""
    root = _small_set(tmp_path / "data")
    (root / "yes" / "bomb.wav").write_bytes(wav_header(4_000_000_000) + pcm16())
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", XDG_CACHE_HOME=str(tmp_path / "c"))
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (5 << 29, 5 << 29)); "
    proc = subprocess.run([sys.executable, "-c", limit + _RSS_SCRIPT, str(root)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert [b["path"] for b in doc["broken_files"]] == ["yes/bomb.wav"]
    assert "implausible sample rate 4,000,000,000 Hz" in doc["broken_files"][0]["error"]
    rss_kib = int(proc.stderr.rsplit("RSS", 1)[1].split()[0])
    assert rss_kib < 1 << 20, f"peak RSS {rss_kib / 1024:.0f} MiB"
