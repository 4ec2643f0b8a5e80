"""Signal processing for short utterances: spectrograms, mel/MFCC features, resampling, VAD.

Every function is pure, accepts one clip ``(n,)`` or a batch ``(..., n)`` (leading axes are
batch axes) and returns float32 data. Each follows a named reference definition, proven by the
parity tests in ``tests/test_dsp.py``:

* ``log_specgram`` -- the exploration notebook's ``scipy.signal.spectrogram`` recipe;
* ``mel_spectrogram``, ``mel_filterbank``, ``power_to_db``, ``mfcc``, ``delta`` -- librosa 0.10/0.11
  (``log_mel_frames``: ``power_to_db(mel_spectrogram(...))`` frames first, bit for bit);
* ``fft_spectrum`` -- the notebook's ``custom_fft``; ``resample`` -- soxr;
* ``micro_features`` / ``MicroFrontend`` -- TensorFlow's ``audio_microfrontend`` op (the TFLM
  ``micro_speech`` front end), integer for integer (``tests/test_micro_frontend.py``).

Batches are computed with one strided frame view and one real FFT per chunk of clips, so a batch
of thousands of 1-s clips costs a few passes over memory instead of thousands of library calls.
The mel projection and the DCT are BLAS matrix products: on a machine busy with other processes,
run them with one BLAS thread (``threadpoolctl.threadpool_limits(1)``, as kwscope's workers do),
or the threads spend their time waiting for cores.

Precision follows the input the way scipy and librosa choose it: float32 (and 8/16-bit integer)
input is computed in float32, float64 (and 32/64-bit integer) input in float64; outputs are float32.
Integer input is converted to float without rescaling (except for the dBFS thresholds of the VAD).
Axis coordinates (frequencies in Hz, times in s) are float64, exactly as the references compute them.

Modules, each importing only ``_common``: ``spectral`` (log spectrogram, FFT spectrum, per-bin
normalization), ``mel`` (filterbank, mel spectrogram, ``power_to_db``), ``cepstral`` (MFCC, delta,
built on ``mel``), ``resample``, ``vad`` (speech segments, one clip or a batch; trimming) and
``framing`` (pad/crop, frame stacking); ``micro`` (the TFLM front end, whose integer outputs are
uint16/int8 unless asked for float; built on ``micro_fft`` and ``micro_tables``).
"""

from ._common import ParameterError
from .cepstral import delta, mfcc
from .framing import pad_or_crop, stack_frames
from .mel import log_mel_frames, mel_filterbank, mel_spectrogram, power_to_db
from .micro import MicroFrontend, micro_features
from .resample import resample
from .spectral import fft_spectrum, log_specgram, normalize_per_bin
from .vad import speech_segments, speech_segments_batch, trim_silence

__all__ = [
    "ParameterError",
    "log_specgram",
    "mel_filterbank",
    "mel_spectrogram",
    "power_to_db",
    "log_mel_frames",
    "mfcc",
    "delta",
    "fft_spectrum",
    "resample",
    "speech_segments",
    "speech_segments_batch",
    "trim_silence",
    "pad_or_crop",
    "stack_frames",
    "normalize_per_bin",
    "micro_features",
    "MicroFrontend",
]
