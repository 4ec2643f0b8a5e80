"""``--task tf-challenge``: the TensorFlow Speech Recognition Challenge's 12 classes, read from a
generated Speech Commands-shaped folder, against the rules of TensorFlow's
``tensorflow/examples/speech_commands/input_data.py`` (prepare_data_index, get_data)."""

from __future__ import annotations

import hashlib
import json
import math
import re

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from kwscope.cli import main
from kwscope.io.audio import read_audio
from kwscope.io.challenge import CHALLENGE_LABELS, CHALLENGE_WORDS, SILENCE_LABEL, UNKNOWN_LABEL
from kwscope.io.index import index_dataset
from kwscope.io.sources import AudioBytes, NoiseSlice, open_rows
from kwscope.io.spec import LayoutSpec, read_layout_file
from conftest import write_wav

OTHER_WORDS = ("bed", "cat", "dog", "marvin")
NOISE_SECONDS = {"white_noise": 4.0, "running_tap": 3.0, "too_short": 0.5}


def _tf_which_set(name: str, validation: float = 10.0, testing: float = 10.0) -> str:
    """TensorFlow's which_set, written out here from its definition (SHA-1 of the name before
    ``_nohash_``, modulo 2**27, as a percentage)."""
    hash_name = re.sub(r"_nohash_.*$", "", name)
    pct = (int(hashlib.sha1(hash_name.encode()).hexdigest(), 16) % (2**27)) * (100.0 / (2**27 - 1))
    return "validation" if pct < validation else "test" if pct < validation + testing else "train"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """14 words x 25 speakers (short noise clips), and three background recordings, one too short."""
    root = tmp_path_factory.mktemp("sc") / "data"
    rng = np.random.default_rng(7)
    for w, word in enumerate(CHALLENGE_WORDS + OTHER_WORDS):
        for s in range(25):
            for take in range(1 + (s + w) % 2):
                y = (0.05 * rng.standard_normal(1600)).astype(np.float32)
                write_wav(root / word / f"{s:03d}{w:02d}ab_nohash_{take}.wav", y)
    for name, seconds in NOISE_SECONDS.items():
        y = np.clip(0.5 * rng.standard_normal(int(16000 * seconds)), -1, 1).astype(np.float32)
        write_wav(root / "_background_noise_" / f"{name}.wav", y)
    return root


def _expected_counts(root, silence_pct=10.0, unknown_pct=10.0):
    """Per split: (words, silence, unknown) by input_data.py's rule, counted from the files."""
    words = {s: 0 for s in ("validation", "test", "train")}
    others = dict.fromkeys(words, 0)
    for path in root.glob("*/*.wav"):
        word = path.parent.name
        if word == "_background_noise_":
            continue
        split = _tf_which_set(path.name)
        if word in CHALLENGE_WORDS:
            words[split] += 1
        else:
            others[split] += 1
    return {s: (words[s], int(math.ceil(words[s] * silence_pct / 100)),
                min(others[s], int(math.ceil(words[s] * unknown_pct / 100)))) for s in words}


def test_twelve_labels_and_input_data_proportions(corpus):
    df = index_dataset(corpus, layout=LayoutSpec(task="tf-challenge"))
    speech = df[df.category == "speech"]
    assert sorted(speech.label.unique()) == sorted(CHALLENGE_LABELS)
    expected = _expected_counts(corpus)
    for split, (n_words, n_silence, n_unknown) in expected.items():
        in_split = speech[speech.split == split]
        assert int(in_split.label.isin(CHALLENGE_WORDS).sum()) == n_words
        assert int((in_split.label == SILENCE_LABEL).sum()) == n_silence, split
        assert int((in_split.label == UNKNOWN_LABEL).sum()) == n_unknown, split
        assert df.attrs["task_counts"][split] == {"words": n_words, "unknown": n_unknown, "silence": n_silence,
                                                  "unknown_available": df.attrs["task_counts"][split]["unknown_available"]}
    # the ten words are untouched, the unknowns are other words' files, the noise stays a category
    plain = index_dataset(corpus)
    plain_words = plain[plain.label.isin(CHALLENGE_WORDS)]
    assert set(plain_words.path) == set(speech[speech.label.isin(CHALLENGE_WORDS)].path)
    unknown_words = {p.split("/")[0] for p in speech[speech.label == UNKNOWN_LABEL].path}
    assert unknown_words <= set(OTHER_WORDS)
    assert (df.category == "background_noise").sum() == 3
    assert any("tf-challenge" in n and "12 labels" in n for n in df.attrs["layout_notes"])


