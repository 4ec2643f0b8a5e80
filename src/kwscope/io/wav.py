"""A fast path for the plain WAV files that make up almost every keyword dataset.

Opening a file through libsndfile costs more than decoding one second of 16-bit audio, so for
little-endian RIFF/WAVE files holding 16-bit PCM or 32-bit float we parse the header ourselves
and view the samples with numpy. Anything unusual (other encodings, RIFX/RF64, odd chunk layouts)
returns ``None`` and the caller falls back to libsndfile; the results are identical either way
(tested against soundfile).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

from .formats import DECODE_BLOCK_BYTES, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from .sources import AudioBytes, open_regular

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
#: int16 samples times this are float32 at full scale 1.0, as libsndfile returns them.
PCM16_SCALE = np.float32(1 / 32768)
HEAD_BYTES = 4096  # enough for the fmt chunk and the data chunk's start in ordinary files


@dataclass(frozen=True)
class WavHeader:
    sample_rate: int
    channels: int
    n_frames: int  # frames actually present (the data chunk may claim more than the file holds)
    subtype: str  # "PCM_16" or "FLOAT"
    data_offset: int  # byte offset of the first sample


def parse_header(head: bytes, file_size: int) -> WavHeader | None:
    """Parse a RIFF/WAVE header from the first bytes of a file; ``None`` if not the simple case."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(head):
        cid, size = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(head):
                return None
            tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", head, body)
            if tag == _EXTENSIBLE:
                if size < 40 or body + 26 > len(head):
                    return None
                tag = struct.unpack_from("<H", head, body + 24)[0]
            fmt = (tag, channels, rate, block_align, bits)
        elif cid == b"data":
            if fmt is None:
                return None
            tag, channels, rate, block_align, bits = fmt
            if (tag, bits) == (_PCM, 16):
                subtype = "PCM_16"
            elif (tag, bits) == (_FLOAT, 32):
                subtype = "FLOAT"
            else:
                return None
            if channels < 1 or rate < 1 or block_align != channels * bits // 8:
                return None
            available = max(0, min(size, file_size - body))
            return WavHeader(rate, channels, available // block_align, subtype, body)
        pos = body + size + (size & 1)  # chunks are word-aligned
    return None


def read_mono(fh, header: WavHeader, max_frames: int | None = None) -> np.ndarray:
    """Read samples as float32 mono ``(frames,)``, scaled like libsndfile (int16 / 32768), more
    channels averaged.

    The file is read a block of frames at a time (:data:`~kwscope.io.formats.DECODE_BLOCK_BYTES`)
    and each block downmixed, so what is allocated is the mono output -- at most ``max_frames``
    floats and never more than the file holds -- plus one block, whatever the header claims.
    """
    frames = header.n_frames if max_frames is None else min(header.n_frames, max_frames)
    dtype = np.dtype("<i2") if header.subtype == "PCM_16" else np.dtype("<f4")
    channels = header.channels
    frame_bytes = channels * dtype.itemsize
    step = max(1, DECODE_BLOCK_BYTES // frame_bytes)
    fh.seek(header.data_offset)
    parts: list[np.ndarray] = []
    left = frames
    while left > 0:
        want = min(step, left)
        data = fh.read(want * frame_bytes)
        got = len(data) // frame_bytes
        if got:
            raw = np.frombuffer(data, dtype=dtype, count=got * channels).reshape(got, channels)
            block = raw.astype(np.float32)
            if header.subtype == "PCM_16":
                block *= PCM16_SCALE
            parts.append(block[:, 0].copy() if channels == 1 else block.mean(axis=1, dtype=np.float32))
            left -= got
        if got < want:
            break  # the file ended early
    if not parts:
        return np.zeros(0, np.float32)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


#: Files up to this size are read by :func:`read_pcm16_mono` (8 s of 16-kHz 16-bit mono).
FAST_READ_BYTES = 1 << 18
_CANONICAL = struct.Struct("<4sI4s4sIHHIIHH4sI")  # RIFF..WAVE, a 16-byte fmt chunk, data header


def read_pcm16_mono(path, max_bytes: int = FAST_READ_BYTES) -> tuple[np.ndarray, int] | None:
    """``(int16 samples (n,), rate in Hz)`` of a small plain 16-bit mono WAV, else ``None``.

    Almost every keyword clip is such a file, and for a 1-s clip opening and decoding through
    :func:`kwscope.io.audio.read_clip` costs as much as computing its features: here it is four
    system calls (open, fstat, read, close) and a header parse; the caller scales the int16
    samples straight into its batch (``int16 / 32768`` as float32 is what ``read_clip``
    returns). ``path`` may also be :class:`~kwscope.io.sources.AudioBytes` (a Parquet row's
    bytes, parsed in place). Anything else -- other encodings, channels, large, empty or
    unreadable files, URLs, anything but a regular file (a named pipe would block the open), a
    sample rate outside :data:`~kwscope.io.formats.MIN_SAMPLE_RATE`-``MAX_SAMPLE_RATE`` --
    returns ``None``, and the caller takes ``read_clip``, which also words the errors.
    """
    buf = path.data if isinstance(path, AudioBytes) else read_small_file(path, max_bytes)
    return pcm16_mono_of(buf, max_bytes) if buf is not None else None


def read_small_file(path, max_bytes: int = FAST_READ_BYTES) -> bytes | None:
    """All the bytes of a regular local file of at most ``max_bytes``, in one read; ``None`` for
    anything else (bigger, unreadable, a URL, a named pipe: never blocks)."""
    try:
        fd, size = open_regular(path)
    except (OSError, ValueError, TypeError):
        return None
    try:
        if size > max_bytes:
            return None
        buf = os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)
    return buf if len(buf) == size else None


def pcm16_mono_of(buf: bytes, max_bytes: int = FAST_READ_BYTES) -> tuple[np.ndarray, int] | None:
    """:func:`read_pcm16_mono` of a file's bytes held in memory (viewed in place, not copied)."""
    size = len(buf)
    if not 44 <= size <= max_bytes:
        return None
    return _pcm16_of(buf, size)


def _pcm16_of(buf: bytes, size: int) -> tuple[np.ndarray, int] | None:
    # The canonical 44-byte header (RIFF, a 16-byte fmt chunk, then data) in one unpack; any
    # other layout goes through the general parser. Both give the same frames.
    riff, _, wave, fmt, fmt_size, tag, channels, rate, _, align, bits, data, data_size = _CANONICAL.unpack_from(buf)
    if (riff, wave, fmt, fmt_size, data) == (b"RIFF", b"WAVE", b"fmt ", 16, b"data"):
        if (tag, channels, bits, align) != (_PCM, 1, 16, 2):
            return None
        n_frames, offset = min(data_size, size - 44) // 2, 44
    else:
        header = parse_header(buf[:HEAD_BYTES], size)
        if header is None or header.subtype != "PCM_16" or header.channels != 1:
            return None
        n_frames, offset, rate = header.n_frames, header.data_offset, header.sample_rate
    if n_frames <= 0 or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        return None
    return np.frombuffer(buf, "<i2", count=n_frames, offset=offset), rate
