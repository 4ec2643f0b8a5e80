"""Micro-benchmark of kwscope.dsp batch features against the notebook's per-clip reference loops.

Not a test. Prints files/s, the ratio to the reference measured in the same run, and peak RSS.
Each measurement runs in a fresh process (so peak RSS is its own); the input is a batch of random
float32 1-s 16 kHz clips generated in that process (its size is included in the RSS).

    PYTHONPATH=src python benchmarks/bench_dsp_micro.py [--n 2000] [--repeat 3] [--blas-threads 1]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time

SR = 16000


def _clips(n: int):
    import numpy as np

    clips = np.random.default_rng(0).standard_normal((n, SR), dtype=np.float32)
    clips *= 0.1
    return clips


def _scipy_log_specgram_loop(x):
    import numpy as np
    import scipy.signal

    for clip in x:  # the notebook's log_specgram, one file at a time
        _, _, spec = scipy.signal.spectrogram(
            clip, fs=SR, window="hann", nperseg=320, noverlap=160, detrend=False
        )
        np.log(spec.T.astype(np.float32) + 1e-10)


def _kwscope_log_specgram(x):
    from kwscope import dsp

    dsp.log_specgram(x, SR)


def _librosa_mfcc_loop(x):
    import librosa
    import numpy as np

    for clip in x:  # the notebook's mel -> dB -> MFCC -> delta-delta chain, at the native rate
        S = librosa.feature.melspectrogram(y=clip, sr=SR, n_mels=128, fmax=8000)
        log_S = librosa.power_to_db(S, ref=np.max)
        mfcc = librosa.feature.mfcc(S=log_S, n_mfcc=13)
        librosa.feature.delta(mfcc, order=2)


def _kwscope_mfcc(x):
    import numpy as np

    from kwscope import dsp

    S = dsp.mel_spectrogram(x, sr=SR, n_mels=128, fmax=8000)
    log_S = dsp.power_to_db(S, ref=np.max)
    mfcc = dsp.mfcc(S=log_S, n_mfcc=13)
    dsp.delta(mfcc, order=2)


CASES = {
    "log_specgram": (_scipy_log_specgram_loop, _kwscope_log_specgram),
    "mel+mfcc+delta": (_librosa_mfcc_loop, _kwscope_mfcc),
}


def _peak_rss_mib() -> float:
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak across exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_LIMITS: list = []


def _measure(job):
    name, which, n, repeat, blas_threads = job
    func = CASES[name][which]
    x = _clips(n)
    func(x[:8])  # imports (BLAS libraries must be loaded before limiting them), caches, JIT
    if blas_threads:
        # As the engine's workers run: a multi-threaded BLAS beside other busy processes spends
        # its time waiting for cores (small matrix products become several times slower).
        # Kept referenced: the limit is lifted when the object is collected.
        from threadpoolctl import threadpool_limits

        _LIMITS.append(threadpool_limits(limits=blas_threads))
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        func(x)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return n / best_wall, n / best_cpu, _peak_rss_mib()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="clips in the batch")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is kept")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads in both loops (0: the library default)")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    print(f"{args.n} random 1-s {SR} Hz float32 clips, single process, best of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
          f"BLAS threads: {args.blas_threads or 'default'}")
    print("files/s from wall time (and from this process's CPU time, which other jobs on the "
          "machine disturb less; BLAS threads count as CPU time)")
    print(f"{'feature':16s} {'reference files/s':>20s} {'kwscope files/s':>20s} {'ratio':>12s} "
          f"{'ref RSS MiB':>12s} {'kwscope RSS MiB':>16s}")
    for name in CASES:
        results = []
        for which in (0, 1):
            with ctx.Pool(1) as pool:
                results.append(pool.apply(_measure, ((name, which, args.n, args.repeat, args.blas_threads),)))
        (ref_wall, ref_cpu, ref_rss), (our_wall, our_cpu, our_rss) = results
        print(f"{name:16s} {ref_wall:10.0f} ({ref_cpu:6.0f}) {our_wall:10.0f} ({our_cpu:6.0f}) "
              f"{our_wall / ref_wall:4.1f}x ({our_cpu / ref_cpu:4.1f}x) {ref_rss:12.0f} {our_rss:16.0f}")


if __name__ == "__main__":
    main()
