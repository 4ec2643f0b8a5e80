"""Dataset-scale extraction: the feature store, resume after SIGKILL, broken files, the CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import kwscope
from kwscope.io.audio import read_audio
from kwscope.cli import main
from kwscope.features.extract import extract_features
from kwscope.features.pipeline import FeaturePipeline, PipelineConfig
from kwscope.features.store import StoreError, load_errors, load_features, load_pipeline
from kwscope.settings import RunSettings
from conftest import write_wav

SR = 16000
WORDS = ("yes", "no", "up")


def _dataset(root: Path, *, per_word: int = 6, seconds: float = 1.0, seed: int = 0,
             loud_heldout: bool = False) -> Path:
    """A small Speech Commands folder; speaker s0 is listed as validation, s1 as test."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    val, test = [], []
    for w, word in enumerate(WORDS):
        for i in range(per_word):
            speaker = f"s{i % 3}"
            rel = f"{word}/{speaker}_nohash_{i}.wav"
            y = 0.2 * np.sin(2 * np.pi * (250 + 120 * w + 10 * i) * t) + 0.01 * rng.standard_normal(t.size)
            if speaker == "s0":
                val.append(rel)
            elif speaker == "s1":
                test.append(rel)
            if loud_heldout and speaker != "s2":
                y = rng.uniform(-0.99, 0.99, t.size)  # wildly different from the train clips
            write_wav(root / rel, y.astype(np.float32))
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    return root


def _break_some(root: Path) -> dict[str, str]:
    (root / "yes" / "zz_nohash_0.wav").write_bytes(b"RIFF")  # header cut short: index error
    (root / "no" / "zz_nohash_1.wav").write_text("not audio at all")
    y = np.zeros(SR, np.float32)
    y[100] = np.nan  # a readable header, NaN samples: found only when decoding
    write_wav(root / "up" / "zz_nohash_2.wav", y, subtype="FLOAT")
    return {"yes/zz_nohash_0.wav": "index", "no/zz_nohash_1.wav": "index", "up/zz_nohash_2.wav": "read"}


# --------------------------------------------------------------------------- the store


def test_store_is_the_fitted_pipeline_output(tmp_path):
    data = _dataset(tmp_path / "d", loud_heldout=True)
    res = extract_features(data, tmp_path / "out", settings=RunSettings(workers=1, progress=False, chunk_size=4))
    X, manifest = kwscope.load_features(tmp_path / "out")
    assert type(X) is np.ndarray and X.shape == (18, 99, 161) and X.dtype == np.float32
    assert res.n_rows == 18 and res.n_errors == 0 and res.shape == X.shape
    assert list(manifest["path"]) == sorted(manifest["path"]) and set(manifest["chunk"]) == {0, 1, 2, 3, 4}
    assert {"label", "speaker", "split", "sample_rate", "n_samples"} <= set(manifest.columns)

    # Same numbers as the pipeline fitted on the train rows only (validation/test are loud noise).
    clips = [read_audio(data / p)[0] for p in manifest["path"]]
    train = [c for c, s in zip(clips, manifest["split"]) if s == "train"]
    pipe = FeaturePipeline().fit(np.stack(train), sample_rate=SR)
    np.testing.assert_allclose(X, pipe.transform(np.stack(clips), sample_rate=SR), rtol=1e-5, atol=1e-5)
    stored = load_pipeline(tmp_path / "out")
    np.testing.assert_allclose(stored.mean_, pipe.mean_, rtol=1e-9)
    np.testing.assert_allclose(stored.scale_, pipe.scale_, rtol=1e-6)
    assert stored.n_clips_seen_ == 6  # speaker s2 only: the train split

    # Plain numpy + pyarrow: the raw features (steps 1-4, the same batch code, so the same bits),
    # normalized by the documented formula with stats.npz, give exactly what load_features gives.
    plain = np.load(tmp_path / "out" / "features.npy")
    np.testing.assert_array_equal(plain, FeaturePipeline().compute(np.stack(clips)))
    stats = np.load(tmp_path / "out" / "stats.npz")
    np.testing.assert_array_equal((plain - stats["mean"].astype(np.float32)) / stats["scale"].astype(np.float32), X)
    assert pd.read_parquet(tmp_path / "out" / "manifest.parquet")["path"].tolist() == manifest["path"].tolist()
    assert PipelineConfig.read(tmp_path / "out" / "pipeline.yaml") == PipelineConfig()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "errors.parquet", "features.npy", "manifest.parquet", "pipeline.yaml", "stats.npz", "store.json"]


