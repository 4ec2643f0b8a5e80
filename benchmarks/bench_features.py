"""Benchmark: ``kwscope features`` against what a user would run instead, in one run, on the same files.

    python benchmarks/bench_features.py [--data DIR] [--n-files 60000] [--slow-ref-files 2000] [--rounds 3]

Every contender reads the WAV files itself (reading counts) from a warm page cache, with the
same frame settings where it computes filterbanks: 16 kHz, 20 ms Hann windows every 10 ms, 40 mel
bands, log. Each runs as a process of its own, after every dirty page was written back (``sync``, not timed); its peak RSS is that process's (kwscope: summed
over its process tree, sampled every 20 ms).

- peers (benchmark-only: ``pip install 'kwscope[bench]'``):
  * torch batched: ``soundfile`` reads, batches of 512, ``torch.stft`` + the mel matmul of
    ``torchaudio.transforms.MelSpectrogram`` (HTK mel, no norm) + ``10 log10``, 2 threads; and the
    same + DCT-II (13 MFCC) + deltas and delta-deltas (width 9, as kwscope);
  * kaldi-native-fbank per file (``OnlineFbank``, Hann, no dither, 40 bins from 0 Hz);
  * librosa per file at the native rate (``melspectrogram(n_fft=320, hop_length=160, n_mels=40)``
    + ``power_to_db``);
- the notebook's loops: scipy ``log_specgram`` per file (keeping nothing), the same keeping its
  features (``np.save`` of the stacked array: what a user who needs them on disk runs), librosa at
  22,050 Hz and at the native rate (128 mels + MFCC + delta; on ``--slow-ref-files`` files);
- ``kwscope features`` as whole processes on every file: logspec, mel, MFCC+deltas, each in
  float32 and float16, and the micro front end (uint16; its parity with TensorFlow's op and its
  speed against it: bench_micro.py) (start-up, listing, features, statistics, publishing: the wall time from
  start to exit), and ``kwscope.load_features(OUT, mmap=True)`` of the logspec store read end to end.

Every contender runs ``--rounds`` times (default 3), in rounds: each round runs them all once,
starting one further down the list, so that no contender always runs first or always after the
same neighbour. A row's wall time is the median of its rounds (the spread, fastest to slowest,
beside it): on a shared 2-core machine the same command varies by 10-20% from run to run, and
one run of each decided which peer was "fastest" by luck. Its peak RSS is the largest of its
rounds.

Prints every row, the ratios against the fastest peer and against the keep-features scipy loop,
the peak RSS, each phase's share of kwscope's runs (from its median round), the targets met or
missed, and the machine's load. Not a test: asserts nothing.
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

SR, WIN, HOP, N_MELS = 16000, 320, 160, 40
PEERS = {
    "torch-mel": "peer: torch batched stft + mel matmul, log (2 threads, 512 a batch)",
    "torch-mfcc": "peer: torch batched mel + DCT MFCC + deltas (2 threads, 512)",
    "knf": "peer: kaldi-native-fbank per file, log fbank",
    "librosa-mel": "peer: librosa native rate, 40-mel log per file",
}
NOTEBOOK = {
    "scipy": "notebook: scipy log_specgram per file (keeps nothing)",
    "scipy-keep": "notebook: scipy log_specgram per file + np.save(stack)",
    "librosa22k": "notebook: librosa 22,050 Hz mel+MFCC+delta per file",
    "librosa": "notebook: librosa native mel+MFCC+delta per file",
}
SLOW = {"librosa22k", "librosa", "librosa-mel"}
KINDS = ("logspec", "mel", "mfcc", "micro")


# --------------------------------------------------------------------------- the contenders


def _mel_basis_htk():
    """torchaudio's ``melscale_fbanks(161, 0, 8000, 40, 16000, norm=None, mel_scale="htk")``."""
    import numpy as np

    freqs = np.linspace(0, SR // 2, WIN // 2 + 1)
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    pts = 700.0 * (10 ** (np.linspace(mel(0.0), mel(SR / 2), N_MELS + 2) / 2595.0) - 1.0)
    slopes = pts[None, :] - freqs[:, None]
    diff = np.diff(pts)
    down, up = -slopes[:, :-2] / diff[:-1], slopes[:, 2:] / diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)  # (161, 40)


