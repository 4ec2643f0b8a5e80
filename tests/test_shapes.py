"""Every dataset shape of issue 12 gives the right labels, speakers and splits from
``kwscope stats --json`` (in-process), with the layout and its evidence stated."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import kwscope
from kwscope.cli import main
from kwscope.io.index import index_dataset
import shapes


@pytest.fixture(scope="module")
def sample(fsdd_dir):
    return shapes.fsdd_sample(fsdd_dir, every=25)  # 120 clips, 6 speakers, 10 digits


def _stats(*args) -> dict:
    res = CliRunner().invoke(main, ["stats", "--json", *map(str, args)])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_speaker_folders_are_read_as_speakers_with_labels_in_names(tmp_path, sample):
    want = shapes.speaker_folders(tmp_path, sample)
    doc = _stats(tmp_path)
    assert doc["layout"] == "{speaker}/{_}-{label}-{take}.wav"
    assert doc["layout_info"]["evidence"].startswith(f"speaker folders: {len(sample)} of {len(sample)} files")
    assert doc["labels"] == want["labels"]
    assert doc["speakers"]["n_speakers"] == len(want["speakers"])
    assert {t["speaker"] for t in doc["speakers"]["top"]} == want["speakers"]
    # the same with the pattern given, and every file matched
    given = _stats(tmp_path, "--layout", "{speaker}/{_}-{label}-{take}.wav")
    assert given["labels"] == want["labels"] and given["n_broken"] == 0
    assert given["layout_info"]["evidence"].startswith("{speaker}/{_}-{label}-{take}.wav: 120 of 120 paths match")


def test_label_word_names_report_no_speakers_or_leakage(tmp_path, sample):
    """Regression: ``3_three_0012.wav`` was read as fsdd, each word a speaker, and stats raised
    "SPEAKER LEAKAGE: 11 speakers in more than one split"."""
    want = shapes.label_word_names(tmp_path, sample)
    doc = _stats(tmp_path)
    assert doc["labels"] == want["labels"]
    assert doc["speakers"]["known"] is False and doc["leaking_speakers"] == []
    assert doc["splits"] == {}
    assert doc["layout"] == "{label}_*"
    assert "recorded one label only" in doc["layout_info"]["evidence"]
    assert any("--layout '{label}_{speaker}_{take}.wav'" in n for n in doc["layout_info"]["notes"])
    res = CliRunner().invoke(main, ["stats", str(tmp_path)])
    assert "LEAKAGE" not in res.output and "why: label first in the name" in res.output


def test_repository_root_uses_the_dataset_subfolder(tmp_path, sample):
    want = shapes.repository_root(tmp_path, sample)
    doc = _stats(tmp_path)
    info = doc["layout_info"]
    assert doc["layout"] == "speech-commands" and info["dataset_folder"] == "dataset"
    assert doc["root"].endswith("/dataset")
    assert [d["folder"] for d in info["left_out"]] == ["raw"] and info["left_out"][0]["n_files"] == 2
    assert info["left_out"][0]["why"].startswith("long recordings")
    assert doc["labels"] == want["labels"] and "dataset" not in doc["labels"] and "raw" not in doc["labels"]
    assert doc["speakers"]["n_speakers"] == len(want["speakers"])
    assert set(doc["splits"]) <= {"train", "validation", "test"} and sum(doc["splits"].values()) == len(sample)


def test_split_folders_map_their_names(tmp_path, sample):
    want = shapes.split_folders(tmp_path, sample)
    df = index_dataset(tmp_path)
    assert df.attrs["layout"] == "{split}/{label}/*"
    got = dict(zip(df["path"], df["split"]))
    assert got == want
    doc = _stats(tmp_path, "--layout", "{split}/{label}/{speaker}_{take}.wav")
    assert doc["splits"] == {k: v for k, v in sorted(
        {s: list(want.values()).count(s) for s in set(want.values())}.items(), key=lambda kv: (-kv[1], kv[0]))}
    assert doc["speakers"]["n_speakers"] == 6


def test_fsdd_evidence_counts_the_names(fsdd_dir):
    df = index_dataset(fsdd_dir, probe_headers=False, stat=False)
    n = len(df)
    assert df.attrs["layout"] == "fsdd"
    assert df.attrs["layout_evidence"] == f"fsdd: {n:,} of {n:,} names match label_speaker_take"


def test_unmatched_files_are_listed_not_dropped(tmp_path, sample):
    shapes.speaker_folders(tmp_path, sample[:20])
    shapes.place(sample[0][0], tmp_path / "stray.wav")
    doc = _stats(tmp_path, "--layout", "{speaker}/{_}-{label}-{take}.wav")
    assert doc["n_files"] == 21 and doc["layout_info"]["unmatched"] == 1
    assert doc["broken_files"] == [{"path": "stray.wav",
                                    "error": "not matched by the layout {speaker}/{_}-{label}-{take}.wav"}]


def test_long_recordings_are_a_category_of_their_own(tmp_path, sample):
    for f, digit, speaker, take in sample[:30]:
        shapes.place(f, tmp_path / shapes.WORDS[int(digit)] / f"{speaker}_{take}.wav")
    y = np.concatenate([sf.read(f, dtype="float32")[0] for f, *_ in sample[:30]])
    sf.write(tmp_path / "one" / "street_recording.wav", np.tile(y, 8)[: 8000 * 90], 8000, subtype="PCM_16")
    doc = _stats(tmp_path)
    assert doc["long_recordings"]["n_files"] == 1 and doc["long_recordings"]["duration_s"] == pytest.approx(90)
    assert doc["recordings_per_label"]["one"] == sum(1 for _, d, _, _ in sample[:30] if d == "1")
    assert doc["lengths"]["max_s"] < 5
    df = index_dataset(tmp_path)
    assert df.set_index("path").loc["one/street_recording.wav", "category"] == "long_recording"


def test_layout_file_renames_and_excludes(tmp_path, sample):
    shapes.speaker_folders(tmp_path / "data", sample[:30])
    shapes.place(sample[0][0], tmp_path / "data" / "junk" / "x.wav")
    (tmp_path / "data" / "kwscope.yaml").write_text(
        "layout: '{speaker}/{_}-{label}-{take}.wav'\nlabels: {zero: oh}\nexclude: [junk]\n")
    df = index_dataset(tmp_path / "data")
    assert df.attrs["layout"] == "{speaker}/{_}-{label}-{take}.wav" and df.attrs["excluded"] == 1
    assert "zero" not in set(df.label) and "oh" in set(df.label) and (df.status == "ok").all()
    # --layout-file elsewhere, and the Python API with a pattern string, say the same
    (tmp_path / "elsewhere.yaml").write_text((tmp_path / "data" / "kwscope.yaml").read_text())
    (tmp_path / "data" / "kwscope.yaml").unlink()
    doc = _stats(tmp_path / "data", "--layout-file", tmp_path / "elsewhere.yaml")
    assert "oh" in doc["labels"] and doc["layout_info"]["excluded"] == 1
    api = kwscope.index_dataset(tmp_path / "data", layout="{speaker}/{_}-{label}-{take}.wav")
    assert "zero" in set(api.label) and api.attrs["unmatched"] == 1  # junk/x.wav, not excluded here


@pytest.mark.parametrize("text, key", [
    ("layout: [a]\n", "'layout'"), ("labels: [a, b]\n", "'labels'"), ("exclude: {a: 1}\n", "'exclude'"),
    ("colour: red\n", "unknown key 'colour'"), ("layout: '{label'\n", "'layout'"),
    ("layout: !!python/object/apply:os.system ['echo hacked']\n", "not valid YAML"),
])
def test_layout_file_errors_are_one_line_naming_the_key(tmp_path, text, key):
    (tmp_path / "bad.yaml").write_text(text)
    res = CliRunner().invoke(main, ["stats", str(tmp_path), "--layout-file", str(tmp_path / "bad.yaml")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert key in res.stderr and "bad.yaml" in res.stderr and res.stderr.strip().count("\n") == 0


def test_bad_pattern_is_one_line(tmp_path, sample):
    shapes.speaker_folders(tmp_path, sample[:4])
    res = CliRunner().invoke(main, ["stats", str(tmp_path), "--layout", "{speaker}/{word}.wav"])
    assert res.exit_code == 2 and "unknown field {word}" in res.stderr
