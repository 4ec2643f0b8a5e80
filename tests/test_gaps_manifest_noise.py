"""``_background_noise_`` in a manifest read back (``kwscope index -o m.parquet``, or the same rows
as CSV / JSON lines): noise, as the folder layout reads it, never a label."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kwscope.analysis.summary import summarize
from kwscope.cli import main
from kwscope.io.index import index_dataset
from conftest import tone, write_wav


@pytest.fixture
def speech_commands(tmp_path):
    root = tmp_path / "sc"
    for label in ("yes", "no"):
        for speaker in ("aaaa1111", "bbbb2222"):
            write_wav(root / label / f"{speaker}_nohash_0.wav", tone(300))
    write_wav(root / "_background_noise_" / "white.wav", np.zeros(32000, np.float32))
    write_wav(root / "_background_noise_" / "pink.wav", np.zeros(32000, np.float32))
    return root


def _check(df: pd.DataFrame) -> None:
    noise = df[df["path"].str.startswith("_background_noise_/")]
    assert len(noise) == 2 and (noise["category"] == "background_noise").all()
    s = summarize(df)
    assert s.labels == ["no", "yes"], s.labels
    assert s.recordings_per_label == {"no": 2, "yes": 2}
    assert s.background_noise["n_files"] == 2


def test_background_noise_in_a_kwscope_manifest_read_back_is_noise_not_a_label(speech_commands, tmp_path):
    out = tmp_path / "m.parquet"
    res = CliRunner().invoke(main, ["index", str(speech_commands), "-o", str(out)])
    assert res.exit_code == 0, res.output
    _check(index_dataset(speech_commands))  # the folder, as the reference
    _check(index_dataset(out))
    res = CliRunner().invoke(main, ["stats", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["labels"] == ["no", "yes"] and doc["recordings_per_label"] == {"no": 2, "yes": 2}
    assert doc["background_noise"]["n_files"] == 2


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("with_category", [True, False])
def test_background_noise_in_a_csv_or_jsonl_manifest_is_noise_not_a_label(speech_commands, suffix, with_category):
    df = index_dataset(speech_commands)
    cols = ["path", "label", "speaker", "split"] + (["category"] if with_category else [])
    rows = df[cols]
    out = speech_commands / f"m{suffix}"
    if suffix == ".csv":
        rows.to_csv(out, index=False)
    else:
        rows.to_json(out, orient="records", lines=True)
    _check(index_dataset(out))


def test_a_manifest_category_column_of_other_words_is_not_taken_as_kwscope_categories(speech_commands):
    """A user's own "category" column (here: animals) says nothing of noise or speech."""
    df = index_dataset(speech_commands)
    rows = df[["path", "label"]].assign(category="animal")
    rows.to_csv(speech_commands / "m.csv", index=False)
    got = index_dataset(speech_commands / "m.csv")
    assert set(got["category"]) == {"speech", "background_noise"}
    assert summarize(got).labels == ["no", "yes"]
