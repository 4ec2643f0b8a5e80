"""The report page and ``kwscope report``/``demo``: sections, offline, size bound, JSON, exit codes.

Figures are cached in one session-wide folder, so the demo report is drawn once for this file and
the browser tests (``test_report_browser.py``); the size-bound test draws its static figures as
placeholders of realistic size (it is about bytes, not pixels).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import tone, write_wav
from kwscope.analysis.aggregates import MeanLogSpectrogram, MeanSpectrum
from kwscope.analysis.exploration import Exploration
from kwscope.analysis.summary import summarize
from kwscope.cli import main
from kwscope.plots.export import plotly_js_inline
from kwscope.report.build import build_report, write_atomic
from kwscope.report.figures import FigureRenderer, render_task
from kwscope.report.html import SECTION_IDS, render_report
from kwscope.report.plan import ReportOptions, plan_report
from kwscope.settings import RunSettings

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
LIMIT = 20_000_000


# --------------------------------------------------------------------------- shared fixtures


def shared_dir(tmp_path_factory, name: str) -> Path:
    """A folder shared by every test module of the session (same path from any module)."""
    path = tmp_path_factory.getbasetemp() / "kwscope-report-shared" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def demo_report_paths(tmp_path_factory) -> tuple[Path, Path]:
    """The bundled demo set's report (HTML, JSON), built once a session."""
    out = shared_dir(tmp_path_factory, "demo")
    html_path, json_path = out / "demo-report.html", out / "demo-report.json"
    if not html_path.is_file():
        from kwscope.demo import demo_data_path

        build_report(demo_data_path(), html_path, json_output=json_path, settings=RunSettings(workers=2, cache_dir=shared_dir(tmp_path_factory, "cache"), progress=False))
    return html_path, json_path


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    return demo_report_paths(tmp_path_factory)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return shared_dir(tmp_path_factory, "cache")


