"""Benchmark: kwscope's TFLM micro front end (``dsp.micro_features``) against TensorFlow's
``audio_microfrontend`` op, on the same 16-kHz 1-s clips, in one run.

    python benchmarks/bench_micro.py [--data DIR | --fsdd DIR] [--n-files 3000] [--batch 512]

The clips are ``--data`` (a corpus of 16-kHz 1-s clips, e.g. /tmp/kwscope-corpus-12k), or FSDD's
real recordings (``--fsdd /work/shared/data/fsdd``) resampled to 16 kHz and cut or zero-padded to
1 s once into a scratch folder (``--scratch``), or else the shared generated corpus (built if
missing).

Each contender runs in a fresh process of its own, reads every file itself (timed), computes the
micro_speech recipe's features (30 ms windows every 20 ms, 40 channels, PCAN, log; uint16) and
reports its wall time, CPU time and peak RSS:

- TensorFlow, per file, as the training recipe does it: ``tf.io.read_file`` +
  ``tf.audio.decode_wav`` + ``tf.cast(x * 32768, tf.int16)`` + the op, eagerly;
- TensorFlow, per file, reading int16 with ``scipy.io.wavfile.read`` + the op, eagerly;
- TensorFlow, batched: int16 batches of ``--batch`` clips (scipy) + a ``tf.function`` mapping the
  op over the batch (``tf.map_fn``; the op itself takes one clip);
- kwscope, 1 process: kwscope's 16-bit reader into int16 batches of ``--batch`` clips +
  ``micro_features`` on each batch (one BLAS thread);
- kwscope, 2 processes: the same over two halves of the files in a pool of two.

TensorFlow runs with one intra-op and one inter-op thread (the op is single-threaded C). The
page cache is warmed first. With ``--repeat`` the contenders run in rounds and each reports its
fastest round (the machine's load hits them alike). Also checks that kwscope's features equal
the op's on the first files. Not a test: asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RECIPE = dict(sample_rate=16000, window_size=30, window_step=20, num_channels=40)
CONTENDERS = {
    "tf-decode": "TensorFlow op per file (read_file + decode_wav + cast)",
    "tf-scipy": "TensorFlow op per file (scipy wavfile int16)",
    "tf-batched": "TensorFlow op, tf.function + map_fn over batches",
    "kwscope-1": "kwscope micro_features, batches, 1 process",
    "kwscope-2": "kwscope micro_features, batches, 2 processes",
}
HEADER = (f"{'what':<56} {'files':>6} {'wall s':>7} {'files/s':>8} {'vs TF':>6} "
          f"{'CPU ms/file':>11} {'peak MiB':>8}")


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow.lite.experimental.microfrontend.python.ops import audio_microfrontend_op

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return tf, audio_microfrontend_op.audio_microfrontend


def _batches(files: list[str], size: int):
    for i in range(0, len(files), size):
        yield files[i:i + size]


def _kwscope_chunk(files: list[str], batch: int) -> int:
    """Read and featurize ``files`` in batches (the work of one kwscope process)."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from kwscope.dsp import micro_features
    from kwscope.io.wav import read_pcm16_mono

    frames = 0
    with threadpool_limits(1):
        for chunk in _batches(files, batch):
            pcm = np.zeros((len(chunk), 16000), np.int16)
            for i, path in enumerate(chunk):
                got = read_pcm16_mono(path)
                samples = got[0] if got else _scipy_pcm16(path)  # not a plain 16-bit mono WAV
                pcm[i, : len(samples)] = samples[:16000]
            frames += micro_features(pcm).shape[1] * len(chunk)
    return frames


def _scipy_pcm16(path: str):
    import scipy.io.wavfile

    return scipy.io.wavfile.read(path)[1]


