"""The quality headline counts recordings, not flags: a recording with two flags (here clipped
and too short) is one recording flagged; the flags are counted apart and named flags."""

from __future__ import annotations

import html
import json
import re
import shutil

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from conftest import write_wav
from kwscope.cli import main


@pytest.fixture(scope="module")
def two_flags(fsdd_dir, tmp_path_factory):
    """FSDD takes as Speech Commands (yes: 6, no: 6); yes/zzzz_nohash_0 is a clip made 3 times
    its peak (clipped) and cut to 0.06 s (too short): one recording, two flags."""
    root = tmp_path_factory.mktemp("two_flags")
    takes = iter(sorted(fsdd_dir.glob("*_theo_*.wav"))[:60:4])
    for label in ("yes", "no"):
        (root / label).mkdir()
        for i in range(6):
            shutil.copyfile(next(takes), root / label / f"s{i}{label}_nohash_0.wav")
    y, sr = sf.read(next(takes), dtype="float32")
    short = y[len(y) // 3:][: int(0.06 * sr)] * (3 / np.abs(y).max())
    write_wav(root / "yes/zzzz_nohash_0.wav", np.clip(short, -1, 1), sr)
    return root


def test_quality_line_counts_a_recording_with_two_flags_once(two_flags, tmp_path):
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    res = CliRunner().invoke(main, ["report", str(two_flags), "-o", str(out), "--json", str(js),
                                    "--no-cache", "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    d = json.loads(js.read_text())
    q = d["exploration"]["quality"]
    counts = {k: v for k, v in q["counts"].items() if v}
    assert counts.get("clipping", 0) >= 1 and counts.get("too_short", 0) >= 1, counts
    flagged = {w["path"] for flag, v in counts.items() for w in q["worst"][flag]}  # every one: < 10 a flag
    two = [o for o in d["exploration"]["anomalies"] if o["path"] == "yes/zzzz_nohash_0.wav"][0]
    assert {"clipping", "too_short"} <= set(two["flags"]), two
    assert q["n_flags"] == sum(counts.values())
    assert q["n_flagged"] == len(flagged) < q["n_flags"]
    text = html.unescape(re.sub(r"<[^>]+>", " ", out.read_text()))
    n, m = q["n_flagged"], q["n_flags"]
    headline = f"{n} recording{'s' if n != 1 else ''} flagged ({m} flags: some recordings have several)"
    assert headline in text
    assert f"{m} quality flags raised" not in text  # the old line: flags read as if they were recordings
    assert f"{n} of " in text and f"recordings have at least one flag; {m} flags in all" in text


def test_anomalies_says_how_many_recordings_are_flagged(two_flags):
    res = CliRunner().invoke(main, ["anomalies", str(two_flags), "--workers", "1"])
    assert res.exit_code == 0, res.output
    doc = json.loads(CliRunner().invoke(main, ["anomalies", str(two_flags), "--workers", "1", "--json"]).output)
    n, m, checked = doc["quality"]["n_flagged"], doc["quality"]["n_flags"], doc["n_checked"]
    assert n < m
    assert f"{n:,} of {checked:,} recordings flagged ({m:,} flags: a recording can have several)" in res.output
