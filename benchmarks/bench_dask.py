"""Benchmark: `kwscope features` on the local process pool vs through a Dask cluster, same machine.

    python benchmarks/bench_dask.py [--data DIR] [--n-files 60000] [--workers 2] [--kind logspec]

Both runs use the same number of single-threaded worker processes (``--workers``): the local
engine's process pool, and a ``distributed.LocalCluster`` started here on loopback (its dashboard
on a free port). Each command runs as a whole process; peak RSS is the command's process tree,
plus (Dask) the sum of the cluster's worker processes sampled alongside. Then both feature stores
are loaded and compared bit for bit. Not a test: prints figures; exits 1 only if the arrays differ.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import HEADER, kwscope_cmd, row, run_measured  # noqa: E402


class _TreeRSS:
    """Samples the summed RSS of this process's children (the cluster's workers) every 50 ms."""

    def __init__(self):
        import psutil

        self._me = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for p in self._me.children(recursive=True):
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _same(a, b) -> bool:
    """Bit for bit: same dtype, shape and values (a list of arrays when lengths vary)."""
    if isinstance(a, list) or isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="an existing corpus (default: build one)")
    ap.add_argument("--n-files", type=int, default=60000)
    ap.add_argument("--workers", type=int, default=2, help="processes, both ways (1 thread each)")
    ap.add_argument("--kind", default=None, help="feature kind (default: the command's)")
    ap.add_argument("--keep", action="store_true", help="keep the two feature stores")
    args = ap.parse_args()
    data = args.data
    if data is None:
        from corpus import build_corpus

        data = Path(tempfile.gettempdir()) / f"kwscope-corpus-{args.n_files}"
        print(f"corpus: {data} (built if missing) ...", file=sys.stderr, flush=True)
        build_corpus(data, args.n_files)
    n = sum(1 for _ in data.rglob("*.wav"))
    for f in data.rglob("*.wav"):  # warm the page cache for both runs alike
        f.read_bytes()
    work = Path(tempfile.mkdtemp(prefix="kwscope-bench-dask-"))
    kind = ["--kind", args.kind] if args.kind else []

    out_local = work / "local"
    m_local = run_measured(kwscope_cmd("features", str(data), "-o", str(out_local), "--workers",
                                       str(args.workers), *kind))
    if m_local.returncode:
        sys.exit(f"local run failed:\n{m_local.output}")

    import distributed

    out_dask = work / "dask"
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as cluster:
        with _TreeRSS() as workers_rss:
            m_dask = run_measured(kwscope_cmd("features", str(data), "-o", str(out_dask),
                                              "--scheduler", cluster.scheduler_address, *kind))
    if m_dask.returncode:
        sys.exit(f"Dask run failed:\n{m_dask.output}")

    import kwscope

    X_local, man_local = kwscope.load_features(out_local)
    X_dask, man_dask = kwscope.load_features(out_dask)
    same = _same(X_local, X_dask) and man_local["path"].tolist() == man_dask["path"].tolist()

    local_rate = n / m_local.wall_s
    print(f"{n:,} files, {args.workers} worker processes x 1 thread both ways; machine shared with "
          "other jobs, so treat figures as indicative")
    print(HEADER)
    print(row(f"kwscope features, local pool ({args.workers} processes)", n, m_local.wall_s,
              m_local.peak_rss_mib))
    # the Dask run's peak: client process tree + the cluster's workers (sampled separately)
    print(row(f"kwscope features --scheduler ({args.workers} Dask workers)", n, m_dask.wall_s,
              m_dask.peak_rss_mib + workers_rss.peak / 2**20, local_rate))
    print(f"Dask / local files/s: {(n / m_dask.wall_s) / local_rate:.2f}")
    print(f"arrays identical: {same}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"stores kept in {work}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
