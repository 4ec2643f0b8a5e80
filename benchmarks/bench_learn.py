"""Benchmark of ``kwscope learn``: are planted mislabels found, and how fast is a large corpus?

1. Planted mislabels. A Speech Commands-shaped corpus is built from the Free Spoken Digit Dataset
   (every recording resampled to 16 kHz and padded or cut to 1 s:
   ``<word>/<speaker>_nohash_<digit * 100 + take>.wav``),
   then 1% of its clips (seeded) are moved into a wrong label's folder, five times with different seeds
   (30 planted clips make one planting's recall move in steps of 3.3%). ``learn`` runs on it; the
   recall of the planted clips among the top k of the likely-mislabel ranking (k = 2 x planted)
   and the precision there are printed, with the accuracy of the baseline. Target: recall >= 80%.
2. Timing. ``learn`` on a large corpus (default ``/tmp/kwscope-corpus-60k``, built by
   ``benchmarks/corpus.py``): files/s, peak RSS of this process and its workers, and each phase's
   share of the time.

Usage::

    python benchmarks/bench_learn.py [--work /tmp/learn-bench] [--corpus /tmp/kwscope-corpus-60k]
        [--workers 2] [--fraction 0.01] [--seed 0] [--plants 5] [--skip-timing] [--skip-plants]
        [--model logreg|mlp|cnn] [--epochs N] [--features STORE]

``--model cnn`` needs PyTorch (``pip install 'kwscope[torch]'``); ``--features STORE`` times the
run on a ``kwscope features --kind mel`` store of the timing corpus instead of its audio.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def build_fsdd16(fsdd: Path, out: Path) -> list[tuple[str, str]]:
    """FSDD at 16 kHz, 1 s, Speech Commands layout; returns (word, relative path) of every clip."""
    stamp = out / ".complete"
    clips = []
    for path in sorted(fsdd.glob("*.wav")):
        digit, speaker, take = path.stem.split("_")
        # The take numbers the digit too (digit * 100 + take): a clip moved to another folder keeps a
        # name of its own there.
        clips.append((WORDS[int(digit)], f"{WORDS[int(digit)]}/{speaker}_nohash_{int(digit) * 100 + int(take)}.wav",
                      path))
    if not stamp.is_file():
        if out.exists():
            shutil.rmtree(out)
        for word, rel, src in clips:
            y, sr = sf.read(src, dtype="float32")
            y = soxr.resample(y, sr, 16000, quality="HQ").astype(np.float32)[:16000]
            y = np.pad(y, (0, 16000 - y.shape[0]))
            (out / word).mkdir(parents=True, exist_ok=True)
            sf.write(out / rel, y, 16000, subtype="PCM_16")
        stamp.write_text("ok\n")
    return [(w, r) for w, r, _ in clips]


def plant(clean: Path, planted_dir: Path, clips: list[tuple[str, str]], fraction: float, seed: int) -> set[str]:
    """Copy the clean corpus (hard links) with ``fraction`` of its clips moved to a wrong label."""
    if planted_dir.exists():
        shutil.rmtree(planted_dir)
    rng = np.random.default_rng(seed)
    n = max(1, round(fraction * len(clips)))
    chosen = set(rng.choice(len(clips), n, replace=False).tolist())
    moved = set()
    for i, (word, rel) in enumerate(clips):
        target = rel
        if i in chosen:
            wrong = rng.choice([w for w in WORDS if w != word])
            target = f"{wrong}/{Path(rel).name}"
            moved.add(target)
        (planted_dir / target).parent.mkdir(parents=True, exist_ok=True)
        os.link(clean / rel, planted_dir / target)
    return moved


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory (MB) of this process, and of its largest finished child."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/learn-bench")
    ap.add_argument("--corpus", default="/tmp/kwscope-corpus-60k")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--fraction", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0, help="Seed of the first planting and of the baseline.")
    ap.add_argument("--plants", type=int, default=5, help="Plantings (each a different seed), averaged.")
    ap.add_argument("--model", default="logreg")
    ap.add_argument("--epochs", type=int, default=None, help="--model cnn: passes over the training clips.")
    ap.add_argument("--features", default=None, help="Timing: read this feature store of the corpus.")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--skip-plants", action="store_true")
    args = ap.parse_args()

    from kwscope.learn.run import learn
    from kwscope.settings import RunSettings

    if not FSDD.is_dir():
        print(f"FSDD not found at {FSDD}", file=sys.stderr)
        return 2
    work = Path(args.work)
    clips = build_fsdd16(FSDD, work / "fsdd16")
    settings = RunSettings(workers=args.workers, progress=False)
    print(f"Planted mislabels: {args.fraction:.1%} of the {len(clips):,} FSDD clips (16 kHz, 1 s) moved to a wrong "
          f"label folder, {args.plants} plantings (seeds {args.seed}..{args.seed + args.plants - 1}); "
          "recall and precision of the planted clips in the top k = 2 x planted of the ranking [target recall >= 80%]")
    recalls, cl_recalls = [], []
    for s in range(args.seed, args.seed + (0 if args.skip_plants else args.plants)):
        planted = plant(work / "fsdd16", work / "planted", clips, args.fraction, s)
        t = time.perf_counter()
        b = learn(work / "planted", settings=settings, model=args.model, seed=args.seed, epochs=args.epochs)
        seconds = time.perf_counter() - t
        k = 2 * len(planted)
        top = [r["path"] for r in b.mislabel_records(k)]
        hits = sum(p in planted for p in top)
        all_flagged = {r["path"] for r in b.mislabel_records()}
        cl = [r["path"] for r in b.mislabel_records() if r["confident_learning"]]
        cl_hits = sum(p in planted for p in cl[:k])
        recalls.append(hits / len(planted))
        cl_recalls.append(cl_hits / len(planted))
        print(f"  planting {s}: {len(planted)} planted; accuracy {b.accuracy['accuracy']:.3f}; top {k}: recall "
              f"{hits / len(planted):.1%} ({hits}/{len(planted)}), precision {hits / max(1, len(top)):.1%}; "
              f"confident learning's own list ({len(cl)} clips): recall in its top {k} {cl_hits / len(planted):.1%}; "
              f"{len(planted & all_flagged)}/{len(planted)} planted among the {len(all_flagged):,} heard as another "
              f"label; {seconds:.1f} s")
    if recalls:
        print(f"  mean recall in the top 2 x planted: {np.mean(recalls):.1%} (min {min(recalls):.1%}); confident "
              f"learning's list alone: {np.mean(cl_recalls):.1%}; model: {args.model}; validation: {b.folds['how']}")
    if args.skip_timing:
        return 0
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        print(f"timing skipped: {corpus} not found (build it with benchmarks/corpus.py {corpus} --n-files 60000)")
        return 0
    t = time.perf_counter()
    b = learn(corpus, settings=settings, model=args.model, seed=args.seed, epochs=args.epochs,
              features=args.features)
    wall = time.perf_counter() - t
    tm = b.timings_s
    phases = ("index", "embed", "folds", "fit", "issues", "summary")
    total = sum(tm.get(p, 0) for p in phases) or 1.0
    self_mb, child_mb = peak_rss_mb()
    source = f"the store {args.features}" if args.features else "its audio"
    print(f"\nTiming on {corpus} ({b.n_files:,} files, read from {source}; {args.model}; {args.workers} workers, "
          f"{os.cpu_count()} cores, shared machine):")
    print(f"  {wall:.1f} s wall, {b.n_files / wall:,.0f} files/s end to end; embedding pass "
          f"{b.n_files / max(tm.get('embed', 0), 1e-9):,.0f} files/s; accuracy {b.accuracy['accuracy']:.3f}")
    print("  share per phase: " + ", ".join(f"{p} {tm.get(p, 0):.1f} s ({tm.get(p, 0) / total:.0%})" for p in phases))
    print(f"  fold fits (s, on {args.workers} threads): {tm.get('seconds_per_fold')}"
          + (f"; epochs {tm.get('epochs')}" if tm.get("epochs") else ""))
    print(f"  peak RSS: parent {self_mb:,.0f} MB, largest worker {child_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
