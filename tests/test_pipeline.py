"""FeaturePipeline and PipelineConfig: configuration, fitting, transforming."""

from __future__ import annotations

import numpy as np
import pytest

from kwscope import dsp
from kwscope.features.pipeline import ConfigError, FeaturePipeline, FeatureStats, PipelineConfig, PipelineError
from conftest import tone

SR = 16000


def _clips(rng, n=6, seconds=1.0, sr=SR, amp=0.1):
    t = np.arange(int(sr * seconds)) / sr
    out = []
    for i in range(n):
        y = amp * np.sin(2 * np.pi * (300 + 150 * i) * t) + amp * 0.1 * rng.standard_normal(t.size)
        out.append(y.astype(np.float32))
    return np.stack(out)


# --------------------------------------------------------------------------- config


def test_yaml_round_trip_and_hash():
    cfg = PipelineConfig(kind="mfcc", window_ms=25, step_ms=10, fmax=7600, stack=3, vad=True, top_db=None)
    text = cfg.to_yaml()
    back = PipelineConfig.from_yaml(text)
    assert back == cfg
    assert back.config_hash() == cfg.config_hash()
    assert cfg.config_hash() in text  # the header comment names it
    assert PipelineConfig.from_dict(cfg.to_dict()) == cfg


def test_yaml_file_round_trip(tmp_path):
    cfg = PipelineConfig(kind="mel", n_mels=64, duration_s=None)
    cfg.write(tmp_path / "p.yaml")
    assert PipelineConfig.read(tmp_path / "p.yaml") == cfg


def test_hash_is_stable_and_ignores_number_spellings():
    cfg = PipelineConfig(window_ms=20, eps="1e-10")  # ints and YAML-1.1 strings mean the same config
    assert cfg == PipelineConfig() and cfg.config_hash() == PipelineConfig().config_hash()
    # Regression anchor: the hash names existing stores, in every process (no hash randomisation,
    # no dict order); it must not drift.
    assert PipelineConfig().config_hash() == "9f9359ee4b49edd1aae20eed9663615f9c135bf82d7c938967833e7669cd5c4c"
    assert PipelineConfig(kind="mel").config_hash() != PipelineConfig().config_hash()


@pytest.mark.parametrize("changes, words", [
    ({"kind": "plp"}, "kind='plp'"),
    ({"window_ms": -5}, "window_ms=-5.0"),
    ({"step_ms": 30}, "step_ms=30.0"),
    ({"deltas": 3}, "deltas=3"),
    ({"stack": 0}, "stack=0"),
    ({"n_mfcc": 50}, "n_mfcc=50"),
    ({"fmax": 9000}, "fmax=9000.0"),
    ({"duration_s": 0.05, "stack": 10}, "duration_s=0.05"),
    ({"vad": "yes"}, "vad='yes'"),
    ({"n_mels": 2.5}, "n_mels=2.5"),
])
def test_bad_settings_name_the_value(changes, words):
    with pytest.raises(ConfigError) as err:
        PipelineConfig(**changes)
    assert words in str(err.value)


