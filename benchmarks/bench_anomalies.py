"""Benchmark: `kwscope anomalies` against the notebook's anomaly detection, on a Speech-Commands-sized
corpus with planted bad clips.

    python benchmarks/bench_anomalies.py [--n-files 100000] [--ref-files 4000] [--workers N] [--cache-check]

The corpus comes from ``benchmarks/corpus.py`` (16-kHz 1-s clips made from FSDD). The benchmark
works on a copy of it (hard links, plus seven planted clips: noise burst, clipping, near-silence,
50-Hz hum, 0.1-s clip, 44.1-kHz clip, and an exact duplicate).

Reference, timed in the same run (in a process of its own, so its memory is its own): the
notebook's loop on the first ``--ref-files`` files -- ``wavfile.read``, pad to 1 s, ``custom_fft``
(scipy.fftpack), ``np.array`` of all, ``StandardScaler``, ``PCA(3)``. It holds an N x 8000 float64
matrix: its memory at the full corpus size is printed as a projection, not run.

kwscope runs as a whole process (``python -m kwscope anomalies DATA --json``: the folder scan,
the light profile pass on a process pool -- levels, clipping, bursts, hum, the compact spectrum;
every file opened once -- streaming PCA, label medians, scoring), peak RSS summed over its process
tree (shared library pages of the workers counted once per process).
``--cache-check`` also runs it twice with ``--cache`` and prints the second run's speed-up.
Prints files/s, the ratio to the reference, peak RSS, CPU seconds per file of both (steadier than
files/s on a shared machine) and the load average. Not a test: asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import HEADER, kwscope_cmd, row, run_measured  # noqa: E402

PLANTED = ("noise burst", "clipping", "near-silent", "tonal hum", "s long", "kHz in a", "duplicate")


def _run(cmd: list[str]):
    """Wall time, CPU seconds and peak RSS of a whole command's process tree; stdout only."""
    return run_measured(cmd, stderr=subprocess.DEVNULL)