def _torch_loop(files: list[str], mfcc: bool) -> None:
    import numpy as np
    import soundfile as sf
    import torch

    torch.set_num_threads(2)
    window = torch.hann_window(WIN)
    fb = torch.from_numpy(_mel_basis_htk())
    if mfcc:
        n = np.arange(N_MELS)
        dct = np.cos(np.pi / N_MELS * (n[:, None] + 0.5) * np.arange(13)[None, :]) * np.sqrt(2.0 / N_MELS)
        dct[:, 0] /= np.sqrt(2.0)
        dct = torch.from_numpy(dct.astype(np.float32))  # (40, 13), orthonormal DCT-II
        half = 4  # width 9
        kernel = torch.arange(-half, half + 1, dtype=torch.float32).repeat(13, 1, 1) / (2 * sum(i * i for i in range(1, half + 1)))
    for start in range(0, len(files), 512):
        batch = torch.from_numpy(np.stack([sf.read(f, dtype="float32")[0] for f in files[start:start + 512]]))
        spec = torch.stft(batch, n_fft=WIN, hop_length=HOP, win_length=WIN, window=window, center=True,
                          pad_mode="reflect", return_complex=True).abs().pow(2)
        logmel = 10.0 * torch.log10(torch.clamp(spec.transpose(1, 2) @ fb, min=1e-10))  # (b, frames, 40)
        if mfcc:
            c = (logmel @ dct).transpose(1, 2)  # (b, 13, frames)
            parts = [c]
            for _ in range(2):
                padded = torch.nn.functional.pad(parts[-1], (half, half), mode="replicate")
                parts.append(torch.nn.functional.conv1d(padded, kernel, groups=13))
            torch.cat(parts, dim=1)


def _per_file(name: str):
    """The function a per-file contender runs on one path (its result is the features)."""
    import numpy as np

    if name in ("scipy", "scipy-keep"):
        import scipy.io.wavfile
        from scipy import signal

        def one(path):
            sample_rate, samples = scipy.io.wavfile.read(path)
            nperseg = int(round(20 * sample_rate / 1e3))
            noverlap = int(round(10 * sample_rate / 1e3))
            _, _, spec = signal.spectrogram(samples, fs=sample_rate, window="hann", nperseg=nperseg,
                                            noverlap=noverlap, detrend=False)
            return np.log(spec.T.astype(np.float32) + 1e-10)
    elif name == "knf":
        import kaldi_native_fbank as knf
        import soundfile as sf

        opts = knf.FbankOptions()
        opts.frame_opts.samp_freq, opts.frame_opts.frame_length_ms, opts.frame_opts.frame_shift_ms = SR, 20, 10
        opts.frame_opts.window_type, opts.frame_opts.dither = "hann", 0.0
        opts.mel_opts.num_bins, opts.mel_opts.low_freq = N_MELS, 0.0

        def one(path):
            y, rate = sf.read(path, dtype="float32")
            fbank = knf.OnlineFbank(opts)
            fbank.accept_waveform(rate, y.tolist())  # faster than handing it the array
            fbank.input_finished()
            return np.array([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])
    elif name == "librosa-mel":
        import librosa

        def one(path):
            y, rate = librosa.load(path, sr=None)
            S = librosa.feature.melspectrogram(y=y, sr=rate, n_fft=WIN, hop_length=HOP, n_mels=N_MELS)
            return librosa.power_to_db(S)
    else:
        import librosa

        sr = 22050 if name == "librosa22k" else None

        def one(path):
            y, rate = librosa.load(path, sr=sr)
            S = librosa.feature.melspectrogram(y=y, sr=rate, n_mels=128)
            mfcc = librosa.feature.mfcc(S=librosa.power_to_db(S, ref=np.max), n_mfcc=13)
            return librosa.feature.delta(mfcc, order=2)
    return one


def _contender(name: str, files: list[str], scratch: Path) -> dict:
    """Run one contender in this (child) process: seconds, CPU seconds, peak RSS (MiB)."""
    import resource

    import numpy as np

    start, cpu = time.perf_counter(), time.process_time()
    if name.startswith("torch"):
        _torch_loop(files[:512], name == "torch-mfcc")  # first-call costs (threads, plans) excluded
        start, cpu = time.perf_counter(), time.process_time()
        _torch_loop(files, name == "torch-mfcc")
    else:
        one = _per_file(name)
        one(files[0])  # first-call costs (imports, caches, JIT) are not per-file costs
        start, cpu = time.perf_counter(), time.process_time()
        if name == "scipy-keep":
            np.save(scratch / "notebook-features.npy", np.stack([one(p) for p in files]))
        else:
            for path in files:
                one(path)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_s": time.process_time() - cpu, "n": len(files),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _settle() -> None:
    """Write back every dirty page before a contender starts (not timed): the contenders that keep
    their features write 1.8-3.6 GiB, and without this the next one paid for that writeback (a
    logspec store measured 42 s after the keep-features loop, 22 s on its own)."""
    os.sync()


