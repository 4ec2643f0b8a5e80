"""The engine under hostile runs (issues 15/16): a task that raises on one file, a main process
killed mid-run, an absurd --workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kwscope.engine import run_chunks
from kwscope.engine.workers import capped_workers

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"


@dataclass(frozen=True)
class PeakChunk:
    """Real WAV files; the task divides by each file's length (a zero-frame file raises)."""

    paths: tuple[str, ...]
    failed: dict = field(default_factory=dict)

    def n_files(self) -> int:
        return len(self.paths)

    def one_file(self, i: int) -> "PeakChunk":
        return PeakChunk((self.paths[i],))

    def with_failed(self, failed: dict[int, str]) -> "PeakChunk":
        return PeakChunk(self.paths, dict(failed))


def mean_power(chunk: PeakChunk) -> dict[str, object]:
    out: dict[str, object] = {}
    for i, p in enumerate(chunk.paths):
        if i in chunk.failed:
            out[p] = chunk.failed[i]
            continue
        y, _ = sf.read(p, dtype="float32")
        out[p] = float((y.astype(np.float64) ** 2).sum()) / len(y)  # ZeroDivisionError on 0 frames
    return out


def _files(tmp_path: Path) -> list[str]:
    paths = []
    for i in range(6):
        p = tmp_path / f"clip{i}.wav"
        frames = 0 if i == 4 else 1600
        sf.write(p, np.full(frames, 0.5, np.float32), 16000, subtype="PCM_16")
        paths.append(str(p))
    return paths


@pytest.mark.parametrize("workers", [1, 2])
def test_a_chunk_whose_task_raises_on_one_file_is_rerun_file_by_file(tmp_path, workers):
    """One empty WAV made the whole chunk (and so the run) die with ZeroDivisionError."""
    paths = _files(tmp_path)
    chunks = [PeakChunk(tuple(paths[:3])), PeakChunk(tuple(paths[3:]))]
    merged: dict[str, object] = {}
    for result in run_chunks(mean_power, chunks, workers=workers, progress=False):
        merged.update(result)
    assert set(merged) == set(paths)  # every file accounted for, the run carried on
    bad = merged[paths[4]]
    assert isinstance(bad, str) and "ZeroDivisionError" in bad and "\n" not in bad
    for p in paths[:4] + paths[5:]:
        assert merged[p] == pytest.approx(0.25, rel=1e-3)


def test_a_chunk_without_the_per_file_protocol_still_raises():
    def boom(chunk):  # noqa: ANN001 - in-process, no pickling
        raise ZeroDivisionError("x")

    with pytest.raises(ZeroDivisionError):
        list(run_chunks(boom, [[1, 2]], workers=1, progress=False))


def test_workers_1000_are_capped_at_the_cores_and_said(capsys):
    """--workers 1000 started 94 processes (7.9 GB) and ran twice as slow."""
    given = capped_workers(1000)
    assert 1 <= given <= (os.cpu_count() or 1)
    assert "--workers 1000 capped at" in capsys.readouterr().err


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for k in map(int, kids):
                if k not in out:
                    out.add(k)
                    todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.skipif(not FSDD.is_dir(), reason=f"needs the FSDD recordings at {FSDD}")
def test_killing_the_main_process_leaves_no_worker_behind(tmp_path):
    """SIGKILL of `kwscope anomalies` left the fork server and its workers running forever."""
    kwscope = Path(sys.executable).with_name("kwscope")
    proc = subprocess.Popen([str(kwscope), "anomalies", str(FSDD), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "KWSCOPE_CACHE_DIR": str(tmp_path / "cache")})
    try:
        workers: set[int] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
            workers = _descendants(proc.pid)
            time.sleep(0.1)
        if proc.poll() is not None:
            pytest.fail("the run ended before its workers could be seen")
        assert len(workers) >= 2, workers  # the fork server and at least one worker
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        left = [p for p in workers if _alive(p)]
        for p in left:  # do not leave them to the next test
            os.kill(p, signal.SIGKILL)
        assert not left, f"{len(left)} of {len(workers)} worker processes outlived the main process"
    finally:
        if proc.poll() is None:
            proc.kill()
