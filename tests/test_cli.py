"""The command line, called in-process."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from kwscope.cli import main
from conftest import tone, write_wav


def _data(tmp_path):
    for label in ("yes", "no"):
        for spk in ("aa", "bb"):
            write_wav(tmp_path / "d" / label / f"{spk}_nohash_0.wav", tone(seconds=0.2))
    (tmp_path / "d" / "no" / "zz_nohash_0.wav").write_bytes(b"RIFF")
    return tmp_path / "d"


def test_index_writes_manifest(tmp_path):
    data = _data(tmp_path)
    res = CliRunner().invoke(main, ["index", str(data), "-o", str(tmp_path / "m.parquet")])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "m.parquet")
    assert len(df) == 5 and (df.status == "error").sum() == 1


def test_stats_json_is_one_document(tmp_path):
    data = _data(tmp_path)
    res = CliRunner().invoke(main, ["stats", str(data), "--json"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["n_files"] == 5 and "leaking_speakers" in doc
    assert doc["broken_files"][0]["path"] == "no/zz_nohash_0.wav"


def test_stats_table_and_strict(tmp_path):
    data = _data(tmp_path)
    res = CliRunner().invoke(main, ["stats", str(data)])
    assert res.exit_code == 0 and "Recordings per label" in res.stdout and "no/zz_nohash_0.wav" in res.stdout
    assert CliRunner().invoke(main, ["stats", str(data), "--strict"]).exit_code == 1


def test_unusable_data_is_one_line_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["stats", str(tmp_path / "missing")])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "no such file or folder" in res.stderr
    assert "Traceback" not in res.output


def test_bad_option_is_usage_error(tmp_path):
    res = CliRunner().invoke(main, ["stats", str(tmp_path), "--layout", "nope"])
    assert res.exit_code == 2
