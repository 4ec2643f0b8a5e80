"""Benchmark: `kwscope features` on the local process pool vs through a Dask cluster, same machine.

    python benchmarks/bench_dask.py [--data DIR] [--n-files 60000] [--workers 2] [--kind logspec]

Both runs use the same number of single-threaded worker processes (``--workers``): the local
engine's process pool, and a Dask cluster started here on loopback the way users start one
(``dask scheduler`` and ``dask worker --nworkers N --nthreads 1`` subprocesses). Every process of
a run is sampled every 50 ms: peak RSS is the sum over the run's processes (Dask: client,
scheduler, nannies and workers), CPU time their user + system seconds. On a shared machine, files
per CPU-second compares the engines' overheads better than wall time. Then both feature stores are
loaded and compared bit for bit. Not a test: prints figures; exits 1 only if the arrays differ.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import HEADER, kwscope_cmd, row  # noqa: E402



class _Tree:
    """Samples this process's descendants: summed RSS (peak) and CPU seconds per process.

    ``cpu_s`` is the CPU the sampled processes used between ``start()`` and ``stop()``
    (a process that exits loses at most its last 50 ms).
    """

    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self._me = psutil.Process()
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self, record_first: bool) -> None:
        rss = 0
        for p in self._me.children(recursive=True):
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    cpu = t.user + t.system
                    rss += p.memory_info().rss
            except psutil.Error:
                continue
            key = p.pid
            if record_first and key not in self._first:
                self._first[key] = cpu
            self._last[key] = cpu
        self.peak_rss = max(self.peak_rss, rss)

    def start(self) -> "_Tree":
        self._sample(record_first=True)  # processes alive now count from here (the cluster)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample(record_first=False)

    def stop(self) -> "_Tree":
        self._stop.set()
        self._thread.join()
        self._sample(record_first=False)
        return self

    @property
    def cpu_s(self) -> float:
        return sum(v - self._first.get(pid, 0.0) for pid, v in self._last.items())


def _run(cmd: list[str]) -> tuple[float, _Tree, str, int]:
    tree = _Tree().start()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    tree.stop()
    return wall, tree, proc.stdout, proc.returncode


def _start_cluster(workdir: Path, n_workers: int) -> tuple[str, list[subprocess.Popen]]:
    """``dask scheduler`` + ``dask worker`` on loopback, as a user would run them."""
    sched_file = workdir / "scheduler.json"
    log = open(workdir / "cluster.log", "w")
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(sched_file)],
                              stdout=log, stderr=log, cwd=workdir)]
    deadline = time.monotonic() + 60
    while not sched_file.exists():
        if time.monotonic() > deadline or procs[0].poll() is not None:
            sys.exit(f"dask scheduler did not start; see {workdir / 'cluster.log'}")
        time.sleep(0.1)
    time.sleep(0.2)
    address = json.loads(sched_file.read_text())["address"]
    procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", str(n_workers), "--nthreads", "1",
                                   "--local-directory", str(workdir / "dask-worker-space")],
                                  stdout=log, stderr=log, cwd=workdir))
    import distributed

    with distributed.Client(address, set_as_default=False, timeout=30) as client:
        client.wait_for_workers(n_workers, timeout=120)
    return address, procs


def _stop_cluster(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):  # workers first, then the scheduler
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


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
    from corpus import corpus_for  # here: the reference loops' processes stay light

    data = corpus_for(args.data, args.n_files).resolve()
    n = sum(1 for _ in data.rglob("*.wav"))
    for f in data.rglob("*.wav"):  # warm the page cache for both runs alike
        f.read_bytes()
    work = Path(tempfile.mkdtemp(prefix="kwscope-bench-dask-"))
    kind = ["--kind", args.kind] if args.kind else []
    load_before = os.getloadavg()

    out_local = work / "local"
    wall_local, tree_local, output, rc = _run(kwscope_cmd("features", str(data), "-o", str(out_local),
                                                          "--workers", str(args.workers), *kind))
    if rc:
        sys.exit(f"local run failed:\n{output}")

    address, cluster = _start_cluster(work, args.workers)
    try:
        out_dask = work / "dask"
        wall_dask, tree_dask, output, rc = _run(kwscope_cmd("features", str(data), "-o", str(out_dask),
                                                            "--scheduler", address, *kind))
    finally:
        _stop_cluster(cluster)
    if rc:
        sys.exit(f"Dask run failed:\n{output}")

    import kwscope

    X_local, man_local = kwscope.load_features(out_local)
    X_dask, man_dask = kwscope.load_features(out_dask)
    same = _same(X_local, X_dask) and man_local["path"].tolist() == man_dask["path"].tolist()

    local_rate = n / wall_local
    load = ", ".join(f"{x:.1f}" for x in load_before)
    print(f"{n:,} files, {args.workers} worker processes x 1 thread both ways, {os.cpu_count()} cores; "
          f"load average before the runs {load} (a shared machine: treat the figures as indicative)")
    print(HEADER)
    print(row(f"kwscope features, local pool ({args.workers} processes)", n, wall_local,
              tree_local.peak_rss / 2**20))
    print(row(f"kwscope features --scheduler ({args.workers} Dask workers)", n, wall_dask,
              tree_dask.peak_rss / 2**20, local_rate))
    print(f"Dask / local files/s: {(n / wall_dask) / local_rate:.2f}")
    print(f"CPU seconds (every process of the run): local {tree_local.cpu_s:.1f} "
          f"({n / tree_local.cpu_s:,.0f} files/CPU-s), Dask {tree_dask.cpu_s:.1f} "
          f"({n / tree_dask.cpu_s:,.0f} files/CPU-s); Dask / local files per CPU-s: "
          f"{tree_local.cpu_s / tree_dask.cpu_s:.2f}")
    print(f"arrays identical: {same}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"stores kept in {work}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
