"""Reading recordings: header inspection for indexing, decoding to float32 mono for analysis.

A recording is a path or :class:`~kwscope.io.sources.AudioBytes` (a Parquet row's bytes); its
container is told by its first bytes, not its name (libsndfile, or PyAV for MP4/M4A/WebM). Every
failure raises :class:`AudioError`, whose message names the file and the reason in one line.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from . import wav as _wav
from .formats import (AUDIO_EXTENSIONS, DECODE_BLOCK_BYTES, SNIFF_BYTES, format_note, header_problem, needs_pyav,
                      sniff_format)
from .sources import AudioBytes, AudioError, NotRegularFile, audio_name, open_regular
from .urls import RemoteDataError, is_url, resolve_data

__all__ = ["AudioError", "AudioBytes", "AudioInfo", "Clip", "probe", "read_audio", "read_clip", "display_path",
           "is_url", "local_path", "AUDIO_EXTENSIONS"]


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the samples."""

    sample_rate: int  # Hz
    channels: int
    n_samples: int  # frames per channel
    subtype: str  # e.g. "PCM_16", "FLOAT", "AAC"
    format: str  # the container by content: "WAV", "FLAC", "MP4", ...
    format_note: str = ""  # e.g. "named .wav, holds MP4/AAC" when the name promises another container

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
    n_frames: int | None = None  # frames in the whole file (its header's count; None: not known)


def _reason(path, exc: Exception) -> str:
    """Turn an OS or libsndfile error into a short reason a person understands."""
    if isinstance(exc, NotRegularFile):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return "file not found (it vanished or the link is dangling)"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a recording"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.errno == 40:  # ELOOP
        return "symbolic link loop"
    if type(exc) is OSError and exc.errno:  # EIO, EINVAL, ...: the file system refused to read it
        return f"I/O error reading the file ({exc.strerror or 'unknown'}, errno {exc.errno})"
    text = str(exc)
    # libsndfile messages look like "Error opening '<path>': <reason>"; keep the reason only.
    if ": " in text:
        text = text.rsplit(": ", 1)[-1]
    text = text.strip().rstrip(".")
    lowered = text.lower()
    if "format not recognised" in lowered or "unknown format" in lowered:
        if isinstance(path, AudioBytes):
            head = path.data[:12]
        else:
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


def local_path(path):
    """``file://`` URLs become plain paths (RFC 8089: ``%20`` decoded, ``localhost`` allowed);
    :class:`AudioBytes` is returned as it is, anything else as a string unchanged."""
    if isinstance(path, AudioBytes):
        return path
    path = os.fspath(path)
    if not path.startswith("file://"):
        return path
    try:
        return resolve_data(path)
    except RemoteDataError as exc:
        raise AudioError(path, str(exc)) from None


def _open_binary(path):
    if isinstance(path, AudioBytes):
        return io.BytesIO(path.data)
    if is_url(path):
        try:
            import fsspec
        except ImportError:
            raise AudioError(path, "reading URLs needs fsspec: pip install 'kwscope[dask]'") from None
        try:
            return fsspec.open(path, "rb").open()
        except (OSError, ValueError, ImportError) as exc:
            raise AudioError(path, _reason(path, exc) if isinstance(exc, OSError) else str(exc)) from None
    fd, _ = open_regular(path)  # a named pipe would block open() forever; devices are refused too
    return os.fdopen(fd, "rb")


def _open_fast(path):
    """Open ``path`` and parse a plain WAV header: ``(file, header, container)``, header ``None``
    when not a plain WAV; ``container`` is :func:`~kwscope.io.formats.sniff_format`'s answer.

    Raises AudioError for what the OS reports (missing, directory, loop, permission, empty).
    """
    try:
        fh = _open_binary(path)
    except OSError as exc:
        raise AudioError(audio_name(path), _reason(path, exc)) from None
    try:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        if size == 0:
            raise AudioError(audio_name(path), "empty file (0 bytes)")
        head = fh.read(_wav.HEAD_BYTES)
        return fh, _wav.parse_header(head, size), sniff_format(head[:SNIFF_BYTES])
    except OSError as exc:
        fh.close()
        raise AudioError(audio_name(path), _reason(path, exc)) from None
    except BaseException:
        fh.close()
        raise


def _sf_source(path, fh):
    """What soundfile opens: the path itself when local (faster), else the open file object."""
    if isinstance(path, AudioBytes) or is_url(path):
        fh.seek(0)
        return fh
    return path


def _media(path, fh, call, *args):
    """Run a PyAV reader on ``fh`` (from its start); its failures become AudioError."""
    from .media import MediaError

    fh.seek(0)
    try:
        return call(fh, *args)
    except MediaError as exc:
        raise AudioError(audio_name(path), str(exc)) from None


