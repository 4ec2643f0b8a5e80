"""What a feature store read: each file's content hash, taken by the worker from the bytes it
decoded (no hashing pass before the work), equal to the index's own; checked against the files
when a store is found again, by the pool for many files; and stores keyed the older way (the
hashes in one fingerprint taken before the work) still resume and stay up to date."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kwscope
from kwscope.features import extract, hashes
from kwscope.features.store import StoreError, load_features
from kwscope.io.index import index_dataset
from kwscope.settings import RunSettings
from conftest import write_wav

SR = 16000


def _links(tmp_path: Path, fsdd_dir: Path, n: int) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for name in sorted(p.name for p in fsdd_dir.iterdir())[:n]:  # the real recordings, read where they lie
        (data / name).symlink_to(fsdd_dir / name)
    return data


def _clips(root: Path) -> Path:
    """Six 1-s 16-kHz clips: the workers' fast path, which hashes the bytes it decodes."""
    t = np.arange(SR) / SR
    for w, word in enumerate(("yes", "no")):
        for i in range(3):
            write_wav(root / word / f"s{i}_nohash_0.wav",
                      (0.2 * np.sin(2 * np.pi * (300 + 150 * w + 40 * i) * t)).astype(np.float32))
    return root


def _rewrite_keeping_size_and_mtime(path: Path) -> None:
    st = path.stat()
    write_wav(path, (0.5 * np.sin(2 * np.pi * 2500 * np.arange(SR) / SR)).astype(np.float32))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size


def _settings() -> RunSettings:
    return RunSettings(layout="folders", workers=1, progress=False, chunk_size=2)


def _killed_before_the_manifest(data: Path, out: Path, monkeypatch) -> Path:
    """A run stopped with every chunk done and store.json complete, before the manifest."""
    import kwscope.io.index

    with monkeypatch.context() as m:
        m.setattr(kwscope.io.index, "write_manifest", lambda *a, **k: (_ for _ in ()).throw(SystemExit("killed")))
        with pytest.raises(SystemExit):
            kwscope.extract_features(data, out, settings=_settings())
    assert (out / ".work").is_dir() and not (out / "manifest.parquet").exists()
    return out


def test_store_manifest_holds_each_files_content_hash_as_the_index_computes_it(tmp_path, fsdd_dir):
    data = _links(tmp_path, fsdd_dir, 60)  # 8 kHz: the general read path, hashed after it
    out = tmp_path / "store"
    kwscope.extract_features(data, out)
    manifest = pd.read_parquet(out / "manifest.parquet")
    index = index_dataset(data, probe_headers=False)
    assert manifest["content_hash"].notna().all()
    assert manifest.set_index("path")["content_hash"].to_dict() == index.set_index("path")["content_hash"].to_dict()


def test_fast_path_hashes_the_bytes_it_decodes(tmp_path):
    data = _clips(tmp_path / "d")
    out = tmp_path / "out"
    kwscope.extract_features(data, out, settings=_settings())
    manifest = pd.read_parquet(out / "manifest.parquet")
    expected = index_dataset(data, layout="folders", probe_headers=False).set_index("path")["content_hash"]
    assert manifest.set_index("path")["content_hash"].to_dict() == expected.to_dict()
    info = json.loads((out / "store.json").read_text())
    assert info["plan"]["content_check"] == "row hashes, as read"
    assert len(info["plan"]["content_digest"]) == 64


