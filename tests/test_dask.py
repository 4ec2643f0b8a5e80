"""The Dask engine against a real scheduler with two worker processes on loopback.

Compared with the local engine: a generic chunk function; `kwscope features` bit for bit (on a
generated set, on FSDD recordings and on the same recordings as Hugging Face Parquet shards, from
a path and from a file:// URL); `kwscope anomalies` and
`explore` (same ranking, PCA coordinates within PCA_RTOL up to sign); an fsspec URL read by the
workers. Failures: a transient task error is retried, a task's own error reaches the caller, a
killed worker loses and duplicates nothing (generic tasks and feature extraction), a killed client
resumes, an unreachable scheduler is one EngineError, at once rather than after the connect
timeout (the only clock these tests read).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")  # the kwscope[dask] extra

from conftest import mmapped_bytes_of_a_large_array, tone, write_wav  # noqa: E402

from kwscope.engine import EngineError, run_chunks  # noqa: E402
from kwscope.io.urls import RemoteDataError, is_url, resolve_data  # noqa: E402
from kwscope.settings import RunSettings  # noqa: E402

# Workers import the task functions below by module name (LocalCluster's worker processes inherit
# sys.path), so this module imports only light modules at the top; the feature and analysis tests
# import theirs inside.


@pytest.fixture(scope="module")
def cluster():
    """A scheduler and two single-threaded worker processes (restarted by their nannies if killed)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as lc:
        yield lc.scheduler_address


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c


# --- task functions (pure: a chunk's result depends only on the chunk) -----------------------

def spectrum_chunk(chunk: tuple[int, int, float]) -> tuple[int, np.ndarray]:
    """A small numpy workload: chunk id, then the magnitude spectra of seeded noise."""
    chunk_id, n, delay = chunk
    if delay:
        time.sleep(delay)
    x = np.random.default_rng(chunk_id).standard_normal((4, n)).astype(np.float32)
    return chunk_id, np.abs(np.fft.rfft(x, axis=-1)).astype(np.float32)


def flaky_chunk(chunk: tuple[int, str]) -> int:
    """Fails the first time each chunk runs (a transient error), then succeeds."""
    chunk_id, marker_dir = chunk
    marker = os.path.join(marker_dir, f"{chunk_id}.tried")
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise OSError(f"transient failure of chunk {chunk_id}")
    return chunk_id


def failing_chunk(chunk: int) -> int:
    if chunk == 3:
        raise ValueError("chunk 3 is bad")
    return chunk


def _by_id(results) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for chunk_id, arr in results:
        assert chunk_id not in out, f"chunk {chunk_id} returned twice"
        out[chunk_id] = arr
    return out


def _assert_same(local: dict, dask: dict) -> None:
    assert sorted(local) == sorted(dask)
    for k in local:
        assert local[k].dtype == dask[k].dtype and np.array_equal(local[k], dask[k]), k


# --- engine ----------------------------------------------------------------------------------

def test_dask_results_equal_local_engine(cluster, capfd, monkeypatch):
    from kwscope.engine import dask_cluster as dask_engine

    monkeypatch.setattr(dask_engine, "_ANNOUNCED", set())  # the line is printed once per address
    chunks = [(i, 256, 0.0) for i in range(40)]
    sizes = [3] * len(chunks)
    local = _by_id(run_chunks(spectrum_chunk, chunks, workers=1, progress=False))
    dask = _by_id(run_chunks(spectrum_chunk, chunks, scheduler=cluster, sizes=sizes, progress=False))
    _assert_same(local, dask)
    err = capfd.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("kwscope: Dask scheduler")]
    assert len(lines) == 1, err
    assert cluster in lines[0] and "2 workers" in lines[0] and "dashboard http://" in lines[0]


def test_progress_bar_counts_files(cluster, capfd):
    chunks = [(i, 64, 0.0) for i in range(6)]
    list(run_chunks(spectrum_chunk, chunks, scheduler=cluster, sizes=[5] * 6, desc="feat",
                    progress=True))
    err = capfd.readouterr().err
    assert "feat: 100%" in err and "30/30" in err


class _Recording(Sequence):
    """A sequence of chunks that remembers the highest index the engine has read."""

    def __init__(self, n: int):
        self.n, self.max_read = n, -1

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            raise TypeError("the engine should read chunks one at a time")
        if not 0 <= i < self.n:
            raise IndexError(i)
        self.max_read = max(self.max_read, i)
        return (i, 32, 0.0)


