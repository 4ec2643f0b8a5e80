"""Output paths checked before the work (issue 16, item 13): `index -o` into a missing folder
ended as "internal error: FileNotFoundError" after the whole listing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kwscope.cli import main

DEMO = Path(__file__).resolve().parents[1] / "src" / "kwscope" / "demo" / "data"


def test_an_index_into_a_missing_folder_is_a_one_line_error_before_any_work(tmp_path):
    target = tmp_path / "missing" / "m.parquet"
    res = CliRunner().invoke(main, ["index", str(DEMO), "-o", str(target)])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("kwscope: error:") and res.stderr.strip().count("\n") == 0, res.stderr
    assert "does not exist" in res.stderr and "internal error" not in res.stderr


@pytest.mark.parametrize("command", ["index", "report"])
def test_an_output_under_a_file_is_a_one_line_error(tmp_path, command):
    (tmp_path / "afile").write_text("x")
    res = CliRunner().invoke(main, [command, str(DEMO), "-o", str(tmp_path / "afile" / "sub" / "out.html")])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("kwscope: error:") and res.stderr.strip().count("\n") == 0, res.stderr
