"""Every headline number names its unit and is the count of that unit (issue 15, "audit every
other headline count"): a dataset whose answers are known by construction, checked in ``stats``
(human and ``--json``), ``index``, ``anomalies``, the report's cards and findings, and its JSON."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from conftest import write_wav
from kwscope.cli import main
from kwscope.report.html import render_report
from kwscope.report.plan import find_problems
from test_report import PlaceholderRenderer, synthetic_exploration

#: What the dataset holds, by construction.
KNOWN = {"files": 14, "readable": 13, "broken": 1, "labels": {"yes": 6, "no": 4, "up": 3},
         "background": 1, "speakers": 4, "leaking": 2, "splits": {"train": 11, "validation": 1, "test": 1},
         "dup_groups": 1, "dup_files": 3, "clipped": 1, "speech_readable": 12}


@pytest.fixture(scope="module")
def known(fsdd_dir, tmp_path_factory):
    """Speech Commands layout: yes (speakers aaaa, bbbb: 3 + 3), no (cccc: 4), up (dddd: 3, one
    of them not audio, one clipped); one background-noise file; aaaa and cccc each have a file in
    another split (2 leaking speakers); yes/aaaa_nohash_0 copied to yes/bbbb_nohash_2 and
    no/cccc_nohash_3 (1 duplicate group of 3 files, all in train)."""
    root = tmp_path_factory.mktemp("known")
    takes = iter(sorted(fsdd_dir.glob("*_jackson_*.wav"))[:40:3])
    for label, names in (("yes", ["aaaa_nohash_0", "aaaa_nohash_1", "aaaa_nohash_2", "bbbb_nohash_0",
                                  "bbbb_nohash_1"]), ("no", [f"cccc_nohash_{i}" for i in range(3)]),
                         ("up", ["dddd_nohash_0"])):
        for name in names:
            (root / label).mkdir(exist_ok=True)
            shutil.copyfile(next(takes), root / label / f"{name}.wav")
    for dst in ("yes/bbbb_nohash_2.wav", "no/cccc_nohash_3.wav"):
        shutil.copyfile(root / "yes/aaaa_nohash_0.wav", root / dst)
    y, sr = sf.read(next(takes), dtype="float32")
    write_wav(root / "up/dddd_nohash_1.wav", np.clip(y * 40, -1, 1), sr)
    (root / "up/dddd_nohash_2.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    rng = np.random.default_rng(0)
    write_wav(root / "_background_noise_/white_noise.wav", (rng.standard_normal(16000) * 0.1).astype(np.float32))
    (root / "validation_list.txt").write_text("yes/aaaa_nohash_1.wav\n")
    (root / "testing_list.txt").write_text("no/cccc_nohash_0.wav\n")
    return root


def test_stats_counts_files_labels_speakers_and_splits(known):
    res = CliRunner().invoke(main, ["stats", str(known), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert (d["n_files"], d["n_ok"], d["n_broken"]) == (KNOWN["files"], KNOWN["readable"], KNOWN["broken"])
    assert d["recordings_per_label"] == KNOWN["labels"] and d["splits"] == KNOWN["splits"]
    assert d["background_noise"]["n_files"] == KNOWN["background"]
    assert d["speakers"]["n_speakers"] == KNOWN["speakers"]
    assert sorted(s["speaker"] for s in d["leaking_speakers"]) == ["aaaa", "cccc"]
    assert {"n_files", "recordings_per_label", "splits", "speakers.n_speakers"} <= set(d["units"])
    human = CliRunner().invoke(main, ["stats", str(known)]).stdout
    assert "14 files, 13 readable, 1 broken; 3 labels" in human
    assert "Speakers: 4;" in human and "SPEAKER LEAKAGE: 2 speaker(s)" in human
    assert "(+ 1 background-noise files" in human


def test_index_and_anomalies_headlines(known, tmp_path):
    res = CliRunner().invoke(main, ["index", str(known), "-o", str(tmp_path / "m.parquet")])
    assert res.exit_code == 0 and res.stderr.startswith("14 files indexed (") and ", 1 broken ->" in res.stderr
    res = CliRunner().invoke(main, ["anomalies", str(known), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert f"{KNOWN['speech_readable']} recordings checked, 1 unreadable" in res.stdout
    flags = re.search(r"^Flags \(recordings with each; a recording can have several\): (.*)$", res.stdout, re.M)
    assert flags and f"clipping {KNOWN['clipped']}" in flags.group(1)


def _kpis(page: str) -> dict[str, str]:
    return {k: v for v, k in re.findall(r'<div class="v">([^<]*)</div><div class="k">([^<]*)</div>', page)}


def test_report_cards_and_findings_count_what_they_name(known, tmp_path):
    out = tmp_path / "r.html"
    res = CliRunner().invoke(main, ["report", str(known), "-o", str(out), "--json", str(tmp_path / "r.json"),
                                    "--no-cache", "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert res.stderr.startswith("14 files, 3 labels; report ")
    kpi = _kpis(out.read_text())
    assert kpi["files"] == "14" and kpi["labels"] == "3" and kpi["speakers"] == "4"
    assert kpi["broken files"] == "1" and kpi["leaking speakers"] == "2"
    assert kpi["duplicate groups (3 files)"] == "1"
    d = json.loads((tmp_path / "r.json").read_text())
    f = {x["kind"]: x for x in d["findings"]}
    assert all(x["unit"] for x in d["findings"] if x["kind"] != "clean")
    assert (f["broken_files"]["count"], f["broken_files"]["unit"]) == (1, "files")
    assert (f["speaker_leakage"]["count"], f["speaker_leakage"]["unit"]) == (2, "speakers")
    assert (f["duplicates"]["count"], f["duplicates"]["unit"]) == (1, "groups")
    assert f["duplicates"]["title"] == "1 duplicate group (3 files) within a split"
    assert (f["quality:clipping"]["count"], f["quality:clipping"]["unit"]) == (1, "files")
    scores = d["exploration"]["profiles"]["anomaly_score"]
    n_above = sum(1 for s in scores if s is not None and s >= 10)
    assert f["anomalies"]["count"] == n_above >= 1 and kpi["outliers"] == str(n_above)


def test_outlier_count_is_not_capped_by_the_ranked_list():
    # Before: the finding counted the ranked list, which stops at --top (50): 80 outliers read "50".
    ex = synthetic_exploration(400)
    ok = ex.profiles["status"] == "ok"
    score = np.where(ok, 1.0, np.nan)
    score[np.flatnonzero(ok)[:80]] = 20.0
    ex.profiles["anomaly_score"] = score
    ex.anomalies = [dict(a, score=20.0) for a in ex.anomalies[:50]]
    f = {x.kind: x for x in find_problems(ex)}
    assert f["anomalies"].count == 80 and f["anomalies"].title.startswith("80 outliers") and f["anomalies"].unit == "files"
    kpi = _kpis(render_report(ex, {}, renderer=PlaceholderRenderer(2000)).html)
    assert kpi["outliers"] == "80"
