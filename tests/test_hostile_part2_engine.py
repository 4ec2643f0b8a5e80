"""A worker process killed outright (issue 16, part two): SIGKILL as the OOM killer sends it, a
real segfault, once or every time. Real processes on the real local pool, 2 workers; the tasks
kill themselves when they read a file named to do so."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from procs import session_processes as _session
import soundfile as sf

from kwscope.engine import EngineError, run_chunks
from kwscope.engine.recovery import MAX_DEATHS_IN_A_ROW


@dataclass(frozen=True)
class FrameChunk:
    """Files whose frames are counted; implements the engine's PerFileChunk."""

    paths: tuple[str, ...]
    failed: tuple[str, ...] = ()

    def n_files(self) -> int:
        return len(self.paths)

    def one_file(self, i: int) -> "FrameChunk":
        return FrameChunk(self.paths[i:i + 1], self.failed[i:i + 1])

    def with_failed(self, failed: dict[int, str]) -> "FrameChunk":
        reasons = list(self.failed) or [""] * len(self.paths)
        for i, reason in failed.items():
            reasons[i] = reason
        return FrameChunk(self.paths, tuple(reasons))


def _die_if_asked(path: str) -> None:
    name = Path(path).name
    if name.startswith("sigkill"):
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer does
    if name.startswith("segfault"):
        ctypes.string_at(0)  # a real invalid read: SIGSEGV
    once = Path(path + ".kill-once")
    if once.exists():  # killed the first time only (memory pressure that passes)
        once.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    times = Path(path + ".kills")
    if times.exists():  # killed this many more times, then no more
        left = int(times.read_text())
        if left > 0:
            times.write_text(str(left - 1))
            os.kill(os.getpid(), signal.SIGKILL)


def count_frames(chunk: FrameChunk) -> list[tuple[str, int | None, str]]:
    out = []
    for i, path in enumerate(chunk.paths):
        if chunk.failed and chunk.failed[i]:
            out.append((path, None, chunk.failed[i]))
            continue
        _die_if_asked(path)
        out.append((path, sf.info(path).frames, ""))
    return out


def count_frames_plain(paths: tuple[str, ...]) -> list[int]:
    for p in paths:
        _die_if_asked(p)
    return [sf.info(p).frames for p in paths]


def _clips(folder: Path, names: list[str]) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for name in names:
        p = folder / name
        sf.write(p, (0.1 * rng.standard_normal(1600)).astype(np.float32), 16000, subtype="PCM_16")
        paths.append(str(p))
    return paths


def _rows(chunks, **kw) -> dict[str, tuple[int | None, str]]:
    rows = [r for res in run_chunks(count_frames, chunks, workers=2, progress=False, **kw) for r in res]
    assert len(rows) == sum(c.n_files() for c in chunks)  # every file once
    return {p: (v, e) for p, v, e in rows}


@pytest.mark.parametrize("killer, sig", [("sigkill.wav", 9), ("segfault.wav", 11)])
def test_worker_killed_by_one_file_loses_only_that_file(tmp_path, killer, sig):
    names = [f"ok{i}.wav" for i in range(11)]
    names.insert(7, killer)
    paths = _clips(tmp_path, names)
    chunks = [FrameChunk(tuple(paths[i:i + 3])) for i in range(0, len(paths), 3)]
    by_path = _rows(chunks)
    bad = str(tmp_path / killer)
    assert by_path[bad] == (None, f"the worker process died (signal {sig}) while reading it")
    assert all(by_path[p] == (1600, "") for p in paths if p != bad)


def test_worker_killed_once_reruns_its_chunk_whole(tmp_path):
    paths = _clips(tmp_path, [f"ok{i}.wav" for i in range(8)])
    Path(paths[5] + ".kill-once").touch()
    by_path = _rows([FrameChunk(tuple(paths[i:i + 2])) for i in range(0, 8, 2)])
    assert all(v == (1600, "") for v in by_path.values())  # nothing lost
    assert not Path(paths[5] + ".kill-once").exists()  # it was killed, once