def _fsdd_16k(fsdd: Path, out: Path, n_files: int) -> Path:
    """FSDD's first ``n_files`` recordings (sorted) at 16 kHz, cut or zero-padded to 1 s, as 16-bit
    WAVs under ``out`` (written once; the resampling is not timed)."""
    import numpy as np
    import scipy.io.wavfile

    from kwscope.dsp import resample
    from kwscope.io.audio import read_clip

    sources = sorted(fsdd.rglob("*.wav"))[:n_files]
    if not sources:
        sys.exit(f"--fsdd {fsdd}: no .wav files there")
    out.mkdir(parents=True, exist_ok=True)
    for src in sources:
        dst = out / src.name
        if dst.exists():
            continue
        clip = read_clip(src)
        y = resample(clip.samples, clip.sample_rate, 16000)[:16000]
        pcm = np.zeros(16000, np.int16)
        pcm[: len(y)] = np.clip(np.round(y * 32768), -32768, 32767).astype(np.int16)
        scipy.io.wavfile.write(dst, 16000, pcm)
    return out


def _contender(name: str, files: list[str], batch: int) -> dict:
    """Run one contender in this process; seconds, CPU seconds, peak RSS (MiB)."""
    import resource

    if name.startswith("tf"):
        tf, frontend = _tf()
        import numpy as np
        import scipy.io.wavfile

        if name == "tf-decode":
            def run(paths):
                for path in paths:
                    audio = tf.audio.decode_wav(tf.io.read_file(path), desired_channels=1).audio
                    frontend(tf.cast(tf.multiply(audio[:, 0], 32768), tf.int16), **RECIPE).numpy()
        elif name == "tf-scipy":
            def run(paths):
                for path in paths:
                    frontend(tf.constant(scipy.io.wavfile.read(path)[1]), **RECIPE).numpy()
        else:
            @tf.function
            def many(pcm):
                return tf.map_fn(lambda clip: frontend(clip, **RECIPE), pcm, fn_output_signature=tf.uint16)

            def run(paths):
                for chunk in _batches(paths, batch):
                    pcm = np.zeros((len(chunk), 16000), np.int16)
                    for i, path in enumerate(chunk):
                        samples = scipy.io.wavfile.read(path)[1]
                        pcm[i, : len(samples)] = samples[:16000]
                    many(tf.constant(pcm)).numpy()
        run(files[:batch if name == "tf-batched" else 2])  # first-call costs (tracing) are not per-file
        start, cpu = time.perf_counter(), time.process_time()
        run(files)
        seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    else:
        procs = int(name.split("-")[1])
        _kwscope_chunk(files[:2], batch)  # imports and table building are not per-file
        start, cpu = time.perf_counter(), time.process_time()
        if procs == 1:
            _kwscope_chunk(files, batch)
            children_cpu, peak = 0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        else:
            import multiprocessing as mp

            from measure import TreeSampler

            half = (len(files) + 1) // 2
            parts = [files[:half], files[half:]]
            with TreeSampler() as tree, mp.get_context("fork").Pool(procs) as pool:
                pool.starmap(_kwscope_chunk, [(p, batch) for p in parts])
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            children_cpu = usage.ru_utime + usage.ru_stime
            peak = tree.peak_rss_mib  # the parent and its workers, summed
        seconds = time.perf_counter() - start
        cpu_s = time.process_time() - cpu + children_cpu
    return {"seconds": seconds, "cpu_s": cpu_s, "n": len(files), "peak_mib": peak}


def _same_features(files: list[str]) -> tuple[int, int]:
    """Clips (of ``files``) whose kwscope features equal the op's, and how many were compared."""
    import numpy as np
    import scipy.io.wavfile

    from kwscope.dsp import micro_features

    tf, frontend = _tf()
    pcm = np.zeros((len(files), 16000), np.int16)
    for i, path in enumerate(files):
        samples = scipy.io.wavfile.read(path)[1]
        pcm[i, : len(samples)] = samples[:16000]
    ours = micro_features(pcm)
    same = sum(np.array_equal(frontend(tf.constant(x), **RECIPE).numpy(), o) for x, o in zip(pcm, ours))
    return int(same), len(files)


