#!/usr/bin/env python3
"""Generate the bundled kwscope demo dataset (a tiny synthetic Speech Commands look-alike).

The set is written to ``src/kwscope/demo/data/`` (or ``--out DIR``) in the Google Speech Commands
layout::

    <label>/<speaker>_nohash_<take>.wav      16-bit PCM, mono, 16 kHz, 1 s (16000 samples)
    _background_noise_/*.wav                 ~5 s synthetic noises, 16 kHz
    validation_list.txt, testing_list.txt    per-speaker splits (one speaker deliberately leaks)
    PLANTED.json                             ground truth of the deliberately bad clips
    README.md                                how it was made, licence

Words are spoken by espeak-ng voices (one "speaker" = one voice + pitch + speed + a simulated
recording channel), placed at a random offset inside one second, with low-level noise at a
speaker-specific SNR.  A handful of clips are deliberately broken (clipped, near-silent, noise
burst, hum, too short, exact duplicate, 8 kHz) and listed in ``PLANTED.json``.

Everything is seeded: re-running the script with the same espeak-ng version gives byte-identical
files.  A different espeak-ng version may change the synthesized waveforms.

Usage::

    python scripts/make_demo_dataset.py [--out DIR] [--seed N]

Needs: espeak-ng on PATH, numpy, scipy, soundfile, soxr.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal as sps
import soundfile as sf
import soxr

SR = 16_000  # Hz, target sample rate
CLIP_N = SR  # samples, 1 s
SEED = 20_170_824  # the Speech Commands v0.01 release month, as good a seed as any
WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "kwscope" / "demo" / "data"


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an espeak-ng voice, its pitch/speed and a recording channel."""

    voice: str  # espeak-ng -v
    pitch: int  # espeak-ng -p, 0..99
    speed: int  # espeak-ng -s, words per minute
    split: str  # train / validation / testing
    highpass_hz: float  # channel low cut
    lowpass_hz: float  # channel high cut (device bandwidth)
    snr_db: float  # speech-to-noise ratio of the background floor
    noise_color: str  # white / pink / brown
    level_dbfs: float  # typical peak level of the speech


VOICES: list[Voice] = [
    Voice("en-us", 50, 165, "train", 80, 7600, 32, "pink", -6),
    Voice("en-gb+m3", 40, 150, "train", 120, 6800, 28, "white", -9),
    Voice("en-gb-scotland", 45, 140, "train", 60, 7200, 35, "brown", -5),
    Voice("en-029", 55, 170, "train", 150, 5500, 24, "pink", -11),
    Voice("en-us+f3", 70, 155, "train", 100, 7000, 30, "white", -7),
    Voice("en-gb+f4", 62, 175, "train", 200, 4200, 22, "pink", -10),
    Voice("en-gb-x-rp+m1", 35, 145, "validation", 70, 7400, 33, "brown", -6),
    Voice("en-us-nyc+f2", 78, 160, "validation", 180, 6000, 26, "white", -8),
    Voice("en-gb-x-gbclan+m7", 30, 135, "testing", 90, 6500, 29, "pink", -7),
    Voice("en-gb-x-gbcwmd+f5", 68, 150, "testing", 130, 7800, 25, "brown", -9),
]
LEAKING = 9  # index into VOICES: a testing speaker, half of whose clips also sit in train

# Planted problems: (word, voice index, take) -> problem.  Spread over labels and speakers, never on
# the leaking speaker, always on take 0 (which every speaker has for every word).
PLANTED = {
    ("go", 1, 0): "clipped",
    ("up", 3, 0): "near_silent",
    ("left", 4, 0): "noise_burst",
    ("on", 6, 0): "hum",
    ("stop", 2, 0): "too_short",
    ("down", 5, 0): "wrong_sample_rate",
    ("yes", 7, 0): "duplicate",  # a copy of DUPLICATE_SOURCE under voice 7's name
}
DUPLICATE_SOURCE = ("yes", 0, 0)


def speaker_id(seed: int, index: int) -> str:
    """Eight lowercase hex characters, like Speech Commands' speaker hashes."""
    return hashlib.sha1(f"kwscope-demo:{seed}:{index}".encode()).hexdigest()[:8]


def clip_rng(seed: int, *key: int) -> np.random.Generator:
    """An independent generator per clip, so one change does not reshuffle every other clip."""
    return np.random.default_rng([seed, *key])


def espeak_version() -> str:
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split("Data at")[0].strip()


