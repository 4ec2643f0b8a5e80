"""The raw feature store read back: the load-time steps (normalization, stacking) against plain
numpy and the documented formula, the lazy views, float16, old stores, the PyTorch adapter."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kwscope
from kwscope.features.extract import extract_features
from kwscope.features.pipeline import FeaturePipeline, PipelineConfig
from kwscope.features.store import StoreError, load_features, load_pipeline
from kwscope.features.views import FeatureArray, FeatureList
from kwscope.io.audio import read_audio
from kwscope.settings import RunSettings
from conftest import write_wav

SR = 16000
RUN = RunSettings(workers=1, progress=False, chunk_size=4)


def _dataset(root: Path, *, n: int = 12, seconds=1.0, seed: int = 0) -> Path:
    """Folder-per-label clips with a hash split (Speech Commands names): some train, some not."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        length = int(SR * (seconds[i % len(seconds)] if isinstance(seconds, tuple) else seconds))
        t = np.arange(length) / SR
        y = 0.3 * np.sin(2 * np.pi * (200 + 37 * i) * t) + 0.05 * rng.standard_normal(length)
        write_wav(root / ("yes", "no")[i % 2] / f"{i:08x}_nohash_0.wav", y.astype(np.float32))
    return root


def _by_formula(out: Path) -> list[np.ndarray]:
    """What the README and store.json say loading does, with numpy alone."""
    info = json.loads((out / "store.json").read_text())
    stats = np.load(out / "stats.npz")
    stack, hop = info["stacking"]["stack"], info["stacking"]["stack_hop"]
    manifest = pd.read_parquet(out / "manifest.parquet")
    if info["fixed_length"]:
        clips = list(np.load(out / "features.npy"))
    else:
        clips = [np.load(out / "features" / f"part-{c:06d}.npy")[s:s + n]
                 for c, s, n in zip(manifest["chunk"], manifest["frame_start"], manifest["n_frames"])]
    result = []
    for raw in clips:
        x = raw.astype(np.float32)
        if info["normalization"]["method"] == "per_feature":
            x -= stats["mean"].astype(np.float32)
            x /= stats["scale"].astype(np.float32)
        if stack > 1:
            x = np.lib.stride_tricks.sliding_window_view(x, stack, axis=-2)[::hop].swapaxes(-1, -2)
            x = x.reshape(x.shape[0], -1)
        result.append(x)
    return result


@pytest.mark.parametrize("config", [
    dict(kind="mel", stack=3, stack_hop=2),
    dict(kind="logspec", dtype="float16"),
    dict(kind="mfcc", duration_s=None, stack=2),
], ids=["mel-stacked", "logspec-float16", "mfcc-variable-length"])
def test_plain_numpy_and_the_documented_formula_give_what_load_features_gives(tmp_path, config):
    data = _dataset(tmp_path / "d", seconds=(1.0, 0.6, 0.8))
    cfg = PipelineConfig(**config)
    extract_features(data, tmp_path / "out", config=cfg, settings=RUN)
    X, manifest = load_features(tmp_path / "out")
    expected = _by_formula(tmp_path / "out")
    assert len(X) == len(expected) == len(manifest) == 12
    for got, want in zip(X, expected):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
    # ... and what the fitted pipeline's steps 5-6 give on the raw features.
    pipe = load_pipeline(tmp_path / "out")
    for got, raw in zip(X, load_features(tmp_path / "out", normalize=False, stack=False)[0]):
        np.testing.assert_array_equal(got, pipe.transform_features(raw))
    info = manifest.attrs["kwscope"]
    assert info["format_version"] == 2 and info["features"] == "raw" and info["dtype"] == cfg.dtype
    assert info["normalization"]["applied"] == info["stacking"]["applied"] == "on load"
    assert "stats.npz mean" in info["formula"]


