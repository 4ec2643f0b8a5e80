"""Decoding the containers libsndfile cannot open (MP4/M4A with AAC, WebM/Matroska with Opus or
Vorbis, raw AAC) through PyAV, FFmpeg's bindings, imported only when such a file is met."""

from __future__ import annotations

import numpy as np

from .formats import header_problem

__all__ = ["MediaError", "probe_media", "decode_media"]


class MediaError(Exception):
    """PyAV could not read the file; ``str(err)`` is a short reason (no path)."""


def _av():
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency
        raise MediaError("decoding MP4/M4A/WebM needs PyAV: pip install av") from None
    return av


def _open(av, source):
    try:
        return av.open(source, mode="r")
    except av.error.FFmpegError as exc:
        raise MediaError(f"damaged or unsupported container ({_short(exc)})") from None


def _short(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split()).rstrip(".")


def _stream(container):
    audio = [s for s in container.streams if s.type == "audio"]
    if not audio:
        raise MediaError("the container holds no audio stream")
    ctx = audio[0].codec_context
    if ctx is None:
        raise MediaError("no decoder for its audio stream")
    # What the container states is checked before anything is decoded or sized by it (a rate it
    # leaves at 0 is learnt from the frames, and checked then by the caller).
    problem = header_problem(ctx.sample_rate or 16000, ctx.channels or 1)
    if problem:
        raise MediaError(problem)
    return audio[0]


def _guarded(fn):
    """PyAV raises more than its own errors on damaged input (AttributeError, ValueError, ...):
    every failure of a reader becomes one MediaError, a short reason."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MediaError:
            raise
        except Exception as exc:
            raise MediaError(f"cannot be decoded ({type(exc).__name__}: {_short(exc)[:120]})") from None

    return wrapper


@_guarded
def probe_media(source) -> tuple[int, int, int, str]:
    """``(sample_rate Hz, channels, n_samples, codec)`` of a file path or binary file object.

    Clips (under a minute by the container's duration, or of unknown duration) are decoded and
    their samples counted, so the count is what :func:`decode_media` returns (AAC's priming
    samples included); longer files are counted from the container's duration.
    """
    av = _av()
    with _open(av, source) as container:
        stream = _stream(container)
        ctx = stream.codec_context
        rate, channels = int(ctx.sample_rate or 0), int(ctx.channels or 0)
        codec = (ctx.name or "unknown").upper()
        n = None
        if stream.duration is not None and stream.time_base is not None:
            n = int(round(float(stream.duration * stream.time_base) * rate))
        elif container.duration is not None:
            n = int(round(container.duration / 1_000_000 * rate))
        if not n or n <= 0 or n < 60 * rate:
            n = 0
            try:
                for frame in container.decode(stream):
                    n += frame.samples
            except av.error.FFmpegError as exc:
                raise MediaError(f"damaged {codec} stream ({_short(exc)})") from None
    return rate, channels, n, codec


@_guarded
def decode_media(source, max_samples: int | None = None) -> tuple[np.ndarray, int, int, str, bool]:
    """Decode the first audio stream: ``(float32 mono (frames,), rate Hz, channels, codec, truncated)``.

    Each decoded frame is downmixed (channels averaged) as it comes, so what is held is the mono
    output, at most about ``max_samples`` floats, whatever the container claims.
    """
    av = _av()
    with _open(av, source) as container:
        stream = _stream(container)
        ctx = stream.codec_context
        codec = (ctx.name or "unknown").upper()
        resampler = av.AudioResampler(format="fltp")  # planar float32, same rate and layout
        parts: list[np.ndarray] = []
        got, truncated, rate = 0, False, int(ctx.sample_rate or 0)
        channels = int(ctx.channels or 1)
        try:
            for frame in container.decode(stream):
                rate = frame.sample_rate or rate
                for out in resampler.resample(frame):
                    block = out.to_ndarray()  # (channels, n) planar float32
                    channels = block.shape[0]
                    parts.append(block[0].copy() if channels == 1 else block.mean(axis=0, dtype=np.float32))
                    got += block.shape[1]
                if max_samples is not None and got > max_samples:
                    truncated = True
                    break
            if not truncated:
                for out in resampler.resample(None):
                    block = out.to_ndarray()
                    parts.append(block[0].copy() if block.shape[0] == 1 else block.mean(axis=0, dtype=np.float32))
        except av.error.FFmpegError as exc:
            raise MediaError(f"damaged {codec} stream ({_short(exc)})") from None
    if not parts:
        return np.zeros(0, np.float32), rate, channels, codec, False
    data = np.concatenate(parts).astype(np.float32, copy=False)
    if max_samples is not None and data.shape[0] > max_samples:
        data, truncated = data[:max_samples], True
    return np.ascontiguousarray(data), rate, channels, codec, truncated