def test_in_flight_window_is_bounded(cluster):
    chunks = _Recording(60)
    consumed = 0
    for _ in run_chunks(spectrum_chunk, chunks, scheduler=cluster, max_in_flight=3, progress=False):
        consumed += 1
        # read ahead at most the window: memory does not grow with the number of chunks
        assert chunks.max_read < consumed + 3
    assert consumed == 60 and chunks.max_read == 59


def test_transient_task_error_is_retried(cluster, tmp_path):
    chunks = [(i, str(tmp_path)) for i in range(6)]
    got = list(run_chunks(flaky_chunk, chunks, scheduler=cluster, progress=False))
    assert sorted(got) == list(range(6))
    assert len(list(tmp_path.glob("*.tried"))) == 6  # every chunk failed once, then ran again


def test_task_error_reaches_caller_unchanged(cluster):
    with pytest.raises(ValueError, match="chunk 3 is bad"):
        list(run_chunks(failing_chunk, list(range(8)), scheduler=cluster, progress=False))


def test_stopping_early_cancels_the_rest(cluster, client):
    chunks = [(i, 32, 0.05) for i in range(40)]
    gen = run_chunks(spectrum_chunk, chunks, scheduler=cluster, progress=False)
    next(gen)
    gen.close()  # the consumer walks away: pending tasks are cancelled, not left on the cluster
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not any("spectrum_chunk" in str(k) for k in client.run_on_scheduler(_scheduler_keys)):
            break
        time.sleep(0.2)
    else:
        pytest.fail("tasks of the abandoned run are still on the scheduler")


def _scheduler_keys(dask_scheduler=None) -> list:
    return list(dask_scheduler.tasks)


def test_killed_worker_loses_and_duplicates_nothing(cluster, client):
    chunks = [(i, 512, 0.15) for i in range(24)]
    local = _by_id(run_chunks(spectrum_chunk, [(i, n, 0.0) for i, n, _ in chunks], workers=1,
                              progress=False))
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    results = []
    for r in run_chunks(spectrum_chunk, chunks, scheduler=cluster, progress=False):
        results.append(r)
        if len(results) == 4:
            os.kill(victim, signal.SIGKILL)  # mid-run: its running and held tasks must rerun
    _assert_same(local, _by_id(results))
    client.wait_for_workers(2, timeout=30)  # the nanny restarts it for the next tests
    assert victim not in client.run(os.getpid).values()  # it really died mid-run


# --- connection errors -------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_quick_line(monkeypatch):
    monkeypatch.setenv("KWSCOPE_DASK_TIMEOUT", "60")
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    with pytest.raises(EngineError) as info:
        list(run_chunks(failing_chunk, [1, 2], scheduler=address))
    assert time.monotonic() - start < 30  # a refused connection fails at once, not after 60 s
    message = str(info.value)
    assert address in message and "\n" not in message and "refused" in message


def test_scheduler_without_workers_is_one_line_not_a_hang():
    from kwscope.engine.dask_cluster import run_chunks_dask

    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as lc:
        started = time.monotonic()
        with pytest.raises(EngineError, match=r"no Dask worker connected to .* within 2 s; start some"):
            list(run_chunks_dask(spectrum_chunk, [(0, 1, 0.0)], scheduler=lc.scheduler_address,
                                 worker_timeout=2, progress=False))
        assert time.monotonic() - started < 30


def test_bad_scheduler_address():
    with pytest.raises(EngineError, match="bad Dask scheduler address 'not an address'"):
        list(run_chunks(failing_chunk, [1], scheduler="not an address"))


def test_port_without_dask_behind_it(monkeypatch):
    """A port held by another service (here: one that closes at once) is not a scheduler."""
    monkeypatch.setenv("KWSCOPE_DASK_TIMEOUT", "2")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    try:
        start = time.monotonic()
        with pytest.raises(EngineError) as info:
            list(run_chunks(failing_chunk, [1], scheduler=address))
        assert time.monotonic() - start < 30  # the 2-s timeout applies, not Dask's default
        assert address in str(info.value) and "\n" not in str(info.value)
    finally:
        stop.set()
        thread.join()
        server.close()


def test_dashboard_port_is_not_the_scheduler(client):
    """The commonest slip: the dashboard's address instead of the scheduler's."""
    from urllib.parse import urlsplit

    dashboard = urlsplit(client.dashboard_link)
    address = f"tcp://{dashboard.hostname}:{dashboard.port}"
    with pytest.raises(EngineError, match="HTTP server answers there .*tcp://HOST:8786") as info:
        list(run_chunks(failing_chunk, [1], scheduler=address))
    assert address in str(info.value) and "\n" not in str(info.value)


