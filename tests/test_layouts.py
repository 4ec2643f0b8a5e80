"""Layouts: what a path says about label, speaker, take and split."""

from __future__ import annotations

import hashlib
import re

import pytest

from kwscope.io.detect import detect_layout
from kwscope.io.layouts import FsddLayout, LayoutError, hash_split, make_layout


def _tf_which_set(filename, validation_percentage, testing_percentage):
    """TensorFlow's speech_commands/input_data.py which_set, copied as the reference."""
    base_name = filename.rsplit("/", 1)[-1]
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hash_name_hashed = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    percentage_hash = (int(hash_name_hashed, 16) % (2**27 - 1 + 1)) * (100.0 / (2**27 - 1))
    if percentage_hash < validation_percentage:
        return "validation"
    if percentage_hash < testing_percentage + validation_percentage:
        return "testing"
    return "training"


def test_hash_split_matches_tensorflow():
    rename = {"validation": "validation", "testing": "test", "training": "train"}
    for i in range(500):
        name = f"yes/{i:08x}_nohash_0.wav"
        assert hash_split(name) == rename[_tf_which_set(name, 10, 10)]
        assert hash_split(name, validation_percentage=20, testing_percentage=5) == rename[
            _tf_which_set(name, 20, 5)
        ]


def test_hash_split_keeps_a_speaker_in_one_split():
    for i in range(200):
        speaker = f"{i * 7919:08x}"
        splits = {hash_split(f"{w}/{speaker}_nohash_{t}.wav") for w in ("yes", "no", "go") for t in range(4)}
        assert len(splits) == 1


def test_hash_split_proportions():
    splits = [hash_split(f"x/{i:08x}_nohash_0.wav") for i in range(5000)]
    assert 0.08 < splits.count("validation") / 5000 < 0.12
    assert 0.08 < splits.count("test") / 5000 < 0.12


def test_speech_commands_keys_and_background(tmp_path):
    (tmp_path / "validation_list.txt").write_text("yes/aa_nohash_0.wav\n")
    (tmp_path / "testing_list.txt").write_text("no/bb_nohash_1.wav\n")
    lay = make_layout("speech-commands", tmp_path)
    k = lay.keys("yes/aa_nohash_0.wav")
    assert (k.label, k.speaker, k.take, k.split, k.category) == ("yes", "aa", 0, "validation", "speech")
    assert lay.keys("no/bb_nohash_1.wav").split == "test"
    assert lay.keys("go/cc_nohash_2.wav").split == "train"
    bg = lay.keys("_background_noise_/white_noise.wav")
    assert bg.category == "background_noise" and bg.split is None
    # v0.02's test archive has names like these
    assert lay.keys("yes/dd_nohash_3.wav.wav").speaker == "dd"


def test_fsdd_keys():
    k = FsddLayout().keys("7_jackson_32.wav")
    assert (k.label, k.speaker, k.take, k.split) == ("7", "jackson", 32, "train")
    assert FsddLayout().keys("0_theo_4.wav").split == "test"
    assert FsddLayout().keys("0_theo_5.wav").split == "train"


def test_detect_layout():
    assert detect_layout(["yes/a_nohash_0.wav", "no/b_nohash_1.wav", "_background_noise_/x.wav"]).layout == "speech-commands"
    assert detect_layout(["0_george_0.wav", "1_theo_3.wav"]).layout == "fsdd"
    assert detect_layout(["recordings/0_george_0.wav", "recordings/1_theo_3.wav"]).layout == "fsdd"
    assert detect_layout(["dog/bark1.wav", "cat/meow.wav"]).layout == "folders"


def test_unknown_layout():
    with pytest.raises(LayoutError, match="unknown layout 'nope'"):
        make_layout("nope", None)