def test_normalize_none_stores_the_raw_features_without_statistics(tmp_path):
    data = _dataset(tmp_path / "d", per_word=2)
    cfg = PipelineConfig(normalize="none")
    extract_features(data, tmp_path / "out", config=cfg, settings=RunSettings(workers=1, progress=False, chunk_size=4))
    X, manifest = load_features(tmp_path / "out")
    clips = np.stack([read_audio(data / p)[0] for p in manifest["path"]])
    pipe = FeaturePipeline(cfg)
    np.testing.assert_array_equal(X, pipe.compute(clips))  # the same batch code, so the same bits
    assert manifest.attrs["kwscope"]["statistics"]["n_clips"] == 0
    assert load_pipeline(tmp_path / "out").transform(clips[:1], sample_rate=SR).shape == (1, 99, 161)


def test_broken_files_are_skipped_and_listed(tmp_path):
    data = _dataset(tmp_path / "d", per_word=3)
    expected = _break_some(data)
    res = extract_features(data, tmp_path / "out", settings=RunSettings(workers=1, progress=False, chunk_size=3))
    X, manifest = load_features(tmp_path / "out")
    assert len(X) == len(manifest) == 9 and res.n_errors == 3
    errors = load_errors(tmp_path / "out")
    assert dict(zip(errors["path"], errors["stage"])) == expected
    assert "NaN" in errors.set_index("path").loc["up/zz_nohash_2.wav", "error"]
    assert not set(expected) & set(manifest["path"])


