"""Benchmark: ``kwscope features`` against the notebook's per-file feature loops.

    python benchmarks/bench_features.py [--data DIR] [--n-files 60000] [--ref-files 2000]

On the same 16-kHz 1-s clips, in one run:

- reference loops (each in a fresh process of its own, timed inside the loop, on the first
  ``--ref-files`` files; peak RSS of that process):
  * the notebook's ``log_specgram``: ``scipy.io.wavfile.read`` + ``scipy.signal.spectrogram``
    (hann, 20 ms / 10 ms) + ``log(spec.T + 1e-10)`` per file;
  * the notebook's librosa path: ``librosa.load`` at 22,050 Hz + ``melspectrogram(n_mels=128)``
    + ``power_to_db(ref=max)`` + ``mfcc(S=log_S, n_mfcc=13)`` + ``delta(order=2)`` per file;
  * the same at the native rate (``librosa.load(sr=None)``);
- ``kwscope features DATA -o OUT --kind logspec`` and ``--kind mfcc`` as whole processes on the
  whole corpus (wall time from start to exit: start-up, index, both phases, publishing; peak RSS
  summed over the process tree, sampled every 20 ms); also ``--kind logspec`` with
  ``normalize: none``, the reference loop's own work (no statistics, no normalization pass);
- the time to write the logspec store's bytes alone into a new file of the same folder: the
  floor that persisting the features costs on this machine's disk and memory, which the
  reference loops (keeping nothing) do not pay.

The page cache is warmed first, for every contender alike. Prints files/s, ratios against the
references measured in this run, and peak RSS. Not a test: asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import kwscope_cmd, run_measured  # noqa: E402

HEADER = (f"{'what':<52} {'files':>7} {'wall s':>8} {'files/s':>8} {'ratio':>6} "
          f"{'CPU ms/file':>11} {'peak MiB':>8}")

REFERENCES = {
    "scipy": "notebook: wavfile.read + scipy log_specgram per file",
    "librosa22k": "notebook: librosa 22,050 Hz mel+MFCC+delta per file",
    "librosa": "librosa native rate mel+MFCC+delta per file",
}


def _reference_loop(name: str, files: list[str]) -> dict:
    """Run one reference loop in this process; return seconds and peak RSS (MiB)."""
    import resource

    import numpy as np

    if name == "scipy":
        import scipy.io.wavfile
        from scipy import signal

        def one(path):
            sample_rate, samples = scipy.io.wavfile.read(path)
            nperseg = int(round(20 * sample_rate / 1e3))
            noverlap = int(round(10 * sample_rate / 1e3))
            _, _, spec = signal.spectrogram(samples, fs=sample_rate, window="hann", nperseg=nperseg,
                                            noverlap=noverlap, detrend=False)
            return np.log(spec.T.astype(np.float32) + 1e-10)
    else:
        import librosa

        sr = 22050 if name == "librosa22k" else None

        def one(path):
            y, rate = librosa.load(path, sr=sr)
            S = librosa.feature.melspectrogram(y=y, sr=rate, n_mels=128)
            log_S = librosa.power_to_db(S, ref=np.max)
            mfcc = librosa.feature.mfcc(S=log_S, n_mfcc=13)
            return librosa.feature.delta(mfcc, order=2)

    one(files[0])  # first-call costs (imports, caches, JIT) are not per-file costs
    start, cpu = time.perf_counter(), time.process_time()
    for path in files:
        one(path)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_s": time.process_time() - cpu, "n": len(files),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run_tree(cmd: list[str]) -> dict:
    """Run a command; wall time, CPU seconds and peak RSS of its whole process tree, its output."""
    m = run_measured(cmd)
    return {"seconds": m.wall_s, "peak_mib": m.peak_rss_mib, "cpu_s": m.cpu_s,
            "returncode": m.returncode, "output": m.output}


def _row(name: str, n: int, seconds: float, cpu_s: float, peak_mib: float, ref_rate: float | None = None) -> str:
    rate = n / seconds
    ratio = f"{rate / ref_rate:5.1f}x" if ref_rate else "     -"
    return f"{name:<52} {n:>7,} {seconds:8.2f} {rate:8,.0f} {ratio} {1000 * cpu_s / n:11.3f} {peak_mib:8.0f}"


def _write_floor(folder: Path, n_bytes: int) -> tuple[int, float]:
    """Seconds to write ``n_bytes`` to a new preallocated file in ``folder``: the store's bytes alone."""
    import numpy as np

    block = np.ones(8 << 20, np.float32)  # 32 MiB
    path = folder / "floor.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        os.posix_fallocate(fd, 0, n_bytes)
        start = time.perf_counter()
        for offset in range(0, n_bytes, block.nbytes):
            os.pwrite(fd, memoryview(block).cast("B")[: n_bytes - offset], offset)
        seconds = time.perf_counter() - start
    finally:
        os.close(fd)
        path.unlink()
    return n_bytes, seconds


