"""kwscope.dsp.micro_features against TensorFlow's audio_microfrontend op: exact integer equality
on FSDD recordings (resampled to 16 kHz and at their native 8 kHz), analytic signals and the
op's settings; batch consistency, output conversions and parameter validation."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from kwscope import dsp
from kwscope.dsp import MicroFrontend, ParameterError, micro_features
from kwscope.dsp.micro_tables import filterbank_matrix, window_coefficients
from kwscope.io.audio import read_audio

# The recipe settings micro_features defaults to, spelled out for the op (whose own defaults are
# window_size=25, window_step=10, num_channels=32).
RECIPE = dict(sample_rate=16000, window_size=30, window_step=20, num_channels=40)
AT_8K = dict(sample_rate=8000, window_size=30, window_step=20, num_channels=40, upper_band_limit=3800.0)


@pytest.fixture(scope="module")
def tf_op():
    """``(tf, audio_microfrontend)``; the parity tests skip when TensorFlow is not installed."""
    tf = pytest.importorskip(
        "tensorflow", reason="tensorflow (tensorflow-cpu, in the test extra) is needed for the parity "
                             "tests against its audio_microfrontend op")
    try:
        from tensorflow.lite.experimental.microfrontend.python.ops import audio_microfrontend_op
    except ImportError as exc:  # pragma: no cover - a TensorFlow build without the op
        pytest.skip(f"this TensorFlow has no audio_microfrontend op ({exc})")
    return tf, audio_microfrontend_op.audio_microfrontend


def op_features(tf_op, pcm: np.ndarray, out_type: str = "uint16", **settings) -> np.ndarray:
    """The op on one int16 clip, eagerly; ``out_type='float'`` is the op's float32 output."""
    tf, frontend = tf_op
    dtype = tf.float32 if out_type == "float" else tf.uint16
    return frontend(tf.constant(pcm, dtype=tf.int16), out_type=dtype, **settings).numpy()


def assert_equal_to_op(tf_op, pcm: np.ndarray, ours: np.ndarray, **settings) -> None:
    expected = op_features(tf_op, pcm, **settings)
    assert ours.shape == expected.shape
    assert ours.dtype == expected.dtype
    if not np.array_equal(ours, expected):
        diff = np.abs(ours.astype(np.int64) - expected.astype(np.int64))
        pytest.fail(f"{np.count_nonzero(diff)} of {diff.size} values differ from the op "
                    f"(max {diff.max()}); settings {settings}")


@pytest.fixture(scope="module")
def fsdd_clips(fsdd_dir):
    """Every 20th FSDD recording (150 clips, all speakers and digits): float32 in [-1, 1], 8 kHz."""
    paths = sorted(fsdd_dir.glob("*.wav"))[::20]
    clips = []
    for p in paths:
        y, sr = read_audio(p)
        assert sr == 8000
        clips.append(y)
    return clips


# --------------------------------------------------------------------------- parity: recordings


def test_fsdd_resampled_to_16k_equals_the_op(tf_op, fsdd_clips):
    tf, _ = tf_op
    for y8 in fsdd_clips:
        y = dsp.resample(y8, 8000, 16000)
        # The training recipe's conversion, done by TensorFlow itself.
        pcm = tf.cast(tf.multiply(tf.clip_by_value(y, -1.0, 1.0), 32768), tf.int16).numpy()
        assert_equal_to_op(tf_op, pcm, micro_features(y, 16000), **RECIPE)  # float input
        assert_equal_to_op(tf_op, pcm, micro_features(pcm, 16000), **RECIPE)  # int16 input


def test_fsdd_at_8k_equals_the_op(tf_op, fsdd_clips):
    for y in fsdd_clips:
        pcm = np.round(y * 32768).astype(np.int16)  # exact: the files are 16-bit
        ours = micro_features(pcm, 8000, **{k: v for k, v in AT_8K.items() if k != "sample_rate"})
        assert_equal_to_op(tf_op, pcm, ours, **AT_8K)


def test_a_batch_of_one_second_clips_equals_the_op_clip_by_clip(tf_op, fsdd_clips):
    pcm = np.stack([np.round(dsp.pad_or_crop(dsp.resample(y, 8000, 16000), 16000) * 32767).astype(np.int16)
                    for y in fsdd_clips[:40]])
    ours = micro_features(pcm)  # 40 clips x 49 frames: several blocks of frames
    assert ours.shape == (40, 49, 40)
    for clip, feats in zip(pcm, ours):
        assert_equal_to_op(tf_op, clip, feats, **RECIPE)