def test_raw_features_are_the_pipelines_steps_1_to_4(tmp_path):
    data = _dataset(tmp_path / "d")
    cfg = PipelineConfig(kind="mel", stack=4)
    extract_features(data, tmp_path / "out", config=cfg, settings=RUN)
    raw, manifest = load_features(tmp_path / "out", normalize=False, stack=False)
    clips = np.stack([read_audio(data / p)[0] for p in manifest["path"]])
    np.testing.assert_array_equal(raw, FeaturePipeline(cfg).compute(clips))
    np.testing.assert_array_equal(raw, np.load(tmp_path / "out" / "features.npy"))
    stacked_only = load_features(tmp_path / "out", normalize=False)[0]
    assert stacked_only.shape == (12, 98, 160)
    np.testing.assert_array_equal(stacked_only[3, 5], raw[3, 5:9].reshape(-1))  # frames 5..8, frame-major
    normalized_only = load_features(tmp_path / "out", stack=False)[0]
    stats = np.load(tmp_path / "out" / "stats.npz")
    np.testing.assert_allclose(normalized_only, (raw - stats["mean"]) / stats["scale"], rtol=1e-5, atol=1e-5)
    # The statistics are the train rows' (hash split): mean 0, std 1 there.
    train = normalized_only[(manifest["split"] == "train").to_numpy()].reshape(-1, 40)
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(train.std(0), 1, atol=1e-3)


def test_float16_store_halves_the_bytes_and_keeps_the_statistics_of_what_it_stores(tmp_path):
    data = _dataset(tmp_path / "d")
    extract_features(data, tmp_path / "f32", settings=RUN)
    extract_features(data, tmp_path / "f16", config=PipelineConfig(dtype="float16"), settings=RUN)
    a, b = (tmp_path / "f32" / "features.npy").stat().st_size, (tmp_path / "f16" / "features.npy").stat().st_size
    assert b - 128 == (a - 128) // 2
    raw32 = np.load(tmp_path / "f32" / "features.npy")
    raw16, manifest = load_features(tmp_path / "f16", normalize=False)
    assert raw16.dtype == np.float16
    np.testing.assert_array_equal(raw16, raw32.astype(np.float16))
    train = raw16[(manifest["split"] == "train").to_numpy()].astype(np.float64).reshape(-1, 161)
    stats = np.load(tmp_path / "f16" / "stats.npz")
    np.testing.assert_allclose(stats["mean"], train.mean(0), rtol=1e-12, atol=1e-12)
    pipe = load_pipeline(tmp_path / "f16")  # featurizes new clips as the store holds them
    clip = read_audio(data / manifest["path"][0])[0]
    np.testing.assert_array_equal(pipe.featurize(clip, sample_rate=SR), raw16[0].astype(np.float32))


def test_mmap_view_reads_rows_on_access(tmp_path):
    data = _dataset(tmp_path / "d", n=10)
    extract_features(data, tmp_path / "out", config=PipelineConfig(kind="mel", stack=2), settings=RUN)
    full, _ = load_features(tmp_path / "out")
    X, manifest = load_features(tmp_path / "out", mmap=True)
    assert isinstance(X, FeatureArray) and X.shape == full.shape == (10, 100, 80) and len(X) == 10
    assert X.dtype == np.float32 and X.ndim == 3
    np.testing.assert_array_equal(X[3], full[3])
    np.testing.assert_array_equal(X[-1], full[-1])
    np.testing.assert_array_equal(X[2:7], full[2:7])
    np.testing.assert_array_equal(X[::3], full[::3])
    np.testing.assert_array_equal(X[[4, 1, 4]], full[[4, 1, 4]])
    mask = (manifest["label"] == "yes").to_numpy()
    np.testing.assert_array_equal(X[mask], full[mask])
    np.testing.assert_array_equal(X[5, :10, 3], full[5, :10, 3])
    np.testing.assert_array_equal(np.asarray(X), full)
    np.testing.assert_array_equal(np.stack(list(X)), full)
    starts = [s for s, _ in X.batches(3)]
    assert starts == [0, 3, 6, 9] and np.array_equal(np.concatenate([b for _, b in X.batches(3)]), full)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(X))[8], full[8])
    assert isinstance(X.raw, np.memmap) and X.raw.shape == (10, 101, 40)
    with pytest.raises(IndexError):
        X[10]
    raw_view = load_features(tmp_path / "out", mmap=True, normalize=False, stack=False)[0]
    np.testing.assert_array_equal(raw_view[2], np.load(tmp_path / "out" / "features.npy")[2])


