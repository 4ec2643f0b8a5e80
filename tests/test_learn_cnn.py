"""``kwscope learn --model cnn`` (a small CNN through PyTorch) and ``learn`` on a matching feature
store, on real FSDD recordings: speaker-grouped folds, out-of-fold probabilities proven by a refit,
determinism, the message without PyTorch, the command end to end, and stores refused with a reason."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kwscope.cli import main
from kwscope.learn.cnn import cnn_out_of_fold_probabilities, fit_fold_cnn
from kwscope.learn.embedding import EmbeddingConfig
from kwscope.learn.folds import LearnError, make_folds
from kwscope.learn.run import learn
from kwscope.learn.spectrograms import fit_window, normalize_spectrograms, spectrogram_batch
from kwscope.settings import RunSettings

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")

WORDS = ("zero", "one", "two")
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
SETTINGS = RunSettings(workers=1, progress=False)


@pytest.fixture(scope="module")
def corpus(fsdd_dir, tmp_path_factory) -> Path:
    """108 FSDD clips (8 kHz as recorded): 3 digits x 6 speakers x 6 takes, Speech Commands-shaped."""
    out = tmp_path_factory.mktemp("fsdd-cnn")
    for d, word in enumerate(WORDS):
        for speaker in SPEAKERS:
            for take in range(6):
                dst = out / word / f"{speaker}_nohash_{d * 100 + take}.wav"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fsdd_dir / f"{d}_{speaker}_{take}.wav", dst)
    return out


@pytest.fixture(scope="module")
def cnn_run(corpus):
    return learn(corpus, settings=SETTINGS, model="cnn", folds=3, epochs=2)


def _mel_store(data: Path, out: Path, **changes) -> Path:
    from kwscope.features.config import PipelineConfig
    from kwscope.features.extract import extract_features

    cfg = PipelineConfig(**{"kind": "mel", "window_ms": 25.0, "n_fft": 512, **changes})
    extract_features(data, out, config=cfg, settings=RunSettings(workers=1, progress=False))
    return out


@pytest.fixture(scope="module")
def store(corpus, tmp_path_factory) -> Path:
    return _mel_store(corpus, tmp_path_factory.mktemp("store") / "mel")


# --------------------------------------------------------------------------- the CNN's input


def test_spectrogram_window_pads_short_clips_and_keeps_the_loudest_second():
    cfg = EmbeddingConfig()
    rng = np.random.default_rng(0)
    short = (0.1 * rng.standard_normal(8000)).astype(np.float32)
    long = np.zeros(48000, np.float32)
    long[32000:36000] = 0.5 * rng.standard_normal(4000)  # a burst at 2.0-2.25 s
    S = spectrogram_batch([short, long], cfg)
    assert S.shape == (2, 40, 101) and S.dtype == np.float16
    # The short clip's end is its floor (its peak - 80 dB); the long clip's burst is inside its window.
    assert np.allclose(S[0, :, -5:].astype(np.float32), S[0].astype(np.float32).min(), atol=0.1)
    assert S[1].astype(np.float32).max() > S[1].astype(np.float32).min() + 60
    D = np.arange(10, dtype=np.float32)[None, :].repeat(3, axis=0)
    np.testing.assert_array_equal(fit_window(D, 4), D[:, 6:])  # the loudest 4 frames: the last


def test_spectrograms_are_normalized_per_clip_then_per_speaker():
    rng = np.random.default_rng(1)
    S = (rng.standard_normal((40, 8, 12)) * 5 + 30).astype(np.float16)
    S[:20] += np.float16(10)  # speaker a is louder: standardization removes it
    per_clip = normalize_spectrograms(S.copy())
    x = per_clip.astype(np.float32)
    np.testing.assert_allclose(x.mean(axis=(1, 2)), 0, atol=0.01)
    np.testing.assert_allclose(x.std(axis=(1, 2)), 1, atol=0.01)
    spk = np.array(["a"] * 20 + ["b"] * 20, dtype=object)
    both = normalize_spectrograms(S.copy(), spk).astype(np.float32)
    assert not np.allclose(both, x)  # the speaker's band profile was subtracted
    assert abs(both[:20].mean(axis=(0, 2))).max() < abs(x[:20].mean(axis=(0, 2))).max()


# --------------------------------------------------------------------------- the CNN


@needs_torch
def test_cnn_folds_never_share_a_speaker(cnn_run):
    t = cnn_run.table
    assert cnn_run.model["name"] == "cnn" and cnn_run.folds["grouped"] and cnn_run.folds["k"] == 3
    for f in range(3):
        held = set(t.loc[t["fold"] == f, "speaker"])
        trained = set(t.loc[t["fold"] != f, "speaker"])
        assert held and not held & trained
    assert len(t) == 108 and cnn_run.probs.shape == (108, 3)
    np.testing.assert_allclose(cnn_run.probs.sum(axis=1), 1.0, rtol=1e-9)
    assert cnn_run.timings_s["epochs"] == [2, 2, 2]


@needs_torch
def test_cnn_probabilities_are_out_of_fold():
    """Fold 0's probabilities are those of a refit that never had the held-out clips' labels:
    the same training rows, the held-out rows' labels scrambled, give the same bits."""
    rng = np.random.default_rng(0)
    n, classes = 60, 3
    y = np.arange(n) % classes
    S = (rng.standard_normal((n, 8, 20)) + y[:, None, None]).astype(np.float16)
    speakers = np.array([f"s{i % 6}" for i in range(n)])
    folds = make_folds(y.astype(str), speakers, k=3, seed=0)
    probs, info = cnn_out_of_fold_probabilities(S, y, folds, classes, seed=5, epochs=2)
    assert info["epochs"] == [2, 2, 2]
    train, test = next(folds.splits())
    # The refit sees only the training rows first, then the held-out rows with wrong labels.
    S2 = np.concatenate([S[train], S[test]])
    y2 = np.concatenate([y[train], (y[test] + 1) % classes])
    refit, _ = fit_fold_cnn(S2, y2, np.arange(train.size), np.arange(train.size, n), classes, seed=5, epochs=2)
    np.testing.assert_array_equal(refit, probs[test])
    # ... and training on the held-out rows too gives other probabilities (the check can fail).
    leaky, _ = fit_fold_cnn(S, y, np.arange(n), test, classes, seed=5, epochs=2)
    assert not np.array_equal(leaky, probs[test])


