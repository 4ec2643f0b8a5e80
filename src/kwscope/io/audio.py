"""Reading recordings: header inspection for indexing, decoding to float32 mono for analysis.

Every failure raises :class:`AudioError`, whose message names the file and the reason in one line,
so one broken recording can be reported and skipped without stopping a run over a dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from . import wav as _wav
from ..errors import KwscopeError
from .urls import RemoteDataError, is_url, resolve_data

__all__ = ["AudioError", "AudioInfo", "Clip", "probe", "read_audio", "read_clip", "display_path", "is_url", "local_path", "AUDIO_EXTENSIONS"]

#: File extensions treated as recordings (lower case, with the dot).
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff"})


class AudioError(KwscopeError):
    """A recording could not be read. ``str(err)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the samples."""

    sample_rate: int  # Hz
    channels: int
    n_samples: int  # frames per channel
    subtype: str  # e.g. "PCM_16", "FLOAT"
    format: str  # e.g. "WAV", "FLAC"

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True)
class Clip:
    """A decoded recording: float32 mono samples in [-1, 1] (integer formats) and what was done."""

    samples: np.ndarray  # shape (n,), float32
    sample_rate: int  # Hz
    channels: int  # channels in the file; > 1 means the samples were downmixed (mean)
    subtype: str
    truncated: bool  # True when max_samples cut the recording short


def _reason(path: str, exc: Exception) -> str:
    """Turn an OS or libsndfile error into a short reason a person understands."""
    if isinstance(exc, FileNotFoundError):
        return "file not found (it vanished or the link is dangling)"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a recording"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.errno == 40:  # ELOOP
        return "symbolic link loop"
    text = str(exc)
    # libsndfile messages look like "Error opening '<path>': <reason>"; keep the reason only.
    if ": " in text:
        text = text.rsplit(": ", 1)[-1]
    text = text.strip().rstrip(".")
    lowered = text.lower()
    if "format not recognised" in lowered or "unknown format" in lowered:
        try:
            with open(path, "rb") as fh:
                head = fh.read(12)
        except OSError:
            head = b""
        if head.startswith((b"RIFF", b"RIFX", b"RF64")):
            return "not a valid WAV: damaged or truncated header"
        return "not an audio file (format not recognised)"
    if "unspecified internal error" in lowered or "malformed" in lowered:
        return f"damaged file ({text})"
    if lowered.startswith("error in wav file"):
        return "damaged WAV: " + text[len("error in wav file"):].lstrip(". ")
    return text or type(exc).__name__


def local_path(path: str | os.PathLike) -> str:
    """``file://`` URLs become plain paths (RFC 8089: ``%20`` decoded, ``localhost`` allowed);
    anything else is returned as a string unchanged."""
    path = os.fspath(path)
    if not path.startswith("file://"):
        return path
    try:
        return resolve_data(path)
    except RemoteDataError as exc:
        raise AudioError(path, str(exc)) from None


def _open_binary(path: str):
    if is_url(path):
        try:
            import fsspec
        except ImportError:
            raise AudioError(path, "reading URLs needs fsspec: pip install 'kwscope[dask]'") from None
        try:
            return fsspec.open(path, "rb").open()
        except (OSError, ValueError, ImportError) as exc:
            raise AudioError(path, _reason(path, exc) if isinstance(exc, OSError) else str(exc)) from None
    return open(path, "rb")


def _open_fast(path: str):
    """Open ``path`` and parse a plain WAV header: ``(file, header)``, header ``None`` otherwise.

    Raises AudioError for what the OS reports (missing, directory, loop, permission, empty).
    """
    try:
        fh = _open_binary(path)
    except OSError as exc:
        raise AudioError(path, _reason(path, exc)) from None
    try:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        if size == 0:
            raise AudioError(path, "empty file (0 bytes)")
        return fh, _wav.parse_header(fh.read(_wav.HEAD_BYTES), size)
    except BaseException:
        fh.close()
        raise


def probe(path: str | os.PathLike) -> AudioInfo:
    """Read a recording's header only (no samples decoded).

    Raises
    ------
    AudioError
        When the file is missing, empty, a directory, not audio, or its header is damaged.
    """
    path = local_path(path)
    fh, header = _open_fast(path)
    with fh:
        if header is not None:
            if header.n_frames <= 0:
                raise AudioError(path, "no audio samples (0 frames)")
            return AudioInfo(header.sample_rate, header.channels, header.n_frames, header.subtype, "WAV")
        try:
            fh.seek(0)
            info = sf.info(fh if is_url(path) else path)
        except Exception as exc:  # libsndfile raises several types; all mean "cannot read"
            raise AudioError(path, _reason(path, exc)) from None
    if info.samplerate <= 0:
        raise AudioError(path, f"invalid sample rate {info.samplerate} Hz in header")
    if info.channels <= 0:
        raise AudioError(path, f"invalid channel count {info.channels} in header")
    if info.frames <= 0:
        raise AudioError(path, "no audio samples (0 frames)")
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), info.subtype, info.format)


def read_clip(path: str | os.PathLike, *, max_samples: int | None = None) -> Clip:
    """Decode a recording to float32 mono.

    Parameters
    ----------
    path
        The recording (WAV 8-bit unsigned, 16/24/32-bit int, 32/64-bit float; FLAC; OGG; ...).
    max_samples
        Read at most this many frames (protects memory on hour-long files); ``Clip.truncated``
        says whether the file was longer.

    Raises
    ------
    AudioError
        Missing, empty or damaged file, no samples, or NaN/Inf samples.
    """
    path = local_path(path)
    fh, header = _open_fast(path)
    with fh:
        if header is not None:
            data = _wav.read_frames(fh, header, max_samples)
            return _finish(path, data, header.sample_rate, header.channels, header.subtype,
                           max_samples is not None and header.n_frames > max_samples)
        try:
            fh.seek(0)
            with sf.SoundFile(fh if is_url(path) else path) as snd:
                frames = snd.frames
                want = frames if max_samples is None else min(frames, max_samples)
                data = snd.read(want, dtype="float32", always_2d=True)
                sample_rate, channels, subtype = snd.samplerate, snd.channels, snd.subtype
        except Exception as exc:
            raise AudioError(path, _reason(path, exc)) from None
    return _finish(path, data, sample_rate, channels, subtype, max_samples is not None and frames > max_samples)


def _finish(path: str, data: np.ndarray, sample_rate: int, channels: int, subtype: str, truncated: bool) -> Clip:
    """Downmix ``(frames, channels)`` float32 and check what every decoded clip must satisfy."""
    if sample_rate <= 0:
        raise AudioError(path, f"invalid sample rate {sample_rate} Hz in header")
    if data.shape[0] == 0:
        raise AudioError(path, "no audio samples (0 frames)")
    samples = data[:, 0] if channels == 1 else data.mean(axis=1, dtype=np.float32)
    if not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise AudioError(path, f"{bad} NaN/Inf samples")
    return Clip(np.ascontiguousarray(samples), int(sample_rate), int(channels), subtype, truncated)


def read_audio(path: str | os.PathLike, *, max_samples: int | None = None) -> tuple[np.ndarray, int]:
    """Decode a recording to ``(samples, sample_rate)``: float32 mono, shape ``(n,)``, rate in Hz.

    Stereo (or more) is downmixed by averaging the channels; use :func:`read_clip` to learn the
    original channel count. Integer formats map to [-1, 1]; float files keep their values.
    """
    clip = read_clip(path, max_samples=max_samples)
    return clip.samples, clip.sample_rate


def display_path(path: str | Path) -> str:
    """A printable form of a path whose name may not be valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