def test_variable_length_mmap_view(tmp_path):
    data = _dataset(tmp_path / "d", n=9, seconds=(0.4, 1.3, 0.7))
    extract_features(data, tmp_path / "out", config=PipelineConfig(duration_s=None, stack=3), settings=RUN)
    full, manifest = load_features(tmp_path / "out")
    X, _ = load_features(tmp_path / "out", mmap=True)
    assert isinstance(X, FeatureList) and len(X) == 9 and isinstance(full, list)
    assert sorted({x.shape for x in full}) == [(37, 483), (67, 483), (127, 483)]
    for i in range(9):
        np.testing.assert_array_equal(X[i], full[i])
    np.testing.assert_array_equal(X[-2], full[-2])
    assert [x.shape for x in X[1:4]] == [x.shape for x in full[1:4]]
    assert sorted(p.name for p in (tmp_path / "out" / "features").iterdir()) == [f"part-{k:06d}.npy" for k in range(3)]
    assert not (tmp_path / "out" / "features.npy").exists()


@pytest.mark.slow
def test_mmap_loads_a_100k_clip_store_in_constant_memory(tmp_path):
    """A 100,000-clip logspec store (3.2 GB of float16, a sparse file here) is loaded and read end
    to end with ``mmap=True`` in a process whose own (anonymous) memory stays far below the store's
    size. Peak RSS is not the measure: it also counts the store's pages mapped from the page cache,
    which the kernel shares and evicts at will (it read 1 GiB under one run and 300 MiB under another)."""
    from kwscope.features.workspace import _npy_header

    data = _dataset(tmp_path / "d", n=4)
    out = tmp_path / "out"
    extract_features(data, out, config=PipelineConfig(dtype="float16"), settings=RUN)
    n = 100_000
    manifest = pd.read_parquet(out / "manifest.parquet")
    big = manifest.iloc[np.arange(n) % len(manifest)].reset_index(drop=True)
    big["path"] = [f"x/{i:06d}.wav" for i in range(n)]
    big.to_parquet(out / "manifest.parquet", index=False)
    header = _npy_header((n, 99, 161), np.float16)
    with open(out / "features.npy", "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + n * 99 * 161 * 2)  # holes: no disk used
    info = json.loads((out / "store.json").read_text())
    info.update(n_rows=n, shape=[n, 99, 161], loaded_shape=[n, 99, 161])
    (out / "store.json").write_text(json.dumps(info))
    script = f"""
import numpy as np, kwscope

def anon_mib():  # memory the process owns; mapped file pages are the page cache's, shared, evictable
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) // 1024

X, manifest = kwscope.load_features({str(out)!r}, mmap=True)
total, peak = 0.0, anon_mib()
for start, block in X.batches():
    total += float(block[:, 0, 0].sum())
    peak = max(peak, anon_mib())
assert len(X) == {n} and X.shape == ({n}, 99, 161)
print(peak)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    peak_mib = int(done.stdout.split()[-1])
    assert peak_mib < 400, f"peak anonymous RSS {peak_mib} MiB reading a {n * 99 * 161 * 2 / 2**30:.1f} GiB store"


def _as_format_1(out: Path) -> np.ndarray:
    """Make a store what kwscope wrote before format 2: features.npy normalized and stacked."""
    final = load_features(out)[0]
    np.save(out / "features.npy", final)
    info = json.loads((out / "store.json").read_text())
    for key in ("features", "normalization", "stacking", "formula", "loaded_shape", "storage", "row_order"):
        info.pop(key, None)
    info.update(format_version=1, shape=list(final.shape))
    (out / "store.json").write_text(json.dumps(info))
    return final


def test_format_1_store_is_read_as_it_is_never_normalized_twice(tmp_path):
    data = _dataset(tmp_path / "d")
    out = tmp_path / "out"
    extract_features(data, out, config=PipelineConfig(kind="mfcc", stack=2), settings=RUN)
    final = _as_format_1(out)
    X, _ = load_features(out)
    np.testing.assert_array_equal(X, final)
    assert isinstance(load_features(out, mmap=True)[0], np.memmap)
    for kwargs in ({"normalize": False}, {"stack": False}):
        with pytest.raises(StoreError, match="format-1 store .* normalized, stacked features only.*--overwrite"):
            load_features(out, **kwargs)
    with pytest.raises(StoreError, match="format 1 .*--overwrite"):
        extract_features(data, out, config=PipelineConfig(kind="mfcc", stack=2), settings=RUN)
    extract_features(data, out, config=PipelineConfig(kind="mfcc", stack=2), settings=RUN, overwrite=True)
    assert load_features(out)[1].attrs["kwscope"]["format_version"] == 2
    np.testing.assert_array_equal(load_features(out)[0], final)


@pytest.mark.parametrize("version, words", [
    ("2", "format_version '2' is not a positive integer"),
    (None, "format_version None is not a positive integer"),
    (3, "newer kwscope (store format 3)"),
])
def test_a_store_of_unknown_format_is_refused_in_one_line_never_misread(tmp_path, version, words):
    """A format_version that is not 1 or 2 (a hand-edited or newer store.json) must not be read as
    either (a string version raised TypeError comparing it)."""
    data = _dataset(tmp_path / "d", n=4)
    out = tmp_path / "out"
    extract_features(data, out, settings=RUN)
    info = json.loads((out / "store.json").read_text())
    info["format_version"] = version
    (out / "store.json").write_text(json.dumps(info))
    for call in (lambda: load_features(out), lambda: extract_features(data, out, settings=RUN)):
        with pytest.raises(StoreError) as err:
            call()
        assert words in str(err.value) and "\n" not in str(err.value)


def test_no_training_clip_still_gives_a_raw_store(tmp_path):
    data = _dataset(tmp_path / "d", n=4)
    names = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.wav"))
    (data / "validation_list.txt").write_text("\n".join(names[:2]) + "\n")  # split lists: nothing trains
    (data / "testing_list.txt").write_text("\n".join(names[2:]) + "\n")
    res = extract_features(data, tmp_path / "out", settings=RunSettings(workers=1, progress=False))
    assert res.n_rows == 4
    with pytest.raises(StoreError, match="no normalization statistics.*normalize=False"):
        load_features(tmp_path / "out")
    raw, manifest = load_features(tmp_path / "out", normalize=False)
    assert raw.shape == (4, 99, 161) and set(manifest["split"]) <= {"validation", "test"}


def test_torch_adapter_items_are_normalized_per_item(tmp_path):
    torch = pytest.importorskip("torch")
    from kwscope.torch_dataset import FeatureDataset

    data = _dataset(tmp_path / "d")
    extract_features(data, tmp_path / "out", config=PipelineConfig(kind="mel", stack=2), settings=RUN)
    X, manifest = load_features(tmp_path / "out")
    ds = FeatureDataset(tmp_path / "out")
    assert len(ds) == 12 and ds.classes == ["no", "yes"]
    for i in range(len(ds)):
        x, y = ds[i]
        np.testing.assert_array_equal(x.numpy(), X[i])
        assert ds.classes[int(y)] == manifest["label"][i]
    raw = FeatureDataset(tmp_path / "out", normalize=False, stack=False, target=None)
    np.testing.assert_array_equal(raw[5].numpy(), np.load(tmp_path / "out" / "features.npy")[5])
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)
    np.testing.assert_array_equal(torch.cat([b[0] for b in batches]).numpy(), X)


def test_load_features_is_the_package_level_call(tmp_path):
    data = _dataset(tmp_path / "d", n=4)
    extract_features(data, tmp_path / "out", settings=RUN)
    X, manifest = kwscope.load_features(tmp_path / "out", normalize=True, stack=True, mmap=False)
    assert X.shape == (4, 99, 161) and len(manifest) == 4
