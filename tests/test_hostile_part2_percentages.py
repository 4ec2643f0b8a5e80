"""``--validation-percentage 150`` / ``-10`` (issue 16, item 16): every command that takes the
split percentages refuses them with the same one line, before any work (before even looking at
DATA), through one check (:func:`kwscope.io.layouts.check_split_percentages`)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import tone, write_wav
from kwscope.cli import main
from kwscope.io.index import index_dataset
from kwscope.io.layouts import LayoutError, check_split_percentages

BAD = [
    (("--validation-percentage", "150"), "--validation-percentage 150 must be under 100"),
    (("--validation-percentage", "-10"), "--validation-percentage -10 must be a percentage of files, 0 or more"),
    (("--testing-percentage", "150"), "--testing-percentage 150 must be under 100"),
    (("--testing-percentage", "-10"), "--testing-percentage -10 must be a percentage of files, 0 or more"),
    (("--validation-percentage", "60", "--testing-percentage", "40"),
     "--validation-percentage 60 + --testing-percentage 40 = 100 must stay under 100"),
    (("--testing-percentage", "nan"), "--testing-percentage nan must be a number"),
]


def _command(name: str, tmp_path) -> list[str]:
    missing = str(tmp_path / "no-such-data")  # were DATA looked at, the error would name it
    out = str(tmp_path / "out")
    return {"index": ["index", missing, "-o", out + ".parquet"], "features": ["features", missing, "-o", out],
            "split": ["split", missing, "-o", out]}[name]


@pytest.mark.parametrize("name", ["index", "features", "split"])
@pytest.mark.parametrize("flags, words", BAD, ids=[" ".join(f) for f, _ in BAD])
def test_impossible_split_percentages_are_one_line_before_any_work(tmp_path, name, flags, words):
    res = CliRunner().invoke(main, [*_command(name, tmp_path), *flags])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("kwscope: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert words in res.stderr and "no-such-data" not in res.stderr, res.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("v, t", [(0, 0), (10, 10), (49.5, 50), (0, 99.9)])
def test_possible_split_percentages_pass(v, t):
    check_split_percentages(v, t)


def test_the_python_api_refuses_them_too(tmp_path):
    write_wav(tmp_path / "yes" / "a_nohash_0.wav", tone(seconds=0.1))
    with pytest.raises(LayoutError, match="must stay under 100"):
        index_dataset(tmp_path, validation_percentage=50, testing_percentage=50)
    from kwscope.features.extract import extract_features

    with pytest.raises(LayoutError, match="-1 must be a percentage of files"):
        extract_features(tmp_path, tmp_path / "o", validation_percentage=-1)
    assert not (tmp_path / "o").exists()
