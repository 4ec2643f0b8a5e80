"""A link inside DATA to a folder also reached another way: each real folder is walked once
(its recordings listed once), the other path listed as skipped with the reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from kwscope.cli import main
from kwscope.io.index import index_dataset
from kwscope.io.scan import scan_folder
from conftest import write_wav


def _words(root: Path, words=("b", "c"), n: int = 3) -> Path:
    t = np.arange(8000) / 16000
    for w, word in enumerate(words):
        for i in range(n):
            write_wav(root / word / f"s{i}_nohash_{i}.wav",
                      (0.2 * np.sin(2 * np.pi * (300 + 100 * w + 30 * i) * t)).astype(np.float32))
    return root


def test_folder_link_inside_data_indexes_its_files_once(tmp_path):
    root = _words(tmp_path / "data")
    os.symlink("b", root / "a")  # DATA/a -> DATA/b listed b's 3 files twice, as a/ and b/
    scan = scan_folder(root)
    assert sorted(scan.found) == [f"{w}/s{i}_nohash_{i}.wav" for w in ("b", "c") for i in range(3)]
    assert dict(scan.skipped) == {"a/": "same folder as b/, via a link; not walked twice"}
    df = index_dataset(root, layout="folders")
    assert len(df) == 6 and not df["path"].str.startswith("a/").any()
    assert df["label"].value_counts().to_dict() == {"b": 3, "c": 3}
    assert "not walked: a/: same folder as b/, via a link" in " ".join(df.attrs["layout_notes"])


def test_link_to_a_folder_inside_another_and_the_real_one_walked_through_a_link(tmp_path):
    root = _words(tmp_path / "data", words=("b",))
    _words(root / "_store", words=("deep",))
    os.symlink("_store/deep", root / "deep")  # the shallower path wins, even as a link
    os.symlink("../b", root / "_store" / "b_too")  # deeper than b/: skipped
    scan = scan_folder(root)
    assert sorted(scan.found) == sorted([f"b/s{i}_nohash_{i}.wav" for i in range(3)]
                                        + [f"deep/s{i}_nohash_{i}.wav" for i in range(3)])
    skipped = dict(scan.skipped)
    assert skipped["_store/b_too/"] == "same folder as b/, via a link; not walked twice"
    assert skipped["_store/deep/"] == "same folder as deep/, which a link leads to; not walked twice"


def test_two_links_to_one_folder_outside_the_walk_keep_the_first_by_name(tmp_path):
    root = _words(tmp_path / "data", words=("b",))
    _words(root / ".hidden", words=("x",))  # not walked itself: reached only by the links
    os.symlink(".hidden/x", root / "y")
    os.symlink(".hidden/x", root / "z")
    scan = scan_folder(root)
    assert {f.split("/")[0] for f in scan.found} == {"b", "y"}
    assert dict(scan.skipped)["z/"] == "same folder as y/, via a link; not walked twice"


def test_index_of_a_folder_with_a_duplicate_link_lists_each_recording_once(tmp_path):
    root = _words(tmp_path / "data")
    os.symlink(root / "c", root / "also_c")
    res = CliRunner().invoke(main, ["index", str(root), "-o", str(tmp_path / "m.parquet"), "--layout", "folders"])
    assert res.exit_code == 0, res.output
    paths = pd.read_parquet(tmp_path / "m.parquet")["path"].tolist()
    assert sorted(paths) == [f"{w}/s{i}_nohash_{i}.wav" for w in ("b", "c") for i in range(3)]
