"""Checks on the committed demo dataset (src/kwscope/demo/data), made by scripts/make_demo_dataset.py.

Fast: reads ~150 small WAVs with soundfile.  The one slow test regenerates the set with espeak-ng
and compares bytes; it is skipped where espeak-ng is missing or has another version.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "kwscope" / "demo" / "data"
SCRIPT = ROOT / "scripts" / "make_demo_dataset.py"
WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
PROBLEM_KINDS = {"clipped", "near_silent", "noise_burst", "hum", "too_short", "duplicate", "wrong_sample_rate"}
NAME = re.compile(r"^(?P<label>[a-z]+)/(?P<speaker>[0-9a-f]{8})_nohash_(?P<take>\d+)\.wav$")


def dbfs(x: float) -> float:
    return 20 * np.log10(max(x, 1e-12))


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((DATA / "PLANTED.json").read_text())


@pytest.fixture(scope="module")
def planted(truth) -> dict[str, str]:
    return {p["path"]: p["problem"] for p in truth["planted"]}


@pytest.fixture(scope="module")
def clips() -> list[str]:
    """Relative paths of the word clips (not the background noise), '/'-separated."""
    return sorted(p.relative_to(DATA).as_posix() for p in DATA.glob("*/*.wav") if p.parent.name != "_background_noise_")


def read(rel: str, dtype: str = "float64") -> tuple[np.ndarray, int]:
    x, sr = sf.read(DATA / rel, dtype=dtype)
    return x, sr


def loudest_frame(x: np.ndarray, n: int = 1600) -> tuple[float, float]:
    """(RMS, spectral flatness) of the loudest 100-ms frame (hop 50 ms) of a 16-kHz clip."""
    best = (-1.0, 0.0)
    for i in range(0, len(x) - n + 1, n // 2):
        f = x[i : i + n]
        r = float(np.sqrt(np.mean(f**2)))
        if r > best[0]:
            s = np.abs(np.fft.rfft(f * np.hanning(n))) ** 2 + 1e-20
            best = (r, float(np.exp(np.mean(np.log(s))) / np.mean(s)))
    return best


def hum_fraction(x: np.ndarray, sr: int, mains: float = 50.0) -> float:
    """Share of the power within 3 Hz of the mains frequency and its first 5 harmonics."""
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    near = np.zeros_like(f, dtype=bool)
    for k in range(1, 7):
        near |= np.abs(f - k * mains) <= 3
    return float(p[near].sum() / p.sum())


# --- layout and format ---------------------------------------------------------------------------

def test_every_wav_is_readable_pcm16():
    wavs = sorted(DATA.rglob("*.wav"))
    assert len(wavs) > 100
    for p in wavs:
        info = sf.info(p)
        assert info.format == "WAV" and info.subtype == "PCM_16", p
        assert info.channels == 1, p
        x, _ = sf.read(p)
        assert len(x) == info.frames > 0, p
        assert np.all(np.isfinite(x)), p


def test_layout_is_speech_commands(clips):
    dirs = {p.name for p in DATA.iterdir() if p.is_dir()}
    assert dirs == set(WORDS) | {"_background_noise_"}
    for rel in clips:
        assert NAME.match(rel), rel
    for name in ("validation_list.txt", "testing_list.txt", "PLANTED.json", "README.md"):
        assert (DATA / name).is_file(), name


def test_all_labels_present_with_enough_clips(clips):
    counts = Counter(rel.split("/")[0] for rel in clips)
    assert set(counts) == set(WORDS)
    assert min(counts.values()) >= 8, counts


def test_speakers(clips, truth):
    speakers = {NAME.match(rel)["speaker"] for rel in clips}
    assert 8 <= len(speakers) <= 12
    assert speakers == set(truth["speakers"])


def test_ok_clips_are_16k_mono_1s_and_clean(clips, planted):
    ok = [rel for rel in clips if rel not in planted]
    assert len(ok) >= 100
    for rel in ok:
        info = sf.info(DATA / rel)
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000), rel
        x, _ = read(rel, "int16")
        peak = np.abs(x.astype(np.int32)).max() / 32768
        assert -20 < dbfs(peak) < -1, (rel, dbfs(peak))  # audible, never at full scale
        xf = x / 32768.0
        rms, flat = loudest_frame(xf)
        assert flat < 0.1, rel  # a word, not a noise burst
        assert hum_fraction(xf, 16000) < 0.3, rel


def test_background_noise():
    files = sorted((DATA / "_background_noise_").glob("*.wav"))
    assert len(files) >= 3
    for p in files:
        x, sr = sf.read(p)
        assert sr == 16000 and x.ndim == 1 and len(x) >= 3 * sr, p
        assert -40 < dbfs(float(np.sqrt(np.mean(x**2)))) < -10, p
        assert np.abs(x).max() < 1.0, p


# --- planted problems ----------------------------------------------------------------------------

def test_planted_list_covers_every_kind(truth, planted, clips):
    kinds = {p.split(":")[0] if p.startswith("duplicate_of:") else p for p in planted.values()}
    kinds = {"duplicate" if k == "duplicate_of" else k for k in kinds}
    assert kinds == PROBLEM_KINDS
    assert len(planted) == len(truth["planted"])  # one problem per path
    for rel in planted:
        assert rel in clips, rel
    labels = Counter(rel.split("/")[0] for rel in planted)
    assert len(labels) >= 5, "planted problems should be spread over labels"


def test_planted_problems_are_measurably_real(planted, clips):
    for rel, problem in planted.items():
        x16, sr = read(rel, "int16")
        x = x16 / 32768.0
        if problem == "clipped":
            ratio = np.mean(np.abs(x16.astype(np.int32)) >= 32767)
            assert ratio > 0.05, (rel, ratio)
        elif problem == "near_silent":
            assert dbfs(np.abs(x).max()) < -50, rel
        elif problem == "noise_burst":
            rms, flat = loudest_frame(x)
            assert dbfs(rms) > -20 and flat > 0.3, (rel, dbfs(rms), flat)
        elif problem == "hum":
            assert hum_fraction(x, sr) > 0.5, rel
        elif problem == "too_short":
            assert sr == 16000 and len(x) == 4800, (rel, len(x))  # 0.3 s
        elif problem == "wrong_sample_rate":
            assert sr == 8000, rel
            assert len(x) == 8000, rel  # still one second long
        elif problem.startswith("duplicate_of:"):
            src = problem.split(":", 1)[1]
            assert src in clips and src not in planted, src
            assert NAME.match(src)["speaker"] != NAME.match(rel)["speaker"]
            y16, sr2 = read(src, "int16")
            assert sr2 == sr and np.array_equal(x16, y16), rel
        else:
            pytest.fail(f"unknown planted problem {problem!r} for {rel}")


def test_no_accidental_duplicates(clips, planted):
    seen: dict[str, str] = {}
    for rel in clips:
        x, _ = read(rel, "int16")
        h = hashlib.sha1(x.tobytes()).hexdigest()
        if h in seen:
            assert planted.get(rel) == f"duplicate_of:{seen[h]}", (rel, seen[h])
        seen[h] = rel


# --- splits and leakage --------------------------------------------------------------------------

def split_lists() -> dict[str, list[str]]:
    return {s: (DATA / f"{s}_list.txt").read_text().splitlines() for s in ("validation", "testing")}


def test_split_lists_name_existing_clips(clips):
    lists = split_lists()
    clipset = set(clips)
    for split, lines in lists.items():
        assert lines, split
        assert len(lines) == len(set(lines)), split
        for line in lines:
            assert NAME.match(line), (split, line)
            assert line in clipset, (split, line)
    assert not set(lists["validation"]) & set(lists["testing"])


def test_exactly_the_planted_speaker_leaks(clips, truth):
    lists = split_lists()
    split_of = {rel: s for s, lines in lists.items() for rel in lines}
    splits_by_speaker: dict[str, set[str]] = defaultdict(set)
    for rel in clips:
        splits_by_speaker[NAME.match(rel)["speaker"]].add(split_of.get(rel, "train"))
    leaking = sorted(s for s, sp in splits_by_speaker.items() if len(sp) > 1)
    assert leaking == [truth["leaking_speaker"]]
    assert splits_by_speaker[truth["leaking_speaker"]] == {"train", "testing"}
    all_splits = set().union(*splits_by_speaker.values())
    assert all_splits == {"train", "validation", "testing"}


# --- size, docs, reproducibility -----------------------------------------------------------------

def test_total_size_under_10_mb():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total <= 10 * 1024 * 1024, total


def test_readme_says_how_and_licence(truth):
    text = (DATA / "README.md").read_text()
    for needle in ("espeak-ng", "CC0", "make_demo_dataset.py", truth["leaking_speaker"]):
        assert needle in text, needle


def _espeak_version() -> str | None:
    if shutil.which("espeak-ng") is None:
        return None
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True)
    return out.stdout.split("Data at")[0].strip()


@pytest.mark.slow
def test_generator_reproduces_committed_files(tmp_path, truth):
    version = _espeak_version()
    if version is None:
        pytest.skip("espeak-ng not installed")
    if version != truth["espeak_ng_version"]:
        pytest.skip(f"espeak-ng {version!r} differs from the one that made the set")
    out = tmp_path / "data"
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], check=True, capture_output=True)

    def digests(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    assert digests(out) == digests(DATA)