def test_workers_must_see_the_files(cluster, tmp_path):
    from kwscope.engine.dask_cluster import check_workers_see

    here = tmp_path / "a.wav"
    here.write_bytes(b"RIFF")
    check_workers_see(cluster, [str(here), here.as_uri()])
    with pytest.raises(EngineError, match="cannot read .*nowhere.wav.*mount DATA"):
        check_workers_see(cluster, [str(tmp_path / "nowhere.wav")])


# --- DATA locations ----------------------------------------------------------------------------

def test_file_urls_resolve_to_local_paths(tmp_path):
    folder = tmp_path / "my data"
    assert resolve_data(str(folder)) == str(folder)
    assert resolve_data(folder.as_uri()) == str(folder)  # file:///.../my%20data
    assert resolve_data("file://localhost" + str(folder)) == str(folder)
    assert not is_url(r"C:\data") and is_url("simplecache::s3://bucket/x")
    with pytest.raises(RemoteDataError, match="another host"):
        resolve_data("file://fileserver/share/data")


def test_memory_filesystem_is_refused_on_a_cluster_only():
    pytest.importorskip("fsspec")
    assert resolve_data("memory://kws/data") == "memory://kws/data"
    with pytest.raises(RemoteDataError, match="Dask workers cannot read it"):
        resolve_data("memory://kws/data", distributed=True)


def test_remote_protocols_name_their_package_and_credentials():
    pytest.importorskip("fsspec")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        with pytest.raises(RemoteDataError) as info:
            resolve_data("s3://bucket/speech_commands", distributed=True)
        message = str(info.value)
        assert "kwscope[dask]" in message and "s3fs" in message and "credentials" in message
        assert "every Dask worker" in message and "\n" not in message
    with pytest.raises(RemoteDataError, match="no protocol 'nosuchfs'"):
        resolve_data("nosuchfs://x/y")


# --- kwscope features / anomalies through the cluster -------------------------------------------

CHUNK = 8  # files a task: small, so that even these tiny datasets make many tasks


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory) -> Path:
    """A Speech-Commands-style set: 3 words x 6 speakers, plus planted problems and a broken file."""
    root = tmp_path_factory.mktemp("generated")
    rng = np.random.default_rng(7)
    for w, word in enumerate(("yes", "no", "up")):
        for s in range(6):
            y = tone(300.0 + 150 * w + 20 * s, seconds=1.0, amp=0.3)
            y = y + 0.01 * rng.standard_normal(y.shape[0]).astype(np.float32)
            write_wav(root / word / f"{s:08x}_nohash_0.wav", y)
    write_wav(root / "yes" / "silent00_nohash_0.wav", np.zeros(16000, np.float32))
    write_wav(root / "no" / "clipped0_nohash_0.wav", np.clip(tone(500.0, amp=3.0), -1, 1))
    write_wav(root / "up" / "short000_nohash_0.wav", tone(700.0, seconds=0.4, amp=0.3))
    (root / "up" / "broken00_nohash_0.wav").write_bytes(b"RIFF....WAVEnot really")
    return root


@pytest.fixture(scope="module")
def fsdd_subset(fsdd_dir, tmp_path_factory) -> Path:
    """75 FSDD recordings (every 40th by name: all digits, all speakers)."""
    root = tmp_path_factory.mktemp("fsdd") / "recordings"
    root.mkdir()
    for f in sorted(fsdd_dir.glob("*.wav"))[::40]:
        shutil.copy(f, root / f.name)
    return root


@pytest.fixture(scope="module")
def parquet_dir(fsdd_subset, tmp_path_factory) -> Path:
    """The FSDD subset as Hugging Face Parquet shards (audio bytes inside): the workers read the
    rows from the shards themselves."""
    import shapes

    root = tmp_path_factory.mktemp("parquet") / "fsdd-parquet"
    shapes.hf_parquet(root, shapes.fsdd_sample(fsdd_subset.parent / fsdd_subset.name, every=1), row_group_size=8)
    return root


@pytest.fixture(params=["generated", "fsdd", "parquet"])
def dataset(request) -> Path:
    return request.getfixturevalue({"generated": "generated_dir", "fsdd": "fsdd_subset",
                                    "parquet": "parquet_dir"}[request.param])


_LOCAL_STORES: dict[Path, Path] = {}


def _local_store(data: Path, tmp_path_factory) -> Path:
    """Features of ``data`` from the local engine (computed once a dataset)."""
    from kwscope.features import extract

    if data not in _LOCAL_STORES:
        out = tmp_path_factory.mktemp("local") / "store"
        extract.extract_features(data, out, settings=RunSettings(workers=1, progress=False, chunk_size=CHUNK))
        _LOCAL_STORES[data] = out
    return _LOCAL_STORES[data]