def _run_child(name: str, list_file: Path, batch: int) -> dict:
    cmd = [sys.executable, __file__, "--contender", name, "--files-from", str(list_file), "--batch", str(batch)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(name: str, r: dict, ref_rate: float | None) -> str:
    rate = r["n"] / r["seconds"]
    ratio = f"{rate / ref_rate:5.2f}x" if ref_rate else "     -"
    return (f"{name:<56} {r['n']:>6,} {r['seconds']:7.2f} {rate:8,.0f} {ratio} "
            f"{1000 * r['cpu_s'] / r['n']:11.3f} {r['peak_mib']:8.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="an existing corpus of 16-kHz 1-s clips (default: build one)")
    ap.add_argument("--fsdd", type=Path, help="FSDD's folder: bench on its recordings resampled to 16 kHz, 1 s")
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "kwscope-bench-micro-fsdd16k",
                    help="where --fsdd writes its 16-kHz copies (outside the repository)")
    ap.add_argument("--n-files", type=int, default=3000, help="files to read (the first, sorted)")
    ap.add_argument("--batch", type=int, default=512, help="clips per batch (kwscope, batched TensorFlow)")
    ap.add_argument("--check-files", type=int, default=300, help="files on which to compare the features")
    ap.add_argument("--repeat", type=int, default=1, help="rounds over the contenders; each keeps its fastest")
    ap.add_argument("--skip", default="", help="comma-separated contenders to skip")
    ap.add_argument("--contender", help=argparse.SUPPRESS)
    ap.add_argument("--files-from", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.contender:  # child mode: one contender
        files = args.files_from.read_text().splitlines()
        print(json.dumps(_contender(args.contender, files, args.batch)))
        return

    from corpus import corpus_for

    if args.fsdd:
        data = _fsdd_16k(args.fsdd, args.scratch, args.n_files)
    else:
        data = corpus_for(args.data, args.n_files)
    files = sorted(str(p) for p in data.rglob("*.wav"))[: args.n_files]
    for f in files:  # warm the page cache for everyone alike
        with open(f, "rb") as fh:
            fh.read()
    skip = set(filter(None, args.skip.split(",")))
    results = {}
    with tempfile.TemporaryDirectory(prefix="kwscope-bench-micro-") as scratch:
        list_file = Path(scratch) / "files.txt"
        list_file.write_text("\n".join(files))
        for rep in range(args.repeat):  # rounds over all contenders: load changes hit them alike
            for name in CONTENDERS:
                if name not in skip:
                    print(f"round {rep + 1}/{args.repeat}: {name} on {len(files):,} files ...", flush=True)
                    got = _run_child(name, list_file, args.batch)
                    if name not in results or got["seconds"] < results[name]["seconds"]:
                        results[name] = got  # the best round of each
    same, checked = _same_features(files[: args.check_files])

    ref = min((r for k, r in results.items() if k in ("tf-decode", "tf-scipy")),
              key=lambda r: r["seconds"], default=None)
    ref_rate = ref["n"] / ref["seconds"] if ref else None
    print()
    print(HEADER)
    for name, r in results.items():
        print(_row(CONTENDERS[name], r, ref_rate))
    rates = {k: r["n"] / r["seconds"] for k, r in results.items()}
    for ours in ("kwscope-1", "kwscope-2"):
        for theirs in ("tf-decode", "tf-scipy", "tf-batched"):
            if ours in rates and theirs in rates:
                got = rates[ours] / rates[theirs]
                print(f"    {ours} / {theirs}: {got:5.2f}x files/s (target: within 2x, >= 0.5x: "
                      f"{'meets' if got >= 0.5 else 'misses'})")
    print(f"features equal to the op's on {same} of {checked} clips")
    print(f"(machine load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
