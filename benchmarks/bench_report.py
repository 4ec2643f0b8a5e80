"""Benchmark of ``kwscope report``: the whole report of a Speech-Commands-sized corpus, cold and cached.

Builds (or reuses) the corpus of ``benchmarks/corpus.py`` (1-s 16-kHz clips from FSDD, Speech
Commands layout), then writes the report twice with a fresh cache folder:

1. cold: every file profiled, every figure drawn;
2. cached: the dataset is unchanged, so profiles and figures come from the cache.

Prints the wall time of both runs and their parts, the speedup, the peak resident memory of this
process and of the worker processes, and the size of the page. Targets: the cold report of 60,000
files within 2 minutes on 2 cores, the cached one at least 5 times faster, the page at most 20 MB.

Usage::

    python benchmarks/bench_report.py [--n-files 60000] [--corpus /tmp/kwscope-corpus-60k] [--workers N]

(the 60,000-file corpus is shared with the other benchmarks at /tmp/kwscope-corpus-60k).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import build_corpus, default_corpus_dir  # noqa: E402
from measure import TreeSampler  # noqa: E402


def _run(corpus: Path, out: Path, cache: Path, workers: int | None) -> tuple[float, object, float]:
    """``kwscope report CORPUS -o out --cache cache``: the page only (the JSON is timed apart)."""
    from kwscope.report.build import build_report
    from kwscope.settings import RunSettings

    with TreeSampler(interval_s=0.2) as rss:
        t0 = time.perf_counter()
        result = build_report(corpus, out, settings=RunSettings(workers=workers, cache_dir=cache, progress=None))
        wall = time.perf_counter() - t0
    return wall, result, rss.peak_rss_mib


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-files", type=int, default=60000)
    parser.add_argument("--corpus", default=None,
                        help="corpus folder (default: the shared one in the temp folder, e.g. kwscope-corpus-60k)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--keep", action="store_true", help="keep the report and cache folder")
    args = parser.parse_args(argv)

    corpus = Path(args.corpus) if args.corpus else default_corpus_dir(args.n_files)
    t0 = time.perf_counter()
    build_corpus(corpus, args.n_files)
    print(f"corpus: {args.n_files:,} files in {corpus} (ready in {time.perf_counter() - t0:.1f} s)", flush=True)

    work = Path(tempfile.mkdtemp(prefix="kwscope-bench-report-"))
    out, cache = work / "report.html", work / "cache"
    try:
        cold, r1, rss_cold = _run(corpus, out, cache, args.workers)
        size = out.stat().st_size
        warm, r2, rss_warm = _run(corpus, out, cache, args.workers)
        t0 = time.perf_counter()  # what --json adds: the description with the whole profile table
        json_text = json.dumps(r2.description, allow_nan=False)
        json_s, json_size = time.perf_counter() - t0, len(json_text.encode())
        del json_text
        rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        n = r1.exploration.summary.n_files
        print(f"files:          {n:,} ({n / cold:,.0f} files/s cold)")
        print(f"first run:      {cold:7.1f} s  {r1.timings_s}")
        print(f"cached run:     {warm:7.1f} s  {r2.timings_s}")
        print(f"speedup:        {cold / warm:7.1f}x")
        print(f"peak RSS:       {rss_self:7.0f} MiB this process; {rss_cold:.0f} MiB with its workers (cold), "
              f"{rss_warm:.0f} MiB (cached)")
        print(f"report size:    {size / 1e6:7.2f} MB ({r1.rendered.n_audio} embedded recordings)")
        print(f"--json adds:    {json_s:7.1f} s for a {json_size / 1e6:.1f} MB description")
        print(f"figures:        {r1.description['report']['figures']} cold, "
              f"{r2.description['report']['figures']} cached")
        print(f"machine:        {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
