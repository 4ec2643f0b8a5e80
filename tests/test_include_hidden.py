"""Hidden files (names starting with '.', AppleDouble ``._*``) are skipped and counted by default;
``include_hidden: true`` in kwscope.yaml indexes them, from every command (before, only a Python
call to ``scan_folder`` could), and the cached index follows the setting."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from kwscope.cli import main
from kwscope.io.index import index_dataset


def _data(tmp_path, fsdd_dir):
    root = tmp_path / "data"
    takes = iter(sorted(fsdd_dir.glob("*_jackson_*.wav"))[:8])
    for label in ("yes", "no"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            shutil.copyfile(next(takes), root / label / f"s{i}_nohash_0.wav")
    shutil.copyfile(next(takes), root / "yes" / ".take_nohash_0.wav")  # a real recording, hidden
    return root


def test_hidden_files_are_indexed_with_include_hidden_in_kwscope_yaml(tmp_path, fsdd_dir):
    root = _data(tmp_path, fsdd_dir)
    default = index_dataset(root)
    assert len(default) == 6 and default.attrs["hidden_skipped"] == 1
    assert "include_hidden: true in kwscope.yaml" in " ".join(default.attrs["layout_notes"])
    (root / "kwscope.yaml").write_text("include_hidden: true\n")
    df = index_dataset(root)
    assert len(df) == 7 and "yes/.take_nohash_0.wav" in set(df["path"])
    assert (df["status"] == "ok").all()
    cache = tmp_path / "cache"
    for expect in (7, 6):  # the cache keys on the hidden file too: removing it is a change
        res = CliRunner().invoke(main, ["anomalies", str(root), "--json", "--workers", "1", "--cache", str(cache)])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.output)
        assert (doc["n_checked"], doc["broken_files"]) == (expect, [])
        (root / "yes" / ".take_nohash_0.wav").unlink(missing_ok=True)

def test_include_hidden_must_be_true_or_false(tmp_path, fsdd_dir):
    root = _data(tmp_path, fsdd_dir)
    (root / "kwscope.yaml").write_text("include_hidden: sometimes\n")
    res = CliRunner().invoke(main, ["stats", str(root)])
    assert res.exit_code == 2
    assert "'include_hidden' must be true or false" in res.output


def test_the_cached_index_keys_on_hidden_files_when_they_are_indexed(tmp_path, fsdd_dir):
    from kwscope.analysis.caches import cached_index

    root = _data(tmp_path, fsdd_dir)
    (root / "kwscope.yaml").write_text("include_hidden: true\n")
    cache = tmp_path / "cache"
    hidden = root / "yes" / ".take_nohash_0.wav"
    before = cached_index(root, cache_dir=cache).set_index("path").loc["yes/.take_nohash_0.wav", "n_samples"]
    other = max(sorted(fsdd_dir.glob("*_nicolas_*.wav"))[:20], key=lambda p: p.stat().st_size)
    shutil.copyfile(other, hidden)  # another recording, of another length, under the hidden name
    after = cached_index(root, cache_dir=cache).set_index("path").loc["yes/.take_nohash_0.wav", "n_samples"]
    assert before != after == index_dataset(root).set_index("path").loc["yes/.take_nohash_0.wav", "n_samples"]
