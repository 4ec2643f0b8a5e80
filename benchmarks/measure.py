"""Timing and memory of whole commands, for the benchmarks (not a test helper).

``run_measured(cmd)`` runs a command, samples the resident memory of its whole process tree
(the command plus any worker processes) every 20 ms, and returns wall time and the peak sum.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

import psutil


@dataclass
class Measured:
    wall_s: float
    peak_rss_mib: float
    returncode: int
    output: str


def run_measured(cmd: list[str], *, env=None, cwd=None, interval_s: float = 0.02) -> Measured:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd, text=True)
    root = psutil.Process(proc.pid)
    peak = 0
    chunks: list[str] = []
    while proc.poll() is None:
        try:
            procs = [root] + root.children(recursive=True)
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            peak = max(peak, total)
        except psutil.Error:
            pass
        time.sleep(interval_s)
    wall = time.perf_counter() - start
    chunks.append(proc.stdout.read())
    return Measured(wall, peak / 2**20, proc.returncode, "".join(chunks))


def peak_rss_mib_self() -> float:
    """Peak RSS of this process so far (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def kwscope_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "kwscope", *args]


def row(name: str, n_files: int, seconds: float, peak_mib: float | None, ref_rate: float | None = None) -> str:
    rate = n_files / seconds if seconds else float("nan")
    ratio = f"{rate / ref_rate:6.1f}x" if ref_rate else "      -"
    peak = f"{peak_mib:8.0f}" if peak_mib is not None else "       -"
    return f"{name:<48} {n_files:>8,} {seconds:9.2f} {rate:10,.0f} {ratio} {peak}"


HEADER = f"{'what':<48} {'files':>8} {'seconds':>9} {'files/s':>10} {'ratio':>7} {'peak MiB':>8}"