def synthesize(word: str, voice: str, pitch: int, speed: int, tmp: Path) -> np.ndarray:
    """Speak ``word`` with espeak-ng, return float64 mono at 16 kHz."""
    wav = tmp / "tts.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-a", "120", "-w", str(wav), word],
        check=True,
        capture_output=True,
    )
    x, sr = sf.read(wav, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr != SR:
        x = soxr.resample(x, sr, SR, quality="HQ")
    return x


def trim(x: np.ndarray, pad_s: float = 0.015) -> np.ndarray:
    """Cut the synthesized word out of espeak's leading/trailing silence."""
    frame = int(0.005 * SR)
    n = len(x) // frame
    e = np.sqrt((x[: n * frame].reshape(n, frame) ** 2).mean(axis=1))
    active = np.flatnonzero(e > 0.02 * e.max())
    pad = int(pad_s * SR)
    start = max(active[0] * frame - pad, 0)
    stop = min((active[-1] + 1) * frame + pad, len(x))
    return x[start:stop]


def fade(x: np.ndarray, n_in: int = 80, n_out: int = 160) -> np.ndarray:
    x = x.copy()
    n_in, n_out = min(n_in, len(x) // 2), min(n_out, len(x) // 2)
    x[:n_in] *= np.linspace(0.0, 1.0, n_in)
    x[len(x) - n_out :] *= np.linspace(1.0, 0.0, n_out)
    return x


def colored_noise(rng: np.random.Generator, n: int, color: str) -> np.ndarray:
    """Unit-RMS white, pink (1/f power) or brown (1/f^2 power) noise, shaped in the FFT domain."""
    w = rng.standard_normal(n)
    if color != "white":
        spec = np.fft.rfft(w)
        f = np.fft.rfftfreq(n, 1.0 / SR)
        f[0] = f[1]
        f = np.maximum(f, 20.0)  # no runaway DC in brown noise
        spec *= f ** (-0.5 if color == "pink" else -1.0)
        w = np.fft.irfft(spec, n)
    return w / np.sqrt(np.mean(w**2))


def channel(x: np.ndarray, v: Voice) -> np.ndarray:
    """A crude recording device: band-limit to [highpass, lowpass]."""
    sos = sps.butter(4, [v.highpass_hz, v.lowpass_hz], btype="bandpass", fs=SR, output="sos")
    return sps.sosfilt(sos, x)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def render_clip(word: str, vi: int, take: int, seed: int, tmp: Path) -> tuple[np.ndarray, dict]:
    """One ordinary clip: speech at a random offset in 1 s, channel, gain, noise floor."""
    v = VOICES[vi]
    rng = clip_rng(seed, vi, WORDS.index(word), take)
    pitch = int(np.clip(v.pitch + rng.integers(-6, 7), 0, 99))
    speed = int(v.speed + rng.integers(-12, 13))
    speech = trim(synthesize(word, v.voice, pitch, speed, tmp))
    speech = channel(speech, v)
    max_len = CLIP_N - int(0.08 * SR)
    if len(speech) > max_len:
        speech = speech[:max_len]
    speech = fade(speech)
    lead = int(rng.integers(int(0.03 * SR), CLIP_N - len(speech) - int(0.03 * SR) + 1))
    y = np.zeros(CLIP_N)
    y[lead : lead + len(speech)] = speech
    peak_db = v.level_dbfs + rng.uniform(-2.5, 2.5)
    y *= 10 ** (peak_db / 20) / np.max(np.abs(y))
    speech_rms = rms(y[lead : lead + len(speech)])
    snr = v.snr_db + rng.uniform(-2.0, 2.0)
    y += colored_noise(rng, CLIP_N, v.noise_color) * speech_rms * 10 ** (-snr / 20)
    meta = {"pitch": pitch, "speed": speed, "onset_s": lead / SR, "word_s": len(speech) / SR,
            "peak_dbfs": round(peak_db, 2), "snr_db": round(snr, 2)}
    return y, meta


# --- the planted problems -------------------------------------------------------------------------

def plant(problem: str, y: np.ndarray, meta: dict, rng: np.random.Generator) -> tuple[np.ndarray, int, str]:
    """Turn a good clip ``y`` into a bad one.  Returns (samples, sample_rate, detail)."""
    on, dur = int(meta["onset_s"] * SR), int(meta["word_s"] * SR)
    if problem == "clipped":
        # gain so that ~10% of the samples exceed full scale, then hard-clip (as an overdriven ADC)
        g = 1.0 / np.quantile(np.abs(y), 0.90)
        z = np.clip(y * g, -1.0, 1.0)
        return z, SR, f"gain x{g:.1f}, hard-clipped at full scale"
    if problem == "near_silent":
        z = y * (10 ** (-56 / 20) / np.max(np.abs(y)))
        return z, SR, "whole clip scaled to a peak of -56 dBFS"
    if problem == "noise_burst":
        n = int(0.3 * SR)
        start = int(np.clip(on + dur // 2 - n // 2, 0, CLIP_N - n))
        burst = rng.standard_normal(n)
        burst *= np.hanning(n) ** 0.25  # quick attack/decay, flat top
        burst *= 10 ** (-8 / 20) / rms(burst)  # -8 dBFS RMS: far above the speech
        z = y.copy()
        z[start : start + n] += burst
        z *= 0.98 / max(np.max(np.abs(z)), 0.98)
        return z, SR, f"white-noise burst {start / SR:.3f}-{(start + n) / SR:.3f} s at -8 dBFS RMS over the word"
    if problem == "hum":
        t = np.arange(CLIP_N) / SR
        phases = rng.uniform(0, 2 * np.pi, 5)
        amps = [1.0, 0.6, 0.45, 0.3, 0.2]
        hum = sum(a * np.sin(2 * np.pi * 50 * (k + 1) * t + p) for k, (a, p) in enumerate(zip(amps, phases)))
        hum *= 10 ** (-10 / 20) / rms(hum)  # -10 dBFS RMS mains hum
        z = y + hum
        z *= 0.95 / max(np.max(np.abs(z)), 0.95)
        return z, SR, "50 Hz mains hum with 4 harmonics at -10 dBFS RMS"
    if problem == "too_short":
        n = int(0.3 * SR)
        start = max(on - int(0.05 * SR), 0)
        z = fade(y[start : start + n], 40, 400)
        return z, SR, f"recording cut to {n} samples (0.3 s): only the start of the word"
    if problem == "wrong_sample_rate":
        z = soxr.resample(y, SR, 8000, quality="HQ")
        return z, 8000, "same 1 s clip resampled to and written at 8 kHz"
    raise ValueError(problem)


# --- background noise ----------------------------------------------------------------------------

def background(seed: int) -> dict[str, np.ndarray]:
    n = 5 * SR
    rng = np.random.default_rng([seed, 999])
    out = {}
    for color in ("white", "pink", "brown"):
        x = colored_noise(rng, n, color) * 10 ** (-20 / 20)
        out[f"{color}_noise.wav"] = fade(x, 800, 800)
    # "running tap": band-limited hiss with slow random flutter and little droplet resonances
    hiss = colored_noise(rng, n, "white")
    hiss = sps.sosfilt(sps.butter(4, [900, 5200], btype="bandpass", fs=SR, output="sos"), hiss)
    flutter = sps.sosfilt(sps.butter(2, 6, fs=SR, output="sos"), rng.standard_normal(n))
    hiss *= 1.0 + 4.0 * flutter / np.std(flutter) * 0.15
    drops = np.zeros(n)
    for pos in rng.integers(0, n - 2000, 90):
        f0 = rng.uniform(600, 2400)
        tt = np.arange(1200) / SR
        drops[pos : pos + 1200] += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * f0 * tt * (1 + 2 * tt)) * np.exp(-tt * 90)
    tap = hiss / rms(hiss) + 0.8 * drops / rms(drops)
    out["running_tap.wav"] = fade(tap / rms(tap) * 10 ** (-18 / 20), 800, 800)
    return out


def write_wav(path: Path, x: np.ndarray, sr: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.clip(x, -1.0, 32767 / 32768)
    sf.write(path, x, sr, subtype="PCM_16", format="WAV")


def build(out: Path, seed: int) -> dict:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng not found on PATH (apt-get install espeak-ng)")
    if out.exists():  # regenerate from scratch, but only what this script owns
        for child in out.iterdir():
            if child.is_dir() and (child.name in WORDS or child.name == "_background_noise_"):
                shutil.rmtree(child)
            elif child.name in {"validation_list.txt", "testing_list.txt", "PLANTED.json", "README.md"}:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    ids = [speaker_id(seed, i) for i in range(len(VOICES))]
    assert len(set(ids)) == len(ids)

    # how many takes each speaker records of each word: 1 or 2
    takes_rng = np.random.default_rng([seed, 1])
    n_takes = {(w, vi): 1 + int(takes_rng.random() < 0.5) for vi in range(len(VOICES)) for w in WORDS}

    rendered: dict[tuple[str, int, int], tuple[np.ndarray, dict]] = {}
    splits: dict[str, list[str]] = {"validation": [], "testing": []}
    planted = []
    leak_rng = np.random.default_rng([seed, 2])
    leak_train_words = set(leak_rng.choice(WORDS, size=len(WORDS) // 2, replace=False).tolist())
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for vi in range(len(VOICES)):
            for w in WORDS:
                for take in range(n_takes[(w, vi)]):
                    rendered[(w, vi, take)] = render_clip(w, vi, take, seed, tmp)
    for (w, vi, take), (y, meta) in rendered.items():
        rel = f"{w}/{ids[vi]}_nohash_{take}.wav"
        problem = PLANTED.get((w, vi, take))
        sr = SR
        if problem == "duplicate":
            src = DUPLICATE_SOURCE
            y = rendered[src][0]
            src_rel = f"{src[0]}/{ids[src[1]]}_nohash_{src[2]}.wav"
            planted.append({"path": rel, "problem": f"duplicate_of:{src_rel}",
                            "detail": f"exact copy of {src_rel} (another speaker) under {ids[vi]}'s name"})
        elif problem is not None:
            y, sr, detail = plant(problem, y, meta, clip_rng(seed, 7, vi, WORDS.index(w), take))
            planted.append({"path": rel, "problem": problem, "detail": detail})
        write_wav(out / rel, y, sr)
        split = VOICES[vi].split
        if vi == LEAKING and w in leak_train_words:
            split = "train"
        if split in splits:
            splits[split].append(rel)

    bg = out / "_background_noise_"
    for name, x in background(seed).items():
        write_wav(bg / name, x, SR)

    for split, files in splits.items():
        (out / f"{split}_list.txt").write_text("".join(f"{p}\n" for p in sorted(files)))

    truth = {
        "generator": "scripts/make_demo_dataset.py",
        "seed": seed,
        "espeak_ng_version": espeak_version(),
        "leaking_speaker": ids[LEAKING],
        "planted": sorted(planted, key=lambda d: d["path"]),
        "speakers": {
            ids[i]: {"voice": v.voice, "pitch": v.pitch, "speed": v.speed, "split": v.split,
                     "snr_db": v.snr_db, "noise": v.noise_color,
                     "band_hz": [v.highpass_hz, v.lowpass_hz]}
            for i, v in enumerate(VOICES)
        },
    }
    (out / "PLANTED.json").write_text(json.dumps(truth, indent=2) + "\n")
    (out / "README.md").write_text(readme(truth, n_clips=len(rendered)))
    return truth


def readme(truth: dict, n_clips: int) -> str:
    rows = "\n".join(f"| `{p['path']}` | `{p['problem']}` | {p['detail']} |" for p in truth["planted"])
    spk = "\n".join(f"| `{k}` | `{s['voice']}` | {s['pitch']} | {s['speed']} | {s['split']} |"
                    for k, s in truth["speakers"].items())
    return f"""# kwscope demo dataset

A tiny, fully synthetic stand-in for Google Speech Commands, bundled so that `kwscope demo` runs
anywhere without a network.  Generated by `scripts/make_demo_dataset.py` (seed {truth['seed']}) with
{truth['espeak_ng_version']}.

## Contents
- {n_clips} clips of the 10 command words `{' '.join(WORDS)}`, laid out as
  `<word>/<speaker>_nohash_<take>.wav`: 16-bit PCM, mono, 16 kHz, 1 s (16000 samples), except the
  planted problems below.
- {len(truth['speakers'])} synthetic speakers.  A speaker is an espeak-ng voice with its own pitch
  (`-p`) and speed (`-s`), jittered per take, a band-limited "recording channel", its own noise
  floor (white/pink/brown noise at a speaker-specific SNR of about 22-35 dB) and level.  The word is
  placed at a random offset inside the second.  Speaker ids are 8 hex characters derived from the
  seed.
- `_background_noise_/`: 5-s synthetic white, pink and brown noise and a "running tap"
  (band-passed fluttering hiss with droplet chirps).
- `validation_list.txt`, `testing_list.txt`: splits assigned per speaker, as in Speech Commands;
  files in neither list are training files.  One speaker deliberately leaks: `{truth['leaking_speaker']}`
  is a testing speaker, but half of its words are in train.

| speaker | espeak-ng voice | pitch | speed (wpm) | split |
|---|---|---|---|---|
{spk}

## Planted problems (ground truth in `PLANTED.json`)
| path | problem | how |
|---|---|---|
{rows}

## Reproducing
`python scripts/make_demo_dataset.py` rewrites this folder.  Everything is seeded, so the same
espeak-ng version gives byte-identical files; another espeak-ng version (or voice data) may change
the synthesized waveforms, and with them every derived number.

## Licence
Generated data, no recordings of people.  The audio files and lists in this folder are released
into the public domain under CC0 1.0.  espeak-ng (GPL-3.0) was used as a tool to synthesize the
speech; no espeak-ng code or data files are included here.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: the package's demo/data)")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    truth = build(args.out, args.seed)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    n_wav = sum(1 for _ in args.out.rglob("*.wav"))
    print(f"wrote {n_wav} wav files, {total / 1e6:.2f} MB to {args.out}; "
          f"{len(truth['planted'])} planted problems, leaking speaker {truth['leaking_speaker']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
