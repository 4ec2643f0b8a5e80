"""The settings of the six feature-extraction steps: :class:`PipelineConfig` (validated, round-trips
to YAML, hashed stably: the hash names the features it produces) and the pipeline's errors."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import numbers
import os
from dataclasses import dataclass, fields
from typing import Any, Sequence

import numpy as np

from ..errors import KwscopeError

__all__ = ["PipelineConfig", "PipelineError", "ConfigError", "KINDS", "DTYPES", "MICRO_OUTPUTS", "MAX_SAMPLES"]

#: Feature kinds (step 4): ``micro`` is the TensorFlow Lite Micro front end (:mod:`kwscope.dsp.micro`).
KINDS = ("logspec", "mel", "mfcc", "micro")
#: Storage types of the raw features (``dtype``) of logspec/mel/mfcc.
DTYPES = ("float32", "float16")
#: What a micro store holds (``micro_output``): the op's uint16 output, or the int8 input of the
#: quantized micro_speech model (``micro_features_generator.cc``).
MICRO_OUTPUTS = ("uint16", "int8")
#: Defaults of the micro settings: left out of the config hash at these values, so that the
#: hashes of logspec/mel/mfcc configs are those of before the micro kind.
_MICRO_DEFAULTS = {"micro_window_ms": 30, "micro_step_ms": 20, "micro_channels": 40, "micro_pcan": True,
                   "micro_output": "uint16"}
#: Longest clip, in samples, that is decoded or padded to (about 17 min at 16 kHz); longer
#: recordings are skipped rather than filling memory, and ``duration_s`` may not ask for more.
MAX_SAMPLES = 1 << 24
#: Target rates accepted (Hz): what any real recording has; beyond, buffers explode.
RATE_RANGE = (1000, 384000)
#: Longest analysis window and FFT (samples): 2 s at 16 kHz, far beyond any speech front end.
MAX_FFT = 1 << 15
#: Most mel bands, frames stacked, and frames between stacked rows.
MAX_MELS, MAX_STACK = 512, 512
_PAD_MODES = ("center", "left", "right")
_NORMALIZE = ("per_feature", "none")
#: ``normalize``'s default: per_feature, but none for the micro kind (its integers are what the
#: device computes; a model trained on them must see them as they are).
_AUTO = "auto"
_QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")
_MAX_CONFIG_BYTES = 1 << 20
# Bumped when the computation behind a config changes, so old stores are not mistaken for new ones.
_FEATURES_VERSION = 1


class PipelineError(KwscopeError):
    """The pipeline cannot run on this input (not fitted, wrong shapes, clip too short, ...)."""


class ConfigError(PipelineError):
    """A pipeline setting is invalid; the message names the setting and repeats the bad value."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class PipelineConfig:
    """Every setting of the six steps. Defaults: Speech Commands, 16 kHz, 1 s, log spectrogram
    with 20 ms windows every 10 ms.

    Fields that only concern one kind (``eps`` for ``logspec``; ``n_fft``, ``n_mels``, ``fmin``,
    ``fmax``, ``top_db`` for ``mel``/``mfcc``; ``n_mfcc``, ``deltas``, ``delta_width`` for
    ``mfcc``; ``micro_*`` for ``micro``) are ignored by the others. The ``micro`` kind has its own
    frames (``micro_window_ms`` every ``micro_step_ms``, whole windows only) and ignores
    ``window_ms``, ``step_ms`` and ``dtype``.
    """

    # 1. resampling
    sample_rate: int = 16000
    """Target rate in Hz; clips at another rate are resampled with soxr."""
    resample_quality: str = "HQ"
    """soxr quality preset: QQ, LQ, MQ, HQ or VHQ."""
    # 2. voice activity detection
    vad: bool = False
    """Trim each clip to its speech (:func:`kwscope.dsp.trim_silence`) before padding."""
    vad_top_db: float = 40.0
    """VAD: frames within this many dB of the loudest frame are speech."""
    vad_floor_db: float = -60.0
    """VAD: frames below this level in dBFS are never speech."""
    # 3. equal length
    duration_s: float | None = 1.0
    """Clip length in seconds after zero-padding/cropping; ``None`` keeps each clip's length."""
    pad_mode: str = "center"
    """Where padding/cropping happens: 'center', 'left' (keep the start), 'right' (keep the end)."""
    # 4. features
    kind: str = "logspec"
    """'logspec' (the notebook's log_specgram), 'mel' (log mel, dB), 'mfcc', or 'micro' (the
    TensorFlow Lite Micro audio front end of micro_speech, integer for integer)."""
    window_ms: float = 20.0
    """Analysis window in milliseconds."""
    step_ms: float = 10.0
    """Hop between frames in milliseconds (20/10 gives exactly the notebook's log_specgram)."""
    eps: float = 1e-10
    """logspec: added to the power before the logarithm."""
    n_fft: int | None = None
    """mel/mfcc: FFT length in samples (>= the window; longer zero-pads); ``None``: the window."""
    n_mels: int = 40
    """mel/mfcc: mel bands."""
    fmin: float = 0.0
    """mel/mfcc: lowest band edge in Hz."""
    fmax: float | None = None
    """mel/mfcc: highest band edge in Hz; ``None``: sample_rate / 2."""
    top_db: float | None = 80.0
    """mel/mfcc: dynamic range kept below each clip's peak, in dB (``power_to_db``, ref=1)."""
    n_mfcc: int = 13
    """mfcc: cepstral coefficients kept."""
    deltas: int = 2
    """mfcc: 0 none, 1 append deltas, 2 append deltas and delta-deltas (3 x n_mfcc coefficients)."""
    delta_width: int = 9
    """mfcc: frames in the delta (Savitzky-Golay) filter, odd >= 3."""
    micro_window_ms: int = 30
    """micro: window in whole milliseconds (the op's window_size; micro_speech: 30)."""
    micro_step_ms: int = 20
    """micro: hop in whole milliseconds (the op's window_step; micro_speech: 20)."""
    micro_channels: int = 40
    """micro: filterbank channels (the op's num_channels; micro_speech: 40)."""
    micro_pcan: bool = True
    """micro: PCAN gain control (the op's enable_pcan)."""
    micro_output: str = "uint16"
    """micro: stored values, 'uint16' (the op's output, about 0..670) or 'int8' (what the quantized
    micro_speech model reads: (v * 256 + 333) // 666 - 128, clamped)."""
    # storage of the raw features (steps 1-4)
    dtype: str = "float32"
    """'float32', or 'float16' (half the bytes; values rounded to float16 before the statistics)."""
    # 5. normalization (applied when a store is read)
    normalize: str = _AUTO
    """'per_feature': subtract mean_ and divide by scale_ per coefficient; 'none'. Default:
    'per_feature', but 'none' for kind 'micro' (the device's integers, as they are)."""
    # 6. temporal context (applied when a store is read)
    stack: int = 1
    """Frames stacked into one row (1: no stacking)."""
    stack_hop: int = 1
    """Frames between the starts of consecutive stacked rows."""

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, getattr(self, f.name), f.type))
        if self.normalize == _AUTO:
            object.__setattr__(self, "normalize", _default_normalize(self.kind))
        self._validate()

    # -- validation ---------------------------------------------------------------------------

    def _validate(self) -> None:
        def fail(name: str, why: str):
            raise ConfigError(f"{name}={getattr(self, name)!r} {why}")

        lo, hi = RATE_RANGE
        if not lo <= self.sample_rate <= hi:
            fail("sample_rate", f"must be between {lo:,} and {hi:,} Hz")
        _one_of("resample_quality", self.resample_quality, _QUALITIES)
        if self.vad_top_db < 0:
            fail("vad_top_db", "must be >= 0 dB")
        if self.duration_s is not None:
            longest = MAX_SAMPLES / self.sample_rate
            if not 0 < self.duration_s <= longest:
                fail("duration_s", f"must be between 0 and {longest:,.1f} s ({MAX_SAMPLES:,} samples at "
                                   f"{self.sample_rate:,} Hz), or null for variable length")
        _one_of("pad_mode", self.pad_mode, _PAD_MODES)
        _one_of("kind", self.kind, KINDS)
        _one_of("dtype", self.dtype, DTYPES)
        _one_of("normalize", self.normalize, _NORMALIZE)
        _one_of("micro_output", self.micro_output, MICRO_OUTPUTS)
        if self.kind == "micro":
            self._validate_micro(fail)
        if self.window_ms <= 0:
            fail("window_ms", "must be a positive number of milliseconds")
        if self.step_ms <= 0:
            fail("step_ms", "must be a positive number of milliseconds")
        longest_ms = MAX_FFT * 1000 / self.sample_rate
        if self.window_samples > MAX_FFT:
            fail("window_ms", f"gives {self.window_samples:,} samples at {self.sample_rate:,} Hz; allowed: "
                              f"2 to {MAX_FFT:,} samples (up to {longest_ms:,.0f} ms)")
        if self.window_samples < 2:
            fail("window_ms", f"gives {self.window_samples} sample(s) at {self.sample_rate} Hz; need >= 2")
        if self.hop_samples < 1:
            fail("step_ms", f"is shorter than one sample at {self.sample_rate} Hz")
        if self.hop_samples > self.window_samples:
            fail("step_ms", f"must not exceed window_ms={self.window_ms} (frames would skip samples)")
        if self.eps < 0:
            fail("eps", "must be >= 0")
        if self.n_fft is not None and not self.window_samples <= self.n_fft <= MAX_FFT:
            fail("n_fft", f"must be between the window ({self.window_samples} samples) and {MAX_FFT:,} samples")
        if not 1 <= self.n_mels <= MAX_MELS:
            fail("n_mels", f"must be an integer between 1 and {MAX_MELS}")
        if self.fmin < 0:
            fail("fmin", "must be >= 0 Hz")
        if self.fmax is not None and not self.fmin < self.fmax <= self.sample_rate / 2:
            fail("fmax", f"must be > fmin={self.fmin} and <= sample_rate / 2 = {self.sample_rate / 2} Hz")
        if self.fmax is None and self.fmin >= self.sample_rate / 2:
            fail("fmin", f"must be below sample_rate / 2 = {self.sample_rate / 2} Hz")
        if self.top_db is not None and self.top_db < 0:
            fail("top_db", "must be >= 0 dB, or null")
        if not 1 <= self.n_mfcc <= self.n_mels:
            fail("n_mfcc", f"must be between 1 and n_mels={self.n_mels}")
        if self.deltas not in (0, 1, 2):
            fail("deltas", "must be 0, 1 or 2")
        if self.delta_width < 3 or self.delta_width % 2 == 0 or self.delta_width > 2 * MAX_STACK + 1:
            fail("delta_width", f"must be an odd integer between 3 and {2 * MAX_STACK + 1}")
        if not 1 <= self.stack <= MAX_STACK:
            fail("stack", f"must be an integer between 1 and {MAX_STACK}")
        if not 1 <= self.stack_hop <= MAX_STACK:
            fail("stack_hop", f"must be an integer between 1 and {MAX_STACK}")
        if self.duration_s is not None:
            frames = self.frames_for(self.length_samples)
            if frames < self.min_frames:
                what = f"stack={self.stack}" if frames < self.stack else f"delta_width={self.delta_width}"
                fail("duration_s", f"gives {frames} frames, fewer than {what} needs")

    def _validate_micro(self, fail) -> None:
        from ..dsp import ParameterError

        if self.dtype != "float32":
            fail("dtype", f"applies to logspec/mel/mfcc; kind micro stores micro_output "
                          f"({' or '.join(MICRO_OUTPUTS)})")
        for name, hi in (("micro_window_ms", 2000), ("micro_step_ms", 2000), ("micro_channels", MAX_MELS)):
            if not 1 <= getattr(self, name) <= hi:
                fail(name, f"must be an integer between 1 and {hi}")
        try:
            self.micro_frontend()
        except ParameterError as exc:
            raise ConfigError(f"kind micro at sample_rate={self.sample_rate}: {exc}") from None

    def micro_frontend(self):
        """The :class:`kwscope.dsp.MicroFrontend` of the micro kind (cached: built once a process)."""
        return _micro_frontend(self.sample_rate, self.micro_window_ms, self.micro_step_ms, self.micro_channels,
                               self.micro_pcan, self.micro_output)

    # -- derived quantities ---------------------------------------------------------------------

    @property
    def stored_dtype(self) -> str:
        """The dtype of the raw features in a store: ``dtype``, or ``micro_output`` for micro."""
        return self.micro_output if self.kind == "micro" else self.dtype

    @property
    def window_samples(self) -> int:
        """Window length in samples at ``sample_rate``."""
        return round(self.window_ms * self.sample_rate / 1000)

    @property
    def hop_samples(self) -> int:
        """Hop between frames in samples at ``sample_rate``."""
        return round(self.step_ms * self.sample_rate / 1000)

    @property
    def frame_step_samples(self) -> int:
        """Samples between raw frames: ``hop_samples``, or the micro front end's step."""
        return self.micro_frontend().step_samples if self.kind == "micro" else self.hop_samples

    @property
    def fft_length(self) -> int:
        """mel/mfcc FFT length in samples."""
        return self.n_fft if self.n_fft is not None else self.window_samples

    @property
    def length_samples(self) -> int | None:
        """Clip length after step 3 in samples, or ``None`` for variable length."""
        return None if self.duration_s is None else round(self.duration_s * self.sample_rate)

    @property
    def min_frames(self) -> int:
        """Fewest raw frames a clip needs (for stacking and deltas)."""
        need = self.stack
        if self.kind == "mfcc" and self.deltas:
            need = max(need, self.delta_width)
        return need

    @property
    def n_coeffs(self) -> int:
        """Coefficients per raw frame (before stacking)."""
        if self.kind == "logspec":
            return self.window_samples // 2 + 1
        if self.kind == "mel":
            return self.n_mels
        if self.kind == "micro":
            return self.micro_channels
        return self.n_mfcc * (1 + self.deltas)

    def frames_for(self, n_samples: int) -> int:
        """Raw frames (before stacking) of a clip of ``n_samples`` (at ``sample_rate``)."""
        if self.kind == "logspec":
            if n_samples < self.window_samples:
                return 0
            return (n_samples - self.window_samples) // self.hop_samples + 1
        if self.kind == "micro":  # whole windows only, as the op
            return self.micro_frontend().frames_for(n_samples)
        # Centred STFT (librosa): n_fft // 2 samples of padding at both ends.
        return (n_samples + 2 * (self.fft_length // 2) - self.fft_length) // self.hop_samples + 1

    def stacked_frames(self, frames: int) -> int:
        """Rows after step 6 for ``frames`` raw frames (0 when too few; ``stack_hop`` applies only
        when frames are stacked, as in :meth:`FeaturePipeline.transform_features`)."""
        if self.stack == 1:
            return frames
        if frames < self.stack:
            return 0
        return (frames - self.stack) // self.stack_hop + 1

    # -- serialisation --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able mapping, in field order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, mapping: dict[str, Any]) -> "PipelineConfig":
        """Build from a mapping; unknown keys are an error (a typo must not pass silently)."""
        if not isinstance(mapping, dict):
            raise ConfigError(f"a pipeline config must be a mapping of settings, got {type(mapping).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ConfigError(f"unknown pipeline setting(s) {', '.join(map(repr, unknown))}; "
                              f"valid settings: {', '.join(sorted(known))}")
        return cls(**mapping)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): the text that :meth:`config_hash` hashes."""
        settings = self.to_dict()
        if settings["dtype"] == "float32":  # the default predates the setting: same hash as before it
            del settings["dtype"]
        for name, default in _MICRO_DEFAULTS.items():  # so do the micro settings
            if settings[name] == default:
                del settings[name]
        payload = {"kwscope_features": _FEATURES_VERSION, **settings}
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)

    def config_hash(self) -> str:
        """SHA-256 (hex) of :meth:`to_json`: equal configs hash equal in every process and version
        of Python; any change of a setting (or of kwscope's feature definitions) changes it."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def to_yaml(self) -> str:
        """YAML text, one setting a line, with the hash in a comment."""
        import yaml

        body = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)
        return f"# kwscope feature pipeline, config hash {self.config_hash()}\n{body}"

    @classmethod
    def from_yaml(cls, text: str) -> "PipelineConfig":
        """Parse YAML text (a mapping of settings; missing settings keep their defaults)."""
        import yaml

        try:
            mapping = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {' '.join(str(exc).split())}") from None
        return cls.from_dict(mapping or {})

    def write(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_yaml` to ``path`` (atomically)."""
        path = os.fspath(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(self.to_yaml())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def read(cls, path: str | os.PathLike) -> "PipelineConfig":
        """Read a YAML file written by :meth:`write` (or by hand)."""
        try:
            with open(path, "rb") as fh:
                data = fh.read(_MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"{os.fspath(path)}: cannot read the pipeline config ({exc.strerror or exc})") from None
        if len(data) > _MAX_CONFIG_BYTES:
            raise ConfigError(f"{os.fspath(path)}: not a pipeline config (over {_MAX_CONFIG_BYTES // 1024} KiB; "
                              "a config is a short YAML file of settings)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{os.fspath(path)}: not a pipeline config: not UTF-8 text (byte "
                              f"0x{data[exc.start]:02x} at offset {exc.start}); a config is YAML text") from None
        if "\x00" in text:
            raise ConfigError(f"{os.fspath(path)}: not a pipeline config: it holds NUL bytes (a binary file?)")
        try:
            return cls.from_yaml(text)
        except ConfigError as exc:
            raise ConfigError(f"{os.fspath(path)}: {exc}") from None

    def replace(self, **changes) -> "PipelineConfig":
        """A copy with some settings changed (validated)."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ConfigError(f"unknown pipeline setting(s) {', '.join(map(repr, unknown))}")
        if "kind" in changes and "normalize" not in changes and self.normalize == _default_normalize(self.kind):
            changes["normalize"] = _AUTO  # the default follows the kind
        return dataclasses.replace(self, **changes)


@functools.lru_cache(maxsize=16)
def _micro_frontend(sample_rate: int, window_ms: int, step_ms: int, channels: int, pcan: bool, output: str):
    from ..dsp import MicroFrontend

    return MicroFrontend(sample_rate=sample_rate, window_size=window_ms, window_step=step_ms,
                         num_channels=channels, enable_pcan=pcan, out_type=output)


def _default_normalize(kind: str) -> str:
    return "none" if kind == "micro" else "per_feature"


def _one_of(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of {', '.join(map(repr, choices))}")


def _coerce(name: str, value: Any, annotation: str) -> Any:
    """Bring a value read from YAML/JSON/CLI to the field's type, so that ``20`` and ``20.0``
    give the same config (and hash); reject what does not fit, naming the field."""
    optional = "None" in annotation
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name}=None is not allowed (give a value)")
    base = annotation.split("|")[0].strip()
    if base == "bool":
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise ConfigError(f"{name}={value!r} must be true or false")
    if base == "str":
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name}={value!r} must be a string")
    if isinstance(value, str):  # YAML 1.1 reads "1e-10" as a string
        try:
            value = float(value) if base == "float" else int(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} must be a number") from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}={value!r} must be a number")
    if base == "int":
        if isinstance(value, numbers.Integral):
            return int(value)
        if float(value).is_integer():
            return int(value)
        raise ConfigError(f"{name}={value!r} must be an integer")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name}={value!r} must be a finite number")
    return value
