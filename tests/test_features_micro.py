"""``kwscope features --kind micro``: the store's rows are :func:`kwscope.dsp.micro_features` of the
same clips (the TFLM front end, whose parity with TensorFlow's op tests/test_micro_frontend.py
proves), stored as uint16 or int8 and loaded as they are unless normalization is asked for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import kwscope
from kwscope.cli import main
from kwscope.dsp import micro_features
from kwscope.features.config import ConfigError
from kwscope.features.extract import extract_features
from kwscope.features.pipeline import FeaturePipeline, PipelineConfig
from kwscope.features.store import load_features
from kwscope.io.audio import read_audio
from kwscope.settings import RunSettings
from conftest import write_wav

SR = 16000


def _dataset(root: Path, n: int = 10) -> Path:
    """Speech Commands names; 1-s clips, two shorter (padded), one at 8 kHz (resampled)."""
    rng = np.random.default_rng(7)
    for i in range(n):
        rate = 8000 if i == 3 else SR
        seconds = 0.6 if i in (1, 6) else 1.0
        t = np.arange(int(rate * seconds)) / rate
        y = (0.3 * np.sin(2 * np.pi * (180 + 90 * i) * t) * np.exp(-3 * t)
             + 0.02 * (i + 1) * rng.standard_normal(t.size))
        write_wav(root / ("yes", "no")[i % 2] / f"{i:08x}_nohash_0.wav", y.astype(np.float32), sr=rate)
    return root


def _expected(data: Path, manifest, cfg: PipelineConfig, out_type: str) -> np.ndarray:
    """micro_features of each clip as steps 1-3 leave it (1-s 16-kHz clips: their int16 samples)."""
    pipe = FeaturePipeline(cfg)
    rows = []
    for rel in manifest["path"]:
        pcm, rate = sf.read(data / rel, dtype="int16")
        if rate == SR and pcm.shape[0] == SR:
            rows.append(micro_features(pcm, SR, out_type=out_type))  # what a device given these samples computes
        else:
            y, rate = read_audio(data / rel)
            rows.append(micro_features(pipe.prepare(y, sample_rate=rate), SR, out_type=out_type))
    return np.stack(rows)


@pytest.mark.parametrize("output", ["uint16", "int8"])
def test_kwscope_features_kind_micro_rows_equal_dsp_micro_features(tmp_path, output):
    data = _dataset(tmp_path / "d")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["features", str(data), "-o", str(out), "--kind", "micro",
                                    "--micro-output", output, "--workers", "2", "--chunk-size", "3"])
    assert res.exit_code == 0, res.output
    assert f"10 x 49 x 40 {output} raw, loaded as stored" in res.stderr
    X, manifest = load_features(out)
    info = manifest.attrs["kwscope"]
    assert info["dtype"] == output and info["config"]["normalize"] == "none"
    assert X.dtype == np.dtype(output) and X.shape == (10, 49, 40)
    np.testing.assert_array_equal(X, _expected(data, manifest, PipelineConfig(kind="micro"), output))
    np.testing.assert_array_equal(np.load(out / "features.npy"), X)  # plain numpy: the same integers
    assert (out / "features.npy").stat().st_size < 128 + 10 * 49 * 40 * np.dtype(output).itemsize + 1
    # The pipeline in memory gives the same integers (steps 1-4; nothing applied on load).
    pipe = FeaturePipeline(PipelineConfig(kind="micro", micro_output=output))
    clips = [read_audio(data / p) for p in manifest["path"]]
    np.testing.assert_array_equal(pipe.transform([c for c, _ in clips], sample_rate=[r for _, r in clips]), X)


def test_micro_normalization_is_off_by_default_and_on_when_asked(tmp_path):
    data = _dataset(tmp_path / "d", n=6)
    assert PipelineConfig(kind="micro").normalize == "none"
    assert PipelineConfig().replace(kind="micro").normalize == "none"  # the default follows the kind
    assert PipelineConfig(kind="micro").replace(kind="mel").normalize == "per_feature"
    cfg = PipelineConfig(kind="micro", normalize="per_feature", stack=3)
    extract_features(data, tmp_path / "o", config=cfg, settings=RunSettings(workers=1, progress=False),
                     validation_percentage=0, testing_percentage=0)
    raw, manifest = load_features(tmp_path / "o", normalize=False, stack=False)
    assert raw.dtype == np.uint16
    stats = np.load(tmp_path / "o" / "stats.npz")
    x = (raw.astype(np.float32) - stats["mean"].astype(np.float32)) / stats["scale"].astype(np.float32)
    x = np.lib.stride_tricks.sliding_window_view(x, 3, axis=-2).swapaxes(-1, -2).reshape(6, 47, 120)
    np.testing.assert_array_equal(load_features(tmp_path / "o")[0], x)
    np.testing.assert_allclose(stats["mean"], raw.reshape(-1, 40).mean(axis=0), rtol=1e-12)


def test_micro_settings_are_checked_and_other_kinds_keep_their_hash(tmp_path):
    with pytest.raises(ConfigError, match="dtype='float16' applies to logspec/mel/mfcc"):
        PipelineConfig(kind="micro", dtype="float16")
    with pytest.raises(ConfigError, match="kind micro at sample_rate=8000: upper_band_limit"):
        PipelineConfig(kind="micro", sample_rate=8000)
    with pytest.raises(ConfigError, match="micro_output='float' must be one of"):
        PipelineConfig(kind="micro", micro_output="float")
    with pytest.raises(ConfigError, match="duration_s=0.02 gives 0 frames"):
        PipelineConfig(kind="micro", duration_s=0.02)
    # The micro settings at their defaults do not enter other kinds' hashes (stores stay valid).
    assert PipelineConfig().config_hash() == "9f9359ee4b49edd1aae20eed9663615f9c135bf82d7c938967833e7669cd5c4c"
    assert PipelineConfig(kind="micro").config_hash() != PipelineConfig(kind="micro", micro_output="int8").config_hash()
    back = PipelineConfig.from_yaml(PipelineConfig(kind="micro", micro_channels=32).to_yaml())
    assert back == PipelineConfig(kind="micro", micro_channels=32) and back.n_coeffs == 32
    data = _dataset(tmp_path / "d", n=2)
    res = CliRunner().invoke(main, ["features", str(data), "-o", str(tmp_path / "o"), "--kind", "micro",
                                    "--dtype", "float16"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "micro_output" in res.stderr, res.output


def test_micro_variable_length_store_and_store_json(tmp_path):
    data = _dataset(tmp_path / "d", n=4)
    cfg = PipelineConfig(kind="micro", duration_s=None)
    extract_features(data, tmp_path / "o", config=cfg, settings=RunSettings(workers=1, progress=False))
    X, manifest = kwscope.load_features(tmp_path / "o")
    info = json.loads((tmp_path / "o" / "store.json").read_text())
    assert info["frame_step_s"] == 0.02 and info["dtype"] == "uint16"
    for x, rel in zip(X, manifest["path"]):
        y, rate = read_audio(data / rel)
        np.testing.assert_array_equal(x, micro_features(FeaturePipeline(cfg).prepare(y, sample_rate=rate), SR))
    assert [x.shape[0] for x in X] == [(int(s * SR) - 480) // 320 + 1 for s in manifest["duration_s"]]
