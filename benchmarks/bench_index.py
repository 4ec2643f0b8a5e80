"""Benchmark: `kwscope index` against the reference loops, on a Speech-Commands-sized corpus.

    python benchmarks/bench_index.py [--data DIR] [--n-files 60000]

References, timed in the same run: the notebook's way of learning lengths (scipy.io.wavfile.read
of every file) and a careful user's loop (soundfile.info of every file). kwscope runs as a whole
process; its peak RSS is the process's. Not a test: prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import HEADER, kwscope_cmd, row, run_measured  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, help="an existing corpus (default: build one)")
    ap.add_argument("--n-files", type=int, default=60000)
    ap.add_argument("--ref-files", type=int, default=5000, help="files the reference loops read")
    args = ap.parse_args()
    from corpus import corpus_for  # here: the reference loops' processes stay light

    data = corpus_for(args.data, args.n_files)
    files = sorted(str(p) for p in data.rglob("*.wav"))
    n = len(files)
    ref = files[: args.ref_files]

    import scipy.io.wavfile
    import soundfile as sf

    for f in ref:  # warm the page cache for everyone alike
        Path(f).read_bytes()
    t = time.perf_counter()
    lengths = [scipy.io.wavfile.read(f)[1].shape[0] for f in ref]
    t_wavfile = time.perf_counter() - t
    t = time.perf_counter()
    infos = [sf.info(f).frames for f in ref]
    t_info = time.perf_counter() - t
    assert lengths == infos
    out = Path(tempfile.mkdtemp()) / "manifest.parquet"
    run_measured(kwscope_cmd("index", str(data), "-o", str(out)))  # warm the cache for the full set
    m = run_measured(kwscope_cmd("index", str(data), "-o", str(out)))
    if m.returncode:
        sys.exit(m.output)
    ref_rate = len(ref) / t_wavfile
    print(HEADER)
    print(row("notebook: scipy.io.wavfile.read per file", len(ref), t_wavfile, None))
    print(row("soundfile.info per file", len(ref), t_info, None, ref_rate))
    print(row("kwscope index (whole process)", n, m.wall_s, m.peak_rss_mib, ref_rate))
    os.remove(out)


if __name__ == "__main__":
    main()