# --------------------------------------------------------------------------- parity: analytic signals


def _analytic_signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    t = np.arange(16000) / 16000
    sig = {"silence": np.zeros(16000)}
    for f in (60.0, 1000.0, 3999.0, 7900.0):
        sig[f"full-scale tone {f:g} Hz"] = 32767 * np.sin(2 * np.pi * f * t)
    sig["clipping square 440 Hz"] = np.where(np.sin(2 * np.pi * 440 * t) >= 0, 32767, -32768)
    sig["clipped 5x tone 300 Hz"] = np.clip(5 * 32767 * np.sin(2 * np.pi * 300 * t), -32768, 32767)
    sig["DC -32768"] = np.full(16000, -32768)
    sig["alternating +-full scale"] = np.where(np.arange(16000) % 2, 32767, -32768)
    for level in (1, 30, 3000):
        sig[f"white noise sd {level}"] = level * rng.standard_normal(16000)
    sig["full-scale uniform noise"] = rng.integers(-32768, 32768, 16000)
    sig["impulse train"] = np.where(np.arange(16000) % 397 == 0, 30000, 0)
    sig["chirp"] = 20000 * np.sin(2 * np.pi * (50 + 3900 * t) * t)
    sig["tone then silence"] = np.where(t < 0.5, 10000 * np.sin(2 * np.pi * 700 * t), 0)
    return {k: np.clip(np.round(v), -32768, 32767).astype(np.int16) for k, v in sig.items()}


@pytest.mark.parametrize("name", list(_analytic_signals()))
def test_analytic_signals_equal_the_op(tf_op, name):
    pcm = _analytic_signals()[name]
    assert_equal_to_op(tf_op, pcm, micro_features(pcm), **RECIPE)
    assert_equal_to_op(tf_op, pcm, micro_features(pcm, enable_pcan=False), enable_pcan=False, **RECIPE)