def test_a_file_killed_by_chance_in_its_probe_is_not_blamed(tmp_path):
    """Killed in the pool, alone, and in the file-by-file probe, but not when tried once more:
    chance (the OOM killer choosing that moment), not the file."""
    paths = _clips(tmp_path, [f"ok{i}.wav" for i in range(6)])
    Path(paths[4] + ".kills").write_text("3")
    by_path = _rows([FrameChunk(tuple(paths[i:i + 3])) for i in range(0, 6, 3)])
    assert all(v == (1600, "") for v in by_path.values())
    assert Path(paths[4] + ".kills").read_text() == "0"  # it was killed three times


def test_two_killers_and_a_raising_file_in_one_chunk(tmp_path):
    paths = _clips(tmp_path, ["ok0.wav", "sigkill-a.wav", "ok1.wav", "sigkill-b.wav", "ok2.wav"])
    (tmp_path / "broken.wav").write_bytes(b"RIFF not a wav")  # sf.info raises: a Python error
    paths.insert(2, str(tmp_path / "broken.wav"))
    by_path = _rows([FrameChunk(tuple(paths)), FrameChunk(tuple(paths[:1]))])
    assert by_path[paths[1]][1] == by_path[paths[4]][1] == "the worker process died (signal 9) while reading it"
    assert by_path[paths[2]][1].startswith("failed while processed: ")
    assert [by_path[p] for p in (paths[0], paths[3], paths[5])] == [(1600, "")] * 3


def test_worker_killed_by_a_chunk_without_the_per_file_contract_is_one_line(tmp_path):
    paths = _clips(tmp_path, ["ok0.wav", "sigkill.wav", "ok1.wav", "ok2.wav"])
    with pytest.raises(EngineError) as err:
        list(run_chunks(count_frames_plain, [tuple(paths[:2]), tuple(paths[2:])], workers=2, progress=False))
    assert "died (signal 9)" in str(err.value) and "\n" not in str(err.value)


def test_a_machine_that_kills_every_worker_stops_with_one_line(tmp_path):
    paths = _clips(tmp_path, [f"sigkill{i}.wav" for i in range(40)])
    with pytest.raises(EngineError) as err:
        list(run_chunks(count_frames, [FrameChunk(tuple(paths[i:i + 10])) for i in range(0, 40, 10)],
                        workers=2, progress=False))
    msg = str(err.value)
    assert f"{MAX_DEATHS_IN_A_ROW} times in a row" in msg and "signal 9" in msg and "\n" not in msg


# --- the OOM killer, from outside, during a real run of the command line ---------------------



@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_anomalies_survives_a_worker_killed_from_outside(fsdd_dir, tmp_path):
    # FSDD 4 times over (12,000 links): FSDD alone is checked in about a second, and its pool
    # could end between the moment its workers are seen and the kill
    data = tmp_path / "data"
    files = sorted(fsdd_dir.glob("*.wav"))
    for k in range(4):
        (data / f"copy{k}").mkdir(parents=True)
        for f in files:
            os.symlink(f, data / f"copy{k}" / f.name)
    proc = subprocess.Popen([sys.executable, "-m", "kwscope", "anomalies", str(data), "--workers", "2",
                             "--json"], start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = None
    try:
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            procs = _session(proc.pid)
            children = {pid for pid, ppid in procs if ppid == proc.pid}
            workers = [pid for pid, ppid in procs if ppid in children]  # the fork server's children
            if workers:
                time.sleep(0.5)  # at work on a chunk
                try:
                    os.kill(workers[0], signal.SIGKILL)
                    killed = workers[0]
                except ProcessLookupError:  # that worker ended meanwhile (its pool was done): the next one
                    pass
            time.sleep(0.02)
        out, err = proc.communicate(timeout=300)
        deadline = time.monotonic() + 10
        while _session(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _session(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        for pid, _ in _session(proc.pid):
            os.kill(pid, signal.SIGKILL)
    assert left == []  # no worker, probe or fork server outlives the run
    assert killed is not None, "the run ended before a worker could be killed"
    assert proc.returncode == 0, err.decode()[-2000:]
    doc = json.loads(out)
    n_files = 4 * len(files)
    assert doc["n_checked"] + len(doc["broken_files"]) == n_files  # nothing lost to the kill
    assert not [b for b in doc["broken_files"] if "worker process" in b["error"]]
