"""Timing and memory of whole commands, for the benchmarks (not a test helper).

``run_measured(cmd)`` runs a command, samples its whole process tree (the command plus worker
processes, which hang below a fork server where ``RUSAGE_CHILDREN`` cannot see them) every 20 ms,
and returns wall time, CPU seconds of the tree and the peak of the summed resident memory.
``TreeSampler`` does the same for this process and its children, around in-process work.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import psutil


@dataclass
class Measured:
    wall_s: float
    cpu_s: float  # user + system of every process seen in the tree (last sample of each)
    peak_rss_mib: float  # peak of the summed RSS over the tree
    returncode: int
    output: str


class TreeSampler:
    """Samples a process and its descendants in a thread: peak summed RSS and CPU seconds."""

    def __init__(self, pid: int | None = None, interval_s: float = 0.02):
        self.root = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak_rss = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        try:
            procs = [self.root] + self.root.children(recursive=True)
        except psutil.Error:
            return
        total = 0
        for p in procs:
            try:
                with p.oneshot():
                    total += p.memory_info().rss
                    t = p.cpu_times()
                    self.cpu[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        self.peak_rss = max(self.peak_rss, total)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss / 2**20

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values())

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_measured(cmd: list[str], *, env=None, cwd=None, interval_s: float = 0.02,
                 stderr=subprocess.STDOUT) -> Measured:
    """Run ``cmd``; ``output`` is its stdout, with stderr merged in unless ``stderr`` says otherwise
    (e.g. ``subprocess.DEVNULL`` when stdout must stay one parseable document)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=cwd, text=True)
    chunks: list[str] = []
    # read output while it runs, or a chatty command would block on a full pipe
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    with TreeSampler(proc.pid, interval_s) as tree:
        proc.wait()
    reader.join()
    return Measured(time.perf_counter() - start, tree.cpu_s, tree.peak_rss_mib, proc.returncode, "".join(chunks))


def kwscope_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "kwscope", *args]


def row(name: str, n_files: int, seconds: float, peak_mib: float | None, ref_rate: float | None = None) -> str:
    rate = n_files / seconds if seconds else float("nan")
    ratio = f"{rate / ref_rate:6.1f}x" if ref_rate else "      -"
    peak = f"{peak_mib:8.0f}" if peak_mib is not None else "       -"
    return f"{name:<48} {n_files:>8,} {seconds:9.2f} {rate:10,.0f} {ratio} {peak}"


HEADER = f"{'what':<48} {'files':>8} {'seconds':>9} {'files/s':>10} {'ratio':>7} {'peak MiB':>8}"
