"""Duplicates: exact copies and gain-changed, noise-added copies found across labels and splits;
different takes of one word by one speaker (the hardest negatives) are not duplicates."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import tone, write_wav
from kwscope.analysis.duplicates import DuplicateFinder
from kwscope.analysis.explore import explore
from kwscope.settings import RunSettings


@pytest.fixture(scope="module")
def dup_set(fsdd_dir, tmp_path_factory):
    """All 50 takes of "6" by yweweler (train: takes >= 5, test: 0-4) plus planted copies."""
    out = tmp_path_factory.mktemp("dups")
    for take in range(50):
        shutil.copyfile(fsdd_dir / f"6_yweweler_{take}.wav", out / f"6_yweweler_{take}.wav")
    # exact copy, other speaker, test split: leakage
    shutil.copyfile(fsdd_dir / "6_yweweler_20.wav", out / "6_copyist_3.wav")
    # exact copy into another label, same (train) split
    shutil.copyfile(fsdd_dir / "6_yweweler_21.wav", out / "7_copyist_10.wav")
    # near copy: -2 dB gain and white noise 30 dB under the speech, test split
    y, sr = sf.read(fsdd_dir / "6_yweweler_30.wav", dtype="float32")
    rng = np.random.default_rng(3)
    rms = float(np.sqrt(np.mean(y**2)))
    near = 0.8 * y + rng.standard_normal(y.size).astype(np.float32) * rms * 10 ** (-30 / 20)
    write_wav(out / "6_copyist_2.wav", near, sr)
    # two different near-silent recordings: no fingerprint, never "near-duplicates"
    for take in (11, 12):
        write_wav(out / f"9_copyist_{take}.wav", (rng.standard_normal(4000) * 1e-4).astype(np.float32), sr)
    return out, explore(out, settings=RunSettings(workers=1, progress=False))


def _find(ex, a, b):
    return [d for d in ex.duplicate_report.pairs if set(d["paths"]) == {a, b}]


def test_exact_copy_across_splits_is_leakage(dup_set):
    _, ex = dup_set
    [d] = _find(ex, "6_copyist_3.wav", "6_yweweler_20.wav")
    assert d["kind"] == "exact" and d["similarity"] == 1.0 and d["cross_split"]
    assert d["splits"] == ["test", "train"] and d["labels"] == ["6", "6"]


def test_exact_copy_across_labels(dup_set):
    _, ex = dup_set
    [d] = _find(ex, "6_yweweler_21.wav", "7_copyist_10.wav")
    assert d["kind"] == "exact" and d["labels"] == ["6", "7"] and not d["cross_split"]


def test_gain_changed_noisy_copy_is_a_near_duplicate(dup_set):
    _, ex = dup_set
    [d] = _find(ex, "6_copyist_2.wav", "6_yweweler_30.wav")
    assert d["kind"] == "near" and d["similarity"] >= 0.95 and d["cross_split"]


def test_other_takes_and_silence_are_not_duplicates(dup_set):
    _, ex = dup_set
    planted = {frozenset(p) for p in (("6_copyist_3.wav", "6_yweweler_20.wav"),
                                      ("6_yweweler_21.wav", "7_copyist_10.wav"),
                                      ("6_copyist_2.wav", "6_yweweler_30.wav"))}
    found = {frozenset(d["paths"]) for d in ex.duplicate_report.pairs}
    assert found == planted, found - planted
    assert {frozenset(g["paths"]) for g in ex.duplicates} == planted  # three pairs: three groups of two
    rep = ex.duplicate_report
    assert (rep.n_exact_pairs, rep.n_near_pairs, rep.n_cross_split) == (2, 1, 2) and not rep.truncated
    # exact pairs first, then cross-split ones
    assert [d["kind"] for d in rep.pairs] == ["exact", "exact", "near"]
    assert rep.pairs[0]["cross_split"]


def test_report_renders_and_serializes(dup_set):
    _, ex = dup_set
    rep = ex.duplicate_report
    frame = rep.to_frame()
    assert list(frame.columns)[:3] == ["kind", "path_a", "path_b"] and len(frame) == 3
    assert "near-duplicate" in rep._repr_html_()
    json.dumps(rep.to_dict(), allow_nan=False)


def test_exact_groups_report_each_copy_once(tmp_path):
    y = tone(700.0, seconds=0.5) + tone(1900.0, seconds=0.5, amp=0.1)
    for name in ("a/x_nohash_0.wav", "a/y_nohash_0.wav", "b/z_nohash_0.wav"):
        write_wav(tmp_path / name, y)
    write_wav(tmp_path / "b/w_nohash_0.wav", tone(300.0, seconds=0.5))
    ex = explore(tmp_path, settings=RunSettings(workers=1, progress=False))
    exact = [d for d in ex.duplicate_report.pairs if d["kind"] == "exact"]
    assert len(exact) == 2 and ex.duplicate_report.n_near_pairs == 0
    assert {p for d in exact for p in d["paths"]} == {"a/x_nohash_0.wav", "a/y_nohash_0.wav", "b/z_nohash_0.wav"}


def test_lsh_candidates_find_shared_bands():
    finder = DuplicateFinder(band_bits=16)
    rng = np.random.default_rng(0)
    sigs = rng.integers(0, 256, size=(200, 32), dtype=np.uint8)
    sigs[150] = sigs[7]
    sigs[150, 2:] ^= 0xFF  # shares only the first band with row 7
    pairs = {tuple(p) for p in finder._candidates(sigs).tolist()}
    assert (7, 150) in pairs and all(i < j for i, j in pairs)
    assert len(pairs) < 20  # random 16-bit bands rarely collide


def test_max_pairs_truncates_the_list_but_not_the_counts(tmp_path):
    for i in range(4):
        write_wav(tmp_path / "a" / f"s{i}_nohash_0.wav", tone(700.0, seconds=0.3))
    ex = explore(tmp_path, settings=RunSettings(workers=1, progress=False), max_pairs=1)
    assert len(ex.duplicate_report.pairs) == 1 and ex.duplicate_report.n_exact_pairs == 3
    assert ex.duplicate_report.truncated
    assert isinstance(ex.duplicate_report.to_frame(), pd.DataFrame)


def test_exact_groups_report_each_copy_once_as_one_group(tmp_path):
    y = tone(700.0, seconds=0.5) + tone(1900.0, seconds=0.5, amp=0.1)
    for name in ("a/x_nohash_0.wav", "a/y_nohash_0.wav", "b/z_nohash_0.wav"):
        write_wav(tmp_path / name, y)
    write_wav(tmp_path / "b/w_nohash_0.wav", tone(300.0, seconds=0.5))
    ex = explore(tmp_path, settings=RunSettings(workers=1, progress=False))
    [group] = ex.duplicates
    assert group["size"] == 3 and group["kind"] == "exact" and group["label_conflict"]
    assert group["paths"] == ["a/x_nohash_0.wav", "a/y_nohash_0.wav", "b/z_nohash_0.wav"]
    rep = ex.duplicate_report
    assert (rep.n_groups, rep.n_files, rep.n_exact_pairs) == (1, 3, 2)


def test_a_50_copy_group_and_three_pairs_read_4_groups_56_files(tmp_path):
    """The headline counts groups and files, each by its name: one take copied 50 times is one
    group of 50 files (not 49 pairs), beside three pairs."""
    from kwscope.report.html import render_report
    from kwscope.report.plan import find_problems

    base = tone(500.0, seconds=0.4) + tone(1300.0, seconds=0.4, amp=0.2)
    for i in range(50):
        write_wav(tmp_path / "yes" / f"c{i:02d}_nohash_0.wav", base)
    for k, hz in enumerate((650.0, 900.0, 1750.0)):
        y = tone(hz, seconds=0.4) + tone(hz * 2.7, seconds=0.4, amp=0.3)
        write_wav(tmp_path / "no" / f"p{k}a_nohash_0.wav", y)
        write_wav(tmp_path / "no" / f"p{k}b_nohash_0.wav", y)
    write_wav(tmp_path / "no" / "single_nohash_0.wav", tone(2500.0, seconds=0.4))
    ex = explore(tmp_path, settings=RunSettings(workers=1, progress=False))
    rep = ex.duplicate_report
    assert rep.headline() == "4 groups, 56 files"
    assert sorted(g["size"] for g in ex.duplicates) == [2, 2, 2, 50]
    assert (rep.n_groups, rep.n_files, rep.n_exact_pairs) == (4, 56, 52)
    counts = ex.to_dict()["duplicate_counts"]
    assert (counts["groups"], counts["files"], counts["exact_pairs"], counts["headline"]) == (4, 56, 52, "4 groups, 56 files")
    findings = [f for f in find_problems(ex) if "duplicates" in f.kind]
    assert sum(f.count for f in findings) == 4 and all(f.unit == "groups" for f in findings)
    assert sum(int(f.title.split("(")[1].split()[0]) for f in findings) == 56
    page = render_report(ex).html
    assert "4 groups, 56 files" in page and "duplicate groups (56 files)" in page
