"""kwscope.learn: speaker-grouped folds, out-of-fold probabilities, embeddings, and likely
mislabels found on real FSDD recordings with planted mislabels."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kwscope import index_dataset
from kwscope.learn.embedding import EmbeddingConfig, center_by_speaker, embed_batch
from kwscope.learn.embeddings import clip_embeddings
from kwscope.learn.folds import LearnError, make_folds
from kwscope.learn.models import make_model
from kwscope.learn.oof import out_of_fold_probabilities
from kwscope.learn.run import cached_baseline, learn
from kwscope.settings import RunSettings

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGITS = (0, 1, 3, 6)
TAKES = range(10)


def _fsdd_corpus(fsdd: Path, out: Path, planted: dict[str, str] | None = None) -> Path:
    """A Speech Commands-shaped copy of 240 FSDD clips (4 digits x 6 speakers x 10 takes, 8 kHz as
    recorded); ``planted`` moves ``{relative path: wrong word}``."""
    planted = planted or {}
    for d in DIGITS:
        for speaker in ("george", "jackson", "lucas", "nicolas", "theo", "yweweler"):
            for take in TAKES:
                rel = f"{WORDS[d]}/{speaker}_nohash_{d * 100 + take}.wav"
                word = planted.get(rel, WORDS[d])
                dst = out / word / Path(rel).name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fsdd / f"{d}_{speaker}_{take}.wav", dst)
    return out


PLANTED = {"zero/lucas_nohash_3.wav": "six", "one/theo_nohash_107.wav": "three",
           "six/george_nohash_605.wav": "zero"}


@pytest.fixture(scope="module")
def clean_corpus(fsdd_dir, tmp_path_factory) -> Path:
    return _fsdd_corpus(fsdd_dir, tmp_path_factory.mktemp("fsdd-clean"))


@pytest.fixture(scope="module")
def planted_corpus(fsdd_dir, tmp_path_factory) -> Path:
    return _fsdd_corpus(fsdd_dir, tmp_path_factory.mktemp("fsdd-planted"), PLANTED)


# --------------------------------------------------------------------------- folds


def test_folds_never_share_a_speaker_and_are_stratified():
    rng = np.random.default_rng(0)
    speakers = np.array([f"s{i}" for i in rng.integers(0, 40, 2000)], dtype=object)
    labels = rng.choice(list("abcdef"), 2000)
    for seed in (0, 1, 2):
        f = make_folds(labels, speakers, k=5, seed=seed)
        assert f.grouped and f.k == 5 and "grouped by speaker" in f.how
        for train, test in f.splits():
            assert not set(speakers[train]) & set(speakers[test])
            assert set(labels[test]) == set("abcdef")  # stratified: every label on both sides
        assert np.array_equal(f.fold, make_folds(labels, speakers, k=5, seed=seed).fold)  # seeded
    assert not np.array_equal(make_folds(labels, speakers, seed=0).fold, make_folds(labels, speakers, seed=1).fold)


def test_folds_on_fsdd_speakers(fsdd_dir):
    m = index_dataset(fsdd_dir)
    f = make_folds(m["label"].to_numpy(), m["speaker"].to_numpy(object), k=5)
    speakers = m["speaker"].astype(str).to_numpy()
    for train, test in f.splits():
        assert len(test) and not set(speakers[train]) & set(speakers[test])
    assert "6 speakers" in f.how


def test_folds_without_speakers_say_they_are_not_grouped():
    labels = np.repeat(["yes", "no"], 50)
    f = make_folds(labels, [None] * 100, k=5)
    assert not f.grouped and f.k == 5 and "NOT grouped by speaker" in f.how
    assert sorted(np.bincount(f.fold)) == [20] * 5


def test_folds_with_some_unknown_speakers_and_few_speakers():
    labels = np.array(["a", "b"] * 10)
    speakers = np.array(["x"] * 8 + ["y"] * 8 + [None] * 4, dtype=object)
    f = make_folds(labels, speakers, k=5)
    assert f.grouped and "4 clips without a known speaker" in f.how
    for train, test in f.splits():
        known = [s for s in speakers[test] if s]
        assert not set(known) & {s for s in speakers[train] if s}
    f2 = make_folds(labels[:16], speakers[:16], k=5)
    assert f2.k == 2 and "only 2 speakers" in f2.how
    with pytest.raises(LearnError, match="one speaker"):
        make_folds(labels[:8], speakers[:8], k=5)


# --------------------------------------------------------------------------- embeddings


def test_embedding_batch_equals_one_clip_at_a_time(rng):
    cfg = EmbeddingConfig()
    t = np.arange(16000) / 16000
    clips = [(0.3 * np.sin(2 * np.pi * f * t[:n]) * (t[:n] > 0.2)).astype(np.float32)
             for f, n in ((300, 16000), (900, 12000), (2000, 800))]
    clips.append(np.zeros(16000, np.float32))  # digital silence: no speech found, whole clip pooled
    batch = embed_batch(clips, cfg)
    assert batch.shape == (4, cfg.dim) == (4, 281) and np.isfinite(batch).all()
    for i, c in enumerate(clips):
        np.testing.assert_allclose(embed_batch([c], cfg)[0], batch[i], rtol=1e-4, atol=1e-3)
    assert abs(batch[0, -1] - 0.8) < 0.05  # the speech region of clip 0 lasts 0.8 s


def test_unreadable_clip_is_reported_and_the_rest_embedded(tmp_path, make_wav):
    for i in range(3):
        make_wav(tmp_path / "yes" / f"s{i}_nohash_0.wav", 0.1 * np.random.default_rng(i).standard_normal(16000))
    (tmp_path / "yes" / "bad_nohash_0.wav").write_bytes(b"RIFF\x00\x00")
    m = index_dataset(tmp_path)
    e = clip_embeddings(m, settings=RunSettings(workers=1, progress=False))
    bad = m["path"].str.startswith("yes/bad").to_numpy()
    assert e.ok[~bad].all() and np.isfinite(e.X[~bad]).all()
    assert not e.ok[bad].any() and np.isnan(e.X[bad]).all() and e.errors[bad][0]


def test_embedding_cache_is_reused(clean_corpus, tmp_path):
    m = index_dataset(clean_corpus)
    s = RunSettings(workers=1, progress=False, cache_dir=tmp_path / "cache", chunk_size=64)
    first = clip_embeddings(m, settings=s)
    again = clip_embeddings(m, settings=s)
    assert first.info["cache_hits"] == 0 and again.info["cache_hits"] == again.info["chunks"] == 4
    np.testing.assert_array_equal(first.X, again.X)


def test_center_by_speaker_uses_no_label():
    X = np.vstack([np.full((40, 3), 5.0), np.full((1, 3), -5.0)]).astype(np.float32)
    spk = ["a"] * 40 + ["b"]
    out = center_by_speaker(X, spk, tau=20.0)
    g = X.mean(axis=0)
    np.testing.assert_allclose(out[0], 5.0 - (200 + 20 * g) / 60, rtol=1e-5)  # many clips: near its own mean
    np.testing.assert_allclose(out[-1], -5.0 - (-5 + 20 * g) / 21, rtol=1e-5)  # one clip: hardly moved
    np.testing.assert_array_equal(center_by_speaker(X, [None] * 41), X)


# --------------------------------------------------------------------------- out-of-fold probabilities


def test_out_of_fold_probabilities_equal_a_refit_without_the_fold(clean_corpus):
    m = index_dataset(clean_corpus)
    X = clip_embeddings(m, settings=RunSettings(workers=1, progress=False)).X
    speakers = m["speaker"].to_numpy(object)
    X = center_by_speaker(X, speakers)
    classes, y = np.unique(m["label"].astype(str), return_inverse=True)
    folds = make_folds(classes[y], speakers, k=5, seed=0)
    probs, _ = out_of_fold_probabilities(X, y, folds, len(classes), threads=2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    one_thread, _ = out_of_fold_probabilities(X, y, folds, len(classes), threads=1)
    np.testing.assert_array_equal(probs, one_thread)  # the threads change nothing
    for f, (train, test) in enumerate(folds.splits()):
        model = make_model("logreg", n_train=train.size).fit(X[train], y[train])  # never sees fold f
        np.testing.assert_allclose(probs[test], model.predict_proba(X[test]), rtol=1e-6, atol=1e-9)
    assert (probs.argmax(axis=1) == y).mean() > 0.7  # a real baseline, not chance (0.25)


# --------------------------------------------------------------------------- label issues


def test_learn_finds_planted_mislabels(planted_corpus):
    b = learn(planted_corpus, settings=RunSettings(workers=1, progress=False))
    assert b.n_clips == 240 and b.classes == ["one", "six", "three", "zero"] and b.folds["grouped"]
    top = [r["path"] for r in b.mislabel_records(2 * len(PLANTED))]
    moved = {f"{w}/{Path(p).name}" for p, w in PLANTED.items()}
    assert len(moved & set(top)) >= 2, top  # recall >= 2/3 in the top 2 x planted
    assert moved <= {r["path"] for r in b.mislabel_records()}  # each is heard as another label
    rec = b.mislabel_records(1)[0]
    assert rec["rank"] == 1 and 0 <= rec["p_given"] < rec["p_heard"] <= 1 and rec["heard_as"] != rec["label"]
    assert b.confusion.sum() == 240 and b.confusion.shape == (4, 4)
    per_label = {r["label"]: r for r in b.accuracy["per_label"]}
    assert sum(r["correct"] for r in per_label.values()) == b.accuracy["n_correct"] == int(np.trace(b.confusion))
    assert {r["speaker"] for r in b.accuracy["per_speaker"]} == {"george", "jackson", "lucas", "nicolas", "theo",
                                                                  "yweweler"}
    assert b.accuracy["accuracy"] > 0.7  # a real baseline: chance is 0.25
    assert b.headline().startswith("Baseline accuracy") and "grouped by speaker" in b.headline()


def test_learn_is_deterministic_and_cached(planted_corpus, tmp_path):
    s = RunSettings(workers=1, progress=False, cache_dir=tmp_path)
    assert cached_baseline(planted_corpus, settings=s) is None
    a = learn(planted_corpus, settings=s)
    b = learn(planted_corpus, settings=RunSettings(workers=2, progress=False))
    np.testing.assert_array_equal(a.probs, b.probs)
    np.testing.assert_array_equal(a.mislabels, b.mislabels)
    hit = cached_baseline(planted_corpus, settings=s)
    assert hit is not None and np.array_equal(hit.probs, a.probs)
    assert cached_baseline(planted_corpus, settings=s, seed=1) is None  # other parameters: not this one


def test_learn_refuses_what_it_cannot_learn(tmp_path, make_wav):
    for i in range(6):
        make_wav(tmp_path / "yes" / f"s{i}_nohash_0.wav", 0.1 * np.random.default_rng(i).standard_normal(16000))
    with pytest.raises(LearnError, match="a classifier needs 2 or more"):
        learn(tmp_path, settings=RunSettings(workers=1, progress=False))
    with pytest.raises(LearnError, match="model='svm' is not one of logreg, mlp, cnn"):
        learn(tmp_path, model="svm")


def test_learn_writes_its_outputs(planted_corpus, tmp_path):
    b = learn(planted_corpus, settings=RunSettings(workers=1, progress=False))
    written = b.write(tmp_path / "out")
    pred = pd.read_parquet(written["predictions"])
    assert len(pred) == 240 and {"path", "label", "fold", "heard_as", "p_given", "p_zero"} <= set(pred.columns)
    with np.load(written["probabilities"]) as z:
        np.testing.assert_allclose(z["probs"].sum(axis=1), 1.0, rtol=1e-5)
        assert list(z["classes"]) == b.classes and len(z["paths"]) == 240
    issues = pd.read_csv(written["label_issues"])
    assert (issues["kind"] == "likely_mislabel").sum() == b.mislabels.size