def _assert_same_store(local: Path, other: Path) -> None:
    from kwscope.features.store import load_features

    X_a, m_a = load_features(local)
    X_b, m_b = load_features(other)
    assert X_a.dtype == X_b.dtype and X_a.shape == X_b.shape
    assert np.array_equal(X_a, X_b)  # bit for bit
    assert m_a.equals(m_b)
    stats_a, stats_b = np.load(local / "stats.npz"), np.load(other / "stats.npz")
    for k in stats_a.files:
        assert np.array_equal(stats_a[k], stats_b[k]), k
    assert sorted(p.name for p in other.iterdir()) == sorted(p.name for p in local.iterdir())


def test_features_cli_through_dask_equal_local(cluster, dataset, tmp_path, tmp_path_factory):
    from click.testing import CliRunner

    from kwscope.cli import main

    out = tmp_path / "store"
    result = CliRunner().invoke(main, ["features", str(dataset), "-o", str(out), "--scheduler", cluster,
                                       "--chunk-size", str(CHUNK)])
    assert result.exit_code == 0, result.output
    _assert_same_store(_local_store(dataset, tmp_path_factory), out)


def test_features_from_a_file_url_through_dask(cluster, generated_dir, tmp_path, tmp_path_factory):
    from kwscope.features import extract

    out = tmp_path / "store"
    extract.extract_features(generated_dir.as_uri(), out, settings=RunSettings(scheduler=cluster, progress=False, chunk_size=CHUNK))
    _assert_same_store(_local_store(generated_dir, tmp_path_factory), out)


def test_features_survive_a_killed_worker(cluster, client, fsdd_subset, tmp_path, tmp_path_factory):
    from kwscope.features import extract

    local = _local_store(fsdd_subset, tmp_path_factory)
    out = tmp_path / "store"
    victim = sorted(client.run(os.getpid).values())[0]
    killed = threading.Event()

    def kill_when_started():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed.is_set():
            if len(list((out / ".work").glob("chunk-*.npz"))) >= 2:  # some tasks done, most not
                os.kill(victim, signal.SIGKILL)
                killed.set()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_when_started, daemon=True)
    watcher.start()
    try:
        extract.extract_features(fsdd_subset, out, settings=RunSettings(scheduler=cluster, progress=False, chunk_size=CHUNK))
    finally:
        killed.set()
        watcher.join()
    client.wait_for_workers(2, timeout=30)
    assert victim not in client.run(os.getpid).values()
    _assert_same_store(local, out)


def test_interrupted_dask_run_resumes(cluster, fsdd_subset, tmp_path, tmp_path_factory):
    """SIGKILL the client mid-run; rerunning the same command finishes the same store."""
    from kwscope.features import extract

    local = _local_store(fsdd_subset, tmp_path_factory)
    out = tmp_path / "store"
    cmd = [sys.executable, "-m", "kwscope", "features", str(fsdd_subset), "-o", str(out),
           "--scheduler", cluster, "--chunk-size", str(CHUNK)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((out / ".work").glob("chunk-*.npz"))) >= 3:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before it could be interrupted"
        proc.kill()
    finally:
        proc.wait()
    assert not (out / "manifest.parquet").exists()  # incomplete: the manifest comes last
    extract.extract_features(fsdd_subset, out, settings=RunSettings(scheduler=cluster, progress=False, chunk_size=CHUNK))
    _assert_same_store(local, out)


def _pca_close_up_to_sign(a: np.ndarray, b: np.ndarray, rtol: float) -> None:
    """Each PCA axis may flip sign; coordinates agree within ``rtol`` of the axis's spread."""
    ok = ~np.isnan(a[:, 0])
    assert np.array_equal(ok, ~np.isnan(b[:, 0]))
    for j in range(a.shape[1]):
        x, y = a[ok, j], b[ok, j]
        sign = 1.0 if np.dot(x, y) >= 0 else -1.0
        scale = max(float(np.abs(x).max()), 1e-12)
        np.testing.assert_allclose(sign * y, x, rtol=0, atol=rtol * scale)


PCA_RTOL = 1e-6  # PCA coordinates: same up to sign, within 1e-6 of each axis's range
TOP = 15
_LOCAL_EXPLORATIONS: dict[Path, object] = {}


def _local_exploration(data: Path):
    """The local engine's exploration of ``data`` (computed once a dataset)."""
    from kwscope.analysis.explore import explore

    if data not in _LOCAL_EXPLORATIONS:
        _LOCAL_EXPLORATIONS[data] = explore(data, settings=RunSettings(workers=1, progress=False), top=TOP)
    return _LOCAL_EXPLORATIONS[data]


