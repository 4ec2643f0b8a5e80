"""The dataset index and the summary: layouts end to end, broken files, speaker leakage, FSDD."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kwscope.analysis.summary import speaker_leakage, summarize
from kwscope.io.index import MANIFEST_COLUMNS, DatasetError, index_dataset, read_manifest, write_manifest
from conftest import tone, write_wav


@pytest.fixture
def speech_commands(tmp_path):
    root = tmp_path / "sc"
    for label in ("yes", "no"):
        for speaker in ("aaaa1111", "bbbb2222", "cccc3333"):
            for take in range(2):
                write_wav(root / label / f"{speaker}_nohash_{take}.wav", tone(300 + take * 100))
    write_wav(root / "yes" / "dddd4444_nohash_0.wav", tone(seconds=0.5))  # short
    write_wav(root / "_background_noise_" / "white.wav", np.zeros(32000, np.float32))
    (root / "no" / "eeee5555_nohash_0.wav").write_bytes(b"")  # broken
    (root / "validation_list.txt").write_text("yes/bbbb2222_nohash_0.wav\nno/bbbb2222_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/cccc3333_nohash_0.wav\nno/cccc3333_nohash_0.wav\n"
                                           "yes/cccc3333_nohash_1.wav\nno/cccc3333_nohash_1.wav\n")
    return root


def test_index_speech_commands(speech_commands):
    df = index_dataset(speech_commands)
    assert list(df.columns) == MANIFEST_COLUMNS
    assert df.attrs["layout"] == "speech-commands"
    assert len(df) == 15
    row = df.set_index("path").loc["yes/aaaa1111_nohash_1.wav"]
    assert (row.label, row.speaker, row["take"], row.split) == ("yes", "aaaa1111", 1, "train")
    assert (row.sample_rate, row.channels, row.n_samples, row.subtype, row.status) == (16000, 1, 16000, "PCM_16", "ok")
    assert row.duration_s == 1.0
    broken = df[df.status == "error"]
    assert broken.path.tolist() == ["no/eeee5555_nohash_0.wav"]
    assert "empty file" in broken.error.iloc[0]
    bg = df[df.category == "background_noise"]
    assert bg.path.tolist() == ["_background_noise_/white.wav"] and bg.split.isna().all()


def test_leakage_found_and_counted(speech_commands):
    df = index_dataset(speech_commands)
    assert speaker_leakage(df) == [{"speaker": "bbbb2222", "splits": {"train": 2, "validation": 2}, "n_clips": 4}]


def test_summary_numbers(speech_commands):
    s = summarize(index_dataset(speech_commands))
    assert s.n_files == 15 and s.n_broken == 1 and s.labels == ["no", "yes"]
    assert s.recordings_per_label == {"no": 7, "yes": 7}
    assert s.lengths["dominant_duration_s"] == 1.0
    assert s.lengths["n_differ"] == 1 and s.lengths["n_shorter_than_1s"] == 1
    assert s.background_noise["n_files"] == 1
    assert [d["speaker"] for d in s.leaking_speakers] == ["bbbb2222"]
    assert s.broken_files[0]["path"] == "no/eeee5555_nohash_0.wav"
    json.dumps(s.to_dict())  # JSON-able


def test_hash_split_without_lists(tmp_path):
    for speaker in (f"{i:08x}" for i in range(40)):
        for label in ("up", "down"):
            write_wav(tmp_path / label / f"{speaker}_nohash_0.wav", tone(seconds=0.05))
    df = index_dataset(tmp_path)
    assert speaker_leakage(df) == []
    assert set(df.split) <= {"train", "validation", "test"} and (df.split == "train").any()
    df2 = index_dataset(tmp_path, validation_percentage=50, testing_percentage=49.999)
    assert set(df2.split) <= {"validation", "test", "train"} and (df2.split != "train").sum() >= 70


def test_folders_layout_and_unusable_data(tmp_path):
    write_wav(tmp_path / "dog" / "bark.wav", tone(seconds=0.1))
    write_wav(tmp_path / "cat" / "meow.flac", tone(seconds=0.1))
    df = index_dataset(tmp_path)
    assert df.attrs["layout"] == "folders"
    assert df.label.tolist() == ["cat", "dog"] and df.speaker.isna().all()
    with pytest.raises(DatasetError, match="no such file or folder"):
        index_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no recordings"):
        index_dataset(tmp_path / "empty")


def test_manifest_round_trip(speech_commands, tmp_path):
    df = index_dataset(speech_commands)
    out = tmp_path / "m.parquet"
    write_manifest(df, out)
    back = read_manifest(out)
    assert back.attrs["layout"] == "speech-commands"
    assert back.drop(columns=[]).equals(df)
    import pyarrow.parquet as pq  # plain pyarrow reads it too
    assert pq.read_table(out).num_rows == len(df)


def test_fsdd_index_and_stats(fsdd_dir):
    df = index_dataset(fsdd_dir)
    assert df.attrs["layout"] == "fsdd"
    assert len(df) == 3000 and (df.status == "ok").all()
    assert df.label.nunique() == 10 and df.speaker.nunique() == 6
    assert (df.sample_rate == 8000).all()
    # FSDD's official split: takes 0-4 are test (5 of 50 takes x 10 digits x 6 speakers)
    assert (df.split == "test").sum() == 300 and (df.split == "train").sum() == 2700
    s = summarize(df)
    assert s.recordings_per_label == {str(d): 300 for d in range(10)}
    # every FSDD speaker is in both splits: the official split leaks speakers, and we say so
    assert len(s.leaking_speakers) == 6
    assert all(d["splits"] == {"test": 50, "train": 450} for d in s.leaking_speakers)
    # pointing at the parent folder works too
    assert len(index_dataset(fsdd_dir.parent)) == 3000


def test_fsspec_urls_memory_and_file(tmp_path):
    """DATA may be an fsspec URL: file:// resolves to the folder; memory:// is read through fsspec."""
    fsspec = pytest.importorskip("fsspec", reason="fsspec is part of the test extra")
    import io

    import soundfile as sf

    from kwscope.io.audio import read_audio

    fs = fsspec.filesystem("memory")
    for label in ("yes", "no"):
        for spk in ("aa", "bb"):
            buf = io.BytesIO()
            sf.write(buf, tone(seconds=0.25), 16000, format="WAV", subtype="PCM_16")
            fs.pipe(f"/kwsdata/{label}/{spk}_nohash_0.wav", buf.getvalue())
    buf = io.BytesIO()
    sf.write(buf, tone(seconds=0.25), 16000, format="FLAC")
    fs.pipe("/kwsdata/yes/cc_nohash_0.flac", buf.getvalue())
    fs.pipe("/kwsdata/no/broken_nohash_0.wav", b"RIFF....")
    fs.pipe("/kwsdata/validation_list.txt", b"yes/aa_nohash_0.wav\n")
    df = index_dataset("memory://kwsdata")
    assert df.attrs["root"] == "memory://kwsdata" and df.attrs["layout"] == "speech-commands"
    assert len(df) == 6 and (df.status == "error").sum() == 1
    assert df.set_index("path").loc["yes/aa_nohash_0.wav", "split"] == "validation"
    assert df.set_index("path").loc["yes/cc_nohash_0.flac", "n_samples"] == 4000
    y, sr = read_audio(f"{df.attrs['root']}/yes/bb_nohash_0.wav")
    assert sr == 16000 and y.shape == (4000,)
    with pytest.raises(DatasetError, match="no such folder"):
        index_dataset("memory://nothing-here")

    for label in ("yes", "no"):
        write_wav(tmp_path / "local" / label / "aa_nohash_0.wav", tone(seconds=0.1))
    local = index_dataset(f"file://{tmp_path / 'local'}")
    assert local.attrs["root"] == str((tmp_path / "local").resolve()) and (local.status == "ok").all()
