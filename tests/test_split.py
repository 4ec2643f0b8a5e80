"""``kwscope split``: a speaker-disjoint re-split, written as Speech Commands lists, and read back
through ``--split-lists`` / ``split_lists:`` / the lists in DATA (speech-commands and fsdd layouts)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from kwscope.analysis.resplit import plan_split
from kwscope.analysis.summary import speaker_leakage
from kwscope.cli import main
from kwscope.io.index import index_dataset
from kwscope.io.spec import LayoutSpec
from conftest import write_wav

LABELS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
N_LEAKING = 6
# Stated tolerances: overall, within 2 percentage points of the request (or one speaker's share,
# when that is larger); per label, within 4 points placing every speaker afresh (a speaker holds
# 1-3 of a label's ~100 files), and never further off than the official split when official
# assignments are kept.
OVERALL_TOL = 2.0
PER_LABEL_TOL = 4.0


def _write(root, rel):
    write_wav(root / rel, np.zeros(160, np.float32))


def _lists(root, official):
    (root / "validation_list.txt").write_text("".join(p + "\n" for p in sorted(official["validation"])))
    (root / "testing_list.txt").write_text("".join(p + "\n" for p in sorted(official["test"])))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """90 speakers, each saying every label twice; official lists put speakers 10, 20, ... 80 in
    validation, 11, 21, ... 81 in test, the other disjoint ones in train, and spread speakers
    0-5 over all three splits."""
    root = tmp_path_factory.mktemp("resplit") / "data"
    rng = np.random.default_rng(11)
    official = {"validation": [], "test": []}
    speakers = {}
    for s in range(90):
        spk = f"{s:04d}beef"
        leaking = s < N_LEAKING
        side = "validation" if s % 10 == 0 else "test" if s % 10 == 1 else "train"
        speakers[spk] = "leak" if leaking else side
        for label in LABELS:
            for take in range(2):
                rel = f"{label}/{spk}_nohash_{take}.wav"
                _write(root, rel)
                where = rng.choice(["train", "validation", "test"]) if leaking else side
                if where != "train":
                    official[where].append(rel)
    _lists(root, official)
    return root, speakers


@pytest.fixture(scope="module")
def uneven(tmp_path_factory):
    """120 speakers, each saying a random half of the labels 1-3 times; no lists (the hash split)."""
    root = tmp_path_factory.mktemp("uneven") / "data"
    rng = np.random.default_rng(5)
    for s in range(120):
        for label in rng.choice(LABELS, size=4, replace=False):
            for take in range(int(rng.integers(1, 4))):
                _write(root, f"{label}/{s:04d}cafe_nohash_{take}.wav")
    return root


def _split(data, out, *args):
    res = CliRunner().invoke(main, ["split", str(data), "-o", str(out), "--json", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_official_lists_leak_in_the_fixture(corpus):
    root, _ = corpus
    assert len(speaker_leakage(index_dataset(root))) == N_LEAKING


def _check(data, out, v, t, doc, per_label_tol):
    df = index_dataset(data, layout=LayoutSpec(split_lists=str(out)))
    assert speaker_leakage(df) == []
    assert doc["leaking_after"] == 0
    n = len(df)
    tol = max(OVERALL_TOL, doc["finest_step_pct"])
    for split, asked in (("validation", v), ("test", t), ("train", 100 - v - t)):
        got = 100.0 * (df.split == split).sum() / n
        assert abs(got - asked) <= tol, (split, got, asked)
        assert doc["achieved_pct"][split] == pytest.approx(got, abs=0.01)
    if t == 0:
        assert (df.split == "test").sum() == 0 and doc["n_listed"]["test"] == 0
    # balanced across labels: each label's share of every split is near the request
    for label in LABELS:
        mine = df[df.label == label]
        for split, asked in (("validation", v), ("test", t), ("train", 100 - v - t)):
            got = 100.0 * (mine.split == split).sum() / len(mine)
            assert abs(got - asked) <= per_label_tol, (label, split, got, asked)
            assert doc["per_label"][label][f"{split}_pct"] == pytest.approx(got, abs=0.01)


@pytest.mark.parametrize("v,t", [(10, 10), (20, 15), (5, 0)])
def test_no_speaker_on_two_sides_and_percentages_as_asked(corpus, tmp_path, v, t):
    root, _ = corpus
    doc = _split(root, tmp_path / "lists", "--validation-percentage", str(v), "--testing-percentage", str(t))
    assert doc["leaking_before"] == N_LEAKING
    _check(root, tmp_path / "lists", v, t, doc, PER_LABEL_TOL)


def _worst_label_gap(df, v, t) -> float:
    """The largest gap (percentage points) between a label's share of a split and the request."""
    share = df.groupby("label").split.value_counts(normalize=True).unstack(fill_value=0) * 100
    asked = {"validation": v, "test": t, "train": 100 - v - t}
    return max(float((share.get(s, 0) - a).abs().max()) for s, a in asked.items())