def test_a_new_store_hashes_nothing_before_the_work_and_a_found_one_is_checked(tmp_path, monkeypatch):
    data = _clips(tmp_path / "d")
    out = tmp_path / "out"
    calls = []
    real = extract.hash_rows
    monkeypatch.setattr(extract, "hash_rows", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    kwscope.extract_features(data, out, settings=_settings())
    assert calls == []  # the workers hashed what they read
    assert kwscope.extract_features(data, out, settings=_settings()).up_to_date
    assert calls == [6]


def test_hashes_on_the_pool_equal_the_index_hashes(fsdd_dir, monkeypatch):
    index = index_dataset(fsdd_dir, probe_headers=False)
    monkeypatch.setattr(hashes, "_POOL_MIN_FILES", 100)  # the pool path on 3,000 real files
    monkeypatch.setattr(hashes, "_HASH_CHUNK", 700)  # several tasks, the last one short
    got = hashes.hash_rows(str(index.attrs["root"]), index["path"].tolist(), [], RunSettings(workers=2))
    assert all(got) and got == index["content_hash"].tolist()


def test_index_without_hashes_leaves_the_column_empty(fsdd_dir):
    index = index_dataset(fsdd_dir, probe_headers=False, content_hashes=False)
    assert index["content_hash"].isna().all()
    assert index["size_bytes"].notna().all()


def test_resumed_store_names_the_file_whose_content_changed(tmp_path, monkeypatch):
    data = _clips(tmp_path / "d")
    out = _killed_before_the_manifest(data, tmp_path / "out", monkeypatch)
    _rewrite_keeping_size_and_mtime(data / "no" / "s2_nohash_0.wav")
    with pytest.raises(StoreError, match=r"content of 1 file \(no/s2_nohash_0\.wav\) is not what the store read"):
        kwscope.extract_features(data, out, settings=_settings())


def test_complete_store_names_the_file_whose_content_changed(tmp_path):
    data = _clips(tmp_path / "d")
    out = tmp_path / "out"
    kwscope.extract_features(data, out, settings=_settings())
    _rewrite_keeping_size_and_mtime(data / "yes" / "s1_nohash_0.wav")
    with pytest.raises(StoreError, match=r"content of 1 file \(yes/s1_nohash_0\.wav\)"):
        kwscope.extract_features(data, out, settings=_settings())


# --------------------------------------------------------------------------- the older key


def _old_fingerprint(data: Path) -> str:
    """The key kwscope wrote before row hashes (4520816's features/workspace.py): the listing
    with the index's content hashes, in one digest taken before the work."""
    index = index_dataset(data, layout="folders", probe_headers=False)
    index = index.sort_values("path", kind="stable", ignore_index=True)
    digest = hashlib.sha256()
    digest.update(json.dumps({"layout": index.attrs.get("layout")}).encode())
    cols = ["path", "split", "status", "size_bytes", "mtime_ns", "content_hash"]
    listing = index[cols].astype(object).where(index[cols].notna(), None)
    digest.update(json.dumps(listing.to_numpy().tolist(), default=int).encode())
    return digest.hexdigest()


def _as_older_store(out: Path, data: Path) -> None:
    info = json.loads((out / "store.json").read_text())
    plan = info["plan"]
    del plan["content_check"]
    plan.pop("content_digest", None)
    plan.update(content_hashed=True, fingerprint=_old_fingerprint(data))
    (out / "store.json").write_text(json.dumps(info))
    for meta in (out / ".work").glob("chunk-*.npz") if (out / ".work").is_dir() else ():
        with np.load(meta) as m:  # its chunk records had no hashes
            arrays = {k: m[k] for k in m.files if k != "hdr_content_hash"}
        np.savez(meta, **arrays)


def test_complete_store_of_the_older_key_stays_up_to_date_and_sees_a_change(tmp_path):
    data = _clips(tmp_path / "d")
    out = tmp_path / "out"
    kwscope.extract_features(data, out, settings=_settings())
    _as_older_store(out, data)
    assert kwscope.extract_features(data, out, settings=_settings()).up_to_date
    _rewrite_keeping_size_and_mtime(data / "yes" / "s0_nohash_0.wav")
    with pytest.raises(StoreError, match="DATA changed"):
        kwscope.extract_features(data, out, settings=_settings())


def test_partial_store_of_the_older_key_resumes_with_the_hashes_it_checked(tmp_path, monkeypatch):
    data = _clips(tmp_path / "d")
    out = _killed_before_the_manifest(data, tmp_path / "out", monkeypatch)
    _as_older_store(out, data)
    res = kwscope.extract_features(data, out, settings=_settings())
    assert not res.up_to_date and res.n_rows == 6
    fresh = tmp_path / "fresh"
    kwscope.extract_features(data, fresh, settings=_settings())
    got, manifest = load_features(out, normalize=False)
    want, fresh_manifest = load_features(fresh, normalize=False)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert manifest["content_hash"].tolist() == fresh_manifest["content_hash"].tolist()
    assert all(manifest["content_hash"])
    assert kwscope.extract_features(data, out, settings=_settings()).up_to_date
