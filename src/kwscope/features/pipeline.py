"""The notebook's six feature-extraction steps as one configured, fitted object.

1. resampling to ``sample_rate`` (soxr), 2. voice activity detection (optional: trim silence),
3. zero-padding / cropping to ``duration_s`` (or variable length), 4. features -- log spectrogram,
log mel spectrogram or MFCC (+ deltas), 5. per-feature mean/std normalization with statistics
learned on training clips, 6. stacking ``stack`` consecutive frames for temporal context.

:class:`PipelineConfig` (:mod:`.config`) holds every setting; it round-trips to YAML and has a stable
hash (SHA-256 of canonical JSON), which names the features it produces. :class:`FeaturePipeline` follows the
scikit-learn contract by duck typing: the constructor stores its parameter, ``fit`` /
``partial_fit`` learn ``mean_`` and ``scale_`` (streaming, float64 sums), ``transform`` applies
all six steps. The steps are also exposed in two halves for dataset-scale extraction
(:mod:`kwscope.features.extract`): :meth:`FeaturePipeline.featurize` (steps 1-4, "raw features") and
:meth:`FeaturePipeline.transform_features` (steps 5-6).

Feature arrays are ``(frames, coeffs)`` for one clip and ``(n, frames, coeffs)`` for a batch,
float32; with ``duration_s=None`` clips keep their own length and batches are lists.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import dsp
from .config import KINDS, ConfigError, PipelineConfig, PipelineError

__all__ = ["PipelineConfig", "FeaturePipeline", "FeatureStats", "PipelineError", "ConfigError", "KINDS", "as_stored"]


# --------------------------------------------------------------------------- statistics


@dataclass
class FeatureStats:
    """Streaming normalization statistics: float64 sums per coefficient.

    Combining is plain addition in a fixed order, so the same data in the same order (e.g. shards
    in shard order) gives bit-identical statistics however the work was scheduled.
    """

    n_frames: int = 0
    n_clips: int = 0
    sum: np.ndarray | None = None  # (coeffs,) float64
    sumsq: np.ndarray | None = None  # (coeffs,) float64

    _BLOCK_VALUES = 1 << 19  # float64 values converted at a time (4 MiB: stays in cache)

    @classmethod
    def of(cls, features: np.ndarray | Sequence[np.ndarray]) -> "FeatureStats":
        """Statistics of raw features ``(n, frames, coeffs)`` or a list of ``(frames, coeffs)``."""
        stats = cls()
        if isinstance(features, np.ndarray):
            if features.ndim != 3:
                raise PipelineError(f"features must have shape (n, frames, coeffs), got {features.shape}")
            stats._add_rows(features.reshape(-1, features.shape[-1]), features.shape[0])
        else:
            for item in features:
                item = np.asarray(item)
                if item.ndim != 2:
                    raise PipelineError(f"each clip's features must have shape (frames, coeffs), got {item.shape}")
                stats._add_rows(item, 1)
        return stats

    def _add_rows(self, rows: np.ndarray, clips: int) -> None:
        coeffs = rows.shape[-1]
        if self.sum is None:
            self.sum = np.zeros(coeffs, np.float64)
            self.sumsq = np.zeros(coeffs, np.float64)
        elif self.sum.shape[0] != coeffs:
            raise PipelineError(f"features have {coeffs} coefficients, the statistics {self.sum.shape[0]}")
        step = max(1, self._BLOCK_VALUES // max(1, coeffs))
        for start in range(0, rows.shape[0], step):
            block = rows[start:start + step].astype(np.float64)
            self.sum += block.sum(axis=0)
            np.square(block, out=block)
            self.sumsq += block.sum(axis=0)
        self.n_frames += int(rows.shape[0])
        self.n_clips += int(clips)

    def __add__(self, other: "FeatureStats") -> "FeatureStats":
        if other.sum is None:
            return FeatureStats(self.n_frames, self.n_clips, self.sum, self.sumsq)
        if self.sum is None:
            return FeatureStats(other.n_frames, other.n_clips, other.sum, other.sumsq)
        if self.sum.shape != other.sum.shape:
            raise PipelineError(f"cannot combine statistics of {self.sum.shape[0]} and {other.sum.shape[0]} coefficients")
        return FeatureStats(self.n_frames + other.n_frames, self.n_clips + other.n_clips,
                            self.sum + other.sum, self.sumsq + other.sumsq)

    def mean_var(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mean, var, scale)`` in float64; a coefficient constant within rounding gets scale 1."""
        if not self.n_frames:
            raise PipelineError("no frames were seen: cannot compute normalization statistics")
        mean = self.sum / self.n_frames
        mean_sq = self.sumsq / self.n_frames
        var = np.maximum(mean_sq - mean * mean, 0.0)
        # The sum-of-squares form loses about n * eps of mean_sq to rounding; below that, constant.
        constant = var <= self.n_frames * np.finfo(np.float64).eps * mean_sq
        var[constant] = 0.0
        scale = np.sqrt(var)
        scale[constant] = 1.0
        return mean, var, scale