def synthetic_exploration(n: int, *, n_broken: int = 3, seed: int = 0, labels=WORDS) -> Exploration:
    """An Exploration built from random arrays (no audio): ``n`` manifest rows."""
    rng = np.random.default_rng(seed)
    lab = np.array(labels)[rng.integers(0, len(labels), n)]
    spk = np.array([f"{i:08x}" for i in rng.integers(0, max(1, n // 8), n)])
    paths = [f"{l}/{s}_nohash_{i}.wav" for i, (l, s) in enumerate(zip(lab, spk))]
    split = np.array(["train", "validation", "testing"])[rng.choice(3, n, p=[0.8, 0.1, 0.1])]
    status = np.array(["ok"] * n, dtype=object)
    error = np.array([""] * n, dtype=object)
    broken = rng.choice(n, n_broken, replace=False) if n_broken else np.array([], int)
    status[broken] = "error"
    error[broken] = np.array(["not a valid WAV: damaged or truncated header", "empty file (0 bytes)"])[
        np.arange(broken.size) % 2]
    dur = np.where(rng.random(n) < 0.9, 1.0, rng.uniform(0.3, 1.0, n))
    dur[broken] = np.nan
    ok = status == "ok"
    man = pd.DataFrame({
        "path": paths, "label": lab, "speaker": spk, "take": 0, "split": split, "category": "speech",
        "sample_rate": np.where(ok, 16000, np.nan), "channels": np.where(ok, 1, np.nan),
        "n_samples": np.where(ok, np.nan_to_num(dur) * 16000, np.nan), "duration_s": dur, "subtype": "PCM_16",
        "format": "WAV", "size_bytes": 32044, "mtime_ns": 0, "status": status, "error": error})
    for c in ("take", "sample_rate", "channels", "n_samples", "size_bytes", "mtime_ns"):
        man[c] = pd.array(np.round(man[c]), dtype="Int64")
    man.attrs.update(root="/data/synthetic", layout="speech-commands")
    summary = summarize(man)
    prof = man[["path", "label", "speaker", "split", "category", "status", "error", "duration_s"]].copy()
    prof["sample_rate"] = man["sample_rate"].astype(float)
    for c in ("rms_dbfs", "peak_dbfs", "clip_ratio", "dc_offset", "silence_ratio", "snr_db"):
        prof[c] = np.where(ok, rng.normal(size=n), np.nan)
    prof["speech_start_s"] = np.where(ok, 0.2, np.nan)
    prof["speech_end_s"] = np.where(ok, 0.7, np.nan)
    xyz = rng.normal(size=(n, 3))
    xyz[~ok] = np.nan
    prof["pca_x"], prof["pca_y"], prof["pca_z"] = xyz.T
    score = np.where(ok, np.abs(rng.normal(size=n)) * 4, np.nan)
    prof["anomaly_score"] = score
    top = np.argsort(-np.nan_to_num(score, nan=-1))[:50]
    anomalies = [{"path": paths[i], "label": str(lab[i]), "speaker": str(spk[i]), "split": str(split[i]),
                  "score": float(score[i]), "reasons": ["far from its label's spectrum", "low SNR 3 dB"],
                  "flags": ["low_snr", "far_from_label"]} for i in top]
    a, b = int(np.flatnonzero(ok)[0]), int(np.flatnonzero(ok)[1])
    duplicates = [{"kind": "exact", "paths": [paths[a], paths[b]], "labels": [str(lab[a]), str(lab[b])],
                   "splits": [str(split[a]), str(split[b])], "similarity": 1.0,
                   "cross_split": bool(split[a] != split[b])}]
    c = int(np.flatnonzero(ok)[2])
    quality = {"counts": {"clipping": 1, "near_silent": 0, "low_snr": 50},
               "worst": {"clipping": [{"path": paths[c], "label": str(lab[c]), "value": 0.1,
                                       "reason": "clipping 10%"}],
                         "low_snr": [{"path": anomalies[0]["path"], "label": anomalies[0]["label"], "value": 3.0,
                                      "reason": "low SNR 3 dB"}]},
               "n_checked": int(ok.sum())}
    freqs = (np.arange(256) + 0.5) * 31.25
    mean_fft = MeanSpectrum(freqs, {l: np.abs(rng.normal(size=256)) for l in labels}, {}, "exactly-1-s clips")
    mean_spec = MeanLogSpectrogram(np.arange(99) * 0.01 + 0.01, np.arange(161) * 50.0,
                                   {l: rng.normal(size=(99, 161)) for l in labels}, {}, "exactly-1-s clips")
    violins = {hz: {l: rng.normal(size=200).astype(np.float32) for l in labels} for hz in (1000.0, 2500.0, 6000.0)}
    return Exploration(summary=summary, profiles=prof, mean_fft=mean_fft, mean_logspec=mean_spec, violins=violins,
                       anomalies=anomalies, duplicates=duplicates, quality=quality)


class PlaceholderRenderer(FigureRenderer):
    """Draws plotly figures for real and stands in for matplotlib PNGs with incompressible bytes of
    a realistic size (what the page's size depends on, without the seconds of drawing)."""

    def __init__(self, png_bytes: int = 120_000):
        super().__init__(None, workers=1)
        self.png_bytes = png_bytes

    def render(self, tasks):
        rng = np.random.default_rng(0)
        return [render_task(t) if t.fmt == "json" else rng.bytes(self.png_bytes) for t in tasks]


def noise_clips(paths, seconds: float = 1.0, sr: int = 16000) -> dict:
    """White noise for each path: the worst case for FLAC (incompressible)."""
    rng = np.random.default_rng(1)
    return {p: ((rng.random(int(sr * seconds)) - 0.5) * 0.5).astype(np.float32) for p in paths}


def strip_scripts(page: str) -> str:
    return re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S | re.I)


# --------------------------------------------------------------------------- the page


def test_every_section_present_offline_and_plotly_once():
    ex = synthetic_exploration(400)
    plan = plan_report(ex)
    clips = {p: (y, 16000) for p, y in noise_clips(plan.clip_paths()).items()}
    page = render_report(ex, clips, plan=plan, renderer=PlaceholderRenderer(2000)).html
    for sid in SECTION_IDS:
        assert f'id="{sid}"' in page, sid
    markup = strip_scripts(page)
    assert not re.search(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", markup, re.I)
    assert not re.search(r"<link\b|@import|url\(\s*['\"]?https?:", markup, re.I)
    js = plotly_js_inline()
    for probe in (js[:2000], js[len(js) // 2: len(js) // 2 + 2000]):
        assert page.count(probe) == 1
    # every player refers to embedded audio, every plot to its embedded JSON
    audio = json.loads(re.search(r'<script type="application/json" id="kw-audio">(.*?)</script>', page, re.S)
                       .group(1).replace("<\\/", "</"))
    refs = set(re.findall(r'data-clip="([^"]+)"', page))
    assert refs and refs <= set(audio)
    assert all(uri.startswith(("data:audio/flac;base64,", "data:audio/ogg;base64,")) for uri in audio.values())
    assert any(uri.startswith("data:audio/flac;") for uri in audio.values())
    for spec in re.findall(r'data-spec="([^"]+)"', page):
        assert f'id="{spec}"' in page


def test_size_bound_with_100000_files():
    ex = synthetic_exploration(100_000, n_broken=2000)
    opt = ReportOptions()
    plan = plan_report(ex, opt)
    clips = {p: (y, 16000) for p, y in noise_clips(plan.clip_paths()).items()}
    r = render_report(ex, clips, plan=plan, options=opt, renderer=PlaceholderRenderer())
    assert r.size_bytes == len(r.html.encode()) < LIMIT
    assert r.n_audio > 50
    m = r.description["report"]["anomaly_map"]
    assert m["sampled"] and m["points_shown"] <= opt.max_map_points + 1 and m["points_total"] == 98_000
    shown = set(ex.profiles["path"].to_numpy()[plan.map_rows])
    assert {a["path"] for a in ex.anomalies} <= shown  # outliers are never decimated away
    assert set(m["playable"]) <= shown
    # every broken file is named in the page
    broken = ex.summary.broken_files
    assert len(broken) == 2000 and all(b["path"] in r.html for b in broken)


def test_json_description_matches_page(tmp_path):
    ex = synthetic_exploration(300, n_broken=4, labels=("yes", "no", "up"))
    r = build_report("/data/synthetic", tmp_path / "r.html", json_output=tmp_path / "r.json",
                     explore_fn=lambda *a, **k: ex)
    doc = json.loads((tmp_path / "r.json").read_text())
    page = (tmp_path / "r.html").read_text()
    assert doc == json.loads(json.dumps(r.description))
    assert doc["report"]["sections"] == list(SECTION_IDS)
    assert [f["kind"] for f in doc["findings"]] == [f.kind for f in r.findings]
    for f in r.findings:
        assert f.title in page
    assert {b["path"] for b in doc["broken_files"]} == {b["path"] for b in ex.summary.broken_files}
    assert all(b["path"] in page and b["error"] in page for b in doc["broken_files"])
    assert doc["exploration"]["summary"]["n_files"] == 300
    assert doc["strict"]["would_fail"] and "broken_files" in doc["strict"]["problems"]
    assert set(doc["report"]["anomaly_map"]["playable"]) == set()  # no audio given: nothing playable


def test_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("old report")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_atomic(target, "new" * 1000)
    assert target.read_text() == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# --------------------------------------------------------------------------- real datasets, CLI


def _folder_dataset(root: Path) -> Path:
    """Folder-per-label: two words, three clips each (no speakers), two broken files."""
    rng = np.random.default_rng(3)
    for label, f0 in (("alpha", 300.0), ("beta", 900.0)):
        for i in range(3):
            y = np.zeros(16000, np.float32)
            y[3000:11000] = tone(f0 * (1 + 0.05 * i), seconds=0.5) * np.hanning(8000).astype(np.float32)
            y += rng.normal(0, 0.002, 16000).astype(np.float32)
            write_wav(root / label / f"take{i}.wav", y)
    (root / "beta" / "damaged.wav").write_bytes(b"RIFF\x00\x00")  # the index finds it (bad header)
    y = tone(seconds=0.5)
    y[100:110] = np.nan
    write_wav(root / "beta" / "nan.wav", y, subtype="FLOAT")  # a good header: only decoding finds it
    return root


def test_cli_report_on_folder_dataset_json_cache_and_strict(tmp_path, cache_dir):
    data = _folder_dataset(tmp_path / "words")
    out = tmp_path / "out" / "report.html"
    args = ["report", str(data), "-o", str(out), "--json", "--cache", str(tmp_path / "cache"), "--workers", "1",
            "--no-progress"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out.resolve())
    page = out.read_text()
    doc = json.loads(out.with_suffix(".json").read_text())
    for sid in SECTION_IDS:
        assert f'id="{sid}"' in page
    assert [b["path"] for b in doc["broken_files"]] == ["beta/damaged.wav", "beta/nan.wav"]
    for b in doc["broken_files"]:
        assert b["path"] in page and b["error"] and b["error"] in page
    assert "NaN/Inf" in doc["broken_files"][1]["error"]
    assert doc["exploration"]["summary"]["labels"] == ["alpha", "beta"]
    assert set(doc["report"]["examples"]) == {"alpha", "beta"}
    assert doc["report"]["figures"]["drawn"] > 0

    # unchanged dataset: profiles and figures come from the cache; --strict names the problem
    res = CliRunner().invoke(main, args + ["--strict"])
    assert res.exit_code == 1
    assert "strict: 2 broken files" in res.stderr
    doc2 = json.loads(out.with_suffix(".json").read_text())
    assert doc2["report"]["figures"]["drawn"] == 0
    assert doc2["exploration"]["pass_info"]["cache_hits"] == doc2["exploration"]["pass_info"]["chunks"]
    assert doc2["findings"] == doc["findings"]

    # --json=- : one JSON document on stdout, the page's path on stderr
    res = CliRunner().invoke(main, args[:4] + ["--json=-", "--top", "5"] + args[5:])
    assert res.exit_code == 0, res.output
    doc3 = json.loads(res.stdout)
    assert doc3["report"]["options"]["top"] == 5 and str(out.resolve()) in res.stderr


def test_cli_unusable_data_is_exit_2_one_line(tmp_path):
    res = CliRunner().invoke(main, ["report", str(tmp_path / "missing"), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "no such file or folder" in res.stderr
    assert "Traceback" not in res.output and not (tmp_path / "r.html").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(main, ["report", str(empty), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and res.stderr.strip().count("\n") == 0


def test_report_on_fsdd_subset(fsdd_dir, tmp_path, cache_dir):
    data = tmp_path / "fsdd"
    data.mkdir()
    for digit in (0, 1):
        for speaker in ("jackson", "theo"):
            for take in (0, 1):
                name = f"{digit}_{speaker}_{take}.wav"
                shutil.copy(fsdd_dir / name, data / name)
    r = build_report(data, tmp_path / "fsdd.html", json_output=tmp_path / "fsdd.json", settings=RunSettings(workers=1, cache_dir=cache_dir, progress=False))
    s = r.exploration.summary
    assert s.layout == "fsdd" and s.labels == ["0", "1"] and s.n_files == 8
    page = r.html_path.read_text()
    assert all(f'id="{sid}"' in page for sid in SECTION_IDS)
    assert set(r.plan.examples) == {"0", "1"}
    assert "Resampling to 4 kHz" in page  # FSDD is already 8 kHz: the section halves it
    assert r.rendered.n_audio >= 3 and not r.rendered.figure_errors


def test_demo_command_writes_the_full_report(tmp_path, demo_report, cache_dir):
    out = tmp_path / "demo-report.html"
    res = CliRunner().invoke(main, ["demo", "-o", str(out), "--cache", str(cache_dir), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out.resolve())
    page = out.read_text()
    assert all(f'id="{sid}"' in page for sid in SECTION_IDS)
    doc = json.loads(out.with_suffix(".json").read_text())
    planted = json.loads((Path(doc["exploration"]["summary"]["root"]) / "PLANTED.json").read_text())
    listed = {a["path"] for a in doc["exploration"]["anomalies"]}
    for p in planted["planted"]:
        if not p["problem"].startswith("duplicate"):
            assert p["path"] in listed, p
        assert p["path"] in page
    assert doc["strict"]["would_fail"]
    assert len(page.encode()) < LIMIT