def _run_contender(name: str, list_file: Path, scratch: Path) -> dict:
    _settle()
    cmd = [sys.executable, __file__, "--contender", name, "--files-from", str(list_file), "--scratch", str(scratch)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"contender {name} failed:\n{done.stderr}")
    (scratch / "notebook-features.npy").unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


_LOAD_SCRIPT = """
import resource, sys, time
import kwscope
start = time.perf_counter()
X, manifest = kwscope.load_features(sys.argv[1], mmap=True)
total = 0.0
for _, block in X.batches():
    total += float(block.sum(dtype="float64"))
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, len(X))
"""


# --------------------------------------------------------------------------- the report


def _load() -> str:
    return f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores"


def _median_round(rounds: list[dict]) -> dict:
    """A contender's row from its rounds: the median round's figures (the lower middle one of an
    even count), its spread, and the largest peak RSS of them all."""
    ordered = sorted(rounds, key=lambda r: r["seconds"])
    r = dict(ordered[(len(ordered) - 1) // 2])
    r["spread"] = (ordered[0]["seconds"], ordered[-1]["seconds"])
    r["peak_mib"] = max(x["peak_mib"] for x in rounds)
    r["loads"] = [x["load"] for x in rounds]
    return r


def _row(name: str, r: dict, fastest: float | None, keep: float | None) -> str:
    rate = r["n"] / r["seconds"]
    ratios = "".join(f" {rate / ref:8.2f}x" if ref else f" {'-':>9}" for ref in (fastest, keep))
    lo, hi = r["spread"]
    return (f"{name:<60} {r['n']:>7,} {r['seconds']:8.2f} {f'{lo:.1f}-{hi:.1f}':>11} {rate:8,.0f}{ratios} "
            f"{1000 * r['cpu_s'] / r['n']:8.3f} {r['peak_mib']:8.0f}")


def _phases(output: str, wall: float) -> str:
    found = dict((k, float(v)) for k, v in re.findall(r"(index|features|statistics|publish) ([\d.]+) s", output))
    if not found:
        return "    phases: (not found in the output)"
    found["start-up and exit"] = max(0.0, wall - sum(found.values()))
    return "    phases: " + ", ".join(f"{k} {v:.2f} s ({100 * v / wall:.0f}%)" for k, v in found.items())


def _run_kwscope(key: str, data: Path, n: int, scratch: Path, workers: int | None) -> tuple[dict, tuple | None]:
    """One ``kwscope features`` run as a whole process; for the float32 logspec store, also
    ``load_features(mmap=True)`` of it read end to end (seconds, peak MiB, rows, bytes, load)."""
    kind, dtype = key.split("-")
    out = scratch / f"store-{key}"
    cmd = kwscope_cmd("features", str(data), "-o", str(out), "--kind", kind,
                      *(["--dtype", dtype] if kind != "micro" else []))
    if workers:
        cmd += ["--workers", str(workers)]
    _settle()
    m = run_measured(cmd)
    if m.returncode:
        sys.exit(f"kwscope failed:\n{m.output}")
    r = {"seconds": m.wall_s, "cpu_s": m.cpu_s, "n": n, "peak_mib": m.peak_rss_mib, "output": m.output,
         "bytes": (out / "features.npy").stat().st_size}
    load = None
    if key == "logspec-float32":
        _settle()
        got = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT, str(out)], capture_output=True, text=True,
                             check=True)
        seconds, peak, rows = got.stdout.split()
        load = (float(seconds), float(peak), int(rows), r["bytes"], _load())
    shutil.rmtree(out, ignore_errors=True)  # GBs; the page cache should not carry it over
    return r, load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="an existing corpus (default: build one in the temp folder)")
    ap.add_argument("--n-files", type=int, default=60000, help="corpus size when building one")
    ap.add_argument("--slow-ref-files", type=int, default=2000,
                    help="files the librosa loops read (they run at ~100 files/s); the others read every file")
    ap.add_argument("--workers", type=int, help="kwscope --workers (default: one per core)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of every contender, in rounds; rows are medians")
    ap.add_argument("--skip", default="", help="comma-separated contenders to skip (e.g. librosa22k,torch-mfcc)")
    ap.add_argument("--contender", help=argparse.SUPPRESS)
    ap.add_argument("--files-from", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.contender:  # child mode
        print(json.dumps(_contender(args.contender, args.files_from.read_text().splitlines(), args.scratch)))
        return

    from corpus import corpus_for  # here: the contenders' processes stay light

    data = corpus_for(args.data, args.n_files)
    files = sorted(str(p) for p in data.rglob("*.wav"))
    n = len(files)
    for f in files:  # warm the page cache for everyone alike
        with open(f, "rb") as fh:
            fh.read()
    skip = set(filter(None, args.skip.split(",")))
    scratch = Path(tempfile.mkdtemp(prefix="kwscope-bench-"))
    print(f"{n:,} files in {data}; {_load()} at the start", flush=True)
    jobs = [name for name in [*PEERS, *NOTEBOOK] if name not in skip]
    jobs += [f"{kind}-{dtype}" for kind in KINDS for dtype in (("float32", "float16") if kind != "micro" else ("uint16",))
             if f"{kind}-{dtype}" not in skip]
    done: dict[str, list[dict]] = {job: [] for job in jobs}
    loads: list[tuple] = []  # load_features(mmap=True), one a round
    try:
        lists = {}
        for key, count in (("all", n), ("slow", min(n, args.slow_ref_files))):
            lists[key] = scratch / f"files-{key}.txt"
            lists[key].write_text("\n".join(files[:count]))
        for round_ in range(args.rounds):
            turn = round_ % max(1, len(jobs))
            for job in jobs[turn:] + jobs[:turn]:
                print(f"round {round_ + 1}/{args.rounds}: {job} ...", flush=True)
                if job in PEERS or job in NOTEBOOK:
                    r = _run_contender(job, lists["slow" if job in SLOW else "all"], scratch)
                else:
                    r, load = _run_kwscope(job, data, n, scratch, args.workers)
                    if load:
                        loads.append(load)
                r["load"] = _load()
                done[job].append(r)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    refs = {job: _median_round(rs) for job, rs in done.items() if job in PEERS or job in NOTEBOOK}
    runs = {job: _median_round(rs) for job, rs in done.items() if job not in refs}
    if loads:  # the median round's time, the largest peak of them all
        seconds, _, rows, size, load = sorted(loads, key=lambda x: x[0])[(len(loads) - 1) // 2]
        load_row = (seconds, max(x[1] for x in loads), rows, size, load)
    else:
        load_row = None
    peer_rates = {k: r["n"] / r["seconds"] for k, r in refs.items() if k in PEERS}
    fastest_name = max(peer_rates, key=peer_rates.get) if peer_rates else None
    fastest = peer_rates.get(fastest_name)
    keep = refs["scipy-keep"]["n"] / refs["scipy-keep"]["seconds"] if "scipy-keep" in refs else None
    print()
    print(f"median of {args.rounds} round(s); spread: the fastest and slowest round's wall seconds")
    print(f"{'what':<60} {'files':>7} {'wall s':>8} {'spread s':>11} {'files/s':>8} {'vs fastest':>9} {'vs keep':>9} "
          f"{'CPU ms/f':>8} {'peak MiB':>8}")
    for name, r in refs.items():
        print(_row((PEERS | NOTEBOOK)[name], r, fastest, keep) + f"   [{r['load']}]")
    for key, r in runs.items():
        kind, dtype = key.split("-")
        label = {"logspec": "logspec store", "mel": "mel store", "mfcc": "MFCC+deltas store",
                 "micro": "micro (TFLM front end) store"}[kind]
        print(_row(f"kwscope features: {label}, {dtype} (process tree)", r, fastest, keep) + f"   [{r['load']}]")
        print(_phases(r["output"], r["seconds"]) + f"; features.npy {r['bytes'] / 2**30:.2f} GiB")
    print()
    if fastest_name:
        print(f"fastest peer: {PEERS[fastest_name]} ({fastest:,.0f} files/s)")
    if load_row:
        seconds, peak, rows, size, load = load_row
        print(f"kwscope.load_features(logspec store, mmap=True), every row read and normalized: {rows:,} rows of "
              f"{size / 2**30:.2f} GiB in {seconds:.1f} s (median), peak RSS {peak:.0f} MiB (largest)   [{load}]")
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    rate = {k: r["n"] / r["seconds"] for k, r in runs.items()}
    if keep and "logspec-float32" in rate:
        got = rate["logspec-float32"] / keep
        print(f"target logspec store >= 3x the keep-features scipy loop: {got:.2f}x -- {verdict(got >= 3)}")
    for kind in ("mel", "mfcc"):
        if fastest and f"{kind}-float32" in rate:
            got = rate[f"{kind}-float32"] / fastest
            print(f"target {kind} >= 2x the fastest peer: {got:.2f}x -- {verdict(got >= 2)}")
    peaks = [r["peak_mib"] for r in runs.values()] + ([load_row[1]] if load_row else [])
    if peaks:
        print(f"target peak RSS < 1024 MiB (extraction, and load_features mmap): max {max(peaks):.0f} MiB -- "
              f"{verdict(max(peaks) < 1024)}")
    print(f"({_load()} at the end)")


if __name__ == "__main__":
    main()