def reference(list_file: str) -> None:
    """The notebook's anomaly detection on the files listed (run in a child process)."""
    import numpy as np
    from scipy.fftpack import fft
    from scipy.io import wavfile
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    files = Path(list_file).read_text().split("\n")

    def custom_fft(y, fs):
        T = 1.0 / fs
        N = y.shape[0]
        yf = fft(y)
        xf = np.linspace(0.0, 1.0 / (2.0 * T), N // 2)
        vals = 2.0 / N * np.abs(yf[0:N // 2])
        return xf, vals

    t = time.perf_counter()
    cpu0 = time.process_time()
    fft_all = []
    for f in files:
        sample_rate, samples = wavfile.read(f)
        if samples.shape[0] != sample_rate:
            samples = np.append(samples, np.zeros((sample_rate - samples.shape[0],)))
        _, vals = custom_fft(samples, sample_rate)
        fft_all.append(vals)
    fft_all = np.array(fft_all)
    fft_all = StandardScaler().fit_transform(fft_all)
    coords = PCA(n_components=3).fit_transform(fft_all)
    print(json.dumps({"files": len(files), "seconds": time.perf_counter() - t, "shape": list(coords.shape),
                      "cpu_s": time.process_time() - cpu0}))


def _plant(corpus: Path, out: Path) -> dict[str, str]:
    """Hard-link the corpus into ``out`` and add planted clips; returns {path: expected reason}."""
    import numpy as np
    import soundfile as sf

    if out.exists():
        shutil.rmtree(out)
    for src in sorted(corpus.rglob("*.wav")):
        dst = out / src.relative_to(corpus)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    rng = np.random.default_rng(2017)
    words = sorted(p.name for p in corpus.iterdir() if p.is_dir() and any(p.glob("*.wav")))
    words = (words * 8)[:8]  # a small corpus may cover fewer words than clips to plant
    base_path = sorted((corpus / words[0]).glob("*.wav"))[0]
    base, sr = sf.read(base_path, dtype="float32")
    t = np.arange(sr) / sr
    planted = {}

    def put(word: str, name: str, y, rate: int, reason: str) -> None:
        rel = f"{word}/{name}_nohash_0.wav"
        sf.write(out / rel, np.clip(y, -1, 32767 / 32768), rate, subtype="PCM_16")
        planted[rel] = reason

    burst = base.copy()
    burst[6000:10000] += rng.standard_normal(4000).astype(np.float32) * 0.3
    put(words[1], "badc0de1", burst, sr, "noise burst")
    put(words[2], "badc0de2", base * 40, sr, "clipping")
    put(words[3], "badc0de3", rng.standard_normal(sr).astype(np.float32) * 3e-4, sr, "near-silent")
    put(words[4], "badc0de4", base + 0.1 * np.sin(2 * np.pi * 50 * t) + 0.05 * np.sin(2 * np.pi * 100 * t),
        sr, "tonal hum")
    put(words[5], "badc0de5", base[4000:5600], sr, "s long")
    import soxr

    put(words[6], "badc0de6", soxr.resample(base, sr, 44100), 44100, "kHz in a")
    shutil.copyfile(base_path, out / words[7] / "badc0de7_nohash_0.wav")
    planted[f"{words[7]}/badc0de7_nohash_0.wav"] = "duplicate"
    return planted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="an existing corpus folder (default: build one in the temp dir)")
    ap.add_argument("--n-files", type=int, default=100000)
    ap.add_argument("--ref-files", type=int, default=4000, help="files the reference loop reads")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--cache-check", action="store_true", help="also time a cached second run")
    ap.add_argument("--reference", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference:
        reference(args.reference)
        return

    from corpus import corpus_for  # here: the reference loops' processes stay light

    corpus = corpus_for(args.data, args.n_files)
    work = Path(tempfile.gettempdir()) / f"kwscope-bench-anomalies-{corpus.name}"
    planted = _plant(corpus, work)
    files = sorted(str(p) for p in work.rglob("*.wav"))
    n = len(files)
    for f in files:  # warm the page cache for everyone alike
        Path(f).read_bytes()

    ref_list = Path(tempfile.mkdtemp()) / "ref.txt"
    ref_list.write_text("\n".join(sorted(str(p) for p in corpus.rglob("*.wav"))[: args.ref_files]))
    load0 = os.getloadavg()[0]
    ref = _run([sys.executable, __file__, "--reference", str(ref_list)])
    if ref.returncode:
        sys.exit(ref.output)
    ref_doc = json.loads(ref.output.strip().splitlines()[-1])

    cmd = ["anomalies", str(work), "--json", "--top", "20"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    m = _run(kwscope_cmd(*cmd))
    if m.returncode:
        sys.exit(m.output)
    doc = json.loads(m.output[m.output.index("{"):])

    ref_rate = ref_doc["files"] / ref_doc["seconds"]
    print()
    print(HEADER)
    print(row("notebook: FFT of all, StandardScaler, PCA(3)", ref_doc["files"], ref_doc["seconds"], ref.peak_rss_mib))
    print(row("kwscope anomalies (whole process, cold)", n, m.wall_s, m.peak_rss_mib, ref_rate))
    ref_cpu = ref_doc["cpu_s"] / ref_doc["files"]
    print(f"\nCPU per file: notebook loop {ref_cpu * 1e3:.2f} ms; kwscope (whole process tree, imports and "
          f"indexing included) {m.cpu_s / n * 1e3:.2f} ms ({ref_cpu / (m.cpu_s / n):.2f}x less)")
    print(f"load average: {load0:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs): "
          "on a shared machine the files/s figures move with it, CPU per file much less")
    print(f"notebook memory at {n:,} files: its N x 8000 float64 matrix alone is {n * 8000 * 8 / 2**30:.1f} GiB")
    ranks = {o["path"]: i + 1 for i, o in enumerate(doc["outliers"])}
    print("planted clips (rank in kwscope's list of 20):")
    for path, reason in planted.items():
        if reason == "duplicate":
            continue
        got = next((o["reasons"] for o in doc["outliers"] if o["path"] == path), None)
        print(f"  {path:<36} {ranks.get(path, '-')!s:>3}  {'; '.join(got) if got else 'NOT LISTED'}")

    if args.cache_check:
        cache = Path(tempfile.mkdtemp(prefix="kwscope-cache-"))
        first = _run(kwscope_cmd(*cmd, "--cache", str(cache)))
        second = _run(kwscope_cmd(*cmd, "--cache", str(cache)))
        same = json.loads(first.output[first.output.index("{"):]) == json.loads(second.output[second.output.index("{"):])
        print(f"\ncache: first run {first.wall_s:.1f} s ({first.cpu_s:.1f} CPU s), second {second.wall_s:.1f} s "
              f"({second.cpu_s:.1f} CPU s): {first.wall_s / second.wall_s:.1f}x faster, identical output: {same}")
        shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(ref_list.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