def test_unknown_setting_is_refused():
    with pytest.raises(ConfigError, match="unknown pipeline setting.*'windw_ms'"):
        PipelineConfig.from_yaml("windw_ms: 25\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        PipelineConfig.from_yaml("kind: [mel\n")


def test_default_shapes():
    assert FeaturePipeline().output_shape() == (99, 161)  # the notebook's log_specgram of 1 s at 16 kHz
    assert FeaturePipeline(PipelineConfig(kind="mfcc")).output_shape() == (101, 39)
    assert FeaturePipeline(PipelineConfig(kind="mel", stack=5, stack_hop=2)).output_shape() == (49, 200)
    assert FeaturePipeline(PipelineConfig(duration_s=None)).output_shape() is None


@pytest.mark.parametrize("changes", [
    {}, {"kind": "mel", "n_fft": 401}, {"kind": "mfcc", "deltas": 1, "stack": 4, "stack_hop": 3},
    {"window_ms": 25, "step_ms": 10, "duration_s": 0.73}, {"kind": "mel", "sample_rate": 8000, "n_mels": 20},
])
def test_output_shape_matches_the_computation(changes, rng):
    pipe = FeaturePipeline(PipelineConfig(normalize="none", **changes))
    out = pipe.transform(_clips(rng, 2, seconds=0.9), sample_rate=SR)
    assert out.shape[1:] == pipe.output_shape()


# --------------------------------------------------------------------------- sklearn contract


def test_params_protocol():
    pipe = FeaturePipeline()
    assert pipe.config is None  # the constructor stores its parameter as given
    params = pipe.get_params()
    assert params["config"] is None and params["config__kind"] == "logspec"
    assert pipe.set_params(config__kind="mfcc", config__n_mfcc=20) is pipe
    assert pipe.config.kind == "mfcc" and pipe.config.n_mfcc == 20
    with pytest.raises(ConfigError, match="invalid parameter 'kind'"):
        pipe.set_params(kind="mel")
    clone = FeaturePipeline(**{k: v for k, v in pipe.get_params(deep=False).items()})
    assert clone.config == pipe.config and not hasattr(clone, "mean_")


def test_not_fitted_and_config_change(rng):
    x = _clips(rng, 2)
    pipe = FeaturePipeline()
    with pytest.raises(PipelineError, match="not fitted"):
        pipe.transform(x, sample_rate=SR)
    pipe.fit(x, sample_rate=SR)
    pipe.set_params(config__eps=1e-6)
    with pytest.raises(PipelineError, match="config changed"):
        pipe.transform(x, sample_rate=SR)
    unnormalized = FeaturePipeline(PipelineConfig(normalize="none"))
    np.testing.assert_array_equal(unnormalized.transform(x, sample_rate=SR), unnormalized.featurize(x, sample_rate=SR))


def test_fit_uses_train_split_only(rng):
    train = _clips(rng, 4)
    loud = (rng.standard_normal((4, SR)) * 0.9).astype(np.float32)  # wildly different val/test clips
    clips = np.concatenate([train, loud])
    split = ["train"] * 4 + ["validation", "test", "validation", "test"]
    fitted = FeaturePipeline().fit(clips, sample_rate=SR, split=split)
    reference = FeaturePipeline().fit(train, sample_rate=SR)
    np.testing.assert_array_equal(fitted.mean_, reference.mean_)
    np.testing.assert_array_equal(fitted.scale_, reference.scale_)
    assert fitted.n_clips_seen_ == 4
    everything = FeaturePipeline().fit(clips, sample_rate=SR)
    assert np.abs(everything.mean_ - fitted.mean_).max() > 1.0
    # No split at all (None everywhere): every clip counts.
    none = FeaturePipeline().fit(clips, sample_rate=SR, split=[None] * 8)
    np.testing.assert_array_equal(none.mean_, everything.mean_)


def test_partial_fit_streams_like_fit(rng):
    clips = _clips(rng, 6)
    whole = FeaturePipeline().fit(clips, sample_rate=SR)
    parts = FeaturePipeline()
    for a in range(0, 6, 2):
        parts.partial_fit(clips[a:a + 2], sample_rate=SR)
    np.testing.assert_allclose(parts.mean_, whole.mean_, rtol=1e-12)
    np.testing.assert_allclose(parts.scale_, whole.scale_, rtol=1e-9)
    assert parts.n_frames_seen_ == whole.n_frames_seen_ == 6 * 99


def test_transform_equals_manual_computation(rng):
    clips = _clips(rng, 5)
    pipe = FeaturePipeline(PipelineConfig(stack=3))
    out = pipe.fit_transform(clips, sample_rate=SR)
    spec = dsp.log_specgram(clips, SR, window_ms=20, step_ms=10)[2]  # the notebook's recipe
    flat = spec.reshape(-1, spec.shape[-1]).astype(np.float64)
    np.testing.assert_allclose(pipe.mean_, flat.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(pipe.scale_, flat.std(axis=0), rtol=1e-6)
    norm = (spec - pipe.mean_.astype(np.float32)) / pipe.scale_.astype(np.float32)
    manual = np.stack([np.concatenate([n[t:t + 3].reshape(-1)[None] for t in range(97)]) for n in norm])
    assert out.shape == (5, 97, 3 * 161) and out.dtype == np.float32
    np.testing.assert_array_equal(out, manual)


@pytest.mark.parametrize("kind", ["logspec", "mel", "mfcc"])
def test_batch_equals_per_clip(rng, kind):
    clips = _clips(rng, 4)
    pipe = FeaturePipeline(PipelineConfig(kind=kind)).fit(clips, sample_rate=SR)
    batch = pipe.transform(clips, sample_rate=SR)
    single = np.stack([pipe.transform(c, sample_rate=SR) for c in clips])
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-5)
    listed = pipe.transform(list(clips), sample_rate=SR)
    np.testing.assert_allclose(listed, batch, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["logspec", "mel", "mfcc", "micro"])
def test_a_clips_features_do_not_depend_on_its_batch_or_the_blas_threads(rng, kind):
    """Bit for bit: a store's rows then equal the pipeline run on any batch, and a resumed run
    the uninterrupted one, whatever chunks, workers and BLAS threads computed them. (One matrix
    product over all of a batch's frames broke this on OpenBLAS's AMD kernels: a row's rounding
    depended on where it fell in the matrix.)"""
    from threadpoolctl import threadpool_limits

    clips = (0.1 * rng.standard_normal((37, SR))).astype(np.float32)
    pipe = FeaturePipeline(PipelineConfig(kind=kind))
    batch = pipe.compute(clips)
    with threadpool_limits(limits=1):
        one_thread = pipe.compute(clips)
    np.testing.assert_array_equal(one_thread, batch)
    for first, last in ((0, 1), (3, 4), (5, 21), (21, 37)):
        np.testing.assert_array_equal(pipe.compute(clips[first:last]), batch[first:last])


def test_mfcc_matches_librosa_definition(rng):
    librosa = pytest.importorskip("librosa")
    clip = _clips(rng, 1)[0]
    cfg = PipelineConfig(kind="mfcc", normalize="none")
    feats = FeaturePipeline(cfg).featurize(clip, sample_rate=SR)
    mel = librosa.feature.melspectrogram(y=clip, sr=SR, n_fft=320, hop_length=160, n_mels=40)
    ref = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13)
    ref = np.concatenate([ref, librosa.feature.delta(ref), librosa.feature.delta(ref, order=2)]).T
    assert feats.shape == ref.shape == (101, 39)
    np.testing.assert_allclose(feats, ref, rtol=1e-3, atol=2e-3)


def test_resampling_padding_and_mixed_rates(rng):
    pipe = FeaturePipeline(PipelineConfig(normalize="none"))
    y8 = tone(440, sr=8000, seconds=0.5)
    y16 = tone(440, sr=16000, seconds=1.3)
    out = pipe.featurize([y8, y16], sample_rate=[8000, 16000])
    assert out.shape == (2, 99, 161)
    # 440 Hz lands in bin 440 / 50 Hz ~ 9 for both, whatever the source rate.
    assert out[0].mean(axis=0).argmax() == out[1].mean(axis=0).argmax() == 9
    # Centred padding: the 0.5-s clip sits in the middle, silence (log eps) at both ends.
    assert out[0][0].max() < -20 and out[0][-1].max() < -20 and out[0][49].max() > -10


def test_vad_trims_before_padding():
    y = np.zeros(SR, np.float32)
    y[:4000] = tone(500, seconds=0.25)  # the word at the start, then silence
    off = FeaturePipeline(PipelineConfig(normalize="none", pad_mode="center"))
    on = FeaturePipeline(PipelineConfig(normalize="none", pad_mode="center", vad=True))
    assert off.prepare(y, sample_rate=SR)[:100].any()  # unchanged: 1 s already
    trimmed = on.prepare(y, sample_rate=SR)
    assert not trimmed[:5000].any() and trimmed[7000:9000].any()  # re-centred


def test_variable_length_gives_lists(rng):
    pipe = FeaturePipeline(PipelineConfig(duration_s=None, kind="mfcc"))
    clips = [_clips(rng, 1, seconds=s)[0] for s in (0.5, 0.8)]
    pipe.fit(clips, sample_rate=SR)
    out = pipe.transform(clips, sample_rate=SR)
    assert isinstance(out, list) and [o.shape for o in out] == [(51, 39), (81, 39)]
    with pytest.raises(PipelineError, match="too short"):
        pipe.featurize(np.zeros(400, np.float32), sample_rate=SR)


def test_feature_stats_are_order_deterministic(rng):
    F = rng.standard_normal((10, 7, 3)).astype(np.float32) * 5 + 2
    a = FeatureStats.of(F[:4]) + FeatureStats.of(F[4:])
    b = FeatureStats.of(F[:4]) + FeatureStats.of(F[4:])
    np.testing.assert_array_equal(a.sum, b.sum)
    mean, var, scale = a.mean_var()
    np.testing.assert_allclose(mean, F.reshape(-1, 3).mean(0, dtype=np.float64), rtol=1e-12)
    np.testing.assert_allclose(var, F.reshape(-1, 3).var(0, dtype=np.float64), rtol=1e-9)
    const = FeatureStats.of(np.full((3, 4, 2), -23.02585, np.float32))
    assert np.all(const.mean_var()[2] == 1.0)  # a constant coefficient keeps scale 1


def test_output_shape_matches_transform_when_stack_hop_has_nothing_to_skip(rng):
    """stack_hop only applies to stacked rows: with stack=1 every frame is kept, and the shape the
    config announces (stores, loaders) is the one transform gives."""
    cfg = PipelineConfig(kind="mel", stack=1, stack_hop=2, normalize="none")
    pipe = FeaturePipeline(cfg)
    out = pipe.transform(_clips(rng, n=2), sample_rate=SR)
    assert out.shape[1:] == pipe.output_shape() == (101, 40)
