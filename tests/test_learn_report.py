"""The report's "What a model would learn" section: rendered from a baseline (trained with
``--learn`` or found in the cache), names escaped, likely mislabels playable, findings named;
absent and cheap when not asked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kwscope.learn.run import learn
from kwscope.report.build import build_report
from kwscope.settings import RunSettings

LABELS = {0: "zero", 1: "<b>one&", 6: "six"}


@pytest.fixture(scope="module")
def corpus(fsdd_dir, tmp_path_factory) -> Path:
    """90 FSDD clips, 3 digits x 3 speakers x 10 takes; one label is HTML, one clip planted."""
    out = tmp_path_factory.mktemp("fsdd-report")
    for d, word in LABELS.items():
        for speaker in ("george", "jackson", "theo"):
            for take in range(10):
                folder = "six" if (d, speaker, take) == (0, "jackson", 4) else word
                dst = out / folder / f"{speaker}_nohash_{d * 100 + take}.wav"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fsdd_dir / f"{d}_{speaker}_{take}.wav", dst)
    return out


def _section(html: str) -> str:
    start = html.index('<section id="model"')
    return html[start:html.index("</section>", start)]


def test_report_learn_section_renders_and_escapes(corpus, tmp_path):
    s = RunSettings(workers=1, progress=False, cache_dir=tmp_path / "cache")
    res = build_report(corpus, tmp_path / "r.html", json_output=tmp_path / "r.json", settings=s, learn=True)
    sec = _section(res.rendered.html)
    assert "Baseline accuracy" in sec and "grouped by speaker" in sec and "a floor" in sec.lower()
    assert "Confusion matrix" in sec and "Accuracy per label" in sec and "Likely mislabels" in sec
    assert "&lt;b&gt;one&amp;" in sec and "<b>one" not in sec
    assert "six/jackson_nohash_4.wav" in sec  # the planted clip is listed ...
    row = sec[sec.index("six/jackson_nohash_4.wav"):]
    assert 'data-path="six/jackson_nohash_4.wav"' in row[:3000]  # ... with its player
    kinds = {f.kind: f for f in res.findings}
    assert kinds["baseline"].section == "model" and kinds["likely_mislabels"].section == "model"
    assert kinds["likely_mislabels"].count >= 1 and kinds["likely_mislabels"].unit == "files"
    doc = json.loads((tmp_path / "r.json").read_text())
    assert "model" in doc["report"]["sections"]
    assert doc["model"]["n_clips"] == 90 and any(m["path"] == "six/jackson_nohash_4.wav" for m in doc["model"]["mislabels"])
    assert any(e["role"] == "mislabel" for e in doc["report"]["embedded_audio"])

    # Cached now: a report without --learn shows the same baseline.
    again = build_report(corpus, tmp_path / "r2.html", settings=s)
    assert "Baseline accuracy" in _section(again.rendered.html)
    assert again.description["model"]["accuracy"] == doc["model"]["accuracy"]


def test_report_without_learn_says_how_and_trains_nothing(corpus, tmp_path):
    s = RunSettings(workers=1, progress=False, cache_dir=tmp_path / "cache")
    res = build_report(corpus, tmp_path / "r.html", settings=s)
    sec = _section(res.rendered.html)
    assert "Not computed" in sec and "--learn" in sec
    assert res.description["model"] is None
    assert not (tmp_path / "cache" / "learn-results-v1").exists()
    assert not any(f.section == "model" for f in res.findings)
    b = learn(corpus, settings=s, seed=1)
    assert b.n_clips == 90  # another seed: another baseline, not the one the report looks for
    assert "Not computed" in _section(build_report(corpus, None, settings=s).rendered.html)