def test_fsdd_subset_is_resampled(tmp_path, fsdd_dir):
    data = tmp_path / "fsdd"
    data.mkdir()
    for name in sorted(os.listdir(fsdd_dir))[:40]:
        shutil.copy(fsdd_dir / name, data / name)
    cfg = PipelineConfig(kind="mfcc", stack=2)
    extract_features(data, tmp_path / "out", config=cfg, settings=RunSettings(workers=1, progress=False))
    X, manifest = load_features(tmp_path / "out")
    assert X.shape == (40, 100, 78) and set(manifest["sample_rate"]) == {8000}
    assert manifest.attrs["kwscope"]["data"]["layout"] == "fsdd"
    assert manifest.attrs["kwscope"]["statistics"]["fit_on"] == "train"  # takes 5+ only
    train = manifest["split"] == "train"
    assert 0 < train.sum() < 40
    # Normalized on the train rows: their frames have mean ~0 and std ~1 per coefficient
    # (row t stacks frames t and t+1: the first half of every row plus the last row's second half).
    Xt = np.asarray(X[train.to_numpy()])
    flat = np.concatenate([Xt[:, :, :39], Xt[:, -1:, 39:]], axis=1).reshape(-1, 39)
    np.testing.assert_allclose(flat.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(flat.std(0), 1, atol=1e-3)


def test_variable_length_store(tmp_path):
    data = tmp_path / "d"
    for i, seconds in enumerate((0.3, 0.5, 0.9, 0.01)):
        write_wav(data / "go" / f"a{i}_nohash_0.wav", (0.1 * np.random.default_rng(i).standard_normal(int(SR * seconds))))
    cfg = PipelineConfig(duration_s=None, stack=3)
    res = extract_features(data, tmp_path / "out", config=cfg, settings=RunSettings(workers=1, progress=False, chunk_size=2))
    X, manifest = load_features(tmp_path / "out")
    assert isinstance(X, list) and [x.shape for x in X] == [(27, 483), (47, 483), (87, 483)]
    assert res.n_errors == 1 and "too short" in res.errors["error"].iloc[0]
    pipe = load_pipeline(tmp_path / "out")
    y = read_audio(data / manifest["path"][1])[0]
    np.testing.assert_allclose(X[1], pipe.transform(y, sample_rate=SR), rtol=1e-5, atol=1e-5)


def test_pool_equals_in_process_bit_for_bit(tmp_path):
    data = _dataset(tmp_path / "d", per_word=8)
    extract_features(data, tmp_path / "a", settings=RunSettings(workers=1, progress=False, chunk_size=5))
    extract_features(data, tmp_path / "b", settings=RunSettings(workers=2, progress=False, chunk_size=5))
    assert (tmp_path / "a" / "features.npy").read_bytes() == (tmp_path / "b" / "features.npy").read_bytes()
    assert (tmp_path / "a" / "stats.npz").read_bytes() == (tmp_path / "b" / "stats.npz").read_bytes()


def test_other_config_is_refused_same_config_is_up_to_date(tmp_path):
    data = _dataset(tmp_path / "d", per_word=3)
    out = tmp_path / "out"
    extract_features(data, out, settings=RunSettings(workers=1, progress=False))
    again = extract_features(data, out, settings=RunSettings(workers=1, progress=False))
    assert again.up_to_date and again.n_rows == 9
    with pytest.raises(StoreError, match="another pipeline config.*--overwrite"):
        extract_features(data, out, config=PipelineConfig(kind="mel"), settings=RunSettings(workers=1, progress=False))
    res = extract_features(data, out, config=PipelineConfig(kind="mel"), overwrite=True, settings=RunSettings(workers=1, progress=False))
    assert res.shape == (9, 101, 40) and load_features(out)[0].shape == (9, 101, 40)
    write_wav(data / "yes" / "s9_nohash_0.wav", np.zeros(SR, np.float32))
    with pytest.raises(StoreError, match="DATA changed"):
        extract_features(data, out, config=PipelineConfig(kind="mel"), settings=RunSettings(workers=1, progress=False))
    (tmp_path / "notastore").mkdir()
    (tmp_path / "notastore" / "thesis.tex").write_text("precious")
    with pytest.raises(StoreError, match="not empty and not a kwscope feature store"):
        extract_features(data, tmp_path / "notastore", settings=RunSettings(workers=1, progress=False), overwrite=True)
    assert (tmp_path / "notastore" / "thesis.tex").exists()


def test_no_splits_means_statistics_from_all_rows(tmp_path):
    data = _dataset(tmp_path / "d", per_word=2)
    res = extract_features(data, tmp_path / "out", settings=RunSettings(layout="folders", workers=1, progress=False))
    info = load_features(tmp_path / "out")[1].attrs["kwscope"]
    assert info["statistics"] == {"fit_on": "all", "n_clips": res.n_rows, "n_frames": res.n_rows * 99}


def test_a_second_run_on_the_same_store_is_refused(tmp_path):
    import fcntl

    data = _dataset(tmp_path / "d", per_word=1)
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running `kwscope features` holds it
        with pytest.raises(StoreError, match="another `kwscope features` run"):
            extract_features(data, out, settings=RunSettings(workers=1, progress=False))
    finally:
        os.close(fd)


def test_death_while_publishing_is_finished_by_a_rerun(tmp_path, monkeypatch):
    import kwscope.io.index

    data = _dataset(tmp_path / "d", per_word=3)
    extract_features(data, tmp_path / "ref", settings=RunSettings(workers=1, progress=False, chunk_size=2))

    def die(*args, **kwargs):
        raise SystemExit("killed")  # after features.npy, stats, errors and store.json are in place

    with monkeypatch.context() as m:
        m.setattr(kwscope.io.index, "write_manifest", die)
        with pytest.raises(SystemExit):
            extract_features(data, tmp_path / "out", settings=RunSettings(workers=1, progress=False, chunk_size=2))
    assert (tmp_path / "out" / "features.npy").exists()
    with pytest.raises(StoreError, match="incomplete"):
        load_features(tmp_path / "out")
    res = extract_features(data, tmp_path / "out", settings=RunSettings(workers=1, progress=False, chunk_size=2))
    assert not res.up_to_date
    assert (tmp_path / "out" / "features.npy").read_bytes() == (tmp_path / "ref" / "features.npy").read_bytes()
    assert not (tmp_path / "out" / ".work").exists()


@pytest.mark.parametrize("when", ["moving rows", "cutting the file"])
def test_crash_while_filling_skipped_slots_is_finished_by_a_rerun(tmp_path, monkeypatch, when):
    """Skipped files leave empty row slots; publishing fills them with the last rows, rewrites the
    header and cuts the file. Killed half way through (one row moved, another half written; or
    the header rewritten but the file not cut), the rerun finishes it to the same bytes."""
    import kwscope.features.extract as extract
    from kwscope.features.workspace import _npy_header

    data = _dataset(tmp_path / "d", per_word=4)  # 12 clips + 3 broken files, 8 chunks of 2
    _break_some(data)
    extract_features(data, tmp_path / "ref", settings=RunSettings(workers=1, progress=False, chunk_size=2))
    seen = []

    def crash(path, offset, row_bytes, moves, shape, dtype):
        seen.append(list(moves))
        fd = os.open(path, os.O_RDWR)
        try:
            if when == "moving rows":
                (src, dst), (src2, dst2) = moves[0], moves[1]
                os.pwrite(fd, os.pread(fd, row_bytes, offset + src * row_bytes), offset + dst * row_bytes)
                os.pwrite(fd, b"\x7f" * (row_bytes // 2), offset + dst2 * row_bytes)  # half a row of garbage
            else:
                for src, dst in moves:
                    os.pwrite(fd, os.pread(fd, row_bytes, offset + src * row_bytes), offset + dst * row_bytes)
                os.pwrite(fd, _npy_header(shape, dtype, length=offset), 0)
        finally:
            os.close(fd)
        raise SystemExit("killed")

    with monkeypatch.context() as m:
        m.setattr(extract, "compact_rows", crash)
        with pytest.raises(SystemExit):
            extract_features(data, tmp_path / "out", settings=RunSettings(workers=1, progress=False, chunk_size=2))
    assert len(seen[0]) == 2  # two holes before the last kept row, filled by the two rows after it
    assert (tmp_path / "out" / ".work" / "features.npy.partial").exists()
    assert not (tmp_path / "out" / "manifest.parquet").exists()

    res = extract_features(data, tmp_path / "out", settings=RunSettings(workers=1, progress=False, chunk_size=2))
    assert res.n_rows == 12 and res.n_errors == 3 and not res.up_to_date
    assert (tmp_path / "out" / "features.npy").read_bytes() == (tmp_path / "ref" / "features.npy").read_bytes()
    assert (tmp_path / "out" / "stats.npz").read_bytes() == (tmp_path / "ref" / "stats.npz").read_bytes()
    pd.testing.assert_frame_equal(load_features(tmp_path / "out")[1], load_features(tmp_path / "ref")[1])
    assert not (tmp_path / "out" / ".work").exists()


def test_rows_of_skipped_files_are_filled_by_the_last_rows(tmp_path):
    """Written once: the file has exactly one row a clip, each row the features of its manifest
    row; only as many rows as files were skipped left path order."""
    data = _dataset(tmp_path / "d", per_word=4)
    _break_some(data)
    extract_features(data, tmp_path / "out", config=PipelineConfig(normalize="none"),
                     settings=RunSettings(workers=1, progress=False, chunk_size=2))
    X, manifest = load_features(tmp_path / "out")
    assert (tmp_path / "out" / "features.npy").stat().st_size == 128 + 12 * 99 * 161 * 4
    clips = np.stack([read_audio(data / p)[0] for p in manifest["path"]])
    np.testing.assert_array_equal(X, FeaturePipeline(PipelineConfig(normalize="none")).compute(clips))
    paths = manifest["path"].tolist()
    moved = sorted(paths)[-3:]  # at most one a skipped file, from the end
    rest = [p for p in paths if p not in moved]
    assert rest == sorted(rest) and paths != sorted(paths)  # the last rows did fill the holes
    planned = sorted(paths + ["yes/zz_nohash_0.wav", "no/zz_nohash_1.wav", "up/zz_nohash_2.wav"])
    assert manifest["chunk"].tolist() == [planned.index(p) // 2 for p in paths]


def test_manifest_header_columns_come_from_the_workers(tmp_path):
    """The run lists DATA without opening files; the workers' headers fill the manifest as the
    index would (same values, same dtypes)."""
    data = _dataset(tmp_path / "d", per_word=2, seconds=0.5)
    write_wav(data / "up" / "s2_nohash_7.wav", np.zeros(8000, np.float32), sr=8000)  # resampled
    extract_features(data, tmp_path / "out", settings=RunSettings(workers=1, progress=False))
    _, manifest = load_features(tmp_path / "out")
    index = kwscope.index_dataset(data).set_index("path").loc[manifest["path"]].reset_index()
    cols = ["sample_rate", "channels", "n_samples", "duration_s", "subtype", "format"]
    pd.testing.assert_frame_equal(manifest[cols], index[cols])
    assert manifest.set_index("path").loc["up/s2_nohash_7.wav", "sample_rate"] == 8000


# --------------------------------------------------------------------------- resume after SIGKILL


def _features_cmd(data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kwscope", "features", str(data), "-o", str(out), "--kind", "mfcc",
            "--chunk-size", "4", "--workers", "1", *extra]


def _kill_when(cmd: list[str], ready) -> bool:
    """Start ``cmd``, SIGKILL its process group as soon as ``ready()``; False if it finished first."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if ready():
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.002)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _store_bytes(out: Path) -> dict[str, bytes]:
    """The features' files of a store (features.npy, or the parts of a variable-length one)."""
    files = [out / "features.npy"] if (out / "features.npy").exists() else sorted((out / "features").iterdir())
    return {p.name: p.read_bytes() for p in files}


@pytest.mark.slow
@pytest.mark.parametrize("broken, duration", [(True, "1"), (False, "1"), (True, "none")],
                         ids=["broken-files:slots-filled", "all-readable", "variable-length:parts"])
def test_resume_after_sigkill_is_bit_identical(tmp_path, broken, duration):
    data = _dataset(tmp_path / "d", per_word=40, seconds=0.5)  # 120 clips (+ 3 broken), 30 chunks
    if broken:
        _break_some(data)
    cfg = PipelineConfig(kind="mfcc", duration_s=None if duration == "none" else float(duration))
    reference = tmp_path / "ref"
    extract_features(data, reference, config=cfg, settings=RunSettings(workers=1, progress=False, chunk_size=4))

    out = tmp_path / "out"
    work = out / ".work"
    cmd = _features_cmd(data, out, "--duration", duration)
    # Killed while computing raw features, then again (resumed) further on: each run keeps what
    # the one before it finished and adds to it.
    chunks = lambda: len(list(work.glob("chunk-*.npz")))  # noqa: E731
    assert _kill_when(cmd, lambda: chunks() >= 3), "finished before the kill"
    first = chunks()
    assert 3 <= first < 31
    assert _kill_when(cmd, lambda: chunks() >= first + 8), "finished before the kill"
    assert first + 8 <= chunks() < 31
    assert not (out / "manifest.parquet").exists()
    with pytest.raises(StoreError, match="incomplete"):
        load_features(out)  # never partial data

    done = CliRunner().invoke(main, cmd[3:])  # the same command, finishing the store
    assert done.exit_code == 0, done.output
    assert ("3 files skipped" in done.stderr) == broken
    assert _store_bytes(out) == _store_bytes(reference)
    assert (out / "stats.npz").read_bytes() == (reference / "stats.npz").read_bytes()
    X, manifest = load_features(out)
    X_ref, manifest_ref = load_features(reference)
    pd.testing.assert_frame_equal(manifest, manifest_ref)
    for a, b in zip(X, X_ref):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(load_errors(out), load_errors(reference))
    leftovers = [p.name for p in out.rglob("*") if ".tmp" in p.name or p.name.startswith(".work")]
    assert leftovers == []


# --------------------------------------------------------------------------- command line


def _one_line_exit_2(res):
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().count("\n") == 0, res.stderr
    assert res.stderr.startswith("kwscope: error:") and "Traceback" not in res.output


def test_cli_argument_errors_are_one_line(tmp_path):
    data = _dataset(tmp_path / "d", per_word=1)
    runner = CliRunner()
    _one_line_exit_2(runner.invoke(main, ["features", str(data), "-o", str(tmp_path / "o"), "--kind", "plp"]))
    _one_line_exit_2(runner.invoke(main, ["features", str(data)]))  # -o missing
    _one_line_exit_2(runner.invoke(main, ["features", str(data), "-o", str(tmp_path / "o"), "--duration", "long"]))
    _one_line_exit_2(runner.invoke(main, ["features", str(tmp_path / "missing"), "-o", str(tmp_path / "o")]))
    (tmp_path / "bad.yaml").write_text("kind: mfcc\nwindw_ms: 25\n")
    res = runner.invoke(main, ["features", str(data), "-o", str(tmp_path / "o"), "--config", str(tmp_path / "bad.yaml")])
    _one_line_exit_2(res)
    assert "windw_ms" in res.stderr


def test_cli_config_file_and_flags(tmp_path):
    data = _dataset(tmp_path / "d", per_word=3)
    _break_some(data)
    PipelineConfig(kind="mel", n_mels=32, stack=2).write(tmp_path / "p.yaml")
    out = tmp_path / "o"
    args = ["features", str(data), "-o", str(out), "--config", str(tmp_path / "p.yaml"), "--stack", "1",
            "--workers", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "9 clips" in res.stderr and "3 files skipped" in res.stderr
    cfg = PipelineConfig.read(out / "pipeline.yaml")
    assert (cfg.kind, cfg.n_mels, cfg.stack) == ("mel", 32, 1)  # the flag overrides the file
    assert CliRunner().invoke(main, args + ["--strict"]).exit_code == 1
    refused = CliRunner().invoke(main, args + ["--kind", "mfcc"])
    _one_line_exit_2(refused)
    assert "--overwrite" in refused.stderr


# --------------------------------------------------------------------------- PyTorch adapter


def test_torch_adapter_without_torch_fails_only_on_use(tmp_path, monkeypatch):
    import importlib

    import kwscope.torch_dataset as td

    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    td = importlib.reload(td)
    with pytest.raises(td.TorchMissingError, match="needs PyTorch.*pip install"):
        td.FeatureDataset(tmp_path)
    assert isinstance(td.TorchMissingError("x"), ImportError)


def test_torch_adapter(tmp_path):
    torch = pytest.importorskip("torch")
    from kwscope.torch_dataset import FeatureDataset

    data = _dataset(tmp_path / "d", per_word=3)
    extract_features(data, tmp_path / "out", settings=RunSettings(workers=1, progress=False))
    ds = FeatureDataset(tmp_path / "out", split="train")
    x, y = ds[0]
    assert len(ds) == 3 and x.shape == (99, 161) and x.dtype == torch.float32 and ds.classes == sorted(WORDS)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch[0].shape == (2, 99, 161)


def test_direct_wav_path_equals_read_clip(tmp_path, rng):
    from kwscope.io.audio import read_clip
    from kwscope.features.tasks import _read_pcm16_into

    from kwscope.io.scan import content_hash

    y = (rng.uniform(-1, 1, SR)).astype(np.float32)
    row = np.empty(SR, np.float32)
    a = str(write_wav(tmp_path / "a.wav", y))
    # Decoded, and hashed from the same bytes as the index hashes the file.
    assert _read_pcm16_into(a, row, SR) == (True, content_hash(None, a))
    np.testing.assert_array_equal(row, read_clip(tmp_path / "a.wav").samples)
    # Anything else is left to the general path (a local file read whole is still hashed).
    for other in (write_wav(tmp_path / "b.wav", y, sr=8000), write_wav(tmp_path / "c.wav", y[:-1]),
                  write_wav(tmp_path / "d.wav", y, subtype="FLOAT"), write_wav(tmp_path / "e.wav", np.stack([y, y], 1))):
        assert _read_pcm16_into(str(other), row, SR) == (False, content_hash(None, str(other)))
    assert _read_pcm16_into(str(tmp_path / "missing.wav"), row, SR) == (False, None)