# --------------------------------------------------------------------------- the pipeline


class FeaturePipeline:
    """Resample -> VAD -> pad/crop -> features -> normalize -> stack, scikit-learn style.

    Parameters
    ----------
    config
        The settings; ``None`` means ``PipelineConfig()`` (the Speech Commands defaults).

    Attributes (learned by :meth:`fit` / :meth:`partial_fit`)
    ----------------------------------------------------------
    mean_, var_, scale_ : np.ndarray [shape=(coeffs,), dtype=float64]
        Per-coefficient mean, variance and standard deviation (1 for constant coefficients) of the
        raw features (steps 1-4) of the clips seen.
    n_frames_seen_, n_clips_seen_ : int
        Frames and clips the statistics come from.
    config_hash_ : str
        Hash of the config the statistics belong to; a later config change asks for a refit.

    Examples
    --------
    >>> pipe = FeaturePipeline(PipelineConfig(kind="mfcc"))
    >>> pipe.fit(train_clips, sample_rate=16000)              # doctest: +SKIP
    >>> X = pipe.transform(test_clips, sample_rate=16000)     # (n, frames, 39)  # doctest: +SKIP
    """

    def __init__(self, config: PipelineConfig | None = None):
        self.config = config

    # -- scikit-learn parameter protocol ---------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """``{"config": ...}``, plus ``config__<setting>`` entries when ``deep``."""
        params: dict[str, Any] = {"config": self.config}
        if deep:
            for name, value in self._config().to_dict().items():
                params[f"config__{name}"] = value
        return params

    def set_params(self, **params) -> "FeaturePipeline":
        """Set ``config=`` and/or single settings as ``config__<setting>=``; returns ``self``."""
        if "config" in params:
            config = params.pop("config")
            if config is not None and not isinstance(config, PipelineConfig):
                raise ConfigError(f"config={config!r} must be a PipelineConfig or None")
            self.config = config
        changes = {}
        for key, value in params.items():
            if not key.startswith("config__"):
                raise ConfigError(f"invalid parameter {key!r} for FeaturePipeline; valid: config, config__<setting>")
            changes[key[len("config__"):]] = value
        if changes:
            self.config = self._config().replace(**changes)
        return self

    def __repr__(self) -> str:
        return f"FeaturePipeline(config={self.config!r})"

    def _config(self) -> PipelineConfig:
        if self.config is None:
            return PipelineConfig()
        if not isinstance(self.config, PipelineConfig):
            raise ConfigError(f"config={self.config!r} must be a PipelineConfig or None")
        return self.config

    # -- shapes -------------------------------------------------------------------------------

    def output_shape(self) -> tuple[int, int] | None:
        """``(frames, coeffs)`` of one clip's final features, or ``None`` for variable length."""
        cfg = self._config()
        if cfg.length_samples is None:
            return None
        return cfg.stacked_frames(cfg.frames_for(cfg.length_samples)), cfg.n_coeffs * cfg.stack

    # -- steps 1-3 ------------------------------------------------------------------------------

    def prepare(self, y: np.ndarray, *, sample_rate: float) -> np.ndarray:
        """Steps 1-3 for one clip: resample, trim silence (if ``vad``), pad/crop.

        Parameters
        ----------
        y : np.ndarray [shape=(n,)]
            One clip, float samples in [-1, 1].
        sample_rate : float
            Its rate in Hz.

        Returns
        -------
        np.ndarray [shape=(length_samples,) or (m,), dtype=float32]
            At ``config.sample_rate``. May be ``y`` itself when nothing had to change.

        Raises
        ------
        PipelineError
            With variable length, when the clip (after VAD) is too short for one feature row.
        """
        cfg = self._config()
        x = np.asarray(y)
        if x.ndim != 1:
            raise PipelineError(f"prepare() takes one clip of shape (n,), got shape {x.shape}")
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        if sample_rate != cfg.sample_rate:
            x = dsp.resample(x, sample_rate, cfg.sample_rate, quality=cfg.resample_quality)
        if cfg.vad:
            x, _ = dsp.trim_silence(x, cfg.sample_rate, top_db=cfg.vad_top_db, floor_db=cfg.vad_floor_db)
        length = cfg.length_samples
        if length is None:
            frames = cfg.frames_for(x.shape[0])
            if frames < max(1, cfg.min_frames):
                what = "after silence trimming " if cfg.vad else ""
                raise PipelineError(
                    f"clip too short {what}({x.shape[0]} samples at {cfg.sample_rate} Hz = {frames} frames; "
                    f"need {max(1, cfg.min_frames)}; set duration_s to pad clips)")
            return x
        if x.shape[0] != length:
            x = dsp.pad_or_crop(x, length, mode=cfg.pad_mode)
        return x

    # -- step 4 -------------------------------------------------------------------------------

    def compute(self, batch: np.ndarray) -> np.ndarray:
        """Step 4 on prepared clips of equal length: ``(n, samples)`` -> ``(n, frames, coeffs)``.

        One FFT pass over the frames of the whole batch (see :mod:`kwscope.dsp`).
        """
        cfg = self._config()
        x = np.asarray(batch, dtype=np.float32)
        if x.ndim != 2:
            raise PipelineError(f"compute() takes a batch of shape (n, samples), got shape {x.shape}")
        sr = cfg.sample_rate
        if x.shape[0] == 0:
            return np.zeros((0, cfg.frames_for(x.shape[1]), cfg.n_coeffs),
                            cfg.stored_dtype if cfg.kind == "micro" else np.float32)
        if cfg.kind == "micro":  # the TFLM front end: its integers (uint16 or int8), bit-exact
            return cfg.micro_frontend()(x)
        win, hop = cfg.window_samples, cfg.hop_samples
        if cfg.kind == "logspec":
            # dsp.log_specgram keeps the notebook's "step is the overlap" definition; ask it for
            # an overlap of (window - hop) samples so that step_ms means the hop here.
            return dsp.log_specgram(x, sr, window_ms=win * 1000 / sr, step_ms=(win - hop) * 1000 / sr,
                                    eps=cfg.eps)[2]
        # (n, frames, n_mels): power_to_db(mel_spectrogram(...)) computed in the stored layout.
        log_mel = dsp.log_mel_frames(x, sr=sr, n_fft=cfg.fft_length, hop_length=hop, win_length=win,
                                     n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, amin=1e-10,
                                     top_db=cfg.top_db)
        if cfg.kind == "mel":
            return log_mel
        # The coefficients and their deltas frames first too, each written into its columns.
        cep = dsp.mfcc(S=log_mel.swapaxes(-1, -2), n_mfcc=cfg.n_mfcc).swapaxes(-1, -2)
        out = np.empty(cep.shape[:-1] + (cfg.n_coeffs,), np.float32)
        out[..., :cfg.n_mfcc] = cep
        for order in range(1, cfg.deltas + 1):
            out[..., order * cfg.n_mfcc:(order + 1) * cfg.n_mfcc] = dsp.delta(cep, width=cfg.delta_width, order=order,
                                                                             axis=-2)
        return out

    # -- steps 1-4 ------------------------------------------------------------------------------

    def featurize(self, y, *, sample_rate):
        """Steps 1-4 ("raw features", not normalized, not stacked).

        Parameters
        ----------
        y : np.ndarray [shape=(n,) or (batch, n)] or list of np.ndarray [shape=(n_i,)]
            One clip, a batch of equal-length clips, or a list of clips.
        sample_rate : float or sequence of float
            Rate in Hz of all clips, or one rate a clip.

        Returns
        -------
        np.ndarray [shape=(frames, coeffs) or (batch, frames, coeffs), dtype=float32]
            With a fixed ``duration_s``; with ``duration_s=None`` a batch gives a list of
            ``(frames_i, coeffs)`` arrays. With ``dtype: float16`` the values are rounded to
            float16 (and returned as float32), as a store of that dtype holds them. Kind
            ``micro``: the front end's integers, dtype ``micro_output`` (uint16 or int8).
        """
        cfg = self._config()
        clips, rates, single = _as_clips(y, sample_rate)
        if cfg.length_samples is None:
            feats = [as_stored(self.compute(self.prepare(c, sample_rate=r)[np.newaxis])[0], cfg.dtype)
                     for c, r in zip(clips, rates)]
            return feats[0] if single else feats
        if isinstance(clips, np.ndarray) and not cfg.vad and clips.shape[-1] == cfg.length_samples \
                and (not rates or rates[0] == cfg.sample_rate):
            batch = clips  # already prepared (the common case: 1-s clips at 16 kHz)
        else:
            batch = np.empty((len(clips), cfg.length_samples), np.float32)
            for i, (c, r) in enumerate(zip(clips, rates)):
                batch[i] = self.prepare(c, sample_rate=r)
        out = as_stored(self.compute(batch), cfg.dtype)
        return out[0] if single else out

    # -- fitting (step 5 statistics) ----------------------------------------------------------------

    def fit(self, y, *, sample_rate, split=None) -> "FeaturePipeline":
        """Learn normalization statistics from clips (forgetting earlier ones); returns ``self``.

        ``split``: optional split name per clip; then only ``"train"`` clips are used.
        """
        for attr in ("mean_", "var_", "scale_", "n_frames_seen_", "n_clips_seen_", "config_hash_", "stats_"):
            self.__dict__.pop(attr, None)
        return self.partial_fit(y, sample_rate=sample_rate, split=split)

    def partial_fit(self, y, *, sample_rate, split=None) -> "FeaturePipeline":
        """Add clips to the statistics (streaming over a dataset in batches); returns ``self``."""
        clips, rates, single = _as_clips(y, sample_rate)
        if split is not None:
            keep = _train_mask(split, len(rates))
            if isinstance(clips, np.ndarray):
                clips = clips[keep]
            else:
                clips = [c for c, k in zip(clips, keep) if k]
            rates = [r for r, k in zip(rates, keep) if k]
            if not len(rates):
                return self
        feats = self.featurize(clips, sample_rate=rates)
        return self.partial_fit_features(feats)

    def partial_fit_features(self, features) -> "FeaturePipeline":
        """Add raw features (:meth:`featurize` output for a batch) to the statistics."""
        return self.partial_fit_stats(FeatureStats.of(features))

    def partial_fit_stats(self, stats: FeatureStats) -> "FeaturePipeline":
        """Add precomputed :class:`FeatureStats` (e.g. one shard's) to the statistics."""
        cfg = self._config()
        if stats.sum is not None and stats.sum.shape[0] != cfg.n_coeffs:
            raise PipelineError(f"statistics have {stats.sum.shape[0]} coefficients; this config makes {cfg.n_coeffs}")
        if getattr(self, "config_hash_", cfg.config_hash()) != cfg.config_hash():
            raise PipelineError("the config changed since the statistics were gathered; call fit() to start over")
        total = getattr(self, "stats_", FeatureStats()) + stats
        self.stats_ = total
        self.config_hash_ = cfg.config_hash()
        self.n_frames_seen_ = total.n_frames
        self.n_clips_seen_ = total.n_clips
        if total.n_frames:
            self.mean_, self.var_, self.scale_ = total.mean_var()
        return self

    # -- steps 5-6 ------------------------------------------------------------------------------

    def transform_features(self, features):
        """Steps 5-6 on raw features: ``(features - mean_) / scale_`` in float32, then stacking.

        ``(frames, coeffs)``, ``(n, frames, coeffs)`` or a list of ``(frames_i, coeffs)``; returns
        the same structure with ``(stacked_frames, stack * coeffs)`` per clip.
        """
        cfg = self._config()
        if isinstance(features, (list, tuple)):
            return [self.transform_features(f) for f in features]
        F = np.asarray(features)
        if F.ndim not in (2, 3) or F.shape[-1] != cfg.n_coeffs:
            raise PipelineError(f"features must have shape (..., frames, {cfg.n_coeffs}), got {F.shape}")
        if cfg.normalize == "per_feature" or cfg.stack > 1 or F.dtype.kind == "f":
            F = F.astype(np.float32, copy=True)
        else:  # micro's integers, nothing applied: kept as they are (as load_features returns them)
            F = F.copy()
        if cfg.normalize == "per_feature":
            mean, scale = self._fitted()
            F -= mean
            F /= scale
        if cfg.stack > 1:
            if F.shape[-2] < cfg.stack:
                raise PipelineError(f"{F.shape[-2]} frames are fewer than stack={cfg.stack}")
            F = dsp.stack_frames(F, cfg.stack, hop=cfg.stack_hop)
        return F

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "mean_"):
            raise PipelineError("this FeaturePipeline is not fitted: call fit() or partial_fit() on "
                                "training clips first (or use normalize: none)")
        if self.config_hash_ != self._config().config_hash():
            raise PipelineError("the config changed since fit(); fit again")
        return self.mean_.astype(np.float32), self.scale_.astype(np.float32)

    def transform(self, y, *, sample_rate):
        """All six steps: raw features of ``y``, normalized with the learned statistics, stacked."""
        return self.transform_features(self.featurize(y, sample_rate=sample_rate))

    def fit_transform(self, y, *, sample_rate, split=None):
        """:meth:`fit` then :meth:`transform` on the same clips."""
        return self.fit(y, sample_rate=sample_rate, split=split).transform(y, sample_rate=sample_rate)


