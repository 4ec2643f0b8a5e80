"""`kwscope features` when a chunk's task raises on one file (issue 16, part two): the chunk is
rerun file by file, the file is listed with its reason, and the store is that of a run without
it -- resumed or not, byte for byte."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from procs import session_processes as _session

import kwscope.features.tasks as tasks
from conftest import write_wav
from kwscope.features.extract import extract_features
from kwscope.features.store import load_errors, load_features
from kwscope.settings import RunSettings

SR = 16000
CULPRIT = "go/00000005_nohash_0.wav"


def _dataset(root: Path, n: int = 12) -> Path:
    rng = np.random.default_rng(5)
    for i in range(n):
        y = 0.2 * np.sin(2 * np.pi * (300 + 40 * i) * np.arange(SR) / SR) + 0.01 * rng.standard_normal(SR)
        write_wav(root / ("go", "stop")[i % 2 if i != 5 else 0] / f"{i:08x}_nohash_0.wav", y.astype(np.float32))
    return root


def _raise_on_culprit(monkeypatch, exc: Exception = RuntimeError("decoder state corrupted")) -> list:
    """Make the task itself raise, outside every per-file guard, while it reads the culprit."""
    real, seen = tasks.read_file, []

    def read_file(pipe, location, headers, i, row=None):
        if str(location).endswith(CULPRIT):
            seen.append(location)
            raise exc
        return real(pipe, location, headers, i, row)

    monkeypatch.setattr(tasks, "read_file", read_file)
    return seen


def _run(data: Path, out: Path):
    return extract_features(data, out, settings=RunSettings(workers=1, progress=False, chunk_size=4))


def _files(out: Path) -> dict[str, bytes]:
    """The store's files, byte for byte (store.json without the times it was written at)."""
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    info = json.loads(files.pop("store.json"))
    files["store.json"] = json.dumps({k: v for k, v in info.items() if not k.endswith("_unix")}).encode()
    return files


def test_a_chunk_raising_on_one_file_loses_only_that_file(tmp_path, monkeypatch):
    data = _dataset(tmp_path / "d")
    clean = _run(data, tmp_path / "clean")
    seen = _raise_on_culprit(monkeypatch)
    res = _run(data, tmp_path / "o")
    assert seen  # the task did raise (and was rerun: once whole, once for the file alone)
    assert res.n_rows == 11 and res.n_errors == 1
    errors = load_errors(tmp_path / "o")
    assert errors["path"].tolist() == [CULPRIT]
    assert errors["error"].tolist() == ["failed while processed: RuntimeError: decoder state corrupted"]
    # The other files' raw features are those of the run in which nothing raised, bit for bit.
    X, manifest = load_features(tmp_path / "o", normalize=False)
    X_clean, manifest_clean = load_features(tmp_path / "clean", normalize=False)
    assert clean.n_rows == 12 and CULPRIT not in set(manifest["path"])
    rows = {p: i for i, p in enumerate(manifest_clean["path"])}
    for x, p in zip(X, manifest["path"]):
        np.testing.assert_array_equal(x, X_clean[rows[p]])


def test_a_run_with_a_raising_file_resumes_byte_identical(tmp_path, monkeypatch):
    data = _dataset(tmp_path / "d")
    _raise_on_culprit(monkeypatch)
    _run(data, tmp_path / "ref")

    real = tasks.extract_raw_chunk
    import kwscope.features.extract as extract

    def die_on_chunk_2(task):
        if task.chunk == 2:
            raise SystemExit("killed")  # the process dies after chunks 0 and 1 (the culprit's) are done
        return real(task)

    with monkeypatch.context() as m:
        m.setattr(extract, "extract_raw_chunk", die_on_chunk_2)
        with pytest.raises(SystemExit):
            _run(data, tmp_path / "o")
    assert len(list((tmp_path / "o" / ".work").glob("chunk-*.npz"))) == 2
    _run(data, tmp_path / "o")
    assert _files(tmp_path / "o") == _files(tmp_path / "ref")
    pd.testing.assert_frame_equal(load_errors(tmp_path / "o"), load_errors(tmp_path / "ref"))


def test_a_full_disk_in_a_chunk_is_not_blamed_on_its_files(tmp_path, monkeypatch):
    """ENOSPC is the machine's failure: the run stops, no file is listed as failing."""
    data = _dataset(tmp_path / "d")
    _raise_on_culprit(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError) as err:
        _run(data, tmp_path / "o")
    assert err.value.errno == errno.ENOSPC
    assert not (tmp_path / "o" / "errors.parquet").exists()




@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_features_with_a_worker_killed_from_outside_writes_the_same_store(tmp_path):
    """The OOM killer takes a pool worker mid-chunk: the chunk is rerun and the store is the one an
    undisturbed run writes (the killed worker's half-written rows are written again)."""
    data = _dataset(tmp_path / "d", n=160)
    _run(data, tmp_path / "ref")
    proc = subprocess.Popen([sys.executable, "-m", "kwscope", "features", str(data), "-o", str(tmp_path / "o"),
                             "--workers", "2", "--chunk-size", "4"], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    work, killed = tmp_path / "o" / ".work", False
    try:
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline and proc.poll() is None:
            procs = _session(proc.pid)
            children = {pid for pid, ppid in procs if ppid == proc.pid}
            workers = [pid for pid, ppid in procs if ppid in children]
            if workers and len(list(work.glob("chunk-*.npz"))) >= 2:  # at work, some chunks done
                os.kill(workers[0], signal.SIGKILL)
                killed = True
            time.sleep(0.005)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
        proc.wait()
        for pid, _ in _session(proc.pid):
            os.kill(pid, signal.SIGKILL)
    if not killed:
        pytest.skip("the run ended before a worker could be killed")
    assert proc.returncode == 0, err.decode()[-2000:]
    assert _files(tmp_path / "o") == _files(tmp_path / "ref")