def test_other_percentages_from_kwscope_yaml(corpus, tmp_path):
    (tmp_path / "kwscope.yaml").write_text("task: {name: tf-challenge, silence_percentage: 5, unknown_percentage: 30}\n")
    df = index_dataset(corpus, layout=read_layout_file(tmp_path / "kwscope.yaml"))
    for split, (_, n_silence, n_unknown) in _expected_counts(corpus, 5, 30).items():
        part = df[df.split == split]
        assert (part.label == SILENCE_LABEL).sum() == n_silence
        assert (part.label == UNKNOWN_LABEL).sum() == n_unknown


def test_reproducible_for_a_seed_and_different_for_another(corpus):
    a = index_dataset(corpus, layout=LayoutSpec(task="tf-challenge"))
    b = index_dataset(corpus, layout=LayoutSpec(task="tf-challenge"))
    c = index_dataset(corpus, layout=LayoutSpec(task="tf-challenge", task_options=(("seed", 3),)))
    assert a[["path", "label", "split", "source"]].equals(b[["path", "label", "split", "source"]])
    assert set(a.source) != set(c.source)
    assert set(a[a.label == UNKNOWN_LABEL].path) != set(c[c.label == UNKNOWN_LABEL].path)


def test_silence_clips_decode_to_the_slice_at_its_volume(corpus):
    df = index_dataset(corpus, layout=LayoutSpec(task="tf-challenge"))
    sil = df[df.label == SILENCE_LABEL]
    pieces = [NoiseSlice.parse(s) for s in sil.source]
    assert all(p is not None and p.length == 16000 and p.sample_rate == 16000 for p in pieces)
    assert all(0.0 <= p.volume <= 1.0 for p in pieces)
    assert not any("too_short" in p.file for p in pieces)  # 0.5 s is shorter than a clip: skipped, said
    assert any("too_short.wav" in n for n in df.attrs["layout_notes"])
    volumes = np.array([p.volume for p in pieces])
    assert volumes.std() > 0.1  # drawn, not one value
    where = open_rows(df.attrs["root"], sil.path.tolist(), sil.source.tolist(), sil.source_row.astype(int).tolist())
    for piece, loc in list(zip(pieces, where))[:8]:
        assert isinstance(loc, AudioBytes)
        y, sr = read_audio(loc)
        assert sr == 16000 and y.shape == (16000,)
        noise, _ = sf.read(corpus / piece.file, dtype="float32", start=piece.offset, frames=piece.length)
        np.testing.assert_allclose(y, np.clip(noise * np.float32(piece.volume), -1, 1), atol=1e-7)
        assert n_rms(y) == pytest.approx(n_rms(noise) * piece.volume, rel=1e-4)
    assert int((sil.n_samples == 16000).sum()) == len(sil)


def n_rms(y):
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))


def test_without_background_noise_silence_is_digital_silence(tmp_path, corpus):
    data = tmp_path / "d"
    for word in ("yes", "no", "cat"):
        for s in range(12):
            write_wav(data / word / f"{s:02d}cd_nohash_0.wav", np.zeros(800, np.float32))
    df = index_dataset(data, layout=LayoutSpec(task="tf-challenge"))
    sil = df[df.label == SILENCE_LABEL]
    assert len(sil) > 0
    where = open_rows(str(data), sil.path.tolist(), sil.source.tolist(), [0] * len(sil))
    y, sr = read_audio(where[0])
    assert y.shape == (16000,) and not y.any()
    assert any("digital silence" in n for n in df.attrs["layout_notes"])


def test_a_missing_noise_file_is_a_reason_not_a_crash(corpus):
    piece = NoiseSlice("_background_noise_/gone.wav", 0, 16000, 0.5, 16000)
    [err] = open_rows(str(corpus), ["_silence_/x.wav"], [piece.source()], [0])
    assert "gone.wav" in str(err) and "_silence_/x.wav" in str(err)