@pytest.mark.parametrize("v,t", [(10, 10), (20, 15)])
def test_balanced_across_labels_when_speakers_say_different_labels(uneven, tmp_path, v, t):
    # afresh: every label within PER_LABEL_TOL of the request
    doc = _split(uneven, tmp_path / "fresh", "--validation-percentage", str(v), "--testing-percentage", str(t),
                 "--ignore-official")
    assert doc["kept_speakers"] == 0
    _check(uneven, tmp_path / "fresh", v, t, doc, PER_LABEL_TOL)
    # keeping the official (hash) split: never less balanced than the official split was
    doc = _split(uneven, tmp_path / "kept", "--validation-percentage", str(v), "--testing-percentage", str(t))
    assert doc["kept_speakers"] > 0
    official_gap = _worst_label_gap(index_dataset(uneven), v, t)
    _check(uneven, tmp_path / "kept", v, t, doc, official_gap)
    assert _worst_label_gap(index_dataset(uneven, layout=LayoutSpec(split_lists=str(tmp_path / "kept"))), v, t) \
        < official_gap


def test_official_disjoint_assignments_are_kept(corpus):
    root, speakers = corpus
    df = index_dataset(root)
    plan = plan_split(df)
    disjoint = {s for s, side in speakers.items() if side != "leak"}
    assert plan.kept_speakers == len(disjoint)
    official = dict(zip(df.path, df.split))
    for path, split in plan.assignment.items():
        spk = path.split("/")[1].split("_nohash_")[0]
        if spk in disjoint:
            assert split == official[path], path
    # only the leaking speakers' files moved, and each of them is named
    assert {m["speaker"] for m in plan.moves} <= {s for s, side in speakers.items() if side == "leak"}
    assert plan.moved_files == sum(plan.assignment[p] != official[p] for p in plan.assignment)


def test_same_seed_same_split(corpus):
    root, _ = corpus
    df = index_dataset(root)
    a, b = plan_split(df, validation_percentage=30, seed=1), plan_split(df, validation_percentage=30, seed=1)
    assert a.assignment == b.assignment


def test_fsdd_resplit_removes_the_official_leakage(fsdd_dir, tmp_path):
    data = fsdd_dir.parent
    assert CliRunner().invoke(main, ["stats", str(data), "--strict"]).exit_code == 1  # every speaker leaks
    doc = _split(data, tmp_path / "lists")
    assert doc["leaking_before"] == 6
    # six speakers of 500 files: the chi-square greedy gives 4/1/1
    assert doc["speakers_per_split"] == {"train": 4, "validation": 1, "test": 1}
    assert doc["finest_step_pct"] == pytest.approx(100 / 6, abs=0.01)
    res = CliRunner().invoke(main, ["stats", str(data), "--split-lists", str(tmp_path / "lists"), "--strict", "--json"])
    assert res.exit_code == 0, res.output
    stats = json.loads(res.stdout)
    assert stats["leaking_speakers"] == [] and stats["splits"] == {"train": 2000, "validation": 500, "test": 500}


