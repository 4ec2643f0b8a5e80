"""The store's listing: content hashes computed on the worker pool equal the index's own, and a
store's manifest carries them (they are part of the resume key)."""

from __future__ import annotations

import pandas as pd

from kwscope.features import listing
from kwscope.io.index import index_dataset
from kwscope.settings import RunSettings


def test_hashes_on_the_pool_equal_the_index_hashes(fsdd_dir, monkeypatch):
    expected = index_dataset(fsdd_dir, probe_headers=False)
    monkeypatch.setattr(listing, "_POOL_MIN_FILES", 100)  # the pool path on 3,000 real files
    monkeypatch.setattr(listing, "_HASH_CHUNK", 700)  # several tasks, the last one short
    got = listing.list_files(fsdd_dir, RunSettings(workers=2), layout="auto", validation_percentage=10,
                             testing_percentage=10)
    assert got["content_hash"].notna().all()
    assert got["content_hash"].tolist() == expected["content_hash"].tolist()
    assert got["path"].tolist() == expected["path"].tolist()


def test_index_without_hashes_leaves_the_column_empty(fsdd_dir):
    index = index_dataset(fsdd_dir, probe_headers=False, content_hashes=False)
    assert index["content_hash"].isna().all()
    assert index["size_bytes"].notna().all()


def test_store_manifest_holds_each_files_content_hash(tmp_path, fsdd_dir):
    import kwscope

    files = sorted(p.name for p in fsdd_dir.iterdir())[:60]
    data = tmp_path / "data"
    data.mkdir()
    for name in files:  # links to the real recordings: read where they lie
        (data / name).symlink_to(fsdd_dir / name)
    out = tmp_path / "store"
    kwscope.extract_features(data, out)
    manifest = pd.read_parquet(out / "manifest.parquet")
    index = index_dataset(data, probe_headers=False)
    assert manifest.set_index("path")["content_hash"].to_dict() == index.set_index("path")["content_hash"].to_dict()