def _run_reference(name: str, list_file: Path) -> dict:
    cmd = [sys.executable, __file__, "--reference", name, "--files-from", str(list_file)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"reference {name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="an existing corpus (default: build one in the temp folder)")
    ap.add_argument("--n-files", type=int, default=60000, help="corpus size when building one")
    ap.add_argument("--ref-files", type=int, default=2000, help="files each reference loop reads")
    ap.add_argument("--workers", type=int, help="kwscope --workers (default: one per core)")
    ap.add_argument("--kinds", default="logspec,logspec-raw,mfcc",
                    help="kwscope kinds to run (KIND-raw: with normalize: none)")
    ap.add_argument("--skip-references", default="", help="comma-separated reference names to skip")
    ap.add_argument("--reference", help=argparse.SUPPRESS)
    ap.add_argument("--files-from", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.reference:  # child mode: one reference loop
        files = args.files_from.read_text().splitlines()
        print(json.dumps(_reference_loop(args.reference, files)))
        return

    from corpus import corpus_for  # here: the reference loops' processes stay light

    data = corpus_for(args.data, args.n_files)
    files = sorted(str(p) for p in data.rglob("*.wav"))
    n = len(files)
    for f in files:  # warm the page cache for everyone alike
        with open(f, "rb") as fh:
            fh.read()
    scratch = Path(tempfile.mkdtemp(prefix="kwscope-bench-"))
    try:
        list_file = scratch / "ref-files.txt"
        ref_files = files[: args.ref_files]
        list_file.write_text("\n".join(ref_files))
        refs = {}
        skip = set(filter(None, args.skip_references.split(",")))
        for name in REFERENCES:
            if name not in skip:
                print(f"reference {name} on {len(ref_files):,} files ...", flush=True)
                refs[name] = _run_reference(name, list_file)

        results, floor = {}, None
        for kind in filter(None, args.kinds.split(",")):
            out = scratch / f"store-{kind}"
            cmd = kwscope_cmd("features", str(data), "-o", str(out), "--kind", kind.split("-")[0])
            if kind.endswith("-raw"):  # the notebook loop's work: no normalization pass
                config = scratch / "raw.yaml"
                config.write_text("normalize: none\n")
                cmd += ["--config", str(config)]
            if args.workers:
                cmd += ["--workers", str(args.workers)]
            print(f"kwscope features --kind {kind} on {n:,} files ...", flush=True)
            m = _run_tree(cmd)
            if m["returncode"]:
                sys.exit(f"kwscope failed:\n{m['output']}")
            results[kind] = m
            if kind == "logspec":
                floor = _write_floor(scratch, (out / "features.npy").stat().st_size)
            shutil.rmtree(out, ignore_errors=True)  # GBs; the page cache should not carry it over
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    rate = {k: r["n"] / r["seconds"] for k, r in refs.items()}
    print()
    print(HEADER)
    for name, r in refs.items():
        print(_row(REFERENCES[name], r["n"], r["seconds"], r["cpu_s"], r["peak_mib"]))
    targets = {"logspec": [("scipy", 3)], "logspec-raw": [("scipy", 3)],
               "mfcc": [("librosa22k", 30), ("librosa", 10)]}
    for kind, m in results.items():
        what = f"--kind {kind.split('-')[0]}" + (", normalize: none" if kind.endswith("-raw") else "")
        print(_row(f"kwscope features {what} (process tree)", n, m["seconds"], m["cpu_s"],
                   m["peak_mib"]))
        stages = re.search(r"index [\d.]+ s.*?publish [\d.]+ s", m["output"])
        if stages:
            print(f"    stages: {stages.group(0)}")
        for ref, goal in targets.get(kind, []):
            if ref in rate:
                got = (n / m["seconds"]) / rate[ref]
                cpu_ratio = (refs[ref]["cpu_s"] / refs[ref]["n"]) / (m["cpu_s"] / n)
                print(f"    vs {ref}: {got:5.1f}x files/s (target >= {goal}x: "
                      f"{'meets' if got >= goal else 'misses'}); {cpu_ratio:5.1f}x less CPU a file")
    if floor:
        print(f"writing the logspec store's {floor[0] / 2**30:.2f} GiB alone (one process, 32 MiB blocks, "
              f"preallocated file in the same folder): {floor[1]:.1f} s, {floor[0] / 2**20 / floor[1]:,.0f} MiB/s "
              "-- a floor the notebook loop, which keeps nothing, does not pay")
    print("peak RSS of the process tree (target < 1024 MiB): " + ", ".join(
        f"{k} {m['peak_mib']:.0f} MiB" for k, m in results.items()))
    print(f"(machine load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores)")

if __name__ == "__main__":
    main()