def test_stats_json_shows_twelve_labels(corpus):
    res = CliRunner().invoke(main, ["stats", str(corpus), "--task", "tf-challenge", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert sorted(doc["labels"]) == sorted(CHALLENGE_LABELS) and len(doc["labels"]) == 12
    assert doc["leaking_speakers"] == []


def test_unknown_task_is_one_line_exit_2(corpus):
    res = CliRunner().invoke(main, ["stats", str(corpus), "--task", "tf-chalenge"])
    assert res.exit_code == 2
    assert "unknown task" in res.output and "tf-challenge" in res.output and len(res.output.strip().splitlines()) == 1


def test_features_take_the_task(corpus, tmp_path):
    import kwscope

    out = tmp_path / "store"
    res = CliRunner().invoke(main, ["features", str(corpus), "-o", str(out), "--task", "tf-challenge",
                                    "--workers", "1", "--kind", "mfcc"])
    assert res.exit_code == 0, res.output
    X, manifest = kwscope.load_features(out)
    labels = set(manifest.label[manifest.category == "speech"])
    assert labels == set(CHALLENGE_LABELS)
    sil = (manifest.label == SILENCE_LABEL).to_numpy()
    assert sil.sum() == sum(c[1] for c in _expected_counts(corpus).values())
    assert np.isfinite(X[sil]).all() and float(np.std(X[sil])) > 0


def test_profiles_read_the_silence_clips(corpus):
    from kwscope.analysis.explore import explore
    from kwscope.settings import RunSettings

    ex = explore(corpus, settings=RunSettings(workers=1, layout=LayoutSpec(task="tf-challenge"), progress=False))
    n_silence = ex.summary.recordings_per_label[SILENCE_LABEL]
    assert n_silence > 0
    assert int(ex.quality["n_unreadable"]) == 0
    assert int(ex.quality["n_checked"]) == sum(ex.summary.recordings_per_label.values())
    # the report's players decode them through the same source
    from kwscope.report.build import read_clips

    silent = [p for p in ex.audio_sources if p.startswith(SILENCE_LABEL + "/")]
    assert len(silent) == n_silence
    clips = read_clips(ex.summary.root, silent[:3], sources=ex.audio_sources)
    assert len(clips) == 3 and all(y.shape == (16000,) and sr == 16000 for y, sr in clips.values())


def test_a_kwscope_manifest_of_the_task_reads_back(corpus, tmp_path):
    res = CliRunner().invoke(main, ["index", str(corpus), "--task", "tf-challenge", "-o", str(tmp_path / "m.parquet")])
    assert res.exit_code == 0, res.output
    back = index_dataset(tmp_path / "m.parquet")
    sil = back[back.label == SILENCE_LABEL]
    assert len(sil) > 0 and (sil.status == "ok").all()
    assert (sil.n_samples == 16000).all() and (sil.sample_rate == 16000).all()


def test_silence_rows_through_dask_equal_local(corpus, tmp_path):
    distributed = pytest.importorskip("distributed")  # the kwscope[dask] extra
    import kwscope

    def features(out, *extra):
        res = CliRunner().invoke(main, ["features", str(corpus), "-o", str(out), "--task", "tf-challenge",
                                        "--kind", "mel", *extra])
        assert res.exit_code == 0, res.output
        return kwscope.load_features(out)

    X_local, m_local = features(tmp_path / "local", "--workers", "1")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as lc:
        X_dask, m_dask = features(tmp_path / "dask", "--scheduler", lc.scheduler_address)
    assert m_local.path.tolist() == m_dask.path.tolist()
    assert (m_dask.label == SILENCE_LABEL).sum() > 0
    np.testing.assert_array_equal(X_local, X_dask)


def test_a_dataset_without_the_ten_words_is_one_line(tmp_path):
    for word in ("zero", "one"):
        write_wav(tmp_path / "d" / word / "aa_nohash_0.wav", np.zeros(800, np.float32))
    res = CliRunner().invoke(main, ["stats", str(tmp_path / "d"), "--task", "tf-challenge"])
    assert res.exit_code == 2 and "needs some of the words" in res.output and "one, zero" in res.output


def test_missing_words_are_said(tmp_path):
    for word in ("yes", "no", "cat"):
        write_wav(tmp_path / "d" / word / "aa_nohash_0.wav", np.zeros(800, np.float32))
    df = index_dataset(tmp_path / "d", layout=LayoutSpec(task="tf-challenge"))
    assert any("no recordings of up, down" in n and "4 of the 12" in n for n in df.attrs["layout_notes"])


@pytest.mark.parametrize("text,why", [
    ("task: tf-chalenge\n", "unknown task"),
    ("task: {name: tf-challenge, silence_percent: 5}\n", "unknown setting 'silence_percent'"),
    ("task: {name: tf-challenge, unknown_percentage: 150}\n", "from 0 to 100"),
    ("task: [tf-challenge]\n", "must be a task name"),
])
def test_bad_task_in_kwscope_yaml_names_the_file_and_setting(tmp_path, text, why):
    from kwscope.io.patterns import LayoutError

    (tmp_path / "kwscope.yaml").write_text(text)
    with pytest.raises(LayoutError, match=why) as err:
        read_layout_file(tmp_path / "kwscope.yaml")
    assert "kwscope.yaml" in str(err.value)