def probe(path) -> AudioInfo:
    """Read a recording's header only (no samples decoded; MP4/WebM whose container does not
    state the length are decoded to count them).

    Parameters
    ----------
    path
        A path, a ``file://`` or fsspec URL, or :class:`AudioBytes`.

    Raises
    ------
    AudioError
        When the file is missing, empty, a directory, not audio, or its header is damaged.
    """
    path = local_path(path)
    name = audio_name(path)
    fh, header, kind = _open_fast(path)
    with fh:
        if header is not None:
            _check_header(name, header.sample_rate, header.channels)
            if header.n_frames <= 0:
                raise AudioError(name, "no audio samples (0 frames)")
            return AudioInfo(header.sample_rate, header.channels, header.n_frames, header.subtype, "WAV",
                             format_note(name, "WAV"))
        if needs_pyav(kind):
            from .media import probe_media

            rate, channels, frames, codec = _media(path, fh, probe_media)
            fmt, subtype = kind, codec
        else:
            try:
                info = sf.info(_sf_source(path, fh))
                rate, channels, frames = info.samplerate, info.channels, info.frames
                fmt, subtype = info.format, info.subtype
            except Exception as exc:  # libsndfile raises several types; all mean "cannot read"
                if kind is None:
                    raise AudioError(name, _reason(path, exc)) from None
                from .media import probe_media  # a container libsndfile could not handle: try FFmpeg

                try:
                    rate, channels, frames, codec = _media(path, fh, probe_media)
                except AudioError:
                    raise AudioError(name, _reason(path, exc)) from None
                fmt, subtype = kind, codec
    _check_header(name, rate, channels)
    if frames <= 0:
        raise AudioError(name, "no audio samples (0 frames)")
    return AudioInfo(int(rate), int(channels), int(frames), subtype, fmt, format_note(name, kind or fmt, subtype))


def read_clip(path, *, max_samples: int | None = None) -> Clip:
    """Decode a recording to float32 mono.

    Parameters
    ----------
    path
        The recording: a path, URL or :class:`AudioBytes` (WAV 8-bit unsigned, 16/24/32-bit
        int, 32/64-bit float; RF64/W64; FLAC; OGG Vorbis/Opus; MP3; AIFF; MP4/M4A; WebM),
        whatever its extension says.
    max_samples
        Read at most this many frames (protects memory on hour-long files); ``Clip.truncated``
        says whether the file was longer.

    Raises
    ------
    AudioError
        Missing, empty or damaged file, no samples, or NaN/Inf samples.
    """
    path = local_path(path)
    name = audio_name(path)
    fh, header, kind = _open_fast(path)
    with fh:
        if header is not None:
            _check_header(name, header.sample_rate, header.channels)
            data = _wav.read_mono(fh, header, max_samples)
            return _finish(name, data, header.sample_rate, header.channels, header.subtype,
                           max_samples is not None and header.n_frames > max_samples, header.n_frames)
        if needs_pyav(kind):
            return _decode_media(path, fh, max_samples)
        try:
            with sf.SoundFile(_sf_source(path, fh)) as snd:
                frames, sample_rate, channels, subtype = snd.frames, snd.samplerate, snd.channels, snd.subtype
                problem = header_problem(sample_rate, channels)
                data = None if problem else _read_sf_mono(snd, frames if max_samples is None else
                                                         min(frames, max_samples))
        except Exception as exc:
            if kind is None:
                raise AudioError(name, _reason(path, exc)) from None
            try:
                return _decode_media(path, fh, max_samples)
            except AudioError:
                raise AudioError(name, _reason(path, exc)) from None
    if problem:
        raise AudioError(name, problem)
    if data.shape[0] < min(frames, max_samples or frames):
        frames = data.shape[0]  # the header claimed more than the file holds
    return _finish(name, data, sample_rate, channels, subtype, max_samples is not None and frames > max_samples,
                   frames)


def _check_header(name: str, rate, channels) -> None:
    problem = header_problem(rate, channels)
    if problem:
        raise AudioError(name, problem)


def _read_sf_mono(snd, want: int) -> np.ndarray:
    """Up to ``want`` frames of an open SoundFile as float32 mono, a block at a time: a header's
    frame count (which may be anything) never sizes a buffer, only the frames really decoded do."""
    step = max(1, DECODE_BLOCK_BYTES // (4 * snd.channels))
    parts: list[np.ndarray] = []
    left = max(0, int(want))
    while left > 0:
        block = snd.read(min(step, left), dtype="float32", always_2d=True)
        if block.shape[0] == 0:
            break
        parts.append(block[:, 0].copy() if snd.channels == 1 else block.mean(axis=1, dtype=np.float32))
        left -= block.shape[0]
    if not parts:
        return np.zeros(0, np.float32)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _decode_media(path, fh, max_samples: int | None) -> Clip:
    from .media import decode_media

    data, rate, channels, codec, truncated = _media(path, fh, decode_media, max_samples)
    return _finish(audio_name(path), data, rate, channels, codec, truncated)


def _finish(path: str, samples: np.ndarray, sample_rate: int, channels: int, subtype: str, truncated: bool,
            n_frames: int | None = None) -> Clip:
    """Check what every decoded clip (float32 mono ``(frames,)``, already downmixed) must satisfy."""
    _check_header(path, sample_rate, channels)
    if samples.shape[0] == 0:
        raise AudioError(path, "no audio samples (0 frames)")
    if not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise AudioError(path, f"{bad} NaN/Inf samples")
    if not truncated:
        n_frames = samples.shape[0]
    return Clip(np.ascontiguousarray(samples), int(sample_rate), int(channels), subtype, truncated,
                int(n_frames) if n_frames is not None else None)


def read_audio(path, *, max_samples: int | None = None) -> tuple[np.ndarray, int]:
    """Decode a recording to ``(samples, sample_rate)``: float32 mono, shape ``(n,)``, rate in Hz.

    Stereo (or more) is downmixed by averaging the channels; use :func:`read_clip` to learn the
    original channel count. Integer formats map to [-1, 1]; float files keep their values.
    """
    clip = read_clip(path, max_samples=max_samples)
    return clip.samples, clip.sample_rate


def display_path(path: str | Path) -> str:
    """A printable form of a path whose name may not be valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
