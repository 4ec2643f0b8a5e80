"""Build a Speech-Commands-sized benchmark corpus from the Free Spoken Digit Dataset.

Each FSDD recording (8 kHz) is resampled to 16 kHz, padded (or cut) to exactly 1 s and replicated
with a random gain, time shift and background noise until ``n_files`` clips exist, laid out like
Speech Commands: ``<word>/<speaker>_nohash_<take>.wav`` (16-bit PCM, mono, 16 kHz). Replica ``v``
of FSDD speaker ``s`` becomes the Speech-Commands speaker ``sha1(f"{s}/{v}")[:8]``, so the
TensorFlow hash split keeps each (synthetic) speaker in one split.

Usage::

    python benchmarks/corpus.py /tmp/kwscope-corpus-60k [--n-files 60000] [--seed 0]

The output is deterministic for a given ``seed`` (file ``i`` only depends on ``seed`` and ``i``),
so a corpus of N files is the first N files of a larger one. Building 60,000 files takes well under
a minute on two cores; an existing complete corpus with the same parameters is reused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

__all__ = ["build_corpus", "FSDD_DIR", "WORDS"]

FSDD_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SAMPLE_RATE = 16000
_STAMP = ".kwscope-corpus.json"


def _load_sources(fsdd_dir: Path) -> list[tuple[str, str, int, np.ndarray]]:
    """(word, speaker, take, 1-s float32 clip at 16 kHz) for every FSDD recording, sorted by name."""
    sources = []
    for path in sorted(fsdd_dir.glob("*.wav")):
        digit, speaker, take = path.stem.split("_")
        y, sr = sf.read(path, dtype="float32", always_2d=True)
        y = y.mean(axis=1)
        if sr != SAMPLE_RATE:
            y = soxr.resample(y, sr, SAMPLE_RATE, quality="HQ").astype(np.float32)
        clip = np.zeros(SAMPLE_RATE, np.float32)
        n = min(len(y), SAMPLE_RATE)
        clip[:n] = y[:n]
        sources.append((WORDS[int(digit)], speaker, int(take), clip))
    if not sources:
        raise SystemExit(f"no FSDD recordings in {fsdd_dir}")
    return sources


def _variant(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One replica: random gain (-12..+3 dB of headroom), shift (up to 150 ms), noise (15..45 dB SNR)."""
    speech_len = int(np.flatnonzero(np.abs(clip) > 1e-4).max(initial=0)) + 1
    room = max(0, SAMPLE_RATE - speech_len)
    shift = int(rng.integers(0, min(room, 2400) + 1))
    y = np.zeros_like(clip)
    y[shift:] = clip[: SAMPLE_RATE - shift]
    peak = float(np.abs(y).max()) or 1.0
    y *= np.float32(10 ** (rng.uniform(-12.0, -1.0) / 20) / peak)
    power = float(np.mean(y[shift:shift + speech_len] ** 2)) or 1e-6
    snr_db = rng.uniform(15.0, 45.0)
    y += rng.standard_normal(SAMPLE_RATE, dtype=np.float32) * np.float32(np.sqrt(power / 10 ** (snr_db / 10)))
    return np.clip(y, -1.0, 32767 / 32768)


def build_corpus(out_dir: str | os.PathLike, n_files: int = 60000, *, seed: int = 0,
                 fsdd_dir: str | os.PathLike | None = None) -> Path:
    """Write ``n_files`` 1-s 16-kHz clips in the Speech Commands layout under ``out_dir``.

    Returns the corpus folder. If ``out_dir`` already holds a complete corpus built with the same
    ``n_files`` and ``seed``, it is returned as is.
    """
    out = Path(out_dir)
    params = {"n_files": int(n_files), "seed": int(seed), "version": 1}
    stamp = out / _STAMP
    if stamp.is_file() and json.loads(stamp.read_text()) == params:
        return out
    sources = _load_sources(Path(fsdd_dir) if fsdd_dir else FSDD_DIR)
    for word in WORDS:
        (out / word).mkdir(parents=True, exist_ok=True)
    pcm = np.empty(SAMPLE_RATE, np.int16)
    for i in range(int(n_files)):
        variant, k = divmod(i, len(sources))
        word, speaker, take, clip = sources[k]
        rng = np.random.default_rng([seed, i])
        y = _variant(clip, rng)
        np.multiply(y, 32768, out=pcm, casting="unsafe")
        sc_speaker = hashlib.sha1(f"{speaker}/{variant}".encode()).hexdigest()[:8]
        sf.write(out / word / f"{sc_speaker}_nohash_{take}.wav", pcm, SAMPLE_RATE, subtype="PCM_16")
    stamp.write_text(json.dumps(params))
    return out


def default_corpus_dir(n_files: int) -> Path:
    """The temp-folder corpus the benchmarks share for ``n_files`` (``kwscope-corpus-60k``)."""
    name = f"{n_files // 1000}k" if n_files % 1000 == 0 else str(n_files)
    return Path(tempfile.gettempdir()) / f"kwscope-corpus-{name}"


def corpus_for(data: str | os.PathLike | None, n_files: int) -> Path:
    """``data`` when given (an existing corpus), else the shared default corpus, built if missing."""
    if data is not None:
        return Path(data)
    out = default_corpus_dir(n_files)
    print(f"corpus: {out} (built if missing) ...", file=sys.stderr, flush=True)
    return build_corpus(out, n_files)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="folder to write (outside the repository), e.g. /tmp/kwscope-corpus-60k")
    parser.add_argument("--n-files", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parents[1]
    if Path(args.out_dir).resolve().is_relative_to(repo):
        parser.error("write the corpus outside the repository (e.g. /tmp/kwscope-corpus-60k)")
    t0 = time.perf_counter()
    out = build_corpus(args.out_dir, args.n_files, seed=args.seed)
    print(f"{args.n_files:,} files in {out} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
