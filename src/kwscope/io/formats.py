"""Containers by content: what a recording's first bytes say it holds (whatever its name), which
names count as recordings, the note for a file whose extension disagrees with its content, and the
bounds a header must keep to be believed (:func:`header_problem`)."""

from __future__ import annotations

import os

__all__ = ["AUDIO_EXTENSIONS", "SNIFF_BYTES", "sniff_format", "needs_pyav", "format_note", "describe_format",
           "MIN_SAMPLE_RATE", "MAX_SAMPLE_RATE", "MAX_CHANNELS", "DECODE_BLOCK_BYTES", "header_problem"]

#: File extensions treated as recordings (lower case, with the dot).
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                              ".m4a", ".mp4", ".webm"})
#: Bytes :func:`sniff_format` looks at.
SNIFF_BYTES = 64

#: Sample rates (Hz) a header may state: below 1 kHz no speech survives, above 384 kHz no audio
#: interface records. A header outside is a damaged or hostile file, refused in the index, before
#: any decode sizes buffers or filters by it (a header saying 4 GHz once asked 3.7 GiB a clip).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 384_000
#: Channels a header may state (libsndfile's own limit).
MAX_CHANNELS = 1024
#: What a decoder holds of undownmixed samples at once: files are decoded a block of frames at a
#: time and each block downmixed to mono, so a decode allocates its mono output (at most
#: ``max_samples`` floats, never more than the file really holds) plus one block -- whatever the
#: header says of channels or frames.
DECODE_BLOCK_BYTES = 1 << 22


def header_problem(sample_rate, channels) -> str | None:
    """Why a header's sample rate (Hz) or channel count cannot be believed; None when plausible."""
    try:
        rate, ch = int(sample_rate), int(channels)
    except (TypeError, ValueError, OverflowError):
        return f"unreadable sample rate or channel count in header ({sample_rate!r}, {channels!r})"
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        return (f"implausible sample rate {rate:,} Hz in header "
                f"(plausible: {MIN_SAMPLE_RATE:,}-{MAX_SAMPLE_RATE:,} Hz)")
    if not 1 <= ch <= MAX_CHANNELS:
        return f"implausible channel count {ch:,} in header (plausible: 1-{MAX_CHANNELS:,})"
    return None


# What each extension promises (the container families its content may be).
_EXPECTED = {
    ".wav": {"WAV", "WAVEX", "RF64", "W64"}, ".flac": {"FLAC"}, ".ogg": {"OGG"}, ".oga": {"OGG"}, ".opus": {"OGG"},
    ".mp3": {"MP3"}, ".aif": {"AIFF"}, ".aiff": {"AIFF"}, ".m4a": {"MP4"}, ".mp4": {"MP4"},
    ".webm": {"WEBM", "MATROSKA"},
}
# Containers libsndfile cannot open; PyAV (FFmpeg) decodes them.
_PYAV = {"MP4", "WEBM", "MATROSKA", "AAC"}


def sniff_format(head: bytes) -> str | None:
    """The container of a recording from its first bytes (:data:`SNIFF_BYTES` are enough).

    Returns
    -------
    str or None
        ``WAV`` (RIFF or RIFX), ``RF64``, ``W64``, ``FLAC``, ``OGG``, ``MP3`` (ID3 tag or MPEG frame
        sync), ``AAC`` (ADTS), ``MP4`` (``ftyp``: MP4/M4A), ``WEBM``/``MATROSKA`` (EBML), ``AIFF``,
        ``CAF``; None when none of these.
    """
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"RF64" or head[:4] == b"BW64":
        return "RF64"
    if head[:8] == b"riff\x2e\x91\xcf\x11":
        return "W64"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "OGG"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "MP4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "WEBM" if b"webm" in head[:SNIFF_BYTES] else "MATROSKA"
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head[:4] == b"caff":
        return "CAF"
    if head[:3] == b"ID3":
        return "MP3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 3
        return "AAC" if layer == 0 else "MP3"  # ADTS has layer bits 00; MPEG audio 01-11
    return None


def needs_pyav(kind: str | None) -> bool:
    """True for containers only PyAV decodes here (MP4/M4A, WebM/Matroska, raw AAC)."""
    return kind in _PYAV


def describe_format(fmt: str, subtype: str | None) -> str:
    """``MP4/AAC``, ``OGG/OPUS``, ``FLAC``: the container, and the codec where the container has many."""
    if subtype and fmt in ("MP4", "WEBM", "MATROSKA", "OGG") and subtype.upper() != fmt:
        return f"{fmt}/{subtype}"
    return fmt


def format_note(name: str, fmt: str | None, subtype: str | None = None) -> str:
    """``"named .wav, holds MP4/AAC"`` when the extension of ``name`` promises another container
    than the content holds; ``""`` when they agree, or when the name has no audio extension."""
    if not fmt:
        return ""
    ext = os.path.splitext(name)[1].lower()
    expected = _EXPECTED.get(ext)
    if expected is None or fmt.upper() in expected:
        return ""
    return f"named {ext}, holds {describe_format(fmt.upper(), subtype)}"