@needs_torch
def test_cnn_two_runs_are_equal(corpus, cnn_run):
    again = learn(corpus, settings=SETTINGS, model="cnn", folds=3, epochs=2)
    np.testing.assert_array_equal(again.probs, cnn_run.probs)
    np.testing.assert_array_equal(again.mislabels, cnn_run.mislabels)
    other = learn(corpus, settings=SETTINGS, model="cnn", folds=3, epochs=2, seed=1)
    assert not np.array_equal(other.probs, cnn_run.probs)


def test_cnn_without_torch_says_how_to_install_it(corpus):
    code = ("import sys; sys.modules['torch'] = None; from kwscope.cli import main; "
            f"main(['learn', {str(corpus)!r}, '--model', 'cnn'])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    text = (res.stdout + res.stderr).strip()
    assert res.returncode == 2, text
    assert text.count("\n") == 0 and "needs PyTorch: pip install 'kwscope[torch]'" in text


def test_learn_epochs_only_for_the_cnn(corpus):
    with pytest.raises(LearnError, match="only model='cnn' takes epochs"):
        learn(corpus, settings=SETTINGS, epochs=3)
    res = CliRunner().invoke(main, ["learn", str(corpus), "--epochs", "3"])
    assert res.exit_code == 2 and "--epochs" in res.output


@needs_torch
def test_learn_cnn_command_end_to_end(corpus, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["learn", str(corpus), "--model", "cnn", "--epochs", "2", "--folds", "3",
                                    "--workers", "1", "--json", "-o", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["model"]["name"] == "cnn" and "CNN" in doc["model"]["description"]
    assert doc["n_clips"] == 108 and doc["classes"] == sorted(WORDS) and doc["folds"]["grouped"] is True
    assert doc["embedding"]["input"].startswith("40 x 101 log-mel spectrogram")
    assert sum(map(sum, doc["confusion"]["counts"])) == 108
    assert doc["n_mislabels"] == len(doc["mislabels"]) and {"path", "label", "heard_as", "p_given"} <= set(
        doc["mislabels"][0] if doc["mislabels"] else {"path", "label", "heard_as", "p_given"})
    with np.load(out / "probabilities.npz") as z:
        assert z["probs"].shape == (108, 3)
    assert (out / "label_issues.csv").is_file() and (out / "predictions.parquet").is_file()
    human = CliRunner().invoke(main, ["learn", str(corpus), "--model", "cnn", "--epochs", "1", "--folds", "3",
                                      "--workers", "1"])
    assert human.exit_code == 0 and "cnn: small 2-D CNN" in human.output and "spectrograms" in human.output


# --------------------------------------------------------------------------- a matching store


def test_learn_reads_a_matching_store(corpus, store):
    from_audio = learn(corpus, settings=SETTINGS, folds=3)
    b = learn(corpus, settings=SETTINGS, folds=3, features=store)
    assert b.embedding["source"] == "feature store" and from_audio.embedding["source"] == "audio"
    why = b.embedding["store"]["why"]
    assert "kind mel" in why and "made from this folder" in why and "all 108 readable clips" in why
    assert b.embedding["chunks"] == 0  # no audio pass
    assert b.n_clips == 108 and b.accuracy["accuracy"] > 0.6  # the store's features are the words
    # DATA being the store itself: the same, on the dataset it names.
    same = learn(store, settings=SETTINGS, folds=3)
    assert same.root == str(corpus) and np.array_equal(same.probs, b.probs)


@needs_torch
def test_learn_cnn_reads_a_matching_store(corpus, store):
    cnn = learn(corpus, settings=SETTINGS, folds=3, model="cnn", epochs=1, features=store)
    assert cnn.embedding["source"] == "feature store" and cnn.probs.shape == (108, 3)
    assert cnn.embedding["input"].startswith("40 x 101 log-mel")


def test_learn_command_names_the_store(corpus, store):
    res = CliRunner().invoke(main, ["learn", str(corpus), "--features", str(store), "--folds", "3", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert f"Features read from the store {store}" in res.output and "made from this folder" in res.output


def test_learn_refuses_a_store_of_another_kind(corpus, tmp_path):
    other = _mel_store(corpus, tmp_path / "mfcc", kind="mfcc")
    with pytest.raises(LearnError, match="a store of kind 'mfcc'; learn reads log-mel stores"):
        learn(corpus, settings=SETTINGS, folds=3, features=other)
    res = CliRunner().invoke(main, ["learn", str(corpus), "--features", str(other), "--folds", "3"])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "kind 'mfcc'" in res.output


def test_learn_refuses_a_store_of_other_files(corpus, tmp_path):
    part = tmp_path / "part"
    shutil.copytree(corpus / "zero", part / "zero")
    shutil.copytree(corpus / "one", part / "one")
    other = _mel_store(part, tmp_path / "part-store")
    with pytest.raises(LearnError, match="made from .*part, not from"):
        learn(corpus, settings=SETTINGS, folds=3, features=other)
    shutil.copytree(corpus / "two", part / "two")  # the store lacks these now
    with pytest.raises(LearnError, match=r"36 of the 108 clips to learn from are not in the store"):
        learn(part, settings=SETTINGS, folds=3, features=other)


def test_learn_refuses_a_store_older_than_its_files(corpus, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    st = _mel_store(data, tmp_path / "st")
    f = data / "one" / "george_nohash_100.wav"
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    with pytest.raises(LearnError, match="1 files changed since the store was made"):
        learn(data, settings=SETTINGS, folds=3, features=st)
    with pytest.raises(LearnError, match="no such feature store"):
        learn(data, settings=SETTINGS, folds=3, features=tmp_path / "missing")


def test_store_match_ignores_sizes_the_index_does_not_know(corpus, store):
    """A manifest without sizes or mtimes (NaN) was read as 'every file changed since the store'."""
    from kwscope import index_dataset

    manifest = index_dataset(corpus)
    manifest["size_bytes"] = np.nan
    manifest["mtime_ns"] = np.nan
    b = learn(manifest, settings=SETTINGS, folds=3, features=store)
    assert b.n_clips == 108 and "same paths)" in b.embedding["store"]["why"]