def as_stored(features: np.ndarray, dtype: str) -> np.ndarray:
    """Raw features rounded as a store of ``dtype`` keeps them (float32 out; a no-op for float32)."""
    if dtype == "float32":
        return features
    return features.astype(dtype).astype(np.float32)


def _as_clips(y, sample_rate) -> tuple[np.ndarray | list[np.ndarray], list[float], bool]:
    """Normalise the accepted inputs to ``(clips, rates, single)``."""
    if isinstance(y, np.ndarray):
        if y.ndim == 1:
            clips, single = y[np.newaxis], True
        elif y.ndim == 2:
            clips, single = y, False
        else:
            raise PipelineError(f"audio must have shape (n,) or (batch, n), got {y.shape}")
    elif isinstance(y, (list, tuple)):
        clips, single = [np.asarray(c) for c in y], False
        for i, c in enumerate(clips):
            if c.ndim != 1:
                raise PipelineError(f"clip {i} must have shape (n,), got {c.shape}")
    else:
        raise PipelineError(f"audio must be a numpy array or a list of arrays, got {type(y).__name__}")
    n = len(clips)
    if isinstance(sample_rate, numbers.Real) and not isinstance(sample_rate, bool):
        rates = [float(sample_rate)] * n
    else:
        rates = [float(r) for r in sample_rate]
        if len(rates) != n:
            raise PipelineError(f"{len(rates)} sample rates for {n} clips")
    if any(not (r > 0 and math.isfinite(r)) for r in rates):
        raise PipelineError(f"sample_rate must be positive Hz, got {sample_rate!r}")
    if isinstance(clips, np.ndarray) and len(set(rates)) > 1:
        clips = list(clips)
    return clips, rates, single


def _train_mask(split, n: int) -> np.ndarray:
    """Clips that train the statistics: the "train" ones, or all when no clip has a split."""
    split = np.asarray(split, dtype=object)
    if split.shape != (n,):
        raise PipelineError(f"split must give one name a clip ({n}), got shape {split.shape}")
    has_split = np.array([s is not None and s == s for s in split], dtype=bool)  # None/NaN: no split
    if not has_split.any():
        return np.ones(n, dtype=bool)
    return split == "train"
