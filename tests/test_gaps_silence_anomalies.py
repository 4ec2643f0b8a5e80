"""``_silence_`` clips (``--task tf-challenge``'s, or a dataset's own ``_silence_`` / ``silence``
folder) are meant to hold no speech: near-silence, noise only, a low SNR or a spectrum far from
the speech are what they should be, not anomalies. They ranked first in the outlier list."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from conftest import write_wav
from kwscope.cli import main

#: The reasons a silence clip is expected to have.
EXPECTED_OF_SILENCE = ("near-silent", "digital silence", "noise only", "low SNR", "noise burst",
                       "far from the dataset's spectra")


def _words(root, fsdd_dir, words=("yes", "no", "up")):
    takes = iter(sorted(fsdd_dir.glob("*_jackson_*.wav"))[:200:4])
    for w, word in enumerate(words):
        (root / word).mkdir(parents=True)
        for s in range(8):
            shutil.copyfile(next(takes), root / word / f"{s:04d}{w:04d}_nohash_0.wav")


@pytest.fixture(scope="module")
def challenge(fsdd_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("tf") / "data"
    _words(root, fsdd_dir)
    rng = np.random.default_rng(3)
    for name in ("white_noise", "pink_noise"):
        y = np.clip(0.3 * rng.standard_normal(8000 * 6), -1, 1).astype(np.float32)
        write_wav(root / "_background_noise_" / f"{name}.wav", y, 8000)
    y, sr = sf.read(next(iter(sorted(fsdd_dir.glob("*_nicolas_*.wav")))), dtype="float32")
    write_wav(root / "no" / "c11pped0_nohash_0.wav", np.clip(y * (4 / np.abs(y).max()), -1, 1), sr)
    (root / "kwscope.yaml").write_text("task: {name: tf-challenge, silence_percentage: 60}\n")
    return root


@pytest.fixture(scope="module")
def own_silence(fsdd_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("own") / "data"
    _words(root, fsdd_dir)
    rng = np.random.default_rng(4)
    for i in range(6):  # digital silence, near-silence and plain noise: what a silence label holds
        level = (0.0, 1e-4, 0.2)[i % 3]
        write_wav(root / "silence" / f"{i:04d}9999_nohash_0.wav",
                  (level * rng.standard_normal(8000)).astype(np.float32), 8000)
    return root


def _anomalies(root, tmp_path):
    res = CliRunner().invoke(main, ["anomalies", str(root), "--json", "--workers", "1", "--top", "100",
                                    "--cache", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _silence_reasons(doc, label):
    return {o["path"]: o["reasons"] for o in doc["outliers"] if o["label"] == label}


def test_tf_challenge_silence_rows_are_not_silent_or_noise_anomalies(challenge, tmp_path):
    doc = _anomalies(challenge, tmp_path)
    rows = _silence_reasons(doc, "_silence_")
    bad = {p: r for p, r in rows.items() if any(r_.startswith(EXPECTED_OF_SILENCE) for r_ in r)}
    assert not bad, bad
    n_silence = sum(1 for p in doc["quality"]["worst"].get("near_silent", []))  # 0 now; all before
    assert n_silence == 0 and len(rows) <= 3, rows  # before the fix: every silence clip was listed
    # A real defect of a word ranks first; no silence clip scores as a clear defect (20 or more).
    assert doc["outliers"][0]["path"] == "no/c11pped0_nohash_0.wav", doc["outliers"][:3]
    assert all(o["score"] < 20 for o in doc["outliers"] if o["label"] == "_silence_")
    # Still counted: a silence clip that is silent is not a quality flag of the dataset.
    assert doc["quality"]["counts"]["near_silent"] == 0 and doc["quality"]["counts"]["noise_only"] == 0


def test_a_silence_folder_of_its_own_is_not_ranked_as_silent_anomalies(own_silence, tmp_path):
    doc = _anomalies(own_silence, tmp_path)
    rows = _silence_reasons(doc, "silence")
    bad = {p: r for p, r in rows.items() if any(r_.startswith(EXPECTED_OF_SILENCE) for r_ in r)}
    assert not bad, bad
    assert doc["quality"]["counts"]["near_silent"] == 0


def test_a_silent_word_clip_is_still_flagged(own_silence, tmp_path):
    """The exemption is for the silence label only: a silent "yes" is a defect."""
    root = tmp_path / "data"
    shutil.copytree(own_silence, root)
    write_wav(root / "yes" / "dead0000_nohash_0.wav", np.zeros(8000, np.float32), 8000)
    doc = _anomalies(root, tmp_path)
    assert doc["outliers"][0]["path"] == "yes/dead0000_nohash_0.wav"
    assert "digital silence" in doc["outliers"][0]["reasons"]


def test_anomalies_of_a_tf_challenge_task_does_not_crash_on_the_unprobed_word_lengths(challenge, tmp_path):
    """The pass filled in the headers of a scan-only listing only when every row lacked them; the
    _silence_ rows come with theirs, so the words' NA lengths reached the summary: internal error."""
    res = CliRunner().invoke(main, ["anomalies", str(challenge), "--workers", "1", "--cache", str(tmp_path / "c")])
    assert res.exit_code == 0 and "internal error" not in res.output, res.output
    assert "recordings checked, 0 unreadable" in res.output
