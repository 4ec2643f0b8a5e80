"""``kwscope index -o m.csv`` / ``m.jsonl`` writes that format (it wrote Parquet bytes under the
.csv name), with paths relative to the manifest's folder, and the manifest reads back as the
same dataset; a suffix it cannot write is one line before the work."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kwscope.cli import main
from kwscope.io.index import index_dataset


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_index_writes_the_format_its_suffix_names_and_it_reads_back(tmp_path, fsdd_dir, suffix):
    out = tmp_path / "elsewhere" / f"m{suffix}"
    out.parent.mkdir()
    res = CliRunner().invoke(main, ["index", str(fsdd_dir), "-o", str(out)])
    assert res.exit_code == 0, res.output
    head = out.read_bytes()[:4]
    assert head != b"PAR1"
    if suffix == ".csv":
        assert out.read_text().splitlines()[0].startswith("path,label,speaker")
    else:
        first = json.loads(out.read_text().splitlines()[0])
        assert {"path", "label", "speaker", "split"} <= set(first)
    folder = index_dataset(fsdd_dir)
    back = index_dataset(out)
    assert len(back) == len(folder) == 3000
    assert (back["status"] == "ok").all()
    key = lambda df: sorted(zip(df["label"], df["speaker"], df["split"], df["n_samples"]))  # noqa: E731
    assert key(back) == key(folder)


def test_a_suffix_it_cannot_write_is_one_line_before_the_work(tmp_path, fsdd_dir):
    res = CliRunner().invoke(main, ["index", str(fsdd_dir), "-o", str(tmp_path / "m.tsv")])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "m.tsv" in lines[0] and ".csv" in lines[0], res.output
    assert "indexed" not in res.output and not (tmp_path / "m.tsv").exists()
