"""``kwscope learn`` on the command line: the JSON document's shape, the human tables (names
escaped), the output folder, and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kwscope.cli import main

WORDS = ("zero", "one", "two")


@pytest.fixture(scope="module")
def corpus(fsdd_dir, tmp_path_factory) -> Path:
    """90 FSDD clips: 3 digits x 3 speakers x 10 takes, Speech Commands-shaped; one label's folder
    name holds an escape sequence (a terminal must not run it)."""
    out = tmp_path_factory.mktemp("fsdd-cli")
    for d, word in enumerate(WORDS):
        folder = "tw\x1b[31mo" if word == "two" else word
        for speaker in ("george", "jackson", "theo"):
            for take in range(10):
                dst = out / folder / f"{speaker}_nohash_{take}.wav"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fsdd_dir / f"{d}_{speaker}_{take}.wav", dst)
    return out


def test_learn_json_shape_and_outputs(corpus, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["learn", str(corpus), "--json", "-o", str(out), "--workers", "1", "--folds", "3"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["n_clips"] == 90 and doc["n_files"] == 90 and len(doc["classes"]) == 3
    assert doc["folds"]["k"] == 3 and doc["folds"]["grouped"] is True and "grouped by speaker" in doc["folds"]["how"]
    assert doc["model"]["name"] == "logreg" and 0 <= doc["accuracy"] <= 1
    assert "baseline" in doc["headline"].lower()
    assert {r["label"] for r in doc["per_label"]} == set(doc["classes"])
    assert sum(r["n"] for r in doc["per_label"]) == 90
    assert {r["speaker"] for r in doc["per_speaker"]} == {"george", "jackson", "theo"}
    counts = np.array(doc["confusion"]["counts"])
    assert counts.shape == (3, 3) and counts.sum() == 90 and np.trace(counts) == doc["n_correct"]
    assert len(doc["mislabels"]) == doc["n_mislabels"]  # the full ranked list
    assert [r["rank"] for r in doc["mislabels"]] == list(range(1, doc["n_mislabels"] + 1))
    for r in doc["mislabels"]:
        assert {"path", "label", "heard_as", "p_given", "p_heard", "speaker", "fold", "confident_learning"} <= set(r)
        assert r["label"] != r["heard_as"]
    assert [r["p_given"] for r in doc["mislabels"]] == sorted(r["p_given"] for r in doc["mislabels"])
    assert len(doc["ambiguous"]) == doc["n_ambiguous"]
    assert set(doc["timings_s"]) >= {"index", "embed", "fit", "issues", "total"}
    assert set(doc["written"]) == {"predictions", "probabilities", "label_issues", "json"}
    for name in ("predictions.parquet", "probabilities.npz", "label_issues.csv", "learn.json"):
        assert (out / name).is_file()
    assert json.loads((out / "learn.json").read_text())["n_clips"] == 90


def test_learn_human_output_escapes_names(corpus):
    res = CliRunner().invoke(main, ["learn", str(corpus), "--workers", "1", "--folds", "3"])
    assert res.exit_code == 0, res.output
    assert "Baseline accuracy" in res.output and "grouped by speaker" in res.output
    assert "Out-of-fold accuracy per label" in res.output and "Confusion matrix" in res.output
    assert "\x1b" not in res.output and "tw\\x1b[31mo" in res.output


def test_learn_errors_are_one_line(tmp_path):
    res = CliRunner().invoke(main, ["learn", str(tmp_path / "missing")])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "kwscope: error:" in res.output
    res = CliRunner().invoke(main, ["learn", str(tmp_path), "--model", "svm"])
    assert res.exit_code == 2 and "--model" in res.output
    res = CliRunner().invoke(main, ["learn", str(tmp_path), "--folds", "1"])
    assert res.exit_code == 2 and "--folds" in res.output
