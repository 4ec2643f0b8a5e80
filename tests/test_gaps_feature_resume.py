"""The feature store's resume key: a file rewritten with its size and mtime kept (``cp -p``,
``rsync -t``) is a changed file, so neither a finished store nor a resumed run keeps its rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from kwscope.features.extract import extract_features
from kwscope.features.store import StoreError, load_features
from kwscope.settings import RunSettings
from conftest import write_wav

SR = 16000


def _data(root: Path) -> Path:
    t = np.arange(SR) / SR
    for w, word in enumerate(("yes", "no")):
        for i in range(3):
            y = 0.2 * np.sin(2 * np.pi * (300 + 150 * w + 40 * i) * t)
            write_wav(root / word / f"s{i}_nohash_0.wav", y.astype(np.float32))
    return root


def _rewrite_keeping_size_and_mtime(path: Path) -> None:
    """New samples, same length and format, and the old mtime put back (as `cp -p` does)."""
    st = path.stat()
    t = np.arange(SR) / SR
    write_wav(path, (0.5 * np.sin(2 * np.pi * 2500 * t)).astype(np.float32))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def _settings() -> RunSettings:
    return RunSettings(layout="folders", workers=1, progress=False, chunk_size=2)


def _raw_row(out: Path, rel: str) -> np.ndarray:
    X, manifest = load_features(out, normalize=False)
    return np.asarray(X[manifest.index[manifest["path"] == rel][0]])


def test_finished_store_of_a_file_rewritten_with_size_and_mtime_kept_is_not_up_to_date(tmp_path):
    data = _data(tmp_path / "d")
    out = tmp_path / "out"
    extract_features(data, out, settings=_settings())
    rel = "no/s1_nohash_0.wav"
    before = _raw_row(out, rel)
    _rewrite_keeping_size_and_mtime(data / rel)
    # Before the fix: "up to date", with the old file's features still in the store.
    with pytest.raises(StoreError, match="DATA changed.*size and mtime kept"):
        extract_features(data, out, settings=_settings())
    res = extract_features(data, out, settings=_settings(), overwrite=True)
    assert not res.up_to_date
    after = _raw_row(out, rel)
    assert not np.allclose(after, before)
    extract_features(data, tmp_path / "fresh", settings=_settings())
    np.testing.assert_array_equal(after, _raw_row(tmp_path / "fresh", rel))


def test_resumed_run_does_not_keep_rows_of_a_file_rewritten_with_size_and_mtime_kept(tmp_path, monkeypatch):
    import kwscope.io.index

    data = _data(tmp_path / "d")
    out = tmp_path / "out"

    def die(*args, **kwargs):
        raise SystemExit("killed")  # every chunk computed, the store not yet published

    with monkeypatch.context() as m:
        m.setattr(kwscope.io.index, "write_manifest", die)
        with pytest.raises(SystemExit):
            extract_features(data, out, settings=_settings())
    assert json.loads((out / "store.json").read_text())["plan"]["content_check"] == "row hashes, as read"
    rel = "yes/s0_nohash_0.wav"
    _rewrite_keeping_size_and_mtime(data / rel)
    with pytest.raises(StoreError, match="DATA changed"):
        extract_features(data, out, settings=_settings())
    extract_features(data, out, settings=_settings(), overwrite=True)
    extract_features(data, tmp_path / "fresh", settings=_settings())
    np.testing.assert_array_equal(_raw_row(out, rel), _raw_row(tmp_path / "fresh", rel))


def test_store_of_an_older_kwscope_without_content_hashes_is_refused_with_the_reason(tmp_path):
    data = _data(tmp_path / "d")
    out = tmp_path / "out"
    extract_features(data, out, settings=_settings())
    info = json.loads((out / "store.json").read_text())
    del info["plan"]["content_check"]  # neither content_check nor content_hashed: size and mtime only
    info["plan"]["fingerprint"] = "0" * 64
    (out / "store.json").write_text(json.dumps(info))
    with pytest.raises(StoreError, match="older kwscope.*content hashes.*--overwrite"):
        extract_features(data, out, settings=_settings())


def test_silence_rows_of_a_noise_file_rewritten_with_size_and_mtime_kept_are_a_change(tmp_path):
    """--task tf-challenge: a _silence_ row is a slice of a background recording, whose row (and
    content hash) is in the store's key with the rest."""
    data = tmp_path / "d"
    t = np.arange(SR) / SR
    for w, word in enumerate(("yes", "no")):
        for i in range(4):
            write_wav(data / word / f"s{i}{w}_nohash_0.wav",
                      (0.2 * np.sin(2 * np.pi * (300 + 150 * w + 40 * i) * t)).astype(np.float32))
    rng = np.random.default_rng(0)
    noise = data / "_background_noise_" / "white_noise.wav"
    write_wav(noise, (0.1 * rng.standard_normal(3 * SR)).astype(np.float32))
    (data / "kwscope.yaml").write_text("task: {name: tf-challenge, silence_percentage: 50}\n")
    settings = RunSettings(workers=1, progress=False)
    out = tmp_path / "out"
    extract_features(data, out, settings=settings)
    manifest = load_features(out, normalize=False)[1]
    assert (manifest["label"] == "_silence_").any()
    st = noise.stat()
    write_wav(noise, (0.5 * rng.standard_normal(3 * SR)).astype(np.float32))
    os.utime(noise, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert noise.stat().st_size == st.st_size
    with pytest.raises(StoreError, match="DATA changed"):
        extract_features(data, out, settings=settings)
