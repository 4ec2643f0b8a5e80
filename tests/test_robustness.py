"""Bad input: every broken file is named with a reason, every readable one is read, nothing crashes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kwscope.io.audio import AudioError, probe, read_audio
from kwscope.cli import main
from kwscope.io.index import index_dataset
from bad_corpus import _speech_like, _wav_bytes, build_bad_corpus, writer_unblocks

# Header-only indexing cannot see bad samples; decoding commands report these.
DECODE_ONLY = {"no/nan_inf.wav"}


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad") / "data"
    expect = build_bad_corpus(root, long_minutes=10.0)
    with writer_unblocks(root / "no" / "named_pipe.wav", after_s=240):  # a hang fails, not stalls
        yield root, expect


def test_index_names_every_broken_file(bad_corpus):
    root, expect = bad_corpus
    df = index_dataset(root, layout="folders")
    assert len(df) == expect["n_files"]
    errors = dict(zip(df.path[df.status == "error"], df.error[df.status == "error"]))
    assert set(errors) == set(expect["broken"]) - DECODE_ONLY
    for path, fragment in expect["broken"].items():
        if path in errors:
            assert fragment.lower() in errors[path].lower(), (path, errors[path])
            assert errors[path] and "\n" not in errors[path]
    ok = df.set_index("path")
    for path, props in expect["valid"].items():
        assert ok.loc[path, "status"] == "ok", (path, ok.loc[path, "error"])
        for key, value in props.items():
            assert ok.loc[path, key] == value, (path, key)


def test_reader_reads_every_valid_file(bad_corpus):
    root, expect = bad_corpus
    for path, props in expect["valid"].items():
        y, sr = read_audio(root / path)
        assert y.dtype == np.float32 and y.ndim == 1 and y.size > 0 and np.isfinite(y).all()
        assert sr == props.get("sample_rate", sr)


def test_stats_on_bad_corpus_exit_0_no_traceback(bad_corpus):
    root, expect = bad_corpus
    res = CliRunner().invoke(main, ["stats", str(root), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    named = {b["path"] for b in doc["broken_files"]}
    assert named == set(expect["broken"]) - DECODE_ONLY
    assert "Traceback" not in res.output
    notes = "\n".join(doc["layout_info"]["notes"])
    assert f"skipped {expect['hidden']} hidden files" in notes
    for folder, fragment in expect["not_walked"].items():
        assert f"{folder}: " in notes and fragment in notes, (folder, notes)
    assert CliRunner().invoke(main, ["stats", str(root), "--strict"]).exit_code == 1


def test_file_vanishing_between_index_and_read(tmp_path):
    path = tmp_path / "x" / "gone.wav"
    path.parent.mkdir()
    path.write_bytes(_wav_bytes(_speech_like(16000, 0.2)))
    df = index_dataset(tmp_path)
    assert (df.status == "ok").all()
    os.remove(path)
    with pytest.raises(AudioError, match="gone.wav: file not found"):
        read_audio(path)


GOOD = _wav_bytes(_speech_like(16000, 0.05))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), max_size=12),
    truncate=st.integers(0, len(GOOD)),
)
def test_fuzz_reader_only_raises_audio_error(tmp_path, cuts, truncate):
    """Mutated WAV bytes: the reader returns finite float32 mono or raises AudioError, never else."""
    data = bytearray(GOOD[:truncate] if truncate else GOOD)
    for pos, value in cuts:
        if pos < len(data):
            data[pos] = value
    path = tmp_path / "fuzz.wav"
    path.write_bytes(bytes(data))
    for fn in (probe, read_audio):
        try:
            out = fn(path)
        except AudioError as err:
            assert str(err).startswith(str(path)) and "\n" not in str(err)
            continue
        if fn is read_audio:
            y, sr = out
            assert y.dtype == np.float32 and y.ndim == 1 and np.isfinite(y).all() and sr > 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.binary(min_size=0, max_size=64))
def test_fuzz_random_headers(tmp_path, header):
    path = tmp_path / "h.wav"
    path.write_bytes(header + GOOD[len(header):] if len(header) < len(GOOD) else header)
    try:
        y, sr = read_audio(path)
        assert np.isfinite(y).all() and sr > 0
    except AudioError:
        pass


def _named_in(text, expect: dict) -> set[str]:
    """Broken paths of the corpus that appear in a text, or among the strings of a JSON document."""
    if not isinstance(text, str):
        strings, stack = [], [text]
        while stack:
            v = stack.pop()
            if isinstance(v, dict):
                stack.extend(v.keys())
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
            elif isinstance(v, str):
                strings.append(v)
        text = "\n".join(strings)
    return {p for p in expect["broken"] if p in text}


def test_every_command_finishes_on_the_bad_corpus(bad_corpus, tmp_path):
    """features, anomalies and report: exit 0, every broken file named with a reason, no traceback."""
    root, expect = bad_corpus
    runner = CliRunner()
    broken = set(expect["broken"])

    res = runner.invoke(main, ["features", str(root), "-o", str(tmp_path / "feats"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    import pandas as pd

    errors = pd.read_parquet(tmp_path / "feats" / "errors.parquet")
    refused = set(expect["features_refuse"])
    assert broken | refused <= set(errors["path"]), (broken | refused) - set(errors["path"])
    assert (errors["error"].str.len() > 0).all()
    from kwscope import load_features

    X, manifest = load_features(tmp_path / "feats")
    assert len(manifest) == len(X) == expect["n_files"] - len(broken) - len(refused)
    assert np.isfinite(np.asarray(X)).all()

    res = runner.invoke(main, ["anomalies", str(root), "--json", "--workers", "1", "--top", "50"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    doc = json.loads(res.stdout)
    assert broken <= _named_in(doc, expect)
    assert {b["path"] for b in doc["broken_files"]} == broken

    out = tmp_path / "report.html"
    res = runner.invoke(main, ["report", str(root), "-o", str(out), "--json", "--no-cache", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    page = out.read_text(encoding="utf-8")
    import html as html_mod

    assert broken <= _named_in(html_mod.unescape(page), expect), broken - _named_in(html_mod.unescape(page), expect)
    sidecar = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert broken <= _named_in(sidecar, expect)
    for cmd in (["anomalies", str(root), "--workers", "1"], ["report", str(root), "-o", str(out), "--no-cache",
                                                             "--workers", "1"]):
        assert runner.invoke(main, cmd + ["--strict"]).exit_code == 1