def test_anomalies_through_dask_equal_local(cluster, dataset):
    from kwscope.analysis.explore import explore

    local = _local_exploration(dataset)
    dask = explore(dataset, settings=RunSettings(scheduler=cluster, progress=False), top=TOP)
    top_local = [a["path"] for a in local.anomalies]
    assert top_local and [a["path"] for a in dask.anomalies] == top_local  # same ranking
    np.testing.assert_allclose([a["score"] for a in dask.anomalies],
                               [a["score"] for a in local.anomalies], rtol=1e-9)
    cols = ["pca_x", "pca_y", "pca_z"]
    _pca_close_up_to_sign(local.profiles[cols].to_numpy(), dask.profiles[cols].to_numpy(), PCA_RTOL)
    np.testing.assert_allclose(dask.pca["explained_variance_ratio"], local.pca["explained_variance_ratio"],
                               rtol=PCA_RTOL)
    assert local.quality["counts"] == dask.quality["counts"]
    assert [d["paths"] for d in local.duplicates] == [d["paths"] for d in dask.duplicates]


def test_anomalies_cli_json_through_dask(cluster, dataset):
    import json

    from click.testing import CliRunner

    from kwscope.cli import main

    local = _local_exploration(dataset).anomaly_report().to_dict()
    result = CliRunner().invoke(main, ["anomalies", str(dataset), "--json", "--top", str(TOP),
                                       "--scheduler", cluster])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # one JSON document on stdout; the Dask line went to stderr
    assert [o["path"] for o in doc["outliers"]] == [o["path"] for o in local["outliers"]]
    assert [o["reasons"] for o in doc["outliers"]] == [o["reasons"] for o in local["outliers"]]
    np.testing.assert_allclose([o["score"] for o in doc["outliers"]],
                               [o["score"] for o in local["outliers"]], rtol=1e-9)
    np.testing.assert_allclose(doc["pca"]["explained_variance_ratio"],
                               local["pca"]["explained_variance_ratio"], rtol=PCA_RTOL)
    assert doc["quality"]["counts"] == local["quality"]["counts"]


def test_fsspec_url_read_by_dask_workers(tmp_path):
    """DATA as an fsspec URL: workers open the recordings through fsspec. ``memory://`` is only
    visible inside one process, so the cluster here runs its two workers as threads of this one."""
    fsspec = pytest.importorskip("fsspec")
    import io

    import soundfile as sf

    from kwscope.features import extract
    from kwscope.analysis.explore import explore

    fs = fsspec.filesystem("memory")
    rng = np.random.default_rng(3)
    for w, word in enumerate(("yes", "no")):
        for s in range(5):
            y = tone(300.0 + 100 * s + 40 * w, amp=0.3) + 0.01 * rng.standard_normal(16000).astype(np.float32)
            buf = io.BytesIO()
            sf.write(buf, y, 16000, format="WAV", subtype="PCM_16")
            fs.pipe(f"/kwscope-dask-test/{word}/{s:08x}_nohash_0.wav", buf.getvalue())
    url = "memory://kwscope-dask-test"
    try:
        local = explore(url, settings=RunSettings(workers=1, progress=False, chunk_size=3), top=5)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=":0") as lc:
            dask = explore(url, settings=RunSettings(scheduler=lc.scheduler_address, progress=False, chunk_size=3), top=5)
            with pytest.raises(RemoteDataError, match="Dask workers cannot read it"):
                extract.extract_features(url, tmp_path / "out", settings=RunSettings(scheduler=lc.scheduler_address))
        assert local.profiles["status"].eq("ok").all()
        assert [a["path"] for a in dask.anomalies] == [a["path"] for a in local.anomalies]
        assert dask.profiles.equals(local.profiles)
    finally:
        fs.rm("/kwscope-dask-test", recursive=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_workers_reuse_freed_memory_between_tasks(cluster):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_, which turns off glibc's adaptive mmap threshold:
    every array over 128 KiB becomes a fresh mmap, faulted in page by page (a feature chunk takes
    about twice as long). kwscope's tasks set the thresholds back to chunk-sized values."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallinfo2  # noqa: B018 - glibc >= 2.33
    except (OSError, AttributeError):
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")
    with distributed.Client(cluster, set_as_default=False) as c:
        assert set(c.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {"65536"}  # Dask's
    mapped = list(run_chunks(mmapped_bytes_of_a_large_array, [0, 1, 2, 3], scheduler=cluster,
                             progress=False))
    assert mapped == [0, 0, 0, 0]