def test_split_into_data_keeps_the_originals_and_the_fsdd_layout_reads_them(tmp_path):
    data = tmp_path / "fsdd"
    y = np.zeros(80, np.float32)
    for digit in range(3):
        for spk in ("ann", "bob", "cyd", "dee", "eve"):
            for take in range(6):
                write_wav(data / f"{digit}_{spk}_{take}.wav", y, sr=8000)
    (data / "testing_list.txt").write_text("0_ann_0.wav\n")
    assert CliRunner().invoke(main, ["stats", str(data), "--strict"]).exit_code == 1  # ann leaks
    res = CliRunner().invoke(main, ["split", str(data), "-o", str(data), "--validation-percentage", "20",
                                    "--testing-percentage", "20"])
    assert res.exit_code == 0, res.output
    assert (data / "testing_list.txt.orig").read_text() == "0_ann_0.wav\n"
    assert "the original kept as" in res.output and "--strict (the fsdd layout reads the lists" in res.output
    res = CliRunner().invoke(main, ["stats", str(data), "--strict", "--json"])
    assert res.exit_code == 0, res.output
    splits = json.loads(res.stdout)["splits"]
    assert splits == {"train": 54, "validation": 18, "test": 18}  # 3/1/1 of five speakers, 18 files each
    # a second run keeps the first original
    CliRunner().invoke(main, ["split", str(data), "-o", str(data), "--seed", "3"])
    assert (data / "testing_list.txt.orig").read_text() == "0_ann_0.wav\n"


def test_split_lists_key_in_kwscope_yaml(corpus, tmp_path):
    root, _ = corpus
    _split(root, tmp_path / "lists")
    (tmp_path / "kwscope.yaml").write_text("split_lists: lists\n")
    res = CliRunner().invoke(main, ["stats", str(root), "--layout-file", str(tmp_path / "kwscope.yaml"),
                                    "--strict", "--json"])
    assert res.exit_code == 0, res.output
    assert any("splits from the lists in" in n for n in json.loads(res.stdout)["layout_info"]["notes"])


@pytest.mark.parametrize("args,why", [
    (["--validation-percentage", "60", "--testing-percentage", "40"], "must stay under 100"),
    (["--testing-percentage", "-1"], "0 or more"),
])
def test_bad_percentages_are_one_line_usage_errors(corpus, tmp_path, args, why):
    root, _ = corpus
    res = CliRunner().invoke(main, ["split", str(root), "-o", str(tmp_path / "x"), *args])
    assert res.exit_code == 2
    assert why in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_missing_split_lists_folder_is_one_line(corpus, tmp_path):
    root, _ = corpus
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["stats", str(root), "--split-lists", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "no validation_list.txt or testing_list.txt" in res.output


def test_split_lists_every_recording_even_with_a_task(tmp_path):
    data = tmp_path / "d"
    for word in ("yes", "no", "cat", "dog"):
        for s in range(20):
            write_wav(data / word / f"{s:03d}abcd_nohash_0.wav", np.zeros(160, np.float32))
    doc = _split(data, tmp_path / "lists", "--task", "tf-challenge")
    assert doc["n_files"] == 80 and "ignored" in doc["note"]
    df = index_dataset(data, layout=LayoutSpec(split_lists=str(tmp_path / "lists"), task="tf-challenge"))
    assert speaker_leakage(df[df.label != "_silence_"]) == []
    assert speaker_leakage(index_dataset(data, layout=LayoutSpec(split_lists=str(tmp_path / "lists")))) == []


def test_rewritten_lists_are_a_new_cache_key(corpus, tmp_path):
    root, _ = corpus
    _split(root, tmp_path / "lists", "--validation-percentage", "10")
    spec = LayoutSpec(split_lists=str(tmp_path / "lists"))
    before = spec.key()
    _split(root, tmp_path / "lists", "--validation-percentage", "30")
    assert spec.key() != before
