"""Parity and behaviour tests for kwscope.dsp.

References (test-only): scipy.signal.spectrogram for log_specgram, librosa for mel/MFCC/delta,
the notebook's numpy formula for fft_spectrum. Signals are analytic: tones, chirps, noise, silence.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import scipy.signal

from kwscope import dsp
from kwscope.dsp import ParameterError

librosa = pytest.importorskip("librosa")


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)


def _t(sr, seconds=1.0):
    return np.arange(int(round(sr * seconds))) / sr


def _signals(sr, rng):
    t = _t(sr)
    return {
        "tone": 0.5 * np.sin(2 * np.pi * 440 * t),
        "two_tones": 0.3 * np.sin(2 * np.pi * 3000 * t) + 0.2 * np.sin(2 * np.pi * 150 * t),
        "chirp": 0.5 * scipy.signal.chirp(t, 100, 1.0, 0.45 * sr),
        "noise": 0.1 * rng.standard_normal(t.size),
        "silence": np.zeros(t.size),
    }


def _notebook_log_specgram(audio, sample_rate, window_size=20, step_size=10, eps=1e-10):
    nperseg = int(round(window_size * sample_rate / 1e3))
    noverlap = int(round(step_size * sample_rate / 1e3))
    freqs, times, spec = scipy.signal.spectrogram(
        audio, fs=sample_rate, window="hann", nperseg=nperseg, noverlap=noverlap, detrend=False
    )
    return freqs, times, np.log(spec.T.astype(np.float32) + eps)


# --------------------------------------------------------------------------- API shape


def test_public_names_exist():
    for name in dsp.__all__:
        assert hasattr(dsp, name), name
    assert issubclass(ParameterError, ValueError)


@pytest.mark.parametrize(
    ("func", "positional"),
    [
        (dsp.log_specgram, 2), (dsp.mel_spectrogram, 1), (dsp.mel_filterbank, 0),
        (dsp.power_to_db, 1), (dsp.mfcc, 0), (dsp.delta, 1), (dsp.fft_spectrum, 2),
        (dsp.resample, 3), (dsp.speech_segments, 2), (dsp.trim_silence, 2),
        (dsp.pad_or_crop, 2), (dsp.stack_frames, 2), (dsp.normalize_per_bin, 1),
    ],
)
def test_parameters_after_the_signal_are_keyword_only(func, positional):
    params = list(inspect.signature(func).parameters.values())
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params[:positional])
    assert all(p.kind is p.KEYWORD_ONLY for p in params[positional:])


# --------------------------------------------------------------------------- log_specgram


@pytest.mark.parametrize("sr", [16000, 8000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_specgram_matches_notebook_scipy(rng, sr, dtype):
    for name, x in _signals(sr, rng).items():
        x = x.astype(dtype)
        ref_f, ref_t, ref = _notebook_log_specgram(x, sr)
        freqs, times, spec = dsp.log_specgram(x, sr)
        assert spec.dtype == np.float32 and spec.shape == ref.shape, name
        np.testing.assert_array_equal(freqs, ref_f)
        np.testing.assert_array_equal(times, ref_t)
        np.testing.assert_allclose(spec, ref, rtol=0, atol=1e-3, err_msg=name)


def test_log_specgram_int16_input_matches_scipy(rng):
    x = (3000 * rng.standard_normal(16000)).astype(np.int16)
    *_, ref = _notebook_log_specgram(x, 16000)
    np.testing.assert_allclose(dsp.log_specgram(x, 16000)[2], ref, rtol=0, atol=1e-3)


@pytest.mark.parametrize(("window_ms", "step_ms", "eps"), [(25.0, 10.0, 1e-10), (30.0, 5.0, 1e-6), (10.0, 0.0, 1e-10)])
def test_log_specgram_non_default_parameters(rng, window_ms, step_ms, eps):
    x = (0.2 * rng.standard_normal(12345)).astype(np.float32)
    ref_f, ref_t, ref = _notebook_log_specgram(x, 16000, window_ms, step_ms, eps)
    freqs, times, spec = dsp.log_specgram(x, 16000, window_ms=window_ms, step_ms=step_ms, eps=eps)
    np.testing.assert_array_equal(freqs, ref_f)
    np.testing.assert_array_equal(times, ref_t)
    np.testing.assert_allclose(spec, ref, rtol=0, atol=1e-3)


def test_log_specgram_batch_equals_per_clip(rng):
    batch = (0.3 * rng.standard_normal((2, 3, 16000))).astype(np.float32)
    batch[0, 1] = 0.0
    freqs, times, spec = dsp.log_specgram(batch, 16000)
    assert spec.shape == (2, 3, times.size, freqs.size)
    for i in np.ndindex(2, 3):
        *_, ref = _notebook_log_specgram(batch[i], 16000)
        np.testing.assert_allclose(spec[i], ref, rtol=0, atol=1e-3)
        np.testing.assert_allclose(spec[i], dsp.log_specgram(batch[i], 16000)[2], rtol=0, atol=1e-6)


def test_log_specgram_short_clip_shrinks_window_like_scipy(rng):
    x = rng.standard_normal(200)
    with pytest.warns(UserWarning):
        ref_f, ref_t, ref = _notebook_log_specgram(x, 16000)
    with pytest.warns(UserWarning, match="nperseg = 320"):
        freqs, times, spec = dsp.log_specgram(x, 16000)
    np.testing.assert_array_equal(freqs, ref_f)
    np.testing.assert_allclose(spec, ref, rtol=0, atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sample_rate": 0}, r"sample_rate=0 must be a positive"),
        ({"window_ms": -20.0}, r"window_ms=-20.0 must be a positive"),
        ({"step_ms": 20.0}, r"step_ms=20.0 gives noverlap=320"),
        ({"eps": float("nan")}, r"eps=nan"),
    ],
)
def test_log_specgram_rejects_bad_parameters(kwargs, match):
    args = {"sample_rate": 16000, **kwargs}
    with pytest.raises(ParameterError, match=match):
        dsp.log_specgram(np.zeros(16000), args.pop("sample_rate"), **args)


@pytest.mark.parametrize(
    ("samples", "match"),
    [
        (np.array([0.0, np.nan, 1.0]), "NaN"),
        (np.zeros(10, dtype=complex), "real numeric"),
        (np.float32(1.0), "at least 1 dimension"),
        (np.zeros(0), "empty"),
    ],
)
def test_signal_validation(samples, match):
    with pytest.raises(ParameterError, match=match):
        dsp.log_specgram(samples, 16000)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_signal_validation_finds_one_bad_value_and_lets_an_overflowing_sum_pass(bad):
    # The finite check sums the signal (one pass); a sum that overflows from finite values
    # (here float16: 4 x 60,000 > 65,504) must not count as a bad value.
    big = np.full(4, 60000.0, np.float16)
    from kwscope.dsp._common import _signal
    assert _signal(big) is big
    x = np.zeros((3, 16000), np.float32)
    x[2, 12345] = bad
    with pytest.raises(ParameterError, match="NaN or infinite"):
        dsp.log_mel_frames(x, sr=16000, n_fft=320, hop_length=160, n_mels=40)


# --------------------------------------------------------------------------- mel filterbank


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sr": 22050, "n_fft": 2048},
        {"sr": 16000, "n_fft": 512, "n_mels": 40, "fmin": 20.0, "fmax": 7600.0},
        {"sr": 16000, "n_fft": 400, "n_mels": 64, "htk": True, "norm": None},
        {"sr": 22050, "n_fft": 1024, "n_mels": 80, "fmax": 8000.0, "norm": 2.0},
    ],
)
def test_mel_filterbank_matches_librosa(kwargs):
    ours = dsp.mel_filterbank(**kwargs)
    ref = librosa.filters.mel(**kwargs)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


def test_mel_filterbank_is_cached_and_read_only():
    first = dsp.mel_filterbank(sr=16000, n_fft=512)
    assert dsp.mel_filterbank(sr=16000, n_fft=512) is first
    with pytest.raises(ValueError):
        first[0, 0] = 1.0


def test_mel_filterbank_rejects_bad_parameters():
    with pytest.raises(ParameterError, match=r"n_fft=0 must be a positive integer"):
        dsp.mel_filterbank(sr=16000, n_fft=0)
    with pytest.raises(ParameterError, match=r"fmax=100.0 must be greater than fmin=200.0"):
        dsp.mel_filterbank(sr=16000, n_fft=512, fmin=200.0, fmax=100.0)
    with pytest.raises(ParameterError, match=r"norm='l2'"):
        dsp.mel_filterbank(sr=16000, n_fft=512, norm="l2")


# --------------------------------------------------------------------------- mel / dB / MFCC / delta

# Parity tolerances. rtol=1e-4 throughout; the atol terms only cover values near zero:
# * mel power: atol = 1e-8 * peak. FFT round-off is ~1e-7 of a frame's amplitude in float32, i.e.
#   ~1e-14 of the peak power, so only bins some 80 dB below the peak can differ by more than rtol.
# * dB: atol = 1e-4 dB (values near 0 dB when ref=np.max; float32 resolution of a dB value is ~4e-6).
# * MFCC: atol = 1e-6 * max|coefficient|. The DCT mixes every band into every coefficient, so the
#   error of a coefficient close to zero scales with the largest ones (float32 ulp ~6e-8 of them).
_MEL_ATOL, _DB_ATOL, _MFCC_ATOL = 1e-8, 1e-4, 1e-6


@pytest.mark.parametrize("sr", [16000, 22050])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mel_power_to_db_mfcc_delta_match_librosa(rng, sr, dtype):
    for name, x in _signals(sr, rng).items():
        x = x.astype(dtype)
        ref_mel = librosa.feature.melspectrogram(y=x, sr=sr)
        mel = dsp.mel_spectrogram(x, sr=sr)
        assert mel.dtype == np.float32 and mel.shape == ref_mel.shape == (128, 1 + x.size // 512)
        np.testing.assert_allclose(mel, ref_mel, rtol=1e-4, atol=_MEL_ATOL * ref_mel.max(), err_msg=name)

        for ref in (1.0, np.max):
            np.testing.assert_allclose(
                dsp.power_to_db(mel, ref=ref), librosa.power_to_db(ref_mel, ref=ref),
                rtol=1e-4, atol=_DB_ATOL, err_msg=name,
            )

        ref_mfcc = librosa.feature.mfcc(y=x, sr=sr, n_mfcc=13)
        ours = dsp.mfcc(y=x, sr=sr)
        assert ours.dtype == np.float32 and ours.shape == ref_mfcc.shape
        atol = _MFCC_ATOL * np.abs(ref_mfcc).max()
        np.testing.assert_allclose(ours, ref_mfcc, rtol=1e-4, atol=atol, err_msg=name)

        log_s = librosa.power_to_db(ref_mel, ref=np.max)
        ref_mfcc = librosa.feature.mfcc(S=log_s, n_mfcc=13)
        atol = _MFCC_ATOL * np.abs(ref_mfcc).max()
        np.testing.assert_allclose(dsp.mfcc(S=log_s), ref_mfcc, rtol=1e-4, atol=atol, err_msg=name)

        for order in (1, 2):
            ref_delta = librosa.feature.delta(ref_mfcc, order=order)
            ours = dsp.delta(ref_mfcc, order=order)
            assert ours.dtype == np.float32
            np.testing.assert_allclose(ours, ref_delta, rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_fft": 512, "hop_length": 160, "win_length": 400, "n_mels": 40, "fmin": 20.0, "fmax": 7600.0},
        {"n_fft": 1024, "hop_length": 256, "window": "hamming", "center": False, "power": 1.0, "htk": True},
        {"n_fft": 2048, "hop_length": 512, "pad_mode": "reflect", "n_mels": 64, "norm": None},
        {"n_fft": 400, "hop_length": 100, "window": ("kaiser", 8.0), "fmax": 8000.0},
    ],
)
def test_mel_spectrogram_non_default_parameters_match_librosa(rng, kwargs):
    sr = 16000
    x = 0.5 * scipy.signal.chirp(_t(sr, 0.5), 50, 0.5, 7000) + 0.05 * rng.standard_normal(sr // 2)
    ref = librosa.feature.melspectrogram(y=x, sr=sr, **kwargs)
    ours = dsp.mel_spectrogram(x, sr=sr, **kwargs)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=_MEL_ATOL * ref.max())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dct_type": 1, "norm": None},
        {"dct_type": 3, "norm": "ortho", "lifter": 22},
        {"dct_type": 2, "norm": "ortho", "n_mfcc": 40, "n_mels": 40, "fmax": 8000.0, "htk": True},
    ],
)
def test_mfcc_options_match_librosa(rng, kwargs):
    sr = 16000
    x = 0.3 * np.sin(2 * np.pi * 700 * _t(sr)) + 0.05 * rng.standard_normal(sr)
    ours = dsp.mfcc(y=x, sr=sr, **kwargs)
    ref = librosa.feature.mfcc(y=x, sr=sr, **{"n_mfcc": 13, **kwargs})
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=_MFCC_ATOL * np.abs(ref).max())


def test_mel_and_mfcc_batch_equals_per_item(rng):
    batch = (0.2 * rng.standard_normal((2, 3, 8000))).astype(np.float32)
    batch[1, 2] *= 1e-3  # a quiet item: its top_db floor must not come from the loud ones
    mel = dsp.mel_spectrogram(batch, sr=16000, n_fft=512, hop_length=128, n_mels=40)
    db = dsp.power_to_db(mel, ref=np.max)
    coeffs = dsp.mfcc(y=batch, sr=16000, n_fft=512, hop_length=128, n_mels=40)
    deltas = dsp.delta(coeffs, order=2)
    assert mel.shape == (2, 3, 40, 63) and coeffs.shape == (2, 3, 13, 63)
    for i in np.ndindex(2, 3):
        item_mel = dsp.mel_spectrogram(batch[i], sr=16000, n_fft=512, hop_length=128, n_mels=40)
        np.testing.assert_allclose(mel[i], item_mel, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(db[i], dsp.power_to_db(item_mel, ref=np.max), rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(db[i], librosa.power_to_db(item_mel, ref=np.max), rtol=1e-4, atol=_DB_ATOL)
        item_mfcc = dsp.mfcc(y=batch[i], sr=16000, n_fft=512, hop_length=128, n_mels=40)
        np.testing.assert_allclose(coeffs[i], item_mfcc, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(deltas[i], dsp.delta(item_mfcc, order=2), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kwargs", [dict(n_fft=320, hop_length=160, win_length=320, n_mels=40, fmin=20.0, fmax=7600.0),
                                    dict(n_fft=512, hop_length=128, n_mels=64, top_db=None),
                                    dict(n_fft=400, hop_length=160, win_length=300, n_mels=23, top_db=40.0)])
def test_log_mel_frames_is_power_to_db_of_mel_spectrogram_frames_first(rng, kwargs):
    y = (0.1 * rng.standard_normal((3, 16000))).astype(np.float32)
    y[1] *= 1e-4  # a quiet clip: its own top_db floor
    top_db = kwargs.pop("top_db", 80.0)
    got = dsp.log_mel_frames(y, sr=16000, top_db=top_db, **kwargs)
    composed = dsp.power_to_db(dsp.mel_spectrogram(y, sr=16000, **kwargs), ref=1.0, top_db=top_db)
    np.testing.assert_array_equal(got, composed.swapaxes(-1, -2))  # bit for bit
    assert got.flags.c_contiguous and got.dtype == np.float32
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y[0], sr=16000, **kwargs), ref=1.0, top_db=top_db)
    np.testing.assert_allclose(got[0].T, ref, rtol=1e-4, atol=_DB_ATOL)
    np.testing.assert_array_equal(dsp.log_mel_frames(y[2], sr=16000, top_db=top_db, **kwargs), got[2])


@pytest.mark.parametrize("n", [1, 100, 160, 319, 320, 321, 1000, 16000, 16001])
@pytest.mark.parametrize(("n_fft", "hop"), [(320, 160), (2048, 512), (255, 100), (320, 320), (64, 200)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_centred_frames_without_the_padded_copy_equal_padding(rng, n, n_fft, hop, dtype):
    # Zero-padded centred frames are windowed straight from the signal, only the frames that
    # overhang an end are assembled with their zeros: the same numbers, bit for bit.
    from kwscope.dsp._common import _frames, _work_dtype
    from kwscope.dsp.mel import _zero_centred_frames

    x = (1000 * rng.standard_normal((3, n))).astype(dtype)
    win = scipy.signal.get_window("hann", n_fft).astype(_work_dtype(x))
    expected = _frames(np.pad(x, ((0, 0), (n_fft // 2, n_fft // 2))), n_fft, hop) * win
    got = _zero_centred_frames(x, n_fft, hop, expected.shape[1], win)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_power_to_db_batch_semantics_are_per_item(rng):
    S = rng.random((4, 10, 20)) ** 8
    S[2] *= 1e-6
    for kwargs in ({"ref": np.max}, {"ref": np.median, "top_db": 30.0}, {"ref": 2.0, "top_db": None}):
        batch = dsp.power_to_db(S, **kwargs)
        for item, out in zip(S, batch):
            ref = librosa.power_to_db(item, **kwargs)
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=_DB_ATOL)
    # 1-D and 2-D inputs are librosa exactly (whole-array max).
    np.testing.assert_allclose(
        dsp.power_to_db(S[0, 0], ref=np.max, amin=1e-5), librosa.power_to_db(S[0, 0], ref=np.max, amin=1e-5),
        rtol=1e-4, atol=_DB_ATOL,
    )


def test_feature_parameter_errors_repeat_the_value():
    x = np.zeros(4000)
    with pytest.raises(ParameterError, match=r"hop_length=0 must be a positive integer"):
        dsp.mel_spectrogram(x, hop_length=0)
    with pytest.raises(ParameterError, match=r"win_length=4096 must be <= n_fft=2048"):
        dsp.mel_spectrogram(x, win_length=4096)
    with pytest.raises(ParameterError, match=r"pad_mode='wrap'"):
        dsp.mel_spectrogram(x, pad_mode="wrap")
    with pytest.raises(ParameterError, match=r"n_fft=8192 is too large"):
        dsp.mel_spectrogram(x, n_fft=8192, center=False)
    with pytest.raises(ParameterError, match=r"amin=0.0 must be a positive"):
        dsp.power_to_db(np.ones((2, 2)), amin=0.0)
    with pytest.raises(ParameterError, match=r"top_db=-1.0"):
        dsp.power_to_db(np.ones((2, 2)), top_db=-1.0)
    with pytest.raises(ParameterError, match="exactly one of"):
        dsp.mfcc()
    with pytest.raises(ParameterError, match=r"dct_type=5"):
        dsp.mfcc(y=x, dct_type=5)
    with pytest.raises(ParameterError, match=r"lifter=-1.0"):
        dsp.mfcc(y=x, lifter=-1.0)
    with pytest.raises(ParameterError, match=r"n_mfcc=50 must be <= n_mels=40"):
        dsp.mfcc(y=x, n_mfcc=50, n_mels=40)
    with pytest.raises(ParameterError, match=r"width=4 must be an odd integer >= 3"):
        dsp.delta(np.zeros((3, 20)), width=4)
    with pytest.raises(ParameterError, match=r"width=9 cannot exceed data.shape\[axis\]=5"):
        dsp.delta(np.zeros((3, 5)))
    with pytest.raises(ParameterError, match=r"order=0 must be a positive integer"):
        dsp.delta(np.zeros((3, 20)), order=0)


@pytest.mark.parametrize("shape,axis", [((64, 13, 101), -1), ((40, 9), 0), ((3, 9), -1), ((2, 30, 5), 1)])
def test_delta_equals_savgol_filter(rng, shape, axis):
    """delta's 'interp' edges come from precomputed fit matrices, not scipy's per-row fits: the
    same values (float64 exactly; float32 to rounding, scipy fitting float32 edges in float32)."""
    import scipy.signal

    for order in (1, 2):
        x = 30 * rng.standard_normal(shape)
        ref = scipy.signal.savgol_filter(x, 9, polyorder=order, deriv=order, axis=axis, mode="interp")
        np.testing.assert_array_equal(dsp.delta(x, width=9, order=order, axis=axis), ref.astype(np.float32))
        x32 = x.astype(np.float32)
        ref32 = scipy.signal.savgol_filter(x32, 9, polyorder=order, deriv=order, axis=axis, mode="interp")
        np.testing.assert_allclose(dsp.delta(x32, width=9, order=order, axis=axis), ref32, rtol=0,
                                   atol=1e-6 * np.abs(x32).max())


def test_delta_other_axis_and_mode_match_librosa(rng):
    data = rng.standard_normal((3, 30, 13))
    for kwargs in ({"axis": -2, "width": 5}, {"mode": "nearest", "order": 2, "axis": 1}):
        np.testing.assert_allclose(
            dsp.delta(data, **kwargs), librosa.feature.delta(data, **kwargs), rtol=1e-4, atol=1e-6
        )


# --------------------------------------------------------------------------- fft_spectrum


def test_fft_spectrum_matches_notebook_formula(rng):
    sr = 16000
    batch = np.stack([0.7 * np.sin(2 * np.pi * 1000 * _t(sr)), 0.1 * rng.standard_normal(sr)])
    freqs, mag = dsp.fft_spectrum(batch, sr)
    n = batch.shape[-1]
    np.testing.assert_array_equal(freqs, np.linspace(0, sr / 2, n // 2))
    assert mag.dtype == np.float32 and mag.shape == (2, n // 2)
    for item, out in zip(batch, mag):
        ref = 2.0 / n * np.abs(np.fft.fft(item)[: n // 2])
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    assert mag[0].argmax() == 1000 and mag[0].max() == pytest.approx(0.7, rel=1e-4)


# --------------------------------------------------------------------------- resample


def test_resample_keeps_a_1khz_tone(rng):
    y = dsp.resample(0.5 * np.sin(2 * np.pi * 1000 * _t(16000)), 16000, 8000)
    assert y.dtype == np.float32 and y.shape == (8000,)
    freqs, mag = dsp.fft_spectrum(y, 8000)
    assert abs(freqs[mag.argmax()] - 1000) <= 8000 / y.size
    assert mag.max() == pytest.approx(0.5, rel=0.02)


def test_resample_removes_a_6khz_tone_going_to_8khz():
    x = 0.5 * np.sin(2 * np.pi * 6000 * _t(16000))
    y = dsp.resample(x, 16000, 8000)
    attenuation_db = 20 * np.log10(np.sqrt(np.mean(y**2)) / np.sqrt(np.mean(x**2)))
    assert attenuation_db < -40


@pytest.mark.parametrize(("orig", "target"), [(16000, 8000), (16000, 22050), (22050, 16000), (8000, 16000)])
def test_resample_length_is_rounded_ratio(rng, orig, target):
    for n in (1000, 12344, 16000, 22050, 33331):
        expected = n * target / orig
        assert dsp.resample(rng.standard_normal(n), orig, target).shape == (int(np.floor(expected + 0.5)),)
        if expected % 1 != 0.5:
            assert dsp.resample(rng.standard_normal(n), orig, target).size == round(expected)


def test_resample_batch_equals_per_item_and_same_rate_copies(rng):
    batch = rng.standard_normal((2, 3, 4000)).astype(np.float32)
    out = dsp.resample(batch, 16000, 8000)
    assert out.shape == (2, 3, 2000)
    for i in np.ndindex(2, 3):
        np.testing.assert_allclose(out[i], dsp.resample(batch[i], 16000, 8000), rtol=0, atol=1e-6)
    same = dsp.resample(batch, 16000, 16000)
    assert same.dtype == np.float32 and not np.shares_memory(same, batch)
    np.testing.assert_array_equal(same, batch)
    with pytest.raises(ParameterError, match=r"quality='best'"):
        dsp.resample(batch, 16000, 8000, quality="best")
    with pytest.raises(ParameterError, match=r"target_sr=0"):
        dsp.resample(batch, 16000, 0)


# --------------------------------------------------------------------------- VAD


def _burst(sr, seconds, spans, amplitude=0.5, freq=440.0):
    y = np.zeros(int(sr * seconds))
    t = np.arange(y.size) / sr
    for start, end in spans:
        s, e = int(start * sr), int(end * sr)
        y[s:e] = amplitude * np.sin(2 * np.pi * freq * t[s:e])
    return y


@pytest.mark.parametrize("silence", [np.zeros(16000), 1e-4 * np.random.default_rng(0).standard_normal(16000)])
def test_speech_segments_silence_has_no_segment(silence):
    segments = dsp.speech_segments(silence, 16000)
    assert segments.shape == (0, 2) and segments.dtype == np.int64
    trimmed, span = dsp.trim_silence(silence, 16000)
    assert trimmed.shape == (0,) and trimmed.dtype == np.float32 and span == (0, 0)


@pytest.mark.parametrize("sr", [16000, 8000])
def test_speech_segments_finds_one_burst_within_a_hop(rng, sr):
    y = _burst(sr, 1.0, [(0.3, 0.65)]) + 1e-4 * rng.standard_normal(sr)  # hiss at -80 dBFS
    hop = round(0.010 * sr)
    segments = dsp.speech_segments(y, sr)
    assert segments.shape == (1, 2)
    assert abs(segments[0, 0] - int(0.3 * sr)) <= hop
    assert abs(segments[0, 1] - int(0.65 * sr)) <= hop
    trimmed, span = dsp.trim_silence(y, sr)
    assert span == tuple(segments[0]) and trimmed.size == span[1] - span[0]
    np.testing.assert_array_equal(trimmed, y[span[0] : span[1]].astype(np.float32))


def test_speech_segments_two_bursts_300ms_apart():
    sr = 16000
    truth = [(0.1, 0.35), (0.65, 0.9)]
    segments = dsp.speech_segments(_burst(sr, 1.0, truth), sr)
    assert segments.shape == (2, 2)
    np.testing.assert_allclose(segments, np.array(truth) * sr, atol=160)
    _, span = dsp.trim_silence(_burst(sr, 1.0, truth), sr)
    assert span == (segments[0, 0], segments[1, 1])


def test_speech_segments_merges_short_gaps_drops_clicks_and_reads_int16():
    sr = 16000
    y = _burst(sr, 1.0, [(0.2, 0.4), (0.45, 0.6), (0.85, 0.86)])
    segments = dsp.speech_segments(y, sr)  # 50 ms gap < min_gap; 10 ms click < min_speech
    assert segments.shape == (1, 2)
    assert abs(segments[0, 0] - 3200) <= 160 and abs(segments[0, 1] - 9600) <= 160
    assert dsp.speech_segments(y, sr, min_gap_ms=20, min_speech_ms=5).shape == (3, 2)
    np.testing.assert_array_equal(dsp.speech_segments((y * 32767).astype(np.int16), sr), segments)


def test_speech_segments_thresholds():
    sr = 16000
    quiet = _burst(sr, 1.0, [(0.2, 0.5)], amplitude=1e-4)  # -83 dBFS: below the absolute floor
    assert dsp.speech_segments(quiet, sr).shape == (0, 2)
    assert dsp.speech_segments(quiet, sr, floor_db=-100).shape == (1, 2)
    # A -50 dB tail is more than top_db=40 below the word: not speech.
    y = _burst(sr, 1.0, [(0.2, 0.5)]) + _burst(sr, 1.0, [(0.5, 0.8)], amplitude=0.5 * 10 ** (-50 / 20))
    assert abs(dsp.speech_segments(y, sr)[0, 1] - 8000) <= 160
    assert abs(dsp.speech_segments(y, sr, top_db=60)[0, 1] - 12800) <= 160


def test_speech_segments_rejects_batches_and_bad_parameters():
    with pytest.raises(ParameterError, match=r"shape=\(2, 100\)"):
        dsp.speech_segments(np.zeros((2, 100)), 16000)
    with pytest.raises(ParameterError, match=r"top_db=-3.0"):
        dsp.speech_segments(np.zeros(100), 16000, top_db=-3.0)
    with pytest.raises(ParameterError, match=r"hop_ms=0.01 is shorter than one sample"):
        dsp.speech_segments(np.zeros(100), 16000, hop_ms=0.01)
    assert dsp.speech_segments(np.zeros(0), 16000).shape == (0, 2)


# --------------------------------------------------------------------------- shaping


def test_pad_or_crop_modes():
    y = np.arange(1, 6, dtype=np.int16)  # 1..5
    np.testing.assert_array_equal(dsp.pad_or_crop(y, 8), [0, 1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(dsp.pad_or_crop(y, 8, mode="left"), [1, 2, 3, 4, 5, 0, 0, 0])
    np.testing.assert_array_equal(dsp.pad_or_crop(y, 8, mode="right"), [0, 0, 0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(dsp.pad_or_crop(y, 2), [2, 3])
    np.testing.assert_array_equal(dsp.pad_or_crop(y, 2, mode="left"), [1, 2])
    np.testing.assert_array_equal(dsp.pad_or_crop(y, 2, mode="right"), [4, 5])
    np.testing.assert_array_equal(dsp.pad_or_crop(y, 5), y)
    assert dsp.pad_or_crop(y, 8).dtype == np.float32
    assert dsp.pad_or_crop(np.zeros(0), 4).tolist() == [0, 0, 0, 0]
    assert dsp.pad_or_crop(y, 0).shape == (0,)


def test_pad_or_crop_batch_and_errors(rng):
    batch = rng.standard_normal((2, 3, 7))
    out = dsp.pad_or_crop(batch, 10, mode="right")
    assert out.shape == (2, 3, 10)
    for i in np.ndindex(2, 3):
        np.testing.assert_array_equal(out[i], dsp.pad_or_crop(batch[i], 10, mode="right"))
    with pytest.raises(ParameterError, match=r"mode='middle'"):
        dsp.pad_or_crop(batch, 10, mode="middle")
    with pytest.raises(ParameterError, match=r"length=-1"):
        dsp.pad_or_crop(batch, -1)


def test_stack_frames():
    X = np.arange(2 * 6 * 3, dtype=np.float64).reshape(2, 6, 3)
    out = dsp.stack_frames(X, 3, hop=2)
    assert out.shape == (2, (6 - 3) // 2 + 1, 9) and out.dtype == np.float32
    for b in range(2):
        for t in range(out.shape[1]):
            np.testing.assert_array_equal(out[b, t], X[b, 2 * t : 2 * t + 3].ravel())
    assert dsp.stack_frames(X[0], 6).shape == (1, 18)
    with pytest.raises(ParameterError, match=r"k=7 must be <= the number of frames 6"):
        dsp.stack_frames(X, 7)
    with pytest.raises(ParameterError, match=r"hop=0 must be a positive integer"):
        dsp.stack_frames(X, 2, hop=0)


def test_normalize_per_bin(rng):
    *_, spec = dsp.log_specgram((0.1 * rng.standard_normal((2, 8000))).astype(np.float32), 16000)
    spec[1, :, 5] = np.log(np.float32(1e-10))  # a constant bin
    out = dsp.normalize_per_bin(spec)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_allclose(out[0].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out[0].std(axis=0), 1, atol=1e-5)
    np.testing.assert_array_equal(out[1, :, 5], 0)
    ref = (spec[0] - spec[0].mean(axis=0)) / spec[0].std(axis=0)
    np.testing.assert_allclose(out[0], ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out[1], dsp.normalize_per_bin(spec[1]), rtol=1e-6, atol=1e-6)
    with pytest.raises(ParameterError, match="at least 2 dimension"):
        dsp.normalize_per_bin(np.zeros(5))


def test_outputs_are_float32_for_float64_input(rng):
    x = rng.standard_normal(4000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outputs = [
            dsp.log_specgram(x, 16000)[2], dsp.mel_spectrogram(x, sr=16000), dsp.mfcc(y=x, sr=16000),
            dsp.fft_spectrum(x, 16000)[1], dsp.resample(x, 16000, 8000), dsp.pad_or_crop(x, 100),
        ]
    assert all(out.dtype == np.float32 for out in outputs)


def test_empty_batch_gives_empty_features():
    empty = np.zeros((0, 4000), dtype=np.float32)
    assert dsp.log_specgram(empty, 16000)[2].shape == (0, 24, 161)
    assert dsp.mel_spectrogram(empty, sr=16000).shape == (0, 128, 8)
    assert dsp.mfcc(y=empty, sr=16000).shape == (0, 13, 8)
    assert dsp.resample(empty, 16000, 8000).shape == (0, 2000)