@pytest.mark.parametrize("n", [0, 1, 479, 480, 481, 799, 800, 801, 12345, 16001])
def test_lengths_and_the_tail_equal_the_op(tf_op, n):
    pcm = (np.random.default_rng(n).standard_normal(n) * 2000).astype(np.int16)
    ours = micro_features(pcm)
    assert ours.shape == (0 if n < 480 else (n - 480) // 320 + 1, 40)
    assert_equal_to_op(tf_op, pcm, ours, **RECIPE)


# --------------------------------------------------------------------------- parity: settings


SETTINGS = [
    dict(window_size=25, window_step=10, num_channels=32),  # the op's own defaults
    dict(window_size=20, window_step=10, num_channels=64),
    dict(window_size=64, window_step=32, num_channels=80, lower_band_limit=20.0, upper_band_limit=7999.0),
    dict(window_size=1, window_step=1, num_channels=2, lower_band_limit=1000.0, upper_band_limit=3000.0),
    dict(enable_pcan=False),
    dict(enable_log=False),
    dict(enable_pcan=False, enable_log=False, min_signal_remaining=1.0),
    dict(scale_shift=3),
    dict(scale_shift=10, enable_pcan=False),
    dict(smoothing_bits=5, even_smoothing=0.5, odd_smoothing=0.0, min_signal_remaining=0.3),
    dict(pcan_strength=0.5, pcan_offset=1.0, gain_bits=18),
    dict(left_context=2, right_context=1),
    dict(left_context=1, right_context=3, frame_stride=3, zero_padding=True),
    dict(frame_stride=2),
    dict(out_scale=7),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_settings_equal_the_op(tf_op, settings):
    rng = np.random.default_rng(11)
    pcm = (rng.standard_normal(12000) * np.linspace(100, 9000, 12000)).astype(np.int16)
    full = {**RECIPE, **settings}
    ours = micro_features(pcm, **{k: v for k, v in full.items() if k != "sample_rate"})
    assert_equal_to_op(tf_op, pcm, ours, **full)


@pytest.mark.parametrize("sample_rate", [11025, 22050, 44100])
def test_other_sample_rates_equal_the_op(tf_op, sample_rate):
    pcm = (np.random.default_rng(sample_rate).standard_normal(sample_rate) * 3000).astype(np.int16)
    settings = dict(RECIPE, sample_rate=sample_rate, upper_band_limit=min(7500.0, 0.45 * sample_rate))
    ours = micro_features(pcm, sample_rate, **{k: v for k, v in settings.items() if k != "sample_rate"})
    assert_equal_to_op(tf_op, pcm, ours, **settings)


# --------------------------------------------------------------------------- output conversions


@pytest.mark.parametrize("out_scale", [1, 3])
def test_float_output_is_the_training_recipe(tf_op, out_scale):
    """input_data.py (preprocess='micro'): the op's float32 output times 10 / 256."""
    tf, _ = tf_op
    pcm = (np.random.default_rng(3).standard_normal(16000) * 4000).astype(np.int16)
    expected = tf.multiply(op_features(tf_op, pcm, out_type="float", out_scale=out_scale, **RECIPE),
                           10.0 / 256.0).numpy()
    ours = micro_features(pcm, out_type="float", out_scale=out_scale)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)


def test_int8_output_is_the_micro_speech_model_input(tf_op):
    """micro_features_generator.cc: (v * 256 + 666 // 2) // 666 - 128, clamped to int8."""
    rng = np.random.default_rng(4)
    pcm = (rng.standard_normal(16000) * np.geomspace(1, 30000, 16000)).astype(np.int16)
    raw = op_features(tf_op, pcm, **RECIPE).astype(np.int32)
    value_div = int(np.float32(25.6) * np.float32(26.0) + np.float32(0.5))
    expected = np.clip((raw * 256 + value_div // 2) // value_div - 128, -128, 127)
    ours = micro_features(pcm, out_type="int8")
    assert ours.dtype == np.int8
    assert ours.min() == -128 and ours.max() > 0  # both ends of the mapping are exercised
    np.testing.assert_array_equal(ours, expected)


def test_float_input_is_converted_like_the_recipe(tf_op):
    tf, _ = tf_op
    y = np.random.default_rng(5).uniform(-1.3, 1.3, 16000).astype(np.float32)
    y[:5] = [1.0, -1.0, 0.99999994, -0.99999994, 1.0 / 32768]
    y[-64:] = np.clip(y[-64:], -0.999, 0.999)  # the tail of TensorFlow's cast wraps +1.0 instead
    pcm = tf.cast(tf.multiply(tf.clip_by_value(y, -1.0, 1.0), 32768), tf.int16).numpy()
    assert pcm[0] == 32767 and pcm[1] == -32768  # +1.0 saturates in the vectorized cast
    assert_equal_to_op(tf_op, pcm, micro_features(y), **RECIPE)
    assert_equal_to_op(tf_op, pcm, micro_features(y.astype(np.float64)), **RECIPE)


# --------------------------------------------------------------------------- no TensorFlow needed


def test_batch_equals_clips_one_by_one(rng):
    x = (rng.standard_normal((2, 3, 9000)) * 5000).astype(np.int16)
    batch = micro_features(x)
    assert batch.shape == (2, 3, 27, 40)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(batch[i, j], micro_features(x[i, j]))
    many = np.repeat(x[0], 12, axis=0)  # 36 clips: more frames than one block
    np.testing.assert_array_equal(micro_features(many)[::12], batch[0])


def test_each_clip_starts_with_fresh_noise_state(rng):
    loud = (rng.standard_normal(16000) * 20000).astype(np.int16)
    quiet = (rng.standard_normal(16000) * 50).astype(np.int16)
    pair = micro_features(np.stack([loud, quiet]))
    np.testing.assert_array_equal(pair[1], micro_features(quiet))
    # a clip that continues the loud one does carry its noise estimate: state is per call
    assert not np.array_equal(micro_features(np.concatenate([loud, quiet]))[50:], pair[1])


def test_transform_object_holds_tables_and_matches_the_function(rng):
    fe = MicroFrontend(num_channels=32, enable_pcan=False)
    assert (fe.window_samples, fe.step_samples, fe.fft_size) == (480, 320, 512)
    start, end = fe.band
    assert fe.filterbank.shape == (32, end - start)
    assert fe.window.shape == (480,) and fe.window.max() <= 4096
    assert fe.pcan_lut is None and fe.log_lut.shape == (130,)
    with pytest.raises(ValueError):
        fe.window[0] = 1  # shared, cached tables are read-only
    x = (rng.standard_normal(7000) * 3000).astype(np.int16)
    np.testing.assert_array_equal(fe(x), micro_features(x, num_channels=32, enable_pcan=False))
    assert fe.frames_for(7000) == fe(x).shape[0] == 21
    assert "num_channels=32" in repr(fe)


def test_parameters_after_the_signal_are_keyword_only():
    params = list(inspect.signature(micro_features).parameters.values())
    assert [p.name for p in params[:2]] == ["y", "sample_rate"]
    assert all(p.kind is p.KEYWORD_ONLY for p in params[2:])
    assert all(p.kind is p.KEYWORD_ONLY for p in inspect.signature(MicroFrontend).parameters.values())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(sample_rate=0), r"sample_rate=0 must be an integer >= 1"),
        (dict(window_size=30.5), r"window_size=30.5 must be an integer >= 1"),
        (dict(window_step=0), r"window_step=0 must be an integer >= 1"),
        (dict(window_step=40), r"window_step=40 ms must give between 1 and window_size's 480 samples"),
        (dict(sample_rate=100), r"window_size=30 ms gives 3 samples at 100 Hz; it must give at least 4"),
        (dict(num_channels=0), r"num_channels=0 must be an integer >= 1"),
        (dict(lower_band_limit=-1.0), r"lower_band_limit=-1.0 must be a finite number >= 0"),
        (dict(upper_band_limit=100.0), r"upper_band_limit=100.0 must be a finite number > 125.0"),
        (dict(sample_rate=8000), r"upper_band_limit=7500.0 is too close to the Nyquist frequency 4000.0 Hz"),
        (dict(smoothing_bits=32), r"smoothing_bits=32 must be an integer in \[0, 31\]"),
        (dict(smoothing_bits=2), r"smoothing_bits=2 must be >= 3 with PCAN"),
        (dict(even_smoothing=1.5), r"even_smoothing=1.5 must be a finite number in \[0.0, 1.0\]"),
        (dict(odd_smoothing=float("nan")), r"odd_smoothing=nan must be a finite number"),
        (dict(min_signal_remaining=-0.1), r"min_signal_remaining=-0.1 must be a finite number in \[0.0, 1.0\]"),
        (dict(enable_pcan=1), r"enable_pcan=1 must be True or False"),
        (dict(pcan_strength=-1.0), r"pcan_strength=-1.0 must be a finite number >= 0"),
        (dict(gain_bits=14), r"gain_bits=14 must be an integer in \[15, 31\]"),
        (dict(scale_shift=32), r"scale_shift=32 must be an integer in \[0, 31\]"),
        (dict(left_context=-1), r"left_context=-1 must be an integer >= 0"),
        (dict(frame_stride=0), r"frame_stride=0 must be an integer >= 1"),
        (dict(out_scale=0), r"out_scale=0 must be an integer in \[1, 65535\]"),
        (dict(out_type="int16"), r"out_type='int16' must be one of 'uint16', 'int8', 'float'"),
        (dict(out_type="int8", out_scale=2), r"out_scale=2 must be 1 with out_type='int8'"),
        (dict(tables="tflm"), r"tables='tflm' must be one of 'tensorflow', 'tflite-micro'"),
        (dict(num_channels=[40]), r"num_channels=\[40\] must be an integer >= 1"),
    ],
)
def test_bad_parameters_raise_one_line_errors(kwargs, match):
    sr = kwargs.pop("sample_rate", 16000)
    with pytest.raises(ParameterError, match=match) as info:
        micro_features(np.zeros(16000, np.int16), sr, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.array([1, 2, 70000]), r"outside the int16 range"),
        (np.array([0.0, np.nan]), r"NaN or infinite"),
        (np.array(["a"]), r"real numeric array"),
        (np.int16(3), r"at least 1 dimension"),
        ([[1, 2], [3]], r"batch of equal-length clips"),
    ],
)
def test_bad_signals_raise(y, match):
    with pytest.raises(ParameterError, match=match):
        micro_features(y)


def test_tflite_micro_tables_differ_from_tensorflow_by_at_most_one_unit(rng):
    """TensorFlow's copy of the table code computes in double, tflite-micro's in float: a few
    window and filterbank entries differ by one, and the features by a few units at most."""
    for size in (240, 400, 480, 1024):
        assert np.abs(window_coefficients(size, "tensorflow") - window_coefficients(size, "tflite-micro")).max() <= 1
    for args in [(40, 125.0, 7500.0, 16000, 257), (32, 125.0, 7500.0, 16000, 257), (40, 125.0, 3800.0, 8000, 129)]:
        a, b = filterbank_matrix(*args, "tensorflow"), filterbank_matrix(*args, "tflite-micro")
        assert a[:2] == b[:2]
        assert np.abs(a[2] - b[2]).max() <= 1
    x = (rng.standard_normal((8, 16000)) * 3000).astype(np.int16)
    tf_feats = micro_features(x).astype(int)
    tflm_feats = micro_features(x, tables="tflite-micro").astype(int)
    assert np.abs(tf_feats - tflm_feats).max() <= 8
    assert np.mean(tf_feats == tflm_feats) > 0.98
